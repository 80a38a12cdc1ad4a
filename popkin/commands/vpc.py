"""``popkin vpc RESULTS_DIR``: visual predictive checks of a finished fit.

The fit is rebuilt from ``run.json`` (model, data) and ``results.json`` (estimates); the
VPC and/or pcVPC are simulated by :func:`estimation.vpc.vpc`, drawn into
``plots/vpc.png`` / ``plots/pcvpc.png``, their numbers written to ``vpc_observed.csv``,
``vpc_simulated.csv`` (``pcvpc_...`` for the pcVPC), and ``report.html`` is rewritten
with them.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popkin.commands.inputs import EXIT_FAILED, EXIT_OK, InputError, fail, warn
from popkin.commands.outputs import save_figures, write_csv, write_folder_report
from popkin.commands.run_record import RunRecord, load_fit
from popkin.output_dir import is_complete

if TYPE_CHECKING:
    from estimation.results import FitResult
    from estimation.vpc import VPC

EXAMPLES = """\
examples:
  popkin vpc out                              # VPC and pcVPC, 200 replicates, bins by time
  popkin vpc out --kind pcvpc --n 500 --seed 7
  popkin vpc out --bins quantile --n-bins 8 --stratify SEX
  popkin vpc out --bins 0,1,2,4,8,12,24 --lloq 0.1
"""


def add_subcommands(subparsers: Any) -> None:
    """Add ``popkin vpc`` to the command line.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="popkin")
    >>> add_subcommands(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["vpc", "out", "--kind", "pcvpc"]).n
    200
    """
    parser = subparsers.add_parser(
        "vpc", help="visual predictive check (VPC, pcVPC) of a fit's results folder",
        description=(
            "Simulate the fitted model (estimates of RESULTS_DIR/results.json, model and data of\n"
            "RESULTS_DIR/run.json) and compare the percentiles of the observations with the confidence\n"
            "intervals of the simulated percentiles. Writes RESULTS_DIR/plots/vpc.png (pcvpc.png),\n"
            "vpc_observed.csv and vpc_simulated.csv (pcvpc_...), and updates RESULTS_DIR/report.html."
        ),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", metavar="RESULTS_DIR", help="a folder written by `popkin fit --out`")
    parser.add_argument("--kind", choices=("vpc", "pcvpc", "both"), default="both",
                        help="VPC, prediction-corrected VPC, or both (default)")
    parser.add_argument("--n", type=_positive_int, default=200, metavar="N",
                        help="simulated replicates of the dataset (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--bins", default="time", metavar="BINS",
                        help="'time' (default), 'quantile', or comma-separated bin edges in time units")
    parser.add_argument("--n-bins", type=_positive_int, default=None, metavar="K", help="number of bins")
    parser.add_argument("--stratify", default=None, metavar="COLUMN", help="one panel per value of COLUMN")
    parser.add_argument("--lloq", type=float, default=None,
                        help="lower limit of quantification: also compare the fractions below it")
    parser.add_argument("--percentiles", default="5,50,95", metavar="P,P,P",
                        help="percentiles compared (default 5,50,95)")
    parser.add_argument("--ci", type=float, default=0.95,
                        help="confidence level of the intervals (default 0.95)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print only warnings, errors and the result")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``popkin vpc`` with parsed arguments; return the exit status.

    Examples
    --------
    >>> from popkin.cli import main
    >>> main(["vpc", "out", "--n", "500"])  # doctest: +SKIP
    0
    """
    folder = Path(args.results)
    try:
        options = _options(args)
        if not is_complete(folder):
            raise InputError(f"{str(folder)!r} holds no complete result (no results.json); "
                             "run `popkin fit ... --out DIR` first")
        record = RunRecord.load(folder)
        result = load_fit(folder)
    except InputError as exc:
        return fail(str(exc))
    corrected = {"vpc": [False], "pcvpc": [True], "both": [False, True]}[args.kind]
    started = time.perf_counter()
    try:
        checks, messages = simulate_checks(result, corrected, **options)
    except ImportError:
        return fail("VPC is not available in this installation (estimation.vpc is missing)", EXIT_FAILED)
    except (ValueError, KeyError) as exc:  # e.g. an unknown --stratify column
        return fail(str(exc))
    for message in messages:
        warn(message)
    if not args.quiet:
        print(f"{args.n} replicates simulated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    for check in checks:
        name = _name(check)
        write_csv(check.observed, folder / f"{name}_observed.csv")
        write_csv(check.simulated, folder / f"{name}_simulated.csv")
    failures = save_figures(result, folder, checks=checks, only_checks=True)
    for message in failures:
        warn(message)
    report = write_folder_report(result, folder, record, failures)
    written = ", ".join(f"plots/{_name(c)}.png" for c in checks)
    print(f"wrote {written} in {folder}; report: {report.resolve()}")
    return EXIT_OK


def simulate_checks(result: FitResult, corrected: Sequence[bool],
                    **options: Any) -> tuple[list[VPC], list[str]]:
    """VPCs of ``result`` (a pcVPC for each true flag of ``corrected``) and their warnings.

    ``options`` are those of :func:`estimation.vpc.vpc`; its warnings (e.g. records that
    cannot be prediction-corrected) come back as messages.

    Raises
    ------
    ImportError
        :mod:`estimation.vpc` is not installed.

    Examples
    --------
    >>> checks, warnings = simulate_checks(result, [False, True], n_replicates=500)  # doctest: +SKIP
    """
    from estimation.vpc import vpc

    checks, messages = [], []
    for pc in corrected:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                checks.append(vpc(result, pred_corrected=pc, **options))
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{'pcVPC' if pc else 'VPC'}: {exc}") from exc
        messages += [f"{'pcVPC' if pc else 'VPC'}: {w.message}" for w in caught]
    return checks, messages


def _name(check: VPC) -> str:
    return "pcvpc" if check.settings.get("pred_corrected") else "vpc"


def _options(args: argparse.Namespace) -> dict[str, object]:
    """Keyword options of :func:`estimation.vpc.vpc` from the command line."""
    bins: object = args.bins
    if args.bins not in ("time", "quantile"):
        try:
            bins = [float(v) for v in args.bins.split(",")]
        except ValueError as exc:
            raise InputError(
                f"--bins {args.bins!r}: expected 'time', 'quantile' or numbers like 0,2,4,8") from exc
        if len(bins) < 2 or any(b >= c for b, c in zip(bins, bins[1:], strict=False)):  # type: ignore[arg-type]
            raise InputError(f"--bins {args.bins!r}: expected at least two increasing edges")
    try:
        percentiles = tuple(float(p) for p in args.percentiles.split(","))
    except ValueError as exc:
        raise InputError(f"--percentiles {args.percentiles!r}: expected numbers like 5,50,95") from exc
    if not all(0 < p < 100 for p in percentiles):
        raise InputError(f"--percentiles {args.percentiles!r}: each must be between 0 and 100")
    if not 0 < args.ci < 1:
        raise InputError(f"--ci {args.ci}: expected a level between 0 and 1, e.g. 0.95")
    return {"n_replicates": args.n, "seed": args.seed, "bins": bins, "n_bins": args.n_bins,
            "stratify": args.stratify, "lloq": args.lloq, "percentiles": percentiles, "ci": args.ci}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value
