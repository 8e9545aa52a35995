"""Development-time tools (not installed with triochat)."""
