"""aiohttp servers that speak each provider's wire format, for tests without the internet."""
