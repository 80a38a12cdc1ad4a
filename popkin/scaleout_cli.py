"""``popkin bootstrap`` and ``popkin sse``: many fits on Dask, from the command line.

``add_subcommands(subparsers)`` adds both commands to the ``popkin`` parser. They run on
an embedded Dask LocalCluster (``--workers N``, default one per core) or on a running
cluster (``--scheduler tcp://HOST:8786``); every finished replicate is written to
``--out DIR/replicates/`` at once, and ``--resume`` continues an interrupted run.

Exit status: 0 when the run completed (failed replicates are counted in the summary),
2 for bad arguments, data or model (nothing is run), 1 when the run itself fails.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="popkin")
>>> add_subcommands(parser.add_subparsers(dest="command"))
>>> parser.parse_args(["bootstrap", "theo_sd", "--model", "oral_1cmt", "-n", "10"]).n
10
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_BOOTSTRAP_EXAMPLES = """\
examples:
  popkin bootstrap theo_sd --model oral_1cmt --error add -n 200 --out boot --workers 2
  popkin bootstrap run1 --data data.csv --model oral_1cmt -n 500 --out boot --scheduler tcp://10.0.0.5:8786
  popkin bootstrap theo_sd --model oral_1cmt -n 200 --out boot --resume
"""

_SSE_EXAMPLES = """\
examples:
  popkin sse design.csv --model my_models.py:truth -n 200 --methods focei,foce --out sse
