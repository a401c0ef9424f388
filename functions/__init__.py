"""Lambda handlers: parse (pydantic) → domain logic → emit. Nothing else lives here."""
