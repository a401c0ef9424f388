"""``sovgw``: the operator's command line for the sovereign gateway.

One module per command group, each with its parser next to its handlers (``register``); every
command runs as ``args.run(args)`` and reports a failure only by raising ``CommandError``.
"""

from sovgw.cli.main import build_parser, console, main

__all__ = ["build_parser", "console", "main"]
