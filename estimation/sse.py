"""Stochastic simulation and estimation (SSE), run on Dask.

Replicate ``i`` simulates a dataset from the true model on the design (doses, sampling
times, covariates) with its own seed (:func:`~estimation.cluster.replicate_seed`), then
fits it with every method, starting from the start model (by default the truth). The
summary gives, per method and parameter, the true value, the mean estimate, the bias and
relative bias, the RMSE and relative RMSE, and the coverage of the Wald confidence
interval (estimate +- z SE, 95% by default) over the replicates with a finite SE.

Examples
--------
>>> table = sse(model, design, 200, [FOCEI(), FOCE()], seed=1, out="sse").table()  # doctest: +SKIP
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import scipy.stats

from estimation.cluster import dask_client, process_model, replicate_seed, run_replicates
from estimation.data import Dataset, read_nonmem
from estimation.fit import fit
from estimation.methods import FOCEI, Method
from estimation.population import PopulationModel
from estimation.replicate_store import ReplicateStore, data_fingerprint, model_settings
from estimation.simulation import simulate_observations


def sse_replicate(index: int, truth: PopulationModel, start: PopulationModel, design: pd.DataFrame,
                  methods: Sequence[Method], seed: int) -> dict[str, Any]:
    """Run replicate ``index`` (on a worker): simulate once, fit with every method.

    A failed simulation fails the replicate; a failed fit fails that method only. Both
    are recorded with their error.
    """
    begin = time.perf_counter()
    rep_seed = replicate_seed(seed, index)
    record: dict[str, Any] = {"index": index, "seed": seed, "replicate_seed": rep_seed,
                              "worker": f"{socket.gethostname()}:{_pid()}", "fits": {}}
    try:
        simulated = simulate_observations(process_model(truth), design, seed=rep_seed)
        simulated = simulated.drop(columns=[c for c in simulated.columns if c.startswith("ETA_")])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. negative simulated concentrations
            data = read_nonmem(simulated)
    except Exception as exc:
        record.update(status="failed", failure="fit", error=_error_text(exc),
                      runtime_s=time.perf_counter() - begin)
        return record
    model = process_model(start)
    failures = []
    for method in methods:
        try:
            result = fit(model, data, method)
            record["fits"][method.name] = {
                "status": "ok", "converged": bool(result.converged), "ofv": float(result.ofv),
                "message": result.message,
                "estimates": {**result.theta, **result.omega, **result.sigma}, "se": dict(result.se)}
        except Exception as exc:
            failures.append(f"{method.name}: {_error_text(exc)}")
            record["fits"][method.name] = {"status": "failed", "converged": False, "error": _error_text(exc)}
    record["status"] = "ok" if not failures else "failed"
    if failures:
        record.update(failure="fit", error="; ".join(failures))
    record["runtime_s"] = time.perf_counter() - begin
    return record


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _pid() -> int:
    import os

    return os.getpid()


# ===================================================================== result
@dataclass(frozen=True)
class SSEResult:
    """Replicates and summary of a simulation-estimation study (immutable).

    Attributes
    ----------
    truth
        True parameter values (``name -> value``).
    methods
        Method names, in the order given.
    replicates
        One row per replicate and method: ``index``, ``method``, ``status``, ``converged``,
        ``ofv``, then ``<parameter>`` and ``se_<parameter>`` columns, ``error``.
    level
        Confidence level of the coverage.
    folder
        Where the replicates and summaries were written.
    """

    truth: Mapping[str, float]
    methods: tuple[str, ...]
    replicates: pd.DataFrame
    level: float
    folder: Path

    @property
    def n(self) -> int:
        """Number of replicates (datasets)."""
        return int(self.replicates["index"].nunique())

    def table(self, converged_only: bool = False) -> pd.DataFrame:
        """Per method and parameter: bias, relative bias %, RMSE, relative RMSE %, coverage.

        ``coverage`` is the fraction of the replicates with a finite SE whose interval
        ``estimate +- z SE`` contains the true value; ``n`` counts the fits used,
        ``n_se`` those with a finite SE.

        Examples
        --------
        >>> sse_result.table()[["method", "parameter", "bias", "rmse", "coverage"]]  # doctest: +SKIP
        """
        z = float(scipy.stats.norm.ppf(0.5 + self.level / 2))
        rows = []
        for method in self.methods:
            reps = self.replicates[self.replicates["method"] == method]
            reps = reps[reps["status"] == "ok"]
            if converged_only:
                reps = reps[reps["converged"].astype(bool)]
            for name, true in self.truth.items():
                est = reps[name].to_numpy(dtype=float)
                se = reps[f"se_{name}"].to_numpy(dtype=float)
                ok = np.isfinite(est)
                err = est[ok] - true
                with_se = ok & np.isfinite(se)
                covered = np.abs(est[with_se] - true) <= z * se[with_se]
                rows.append({
                    "method": method, "parameter": name, "true": true,
                    "mean": est[ok].mean() if ok.any() else np.nan,
                    "bias": err.mean() if err.size else np.nan,
                    "rel_bias_pct": 100 * err.mean() / true if err.size and true != 0 else np.nan,
                    "rmse": float(np.sqrt(np.mean(err**2))) if err.size else np.nan,
                    "rel_rmse_pct": 100 * float(np.sqrt(np.mean(err**2))) / abs(true)
                    if err.size and true != 0 else np.nan,
                    "coverage": covered.mean() if covered.size else np.nan,
                    "n": int(ok.sum()), "n_se": int(with_se.sum()),
                })
        return pd.DataFrame(rows)

    def counts(self) -> pd.DataFrame:
        """Per method: replicates, converged, failed."""
        g = self.replicates.groupby("method", sort=False)
        return pd.DataFrame({
            "replicates": g.size(), "converged": g["converged"].sum(),
            "failed": g["status"].apply(lambda s: int((s != "ok").sum())),
        }).reindex(list(self.methods)).reset_index()

    def summary(self) -> str:
        """Text summary: counts per method, then the bias / RMSE / coverage table."""
        with pd.option_context("display.width", 200, "display.float_format", lambda v: f"{v:.4g}"):
            return (f"SSE: {self.n} simulated datasets; coverage of the {100 * self.level:g}% CI\n"
                    f"{self.counts().to_string(index=False)}\n\n{self.table().to_string(index=False)}")

    def __str__(self) -> str:
        return self.summary()


# ===================================================================== driver
def sse(
    model: PopulationModel,
    design: Dataset | pd.DataFrame | str,
    n: int,
    methods: Sequence[Method] | Method | None = None,
    *,
    truth: Mapping[str, float] | None = None,
    start: PopulationModel | None = None,
    seed: int = 0,
    level: float = 0.95,
    out: str | Path | None = None,
    resume: bool = False,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: TextIO | None = sys.stderr,
) -> SSEResult:
    """Simulate ``n`` datasets from ``model`` on ``design`` and re-estimate them.

    Parameters
    ----------
    model
        The true model (its initial values are the truth unless ``truth`` is given).
    design
        NONMEM-format design: doses, sampling times, covariates (DV is ignored).
    n
        Number of simulated datasets.
    methods
        One or several estimation methods (default ``FOCEI()``); each fits every dataset.
        Keep their covariance step (the default) for the coverage.
    truth
        ``name -> value`` overriding the model's initial values as the truth.
    start
        Model fitted to the simulated data (default: the true model, started at the truth).
    seed
        Seed of the run; replicate ``i`` uses :func:`~estimation.cluster.replicate_seed`.
    level
        Confidence level of the intervals whose coverage is reported.
    out, resume, client, scheduler, workers, progress
        As for :func:`~estimation.bootstrap.bootstrap`.

    Returns
    -------
    SSEResult

    Examples
    --------
    >>> res = sse(get("oral_1cmt"), design, 100, [FOCEI(), FOCE()], seed=3, workers=2)  # doctest: +SKIP
    >>> print(res.summary())  # doctest: +SKIP
    """
    if n < 1:
        raise ValueError(f"the number of replicates must be at least 1, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    methods = (FOCEI(),) if methods is None else (methods,) if isinstance(methods, Method) else tuple(methods)
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"methods must differ by name (one column per method), got {names}")
    true_model = model.with_initial(truth) if truth else model
    values = model_settings(true_model)["parameters"]
    dataset = design if isinstance(design, Dataset) else read_nonmem(design)
    frame = dataset.to_dataframe().reset_index(drop=True)
    start_model = start or true_model
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="popkin-sse-"))
    settings = {"seed": seed, "methods": [repr(m) for m in methods], "truth": model_settings(true_model),
                "start": model_settings(start_model), "design": data_fingerprint(frame)}
    store = ReplicateStore(folder, "sse", settings, resume=resume)
    with dask_client(client, scheduler, workers) as dask:
        run_replicates(dask, sse_replicate, range(n), (true_model, start_model, frame, methods, seed),
                       store, label="sse", progress=progress)
    truth_values = _reported_truth(values)
    result = SSEResult(truth=truth_values, methods=tuple(names),
                       replicates=sse_frame(store.records(), truth_values, names), level=level, folder=folder)
    store.write_csv("replicates.csv", result.replicates)
    store.write_csv("summary.csv", result.table())
    store.write_json("summary.json", {"n": result.n, "level": level,
                                      "counts": result.counts().to_dict(orient="records"),
                                      "parameters": result.table().to_dict(orient="records")})
    return result


def _reported_truth(values: Mapping[str, float]) -> dict[str, float]:
    """The truth under the names a fit reports: ``omega(eta_cl)`` becomes ``eta_cl``."""
    return {name.removeprefix("omega(").removesuffix(")"): value for name, value in values.items()}


def sse_frame(records: list[dict[str, Any]], truth: Mapping[str, float], methods: Sequence[str]
              ) -> pd.DataFrame:
    """Records as a table: one row per replicate and method."""
    rows = []
    for r in records:
        for method in methods:
            f = (r.get("fits") or {}).get(method) or {}
            est, se = f.get("estimates") or {}, f.get("se") or {}
            row = {"index": r["index"], "method": method,
                   "status": f.get("status", "failed"), "converged": bool(f.get("converged", False)),
                   "ofv": f.get("ofv", np.nan)}
            row.update({k: _number(est.get(k)) for k in truth})
            row.update({f"se_{k}": _number(se.get(k)) for k in truth})
            row["error"] = f.get("error") or (r.get("error") if not f else None)
            rows.append(row)
    columns = ["index", "method", "status", "converged", "ofv", *truth, *(f"se_{k}" for k in truth), "error"]
    return pd.DataFrame(rows, columns=columns)


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)
