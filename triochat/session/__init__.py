"""The session: what a client may do, whatever protocol it speaks."""
