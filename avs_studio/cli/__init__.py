"""``avs-studio``: the command line, one module per command family."""

from avs_studio.cli.parser import main

__all__ = ["main"]
