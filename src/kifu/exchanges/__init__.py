"""Exchange connections: encrypted API keys, incremental and resumable sync, the poller."""
