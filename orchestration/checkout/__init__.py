"""The online checkout: tiered options, quotes and holds for one request."""
