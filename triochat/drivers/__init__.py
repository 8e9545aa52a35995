"""I/O drivers: listeners, TLS, the flusher, and the connection that runs a codec."""
