"""``popkin simulate DATA --model M``: predictions for the records of a NONMEM table.

The table is the design (doses, sampling records, covariates; DV may be missing). The
model's initial values are the parameters unless ``--param NAME=VALUE`` overrides them.
With ``--variability none`` every record gets the typical prediction of each model output;
with ``iiv`` each of ``--n`` replicates draws eta ~ N(0, Omega) per subject and gets the
individual predictions, and DV (observation records) is the individual prediction; with
``full`` DV also carries the residual error. Predictions come from
:func:`compartments.simulate.simulate` (one compiled solver for all replicates).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popkin.commands.inputs import (
    EXIT_OK,
    MAP_HELP,
    InputError,
    column_map,
    data_path,
    design_missing_dv,
    fail,
    model_with_error,
    read_dataset,
    warn,
)
from popkin.commands.outputs import write_csv

if TYPE_CHECKING:
    import pandas as pd

    from estimation.data import Dataset
    from estimation.population import PopulationModel

EXAMPLES = """\
examples:
  popkin simulate regimen.csv --model oral_1cmt                       # typical predictions
  popkin simulate regimen.csv --model oral_1cmt --param tcl=1.2 --param tv=3.5 --out pred.csv
  popkin simulate regimen.csv --model iv_2cmt --variability full --n 100 --seed 1 --out sim.csv
  popkin simulate theo_sd --model oral_1cmt --variability iiv --n 20
"""


def add_subcommands(subparsers: Any) -> None:
    """Add ``popkin simulate`` to the command line.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="popkin")
    >>> add_subcommands(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["simulate", "d.csv", "-m", "iv_1cmt", "-p", "tcl=1"]).param
    ['tcl=1']
    """
    parser = subparsers.add_parser(
        "simulate", help="simulate a model on the records of a NONMEM table (dosing regimens)",
        description=(
            "Predict every record of DATA (a NONMEM-format table: doses, sampling records, covariates;\n"
            "DV may be missing) with MODEL at its initial values, or at --param NAME=VALUE. Writes a CSV\n"
            "of the records with one column per model output (the typical prediction; with variability,\n"
            "the individual prediction of each replicate, with REP and ETA_ columns and a simulated DV\n"
            "on observation records)."
        ),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", help="NONMEM-format CSV file, or a bundled example (theo_sd)")
    parser.add_argument("--model", "-m", required=True, metavar="MODEL",
                        help="a model library name (see `popkin models`) or path/to/file.py:NAME")
    parser.add_argument("--error", choices=("add", "prop", "comb", "exp"),
                        help="residual error model replacing the model's own")
    parser.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter value: a theta (tcl=1.2), an eta variance (eta_cl=0.09), an "
                             "Omega covariance (eta_cl,eta_v=0.01) or a residual SD (add_sd=0.5); repeat")
    parser.add_argument("--variability", choices=("none", "iiv", "full"), default="none",
                        help="none: typical predictions (default); iiv: between-subject variability; "
                             "full: also residual error")
    parser.add_argument("--n", type=int, default=1, metavar="N",
                        help="replicates (with variability; default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", "-o", default="simulation.csv", metavar="FILE",
                        help="output CSV (default simulation.csv)")
    parser.add_argument("--force", "-f", action="store_true", help="replace FILE if it exists")
    parser.add_argument("--drop", default="", metavar="COLS", help="comma-separated data columns to ignore")
    parser.add_argument("--map", default="", metavar="OLD=NEW[,...]", help=MAP_HELP)
    parser.add_argument("--output-column", default=None, metavar="COL",
                        help="data column giving each observation's model output (e.g. DVID), 1-based "
                             "in the order of the model's outputs: chooses which output DV simulates")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``popkin simulate`` with parsed arguments; return the exit status.

    Examples
    --------
    >>> from popkin.cli import main
    >>> main(["simulate", "theo_sd", "-m", "oral_1cmt", "--out", "pred.csv"])  # doctest: +SKIP
    0
    """
    out = Path(args.out)
    try:
        if args.n < 1:
            raise InputError(f"--n {args.n}: expected a positive number of replicates")
        if args.n > 1 and args.variability == "none":
            raise InputError("--n > 1 needs --variability iiv or full (typical predictions are all equal)")
        if out.exists() and not args.force:
            raise InputError(f"{str(out)!r} exists; use --force to replace it or choose another --out")
        model = model_with_error(args.model, args.error)
        model = _with_values(model, args.param)
        path = data_path(args.data)
        drop = tuple(c.strip() for c in args.drop.split(",") if c.strip())
        rename = column_map(args.map)
        data, data_warnings = read_dataset(path, model, drop=drop, rename=rename, design=True,
                                           output_column=args.output_column)
    except InputError as exc:
        return fail(str(exc))
    for message in data_warnings:
        warn(message)
    table = simulate_design(model, data, variability=args.variability, n=args.n, seed=args.seed,
                            output_column=args.output_column)
    if args.variability == "none":  # the design's own DV, missing where it was missing
        table["DV"] = table["DV"].mask(design_missing_dv(path, rename))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(table, out)
    print(f"wrote {out} ({len(table)} rows: {data.n_records} records x {args.n} replicate(s), "
          f"variability {args.variability})", file=sys.stderr)
    return EXIT_OK


