"""Serving benchmark: tokens/s, requests/s and time to first token against model endpoints."""
