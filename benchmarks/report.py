"""How every benchmark hands over its result: JSON on stdout, and the same text in a file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def emit(report: Mapping[str, Any], path: str | None) -> None:
    """Print ``report`` as indented JSON; also write it to ``path`` when one is given."""
    text = json.dumps(report, indent=2)
    print(text)
    if path:
        Path(path).write_text(text + "\n", encoding="utf-8")
