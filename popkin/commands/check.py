"""``popkin check DATA``: validate a NONMEM-format dataset and print its summary."""

from __future__ import annotations

import argparse
from typing import Any

from popkin.commands.inputs import (
    EXIT_OK,
    MAP_HELP,
    InputError,
    column_map,
    data_path,
    fail,
    model_with_error,
    read_dataset,
)

EXAMPLES = """\
examples:
  popkin check estimation/examples/theo_sd.csv
  popkin check data.csv --model iv_2cmt        # also check dose compartments and covariates
  popkin check acop.csv --drop SS,II
  popkin check study.csv --model oral_1cmt --map TAD=TIME,CONC=DV,wt=WT
"""


def add_subcommands(subparsers: Any) -> None:
    """Add ``popkin check`` to the command line.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="popkin")
    >>> add_subcommands(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["check", "theo_sd"]).data
    'theo_sd'
    """
    parser = subparsers.add_parser(
        "check", help="validate a dataset and print its summary",
        description=(
            "Read DATA as a NONMEM-format table, validate every record and print what a fit would use\n"
            "or ignore (subjects, observations, doses, resets, covariates, warnings). With --model, also\n"
            "check the records against the model (dose and observation compartments, covariates, DV > 0\n"
            "for an exponential error). --map renames columns (e.g. --map TAD=TIME,CONC=DV). Exit status 2\n"
            "and a message naming the row and column when the dataset is invalid."
        ),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", help="NONMEM-format CSV file, or a bundled example (theo_sd)")
    parser.add_argument("--model", "-m", metavar="MODEL", help="also check the data against this model")
    parser.add_argument("--drop", default="", metavar="COLS", help="comma-separated data columns to ignore")
    parser.add_argument("--map", default="", metavar="OLD=NEW[,...]", help=MAP_HELP)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``popkin check`` with parsed arguments; return the exit status.

    Examples
    --------
    >>> from popkin.cli import main
    >>> main(["check", "theo_sd"])  # doctest: +ELLIPSIS
    Dataset theo_sd.csv: 12 subjects, 144 records
    ...
    0
    """
    try:
        model = model_with_error(args.model) if args.model else None
        path = data_path(args.data)
        drop = tuple(c.strip() for c in args.drop.split(",") if c.strip())
        data, _ = read_dataset(path, model, drop=drop, rename=column_map(args.map))
    except InputError as exc:
        return fail(str(exc))
    print(data.summary())
    print(f"OK: {path.name} is a valid dataset" + (f" for model {model.title!r}" if model else ""))
    return EXIT_OK
