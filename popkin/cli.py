"""The ``popkin`` command line: fit a population model to a NONMEM-format dataset.

``popkin fit DATA --model MODEL`` prints the parameter table and OFV and writes
``results.json`` and ``table.csv``; ``popkin models`` lists the model library.
Exit status: 0 after a fit (also one that did not converge: read ``converged``
in ``results.json``), 2 for a bad dataset, an unknown model or bad arguments
(nothing is written), 1 when the estimation itself fails.

Examples
--------
>>> main(["models"])  # doctest: +ELLIPSIS
name...
oral_1cmt ...
0
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import pandas as pd

if TYPE_CHECKING:
    from estimation.error_models import ErrorModel
    from estimation.population import PopulationModel

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_EXAMPLES = """\
examples:
  popkin fit estimation/examples/theo_sd.csv --model oral_1cmt --error add --out out
  popkin fit data.csv --model iv_2cmt --method foce --out run1
  popkin fit data.csv --model my_models.py:my_model --out run2
  popkin fit acop.csv --model iv_1cmt --drop SS,II --quiet
  popkin models
"""


# ------------------------------------------------------------------- parser
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
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="fit a model to a dataset",
        description=(
            "Fit MODEL to DATA by maximum likelihood; print the parameter table and OFV; write\n"
            "DIR/results.json (estimates, SEs, OFV, convergence) and DIR/table.csv (per-record\n"
            "PRED, IPRED, RES, WRES, CWRES, IWRES). A dataset that fails validation is reported\n"
            "with its row and column and nothing is written (exit status 2)."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "data", metavar="DATA",
        help="NONMEM-format CSV file (ID TIME DV AMT EVID MDV CMT RATE II ADDL SS; other columns are "
             "covariates), or the name of a bundled example (theo_sd)",
    )
    fit.add_argument(
        "--model", "-m", required=True, metavar="MODEL",
        help="a model library name (see `popkin models`) or path/to/file.py:NAME, where NAME is a "
             "PopulationModel or a function returning one",
    )
    fit.add_argument(
        "--method", default="focei", choices=("focei", "foce", "fo", "laplace"),
        help="estimation method (default: focei, NONMEM's FOCE INTERACTION)",
    )
    fit.add_argument(
        "--error", choices=("add", "prop", "comb", "exp"),
        help="residual error model replacing the model's own (add: additive, prop: proportional, "
             "comb: combined sqrt(add^2 + (prop*f)^2), exp: exponential, fitted on log scale)",
    )
    fit.add_argument("--out", "-o", default="out", metavar="DIR",
                     help="output directory (default: out)")
    fit.add_argument("--drop", default="", metavar="COLS",
                     help="comma-separated data columns to ignore, e.g. SS,II when they hold markers")
    fit.add_argument("--quiet", "-q", action="store_true",
                     help="print only warnings, errors and a one-line result")
    fit.add_argument("--verbose", "-v", action="store_true",
                     help="also print the OFV at every iteration (and tracebacks)")
    fit.set_defaults(handler=_fit_command)

    models = commands.add_parser("models", help="list the model library",
                                 description="List the models of the library with their tags.")
    models.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help="only models with this tag (repeat for several)")
    models.set_defaults(handler=_models_command)
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
        Exit status: 0 success, 1 failed estimation, 2 bad dataset, model or arguments.

    Examples
    --------
    >>> main(["fit", "no_such_file.csv", "--model", "oral_1cmt"])
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an argparse error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.handler(args)


# ------------------------------------------------------------------ commands
def _models_command(args: argparse.Namespace) -> int:
    from model_library import list_models, search

    infos = search(*args.tag) if args.tag else list_models()
    rows = [(m.name, ", ".join(m.tags), m.description) for m in infos]
    width = max([len("name")] + [len(r[0]) for r in rows])
    tag_width = max([len("tags")] + [len(r[1]) for r in rows])
    print(f"{'name':<{width}}  {'tags':<{tag_width}}  description")
    for name, tags, description in rows:
        print(f"{name:<{width}}  {tags:<{tag_width}}  {description}")
    if not rows:
        print(f"(no model has the tags {args.tag})", file=sys.stderr)
    return EXIT_OK


def _fit_command(args: argparse.Namespace) -> int:
    from compartments.events import EventError
    from estimation.data import DataError, read_nonmem
    from estimation.error_models import error_model_from_name
    from estimation.fit import Iteration, fit
    from estimation.methods import method_from_name
    from model_library import ModelLibraryError

    err = sys.stderr
    info: TextIO | None = None if args.quiet else sys.stderr

    # the model
    try:
        model = resolve_model(args.model)
        if args.error:
            model = model.with_error(_carry_over(error_model_from_name(args.error), model))
    except (ModelLibraryError, ValueError) as exc:
        return _fail(f"model {args.model!r}: {exc}" if args.model not in str(exc) else str(exc))

    # the data: read, validate against the model, nothing written on failure
    path = _data_path(args.data)
    if path is None:
        return _fail(f"no data file {args.data!r}")
    drop = [c.strip() for c in args.drop.split(",") if c.strip()]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = read_nonmem(path, drop=drop)
            data.check_model(model.structure)
        missing = [c for c in model.covariate_names if c not in data.covariates]
        if missing:
            raise DataError(
                f"{path.name}: model {model.title!r} uses covariates {missing} that are not columns of "
                f"the data; the covariate columns are {list(data.covariates) or 'none'}"
            )
    except (DataError, EventError, ValueError, OSError) as exc:
        return _fail(f"invalid dataset: {exc}")
    if info:
        print(data.summary(), file=info)
    else:
        for w in caught:
            print(f"popkin: warning: {w.message}", file=err)

    # the fit
    method = method_from_name(args.method)
    if info:
        print(f"fitting {model.title!r} by {method.name} (the first fit of a model compiles it; "
              "this can take a minute)...", file=info, flush=True)

    def progress(it: Iteration) -> None:
        print(f"  iteration {it.iteration:4d}  OFV {it.ofv:.4f}  max|gradient| {it.gradient_norm:.3g}  "
              f"{it.elapsed:.1f} s", file=sys.stderr, flush=True)

    try:
        result = fit(model, data, method, progress=progress if args.verbose else None)
    except Exception as exc:  # the estimation failed: say what, write nothing
        if args.verbose:
            traceback.print_exc()
        return _fail(f"the fit failed: {type(exc).__name__}: {exc}", EXIT_FAILED)

    # the outputs
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        results_path = _readable(result.save(out / "results.json"))
        table_path = _readable(write_csv_atomic(result.table, out / "table.csv"))
    except OSError as exc:
        return _fail(f"cannot write the results to {str(out)!r}: {exc}", EXIT_FAILED)
    status = "converged" if result.converged else "NOT converged"
    if args.quiet:
        print(f"{model.title} {result.method}: OFV {result.ofv:.4f} ({status}); "
              f"wrote {results_path} and {table_path}")
    else:
        print(result.summary())
        print(f"\nOFV {result.ofv:.4f} ({result.method}, {status})")
        print(f"wrote {results_path} and {table_path}")
    if not result.converged:
        print(f"popkin: warning: the fit did not converge: {result.message}", file=err)
    return EXIT_OK


# ------------------------------------------------------------------- helpers
def resolve_model(spec: str) -> PopulationModel:
    """A library model by name, or a user model from ``path/to/file.py:NAME``.

    Examples
    --------
    >>> resolve_model("iv_2cmt").title
    'iv_2cmt'
    """
    from model_library import get, load_user_model

    if ":" in spec or spec.endswith(".py"):
        return load_user_model(spec)
    return get(spec)


def write_csv_atomic(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV to ``path`` atomically (temporary file, then rename).

    Examples
    --------
    >>> import tempfile
    >>> p = write_csv_atomic(pd.DataFrame({"a": [1]}), Path(tempfile.mkdtemp()) / "t.csv")
    >>> p.read_text()
    'a\\n1\\n'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _carry_over(new: ErrorModel, model: PopulationModel) -> ErrorModel:
    """``new`` error model starting from the model's own values where names match.

    A proportional SD also starts an exponential error (both are relative errors).
    """
    old = model.error_models[0]
    values = dict(zip(old.parameter_names, old.initial, strict=True))
    if "prop_sd" in values:
        values.setdefault("exp_sd", values["prop_sd"])
    for name in new.parameter_names:
        if name in values:
            new = new.with_parameter(name, values[name])
    return new


def _data_path(text: str) -> Path | None:
    """The data file: a path, or the name of a bundled example dataset."""
    path = Path(text).expanduser()
    if path.is_file():
        return path
    from estimation.data import example_names, example_path

    if text.removesuffix(".csv") in example_names():
        return example_path(text)
    return None


def _readable(path: Path) -> Path:
    """Give ``path`` the permissions of an ordinary new file (temporary files are private)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)
    return path


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"popkin: error: {message}", file=sys.stderr)
    return code


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("popkin")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
