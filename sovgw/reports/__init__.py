"""Documents for people (auditors, DPOs): rendered from domain values, no I/O here."""
