"""The metrics-aware router: strategies, fallback, retries, health and circuit breaking."""
