"""``popkin fit DATA --model MODEL``: fit, then write a complete results folder.

The folder (``--out``, default ``out``) gets ``results.json``, ``parameters.csv``,
``etas.csv``, ``table.csv``, ``run.json``, ``fit.log``, ``plots/*.png`` and ``report.html``;
it appears only when everything is written (see :mod:`popkin.output_dir`).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popkin.commands.inputs import (
    EXIT_FAILED,
    EXIT_OK,
    MAP_HELP,
    InputError,
    absolute_model_spec,
    column_map,
    data_path,
    fail,
    model_with_error,
    read_dataset,
    warn,
)
from popkin.commands.outputs import save_figures, write_csv, write_folder_report
from popkin.commands.run_record import RunRecord, file_sha256, version
from popkin.output_dir import OutputExistsError, ResultsFolder
from popkin.progress import FitProgress, RunLog, live_display_wanted

if TYPE_CHECKING:
    from estimation.results import FitResult

EXAMPLES = """\
examples:
  popkin fit estimation/examples/theo_sd.csv --model oral_1cmt --error add --out out
  popkin fit data.csv --model iv_2cmt --method foce --out run1
  popkin fit data.csv --model my_models.py:my_model --out run2 --force
  popkin fit theo_sd --model oral_1cmt --vpc --out run3      # also VPC and pcVPC
  popkin fit acop.csv --model iv_1cmt --drop SS,II --quiet
  popkin fit study.csv --model oral_1cmt --map TAD=TIME,CONC=DV,wt=WT   # other column names
  popkin fit pkpd.csv --model iv_1cmt_emax --output-column DVID --out pkpd   # PK and PD records
"""
METHODS = ("focei (default; NONMEM's FOCE INTERACTION), foce, fo, laplace, "
           "agq (adaptive Gauss-Hermite, 2 nodes per eta as nlmixr2), saem")


class _FitFailed(Exception):
    """The estimation raised: the results folder must not be published."""


def add_subcommands(subparsers: Any) -> None:
    """Add ``popkin fit`` to the command line.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="popkin")
    >>> add_subcommands(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["fit", "theo_sd", "--model", "oral_1cmt"]).out
    'out'
    """
    parser = subparsers.add_parser(
        "fit", help="fit a model to a dataset; write results, tables, plots and an HTML report",
        description=(
            "Fit MODEL to DATA by maximum likelihood; print the parameter table and OFV, and write\n"
            "DIR/results.json (estimates, SEs, OFV, convergence), DIR/parameters.csv, DIR/etas.csv\n"
            "(EBEs), DIR/table.csv (per-record PRED, IPRED, RES, WRES, CWRES, IWRES), DIR/run.json\n"
            "(how to rebuild the fit), DIR/fit.log, DIR/plots/*.png and DIR/report.html.\n"
            "The folder appears only once complete; an existing result is replaced only with --force.\n"
            "A dataset that fails validation is reported with its row and column and nothing is\n"
            "written (exit status 2); a failed estimation exits with 1 and leaves DIR.failed/fit.log."
        ),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "data", metavar="DATA",
        help="NONMEM-format CSV file (ID TIME DV AMT EVID MDV CMT RATE II ADDL SS; other columns are "
             "covariates), or the name of a bundled example (theo_sd)",
    )
    parser.add_argument(
        "--model", "-m", required=True, metavar="MODEL",
        help="a model library name (see `popkin models`) or path/to/file.py:NAME, where NAME is a "
             "PopulationModel or a function returning one",
    )
    parser.add_argument("--method", default="focei", metavar="METHOD", help=f"estimation method: {METHODS}")
    parser.add_argument(
        "--error", choices=("add", "prop", "comb", "exp"),
        help="residual error model replacing the model's own (add: additive, prop: proportional, "
             "comb: combined sqrt(add^2 + (prop*f)^2), exp: exponential, fitted on log scale)",
    )
    parser.add_argument(
        "--output-column", default=None, metavar="COL",
        help="data column giving each observation's model output, 1-based in the order of the "
             "model's outputs (e.g. DVID: 1 = concentration, 2 = effect for a PK/PD model)",
    )
    parser.add_argument("--out", "-o", default="out", metavar="DIR", help="results folder (default: out)")
    parser.add_argument("--force", "-f", action="store_true",
                        help="replace DIR even if it holds an earlier complete result")
    parser.add_argument("--drop", default="", metavar="COLS",
                        help="comma-separated data columns to ignore, e.g. SS,II when they hold markers")
    parser.add_argument("--map", default="", metavar="OLD=NEW[,...]", help=MAP_HELP)
    parser.add_argument("--vpc", action="store_true",
                        help="also simulate a VPC and a pcVPC (200 replicates; see `popkin vpc` for options)")
    parser.add_argument("--no-plots", action="store_true", help="write no figures and no report (faster)")
    parser.add_argument("--individual-pages", type=int, default=10, metavar="N",
                        help="at most N pages of 16 individual fits (default 10: 160 subjects)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print only warnings, errors and a one-line result; no live progress")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also print the OFV at every iteration (and tracebacks)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``popkin fit`` with parsed arguments; return the exit status.

    Examples
    --------
    >>> from popkin.cli import main
    >>> main(["fit", "theo_sd", "--model", "oral_1cmt", "--out", "run1"])  # doctest: +SKIP
    0
    """
    from estimation.methods import method_from_name

    info = None if args.quiet else sys.stderr
    # inputs first: a bad model, dataset, method or output folder stops before any work
    try:
        if args.individual_pages < 0:
            raise InputError(f"--individual-pages {args.individual_pages}: expected 0 or more")
        model = model_with_error(args.model, args.error)
        path = data_path(args.data)
        drop = tuple(c.strip() for c in args.drop.split(",") if c.strip())
        rename = column_map(args.map)
        data, data_warnings = read_dataset(path, model, drop=drop, rename=rename,
                                           output_column=args.output_column)
        try:
            method = method_from_name(args.method)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        folder = ResultsFolder(args.out, force=args.force)
    except (InputError, OutputExistsError) as exc:
        return fail(str(exc))
    if info:
        print(data.summary(), file=info)
    else:
        for w in data_warnings:
            warn(w)
    record = RunRecord(
        data=str(path), data_sha256=file_sha256(path), model=absolute_model_spec(args.model),
        error=args.error, method=args.method, drop=drop, rename=rename,
        options={"vpc": args.vpc, "plots": not args.no_plots, "output_column": args.output_column},
        command=("popkin", *args.argv),
        popkin_version=version(),
    )
    if info:
        print(f"fitting {model.title!r} by {method.name} (the first fit of a model compiles it; "
              "this can take a minute)...", file=info, flush=True)
    try:
        with folder as work, RunLog(work / "fit.log") as log:
            log.write(f"{' '.join(record.command)}\npopkin {record.popkin_version}\n{data.summary()}")
            log.write(f"fitting {model.title!r} by {method.name}")
            result = _estimate(model, data, method, log, args)
            messages = _write_outputs(result, work, record, log, args)
    except _FitFailed as exc:
        return fail(f"the fit failed: {exc}; log in {folder.failed_path / 'fit.log'}", EXIT_FAILED)
    except KeyboardInterrupt:
        fail(f"interrupted; nothing published (partial log in {folder.failed_path / 'fit.log'})")
        raise
    except OSError as exc:
        return fail(f"cannot write the results to {args.out!r}: {exc}", EXIT_FAILED)
    for message in messages:
        warn(message)
    _print_result(result, folder.path, args.quiet)
    return EXIT_OK


