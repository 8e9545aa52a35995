"""The server: listeners, connections and the hub, configured by ServerConfig."""