def _with_values(model: PopulationModel, assignments: list[str]) -> PopulationModel:
    values: dict[str, float] = {}
    for text in assignments:
        name, sep, value = text.partition("=")
        try:
            if not sep:
                raise ValueError
            values[name.strip()] = float(value)
        except ValueError as exc:
            raise InputError(f"--param {text!r}: expected NAME=VALUE, e.g. tcl=1.2") from exc
    try:
        return model.with_initial(values)
    except ValueError as exc:
        space = model.space
        known = [*space.theta_names, *space.omega_element_names, *space.sigma_names]
        raise InputError(f"--param: {exc}; the parameters of {model.title!r} are {known}") from exc


def simulate_design(model: PopulationModel, data: Dataset, *, variability: str, n: int,
                    seed: int, output_column: str | None = None) -> pd.DataFrame:
    """The records of ``data`` with the model's predictions (and simulated DV), ``n`` replicates.

    The draws are those of :func:`estimation.simulation.simulate_arrays` (replicate 1 of seed
    ``s`` is ``simulate_observations(model, data, seed=s)``); the prediction of every output at
    every record comes from :func:`compartments.simulate.simulate` with the same etas.

    Examples
    --------
    >>> simulate_design(get("oral_1cmt"), design, variability="none", n=1, seed=0)  # doctest: +SKIP
    """
    import jax
    import jax.numpy as jnp
    import numpy as np
    import pandas as pd

    from compartments.simulate import simulate
    from estimation.problem import build_problem
    from estimation.simulation import simulate_arrays

    space = model.space
    natural = np.asarray(space.natural_init(), dtype=float)
    theta = space.split(jnp.asarray(natural))[0]
    frame = data.to_dataframe()
    k = len(space.eta_names)
    sims = None
    if variability == "none":
        etas = np.zeros((1, data.n_subjects, k))
    else:
        try:
            problem = build_problem(model, data, output_column=output_column, design=True)
        except ValueError as exc:
            raise InputError(f"cannot simulate observations: {exc}") from exc
        sims = simulate_arrays(model, problem, natural, n, seed=seed, variability=variability)
        etas = sims.etas
    replicates = etas.shape[0]
    covariates = data.baseline_covariates()[list(model.covariate_names)].to_numpy(float)
    h = jax.vmap(model.individual_function, in_axes=(None, 0, 0))
    params = np.asarray(h(theta, jnp.asarray(etas.reshape(-1, k)),
                          jnp.asarray(np.tile(covariates, (replicates, 1)))))
    tables = data.events_for(model.structure)
    individual = {name: params[:, j] for j, name in enumerate(model.compiled.param_names)}
    predictions = simulate(model.structure, individual, tables * replicates)
    outputs = list(model.structure.output_names)
    values = predictions[outputs].to_numpy(float).reshape(replicates, len(frame), len(outputs))
    records_per_subject = [len(t) for t in tables]
    parts = []
    for r in range(replicates):
        part = frame.reset_index()
        for j, name in enumerate(outputs):
            part[name] = values[r, :, j]
        if sims is not None:
            mask = sims.problem.obs_mask
            at = frame.index.get_indexer(sims.problem.obs_row[mask])
            dv = np.full(len(frame), np.nan)
            dv[at] = sims.dv[r][mask]
            pred = np.full(len(frame), np.nan)
            pred[at] = sims.pred[mask]
            part["DV"] = dv
            part["PRED"] = pred
            for j, name in enumerate(space.eta_names):
                part[f"ETA_{name}"] = np.repeat(etas[r, :, j], records_per_subject)
            part.insert(0, "REP", r + 1)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
