"""The ``popkin`` command line: one module per subcommand in :mod:`popkin.commands`.

``popkin fit`` fits a model and writes a results folder (tables, plots, HTML report),
``popkin vpc`` adds visual predictive checks to it, ``popkin simulate`` predicts the
records of a NONMEM table, ``popkin check`` validates a dataset, ``popkin models`` lists
the library. Exit status: 0 success (also a fit that did not converge: read
``converged`` in ``results.json``), 1 failed estimation or output, 2 bad dataset, model,
arguments or existing output (nothing written), 130 interrupted.

Examples
--------
>>> main(["models"])  # doctest: +ELLIPSIS
name...
oral_1cmt ...
0
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from popkin.commands import check, fit, models, simulate, vpc
from popkin.commands.inputs import EXIT_INTERRUPTED, EXIT_USAGE, fail, resolve_model
from popkin.commands.run_record import version

__all__ = ["build_parser", "main", "resolve_model"]  # resolve_model: for popkin.scaleout_cli

#: modules adding subcommands, each with ``add_subcommands(subparsers) -> None``, in --help order
COMMAND_MODULES = (fit, vpc, simulate, check, models)
#: optional modules (present in some installations), same interface
OPTIONAL_COMMAND_MODULES = ("popkin.scaleout_cli",)

EXAMPLES = """\
examples:
  popkin fit estimation/examples/theo_sd.csv --model oral_1cmt --error add --out out
  popkin vpc out
  popkin simulate regimen.csv --model oral_1cmt --param tcl=1.2 --variability full --n 100
  popkin check data.csv
  popkin models
Run `popkin COMMAND --help` for the options and examples of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``popkin`` command.

    Examples
    --------
    >>> build_parser().parse_args(["fit", "d.csv", "--model", "iv_1cmt"]).method
    'focei'
    """
    parser = argparse.ArgumentParser(
        prog="popkin",
        description="Population pharmacokinetics: fit nonlinear mixed-effects models to NONMEM-format data.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_subcommands(commands)
    for name in OPTIONAL_COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).add_subcommands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``popkin`` command with ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv
        Command-line arguments without the program name.

    Returns
    -------
    int
        Exit status: 0 success, 1 failed estimation, 2 bad dataset, model or arguments, 130 interrupted.

    Examples
    --------
    >>> main(["fit", "no_such_file.csv", "--model", "oral_1cmt"])
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an argparse error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.argv = argv
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
