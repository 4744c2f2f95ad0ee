"""The ``nurture-lab`` command line: the same functions as the Python API, one module per command.

Building the parser imports no scientific library, so ``nurture-lab --help`` is instant; each
command imports what it needs when it runs.

Exit codes: 0 success; 1 lint violations or a failed report; 2 bad input (any
:class:`~nurture_lab.errors.NurtureLabError`: one message naming the file, key, row, column or
argument); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM). Any other exception is a bug and
is shown with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._version import __version__
from . import _args, analyze, designs, lint, power, report, simulate, staffing

__all__ = ["build_parser", "main"]

COMMANDS = (simulate, lint, analyze, power, report, staffing, designs)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nurture-lab",
        description="Simulate, analyse and report healthcare lead-nurturing experiments.",
    )
    p.add_argument("--version", action="version", version=f"nurture-lab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from .._parallel import Terminated, stop_on_sigterm
    from ..errors import NurtureLabError

    parser = build_parser()
    args = parser.parse_args(argv)
    code = 1
    try:
        with stop_on_sigterm():
            code = int(args.func(args))
            return code
    except NurtureLabError as e:
        print(f"nurture-lab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"nurture-lab {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"nurture-lab {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a pager or head that closed early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
        return 0
    finally:
        if code != 0:  # a refused or failed run leaves no empty output folder behind
            _args.remove_made_dirs()
        _args.MADE_DIRS.clear()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
