"""The client library: connect to a server, send commands, receive events."""
