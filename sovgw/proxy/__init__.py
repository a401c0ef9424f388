"""The OpenAI-compatible sovereign proxy (issue #4)."""
