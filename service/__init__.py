"""The HTTP API and the checkout/operations pages (FastAPI)."""