"""


def add_subcommands(subparsers: Any) -> None:
    """Add ``bootstrap`` and ``sse`` to the ``popkin`` command's sub-parsers.

    Parameters
    ----------
    subparsers
        What ``ArgumentParser.add_subparsers()`` returned; each command sets
        ``handler`` (call ``args.handler(args)`` to run it; it returns the exit status).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="popkin")
    >>> add_subcommands(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["sse", "d.csv", "--model", "iv_1cmt"]).methods
    'focei'
    """
    boot = subparsers.add_parser(
        "bootstrap", help="nonparametric bootstrap of a fit (case resampling by subject), on Dask",
        description=(
            "Resample the subjects with replacement N times, refit each sample starting from the\n"
            "original estimates, and report per parameter the median and percentile confidence\n"
            "interval, and the fraction of converged fits. SOURCE is a data file (fitted first) or\n"
            "the output folder of `popkin fit` (its results.json; give the data with --data)."
        ),
        epilog=_BOOTSTRAP_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    boot.add_argument("source", metavar="RESULTS_DIR|DATA",
                      help="output folder of `popkin fit` (with results.json), or a NONMEM-format data file "
                           "or bundled example name")
    boot.add_argument("--data", metavar="DATA", help="the data of the fit, when SOURCE is a results folder")
    boot.add_argument("--strata", metavar="COL",
                      help="resample within the values of this baseline covariate (e.g. a study column)")
    boot.add_argument("--method", default="focei", metavar="METHOD",
                      help="estimation method: focei (default), foce, fo, laplace... (as `popkin fit`)")
    boot.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    _common(boot, default_out="bootstrap")
    boot.set_defaults(handler=bootstrap_command)

    sim = subparsers.add_parser(
        "sse", help="stochastic simulation and estimation: bias, RMSE and CI coverage, on Dask",
        description=(
            "Simulate N datasets from MODEL (its initial values are the truth) on DESIGN (doses,\n"
            "sampling times, covariates; DV is ignored), fit each with every method, and report\n"
            "per parameter the bias, relative bias, RMSE and the coverage of the 95% CI."
        ),
        epilog=_SSE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument("design", metavar="DESIGN", help="NONMEM-format design file (or bundled example name)")
    sim.add_argument("--methods", default="focei", metavar="LIST",
                     help="comma-separated estimation methods: focei, foce, fo, laplace... (default focei)")
    sim.add_argument("--level", type=float, default=0.95,
                     help="confidence level of the coverage (default 0.95)")
    _common(sim, default_out="sse")
    sim.set_defaults(handler=sse_command)


def _common(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--model", "-m", required=True, metavar="MODEL",
                        help="a model library name or path/to/file.py:NAME")
    parser.add_argument("--error", choices=("add", "prop", "comb", "exp"),
                        help="residual error model replacing the model's own")
    parser.add_argument("-n", type=int, default=100, help="number of replicates (default 100)")
    parser.add_argument("--out", "-o", default=default_out, metavar="DIR",
                        help=f"output folder (default: {default_out})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="address of a running Dask scheduler, e.g. tcp://HOST:8786 "
                             "(default: an embedded LocalCluster)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes of the embedded LocalCluster (default: one per core)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")


# ------------------------------------------------------------------ bootstrap
def bootstrap_command(args: argparse.Namespace) -> int:
    """Run ``popkin bootstrap`` (see :func:`add_subcommands`); return the exit status."""
    from estimation.bootstrap import bootstrap
    from estimation.fit import fit
    from estimation.methods import method_from_name
    from estimation.results import FitResult

    if args.n < 1:
        return _fail(f"-n must be at least 1, got {args.n}")
    try:
        model = _model(args)
        method = method_from_name(args.method)
    except ValueError as exc:
        return _fail(str(exc))
    source = Path(args.source)
    if (source / "results.json").is_file():
        if args.data is None:
            return _fail(f"{source} is a results folder: give the data of that fit with --data")
        try:
            data = _read_data(args.data, model)
            result = FitResult.load(source / "results.json")
            model.with_initial({**result.theta, **result.omega, **result.sigma})
        except (ValueError, OSError) as exc:
            return _fail(f"{exc}")
    else:
        if args.data is not None:
            return _fail(f"--data is only for a results folder; {args.source!r} is read as the data")
        try:
            data = _read_data(args.source, model)
        except (ValueError, OSError) as exc:
            return _fail(f"invalid dataset: {exc}")
        _say(args, f"fitting {model.title!r} by {method.name} to the original data...")
        try:
            result = fit(model, data, method)
        except Exception as exc:
            return _fail(f"the fit of the original data failed: {type(exc).__name__}: {exc}", EXIT_FAILED)
        status = "converged" if result.converged else "NOT converged"
        _say(args, f"original fit: OFV {result.ofv:.4f} ({status})")

    try:
        boot = bootstrap(result, args.n, model=model, data=data, method=replace(method, covariance=None),
                         seed=args.seed, strata=args.strata, level=args.level, out=args.out,
                         resume=args.resume, scheduler=args.scheduler, workers=args.workers,
                         progress=None if args.quiet else sys.stderr)
    except ValueError as exc:  # bad strata, output folder holding another run, bad level
        return _fail(str(exc))
    except Exception as exc:
        traceback.print_exc()
        return _fail(f"the bootstrap failed: {type(exc).__name__}: {exc}", EXIT_FAILED)
    print(boot.summary())
    print(f"wrote {boot.folder}/summary.csv, summary.json, replicates.csv and replicates/ "
          f"({boot.n} replicate files)")
    return EXIT_OK


# ------------------------------------------------------------------------ SSE
def sse_command(args: argparse.Namespace) -> int:
    """Run ``popkin sse`` (see :func:`add_subcommands`); return the exit status."""
    from estimation.methods import method_from_name
    from estimation.sse import sse

    if args.n < 1:
        return _fail(f"-n must be at least 1, got {args.n}")
    try:
        model = _model(args)
        methods = [method_from_name(m.strip()) for m in args.methods.split(",") if m.strip()]
    except ValueError as exc:
        return _fail(str(exc))
    try:
        design = _read_data(args.design, model, design=True)
    except (ValueError, OSError) as exc:
        return _fail(f"invalid design: {exc}")
    try:
        result = sse(model, design, args.n, methods, seed=args.seed, level=args.level, out=args.out,
                     resume=args.resume, scheduler=args.scheduler, workers=args.workers,
                     progress=None if args.quiet else sys.stderr)
    except ValueError as exc:
        return _fail(str(exc))
    except Exception as exc:
        traceback.print_exc()
        return _fail(f"the SSE failed: {type(exc).__name__}: {exc}", EXIT_FAILED)
    print(result.summary())
    print(f"wrote {result.folder}/summary.csv, summary.json, replicates.csv and replicates/")
    return EXIT_OK


# -------------------------------------------------------------------- helpers
def _model(args: argparse.Namespace) -> Any:
    from estimation.error_models import error_model_from_name
    from model_library import ModelLibraryError
    from popkin.cli import resolve_model

    try:
        model = resolve_model(args.model)
    except ModelLibraryError as exc:
        raise ValueError(f"model {args.model!r}: {exc}") from exc
    return model.with_error(error_model_from_name(args.error)) if args.error else model


def _read_data(text: str, model: Any, *, design: bool = False) -> Any:
    """Read and check a data file (or bundled example) against ``model`` (``design``: DV unchecked)."""
    from compartments.events import EventError
    from estimation.data import DataError, example_names, example_path, read_nonmem

    path = Path(text).expanduser()
    if not path.is_file():
        if text.removesuffix(".csv") not in example_names():
            raise DataError(f"no data file {text!r}")
        path = example_path(text.removesuffix(".csv"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = read_nonmem(path)
        data.check_model(model, design=design)
    except EventError as exc:
        raise DataError(str(exc)) from exc
    return data


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"popkin: error: {message}", file=sys.stderr)
    return code