def _estimate(model: Any, data: Any, method: Any, log: RunLog, args: argparse.Namespace) -> FitResult:
    from estimation.fit import fit

    live = live_display_wanted(args.quiet)
    echo = sys.stderr if args.verbose else None
    try:
        with FitProgress(method.name, log, live=live, echo=echo) as progress:
            result = fit(model, data, method, output_column=args.output_column, progress=progress)
    except KeyboardInterrupt:
        log.write("interrupted by the user")
        raise
    except Exception as exc:  # the estimation failed: say what, publish nothing
        log.write(traceback.format_exc())
        if args.verbose:
            traceback.print_exc()
        raise _FitFailed(f"{type(exc).__name__}: {exc}") from exc
    log.write(result.summary())
    return result


def _write_outputs(result: FitResult, work: Path, record: RunRecord, log: RunLog,
                   args: argparse.Namespace) -> list[str]:
    """Write every file of the results folder (results.json last: it marks completeness)."""
    messages: list[str] = []
    if not result.converged:
        messages.append(f"the fit did not converge: {result.message}")
    for name, frame in (("parameters", result.parameters), ("etas", result.etas), ("table", result.table)):
        write_csv(frame, work / f"{name}.csv")
    record.save(work)
    if not args.no_plots:
        checks = _checks(result, log, messages) if args.vpc else []
        started = time.perf_counter()
        messages += save_figures(result, work, checks=checks, max_individual_pages=args.individual_pages)
        write_folder_report(result, work, record, messages)
        log.write(f"figures and report written in {time.perf_counter() - started:.1f} s")
    for message in messages:
        log.write(f"warning: {message}")
    result.save(work / "results.json")
    log.write(f"results written to {Path(args.out).resolve()}")
    return messages


def _checks(result: FitResult, log: RunLog, messages: list[str]) -> list[Any]:
    """VPC and pcVPC with the defaults of :func:`estimation.vpc.vpc` (none if it is not available)."""
    from popkin.commands.vpc import simulate_checks

    started = time.perf_counter()
    try:
        checks, notes = simulate_checks(result, [False, True])
    except ImportError:
        messages.append("VPC not available in this installation (estimation.vpc is missing)")
        return []
    except ValueError as exc:
        messages.append(f"no VPC: {exc}")
        return []
    messages += notes
    log.write(f"VPC and pcVPC simulated in {time.perf_counter() - started:.1f} s")
    return checks


def _print_result(result: FitResult, out: Path, quiet: bool) -> None:
    status = "converged" if result.converged else "NOT converged"
    if quiet:
        print(f"{result.model_name} {result.method}: OFV {result.ofv:.4f} ({status}); wrote {out}")
        return
    print(result.summary())
    print(f"\nOFV {result.ofv:.4f} ({result.method}, {status})")
    report = out / "report.html"
    print(f"wrote {out}/ (results.json, parameters.csv, etas.csv, table.csv, fit.log"
          + (", plots/, report.html)" if report.exists() else ")"))
    if report.exists():
        print(f"report: {report.resolve()}")
