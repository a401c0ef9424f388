"""Headless Chromium (Debian's ``chromium`` package) printing an HTML document to PDF or to a
screenshot: the browser an auditor opens the HTML record in is the one that files it.

The page is a local file with no script and no remote resource; Chromium runs with a fresh
profile and without its background network traffic (the machines have no internet path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class ChromiumMissing(RuntimeError):
    """No Chromium binary on PATH."""


def chromium() -> str:
    found = next((path for name in CANDIDATES if (path := shutil.which(name))), None)
    if found is None:
        raise ChromiumMissing(
            "headless Chromium is needed for PDF: apt-get install chromium (Debian), "
            "or render --format html and print it from a browser"
        )
    return found


def _run(html: str, output_flags: list[str], timeout_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="sovgw-chromium-") as work:
        page = Path(work) / "report.html"
        page.write_text(html, encoding="utf-8")
        # The sandbox needs an unprivileged user; as root (containers, CI) Chromium refuses
        # to start without this flag.
        sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []
        command = [
            chromium(),
            *FLAGS,
            *sandbox,
            f"--user-data-dir={Path(work) / 'profile'}",
            *output_flags,
            page.as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace")[-600:]
            raise RuntimeError(f"chromium exited with {done.returncode}: {tail}")


def print_pdf(html: str, out: Path, timeout_s: float = 120) -> None:
    """``html`` printed to ``out`` (A4, as its print CSS says, without header or footer)."""
    out = out.resolve()
    out.unlink(missing_ok=True)
    _run(html, [f"--print-to-pdf={out}", "--no-pdf-header-footer"], timeout_s)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no PDF to {out}")


def screenshot(
    html: str, out: Path, width: int = 1280, height: int = 2400, timeout_s: float = 120
) -> None:
    """``html`` rendered in a ``width`` by ``height`` window into the PNG ``out``."""
    out = out.resolve()
    out.unlink(missing_ok=True)
    _run(html, [f"--screenshot={out}", f"--window-size={width},{height}"], timeout_s)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
