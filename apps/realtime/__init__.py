"""Real time: WebSocket consumers (chat and notifications) and the bridge from domain
events to the channel layer."""
