"""``python -m sovgw.cli``: the same as the ``sovgw`` console script."""

from sovgw.cli.main import console

console()
