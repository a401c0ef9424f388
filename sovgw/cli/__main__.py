"""``python -m sovgw.cli``: the same as the ``sovgw`` console script."""

from sovgw.cli.main import console

if __name__ == "__main__":  # worker processes re-import the main module: never run it there
    console()
