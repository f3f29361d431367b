"""The ``snn-rl`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from snn_rl import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn-rl",
        description="Train and evaluate spiking agents on Gymnasium tasks.",
    )
    parser.add_argument("--version", action="version", version=f"snn-rl {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
