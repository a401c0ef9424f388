"""Break-glass emergency access (requests, approvals, expiry, the sweeper)."""
