"""Nonparametric bootstrap of a population fit, run on Dask.

A replicate resamples the subjects with replacement (within strata of a baseline
covariate when ``strata`` is given, keeping each stratum's size), renumbers them 1..N so
that a subject drawn twice is two individuals, and refits the model starting from the
original estimates. Replicate ``i`` draws its subjects from its own seed
(:func:`~estimation.cluster.replicate_seed`), so the result does not depend on the number
of workers or on the order in which replicates finish. Each finished replicate is written
to ``out/replicates/`` at once; ``resume=True`` continues an interrupted run.

The summary gives, per parameter, the original estimate, the bootstrap median, mean and
standard deviation, and the percentile confidence interval; the counts of converged and
failed replicates.

Examples
--------
>>> result = fit(model, data, FOCEI())  # doctest: +SKIP
>>> boot = bootstrap(result, 200, seed=1, out="boot", workers=2)  # doctest: +SKIP
>>> print(boot.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from estimation.cluster import dask_client, process_model, replicate_seed, run_replicates
from estimation.data import DataError, Dataset, read_nonmem
from estimation.fit import fit
from estimation.methods import Method, method_from_name
from estimation.population import PopulationModel
from estimation.replicate_store import ReplicateStore, data_fingerprint, model_settings
from estimation.results import FitResult


# ================================================================== resampling
def resample_subjects(data: Dataset, rng: np.random.Generator, strata: str | None = None
                      ) -> tuple[pd.DataFrame, list[Any]]:
    """Draw ``data.n_subjects`` subjects with replacement; renumber them 1..N.

    Parameters
    ----------
    data
        The original dataset.
    rng
        Random generator of the replicate.
    strata
        A baseline covariate: subjects are drawn within each of its values, as many as the
        stratum holds (e.g. a study or a formulation column).

    Returns
    -------
    frame, drawn
        The resampled records in NONMEM form (IDs 1..N in draw order) and the original ID of
        each new subject.

    Raises
    ------
    DataError
        ``strata`` is not a covariate column of ``data``.

    Examples
    --------
    >>> ds = read_nonmem(example_path("theo_sd"))  # doctest: +SKIP
    >>> frame, drawn = resample_subjects(ds, np.random.default_rng(1))  # doctest: +SKIP
    """
    ids = list(data.ids)
    if strata is None:
        drawn = [ids[k] for k in rng.integers(0, len(ids), size=len(ids))]
    else:
        if strata not in data.covariates:
            raise DataError(f"stratification column {strata!r} is not a covariate of the data; "
                            f"covariates: {list(data.covariates) or 'none'}")
        baseline = data.baseline_covariates()[strata]
        drawn = []
        for _, members in baseline.groupby(baseline.to_numpy(), sort=True):
            group = list(members.index)
            drawn += [group[k] for k in rng.integers(0, len(group), size=len(group))]
    frame = data.to_dataframe().reset_index(drop=True)
    blocks = {key: rows for key, rows in frame.groupby("ID", sort=False)}
    pieces = [blocks[old].assign(ID=new) for new, old in enumerate(drawn, start=1)]
    return pd.concat(pieces, ignore_index=True), drawn


def bootstrap_replicate(index: int, model: PopulationModel, data: Dataset, method: Method, seed: int,
                        strata: str | None, output_column: str | None = None) -> dict[str, Any]:
    """Run replicate ``index`` (on a worker): resample, refit, return its record.

    Errors of the resampling or the fit are caught and returned in the record
    (``status="failed"``, ``failure="fit"``, ``error``), so nothing is lost.
    """
    start = time.perf_counter()
    rep_seed = replicate_seed(seed, index)
    record: dict[str, Any] = {"index": index, "seed": seed, "replicate_seed": rep_seed,
                              "worker": f"{socket.gethostname()}:{_pid()}"}
    try:
        frame, drawn = resample_subjects(data, np.random.default_rng(rep_seed), strata)
        record["subjects"] = [_plain_id(i) for i in drawn]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the original data's warnings were shown already
            sample = read_nonmem(frame)
        result = fit(process_model(model), sample, method, output_column=output_column)
        record.update(status="ok", converged=bool(result.converged), message=result.message,
                      ofv=float(result.ofv), iterations=result.iterations,
                      estimates={**result.theta, **result.omega, **result.sigma})
    except Exception as exc:
        record.update(status="failed", failure="fit", converged=False,
                      error="".join(traceback.format_exception_only(type(exc), exc)).strip())
    record["runtime_s"] = time.perf_counter() - start
    return record


def _pid() -> int:
    import os

    return os.getpid()


def _plain_id(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# ===================================================================== result
@dataclass(frozen=True)
class BootstrapResult:
    """Replicates and summary of a bootstrap (immutable).

    Attributes
    ----------
    estimates
        The original estimates (``name -> value``).
    replicates
        One row per replicate: ``index``, ``status``, ``converged``, ``ofv``, one column per
        parameter, ``error``.
    level
        Confidence level of the percentile intervals.
    folder
        Where the replicates and summaries were written.
    """

    estimates: Mapping[str, float]
    replicates: pd.DataFrame
    level: float
    folder: Path

    @property
    def n(self) -> int:
        """Number of replicates."""
        return len(self.replicates)

    @property
    def n_failed(self) -> int:
        """Replicates that ended in an error (recorded, not dropped)."""
        return int((self.replicates["status"] != "ok").sum())

    @property
    def n_converged(self) -> int:
        """Replicates whose fit converged."""
        return int(self.replicates["converged"].fillna(False).astype(bool).sum())

    @property
    def fraction_converged(self) -> float:
        """Converged replicates / all replicates."""
        return self.n_converged / self.n if self.n else float("nan")

    def table(self, converged_only: bool = False) -> pd.DataFrame:
        """Per parameter: estimate, median, mean, SD and percentile CI over the replicates.

        Parameters
        ----------
        converged_only
            Use only converged fits (default: every replicate whose fit finished).

        Examples
        --------
        >>> boot.table()[["parameter", "median", "ci_lower", "ci_upper"]]  # doctest: +SKIP
        """
        reps = self.replicates[self.replicates["status"] == "ok"]
        if converged_only:
            reps = reps[reps["converged"].astype(bool)]
        tail = (1 - self.level) / 2 * 100
        rows = []
        for name, value in self.estimates.items():
            x = reps[name].to_numpy(dtype=float) if name in reps else np.array([])
            x = x[np.isfinite(x)]
            lo, med, hi = np.percentile(x, [tail, 50, 100 - tail]) if x.size else (np.nan,) * 3
            rows.append({"parameter": name, "estimate": value, "median": med,
                         "mean": x.mean() if x.size else np.nan,
                         "sd": x.std(ddof=1) if x.size > 1 else np.nan,
                         "ci_lower": lo, "ci_upper": hi, "n": int(x.size)})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """Text summary: counts, then the parameter table."""
        with pd.option_context("display.width", 200, "display.float_format", lambda v: f"{v:.4g}"):
            table = self.table().to_string(index=False)
        return (f"bootstrap: {self.n} replicates, {self.n_converged} converged "
                f"({100 * self.fraction_converged:.0f}%), {self.n_failed} failed; "
                f"{100 * self.level:g}% percentile intervals\n{table}")

    def __str__(self) -> str:
        return self.summary()


# ===================================================================== driver
def bootstrap(
    result: FitResult,
    n: int,
    *,
    model: PopulationModel | None = None,
    data: Dataset | pd.DataFrame | None = None,
    method: Method | None = None,
    seed: int = 0,
    strata: str | None = None,
    level: float = 0.95,
    out: str | Path | None = None,
    resume: bool = False,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: TextIO | None = sys.stderr,
) -> BootstrapResult:
    """Case-resampling bootstrap of ``result`` with ``n`` replicates on Dask.

    Parameters
    ----------
    result
        The original fit. Its model (with the estimates as initial values) and data are
        used; a result read from JSON carries neither: pass ``model`` and ``data``.
    n
        Number of replicates.
    model, data
        Override the fitted model (its initial values are replaced by the estimates) and
        the data.
    method
        Estimation method of the replicates (default: the original fit's, without
        covariance step: percentile intervals need no per-replicate SEs).
    seed
        Seed of the run; replicate ``i`` uses :func:`~estimation.cluster.replicate_seed`.
    strata
        Baseline covariate to stratify the resampling on.
    level
        Confidence level of the percentile intervals.
    out
        Folder for ``run.json``, ``replicates/*.json``, ``replicates.csv``, ``summary.csv``
        and ``summary.json`` (default: a new temporary folder).
    resume
        Continue the run stored in ``out`` (its replicates are not run again).
    client, scheduler, workers
        Where to run: an existing Dask client, a scheduler address, or the number of
        workers of an embedded LocalCluster (default: one per core).
    progress
        Stream of the progress line (``None``: silent).

    Returns
    -------
    BootstrapResult

    Examples
    --------
    >>> boot = bootstrap(fit(model, data), 100, seed=7, workers=2)  # doctest: +SKIP
    >>> boot.table().set_index("parameter").loc["tcl", ["ci_lower", "ci_upper"]]  # doctest: +SKIP
    """
    if n < 1:
        raise ValueError(f"the number of replicates must be at least 1, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    estimates = {**result.theta, **result.omega, **result.sigma}
    start_model = (model or _fitted_model(result)).with_initial(estimates)
    dataset = _dataset(data if data is not None else result.data)
    if strata is not None and strata not in dataset.covariates:
        raise DataError(f"stratification column {strata!r} is not a covariate of the data; "
                        f"covariates: {list(dataset.covariates) or 'none'}")
    method = method or replace(method_from_name(result.method), covariance=None)
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="popkin-bootstrap-"))
    settings = {"seed": seed, "strata": strata, "method": repr(method),
                "start": model_settings(start_model), "data": data_fingerprint(dataset)}
    store = ReplicateStore(folder, "bootstrap", settings, resume=resume)
    with dask_client(client, scheduler, workers) as dask:
        run_replicates(dask, bootstrap_replicate, range(n),
                       (start_model, dataset, method, seed, strata, result.output_column),
                       store, label="bootstrap", progress=progress)
    boot = BootstrapResult(estimates=estimates, replicates=replicate_frame(store.records(), estimates),
                           level=level, folder=folder)
    store.write_csv("replicates.csv", boot.replicates)
    store.write_csv("summary.csv", boot.table())
    store.write_json("summary.json", {
        "n": boot.n, "n_converged": boot.n_converged, "n_failed": boot.n_failed,
        "fraction_converged": boot.fraction_converged, "level": level,
        "parameters": boot.table().to_dict(orient="records")})
    return boot


def replicate_frame(records: list[dict[str, Any]], estimates: Mapping[str, float]) -> pd.DataFrame:
    """Records as a table: index, status, converged, ofv, one column per parameter, error."""
    rows = []
    for r in records:
        row = {"index": r["index"], "status": r.get("status", "failed"),
               "converged": bool(r.get("converged", False)), "ofv": r.get("ofv", np.nan)}
        est = r.get("estimates") or {}
        row.update({name: np.nan if est.get(name) is None else est[name] for name in estimates})
        row.update(runtime_s=r.get("runtime_s", np.nan), error=r.get("error"))
        rows.append(row)
    columns = ["index", "status", "converged", "ofv", *estimates, "runtime_s", "error"]
    return pd.DataFrame(rows, columns=columns)


def _fitted_model(result: FitResult) -> PopulationModel:
    if result.model is None:
        raise ValueError("this fit result carries no model (it was read from JSON); pass model=...")
    return result.model


def _dataset(data: Dataset | pd.DataFrame | None) -> Dataset:
    if data is None:
        raise ValueError("this fit result carries no data (it was read from JSON); pass data=...")
    return data if isinstance(data, Dataset) else read_nonmem(data)
