"""``avs-studio``: the command-line face of AVS Studio.

Each subcommand parses its arguments, calls one core job with a progress bar and a
cancel token, and prints a one-line summary. Errors a user can cause print a clear
message (no traceback) and exit 2; Ctrl-C exits 130 and leaves no half-written file
(every writer in the core writes to a temporary name and renames at the end).
"""

from __future__ import annotations

import argparse
import sys

from avs_studio import __version__
from avs_studio.cli.common import EXIT_INTERRUPTED, EXIT_USER_ERROR
from avs_studio.cli.data import add_data_parsers
from avs_studio.cli.report import add_evaluate_parser
from avs_studio.core.errors import AVSError
from avs_studio.core.setting import Setting
from avs_studio.core.threads import limit_numpy_blas


def plain(text: str) -> str:
    """Help text without reStructuredText markup (``name`` -> name): --help is plain text."""
    return text.replace("``", "").replace("`", "")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``avs-studio``."""
    p = argparse.ArgumentParser(prog="avs-studio", description=plain(__doc__.splitlines()[0]))
    p.add_argument("--version", action="version", version=f"AVS Studio {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    settings = [s.value for s in Setting]

    add_data_parsers(sub, settings)
    add_evaluate_parser(sub, settings)
    from avs_studio.cli.project import add_project_parser
    from avs_studio.cli.propose import add_propose_parser
    from avs_studio.cli.report import add_report_parser
    from avs_studio.cli.train import add_train_parser

    add_propose_parser(sub)
    add_project_parser(sub)
    add_report_parser(sub)
    add_train_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``avs-studio`` and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    limit_numpy_blas(1)  # the core's matrix products are small; idle BLAS threads spin
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing half-written was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AVSError as exc:
        # One line, whatever the message quotes (a library's multi-line reason, a file's text).
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
