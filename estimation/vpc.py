"""Visual predictive checks (VPC), prediction-corrected VPC and the fraction below the LLOQ.

The observations are binned on time (:mod:`estimation.binning`), per stratum; in every bin the
observed percentiles (default 5th, 50th, 95th; NumPy's default linear interpolation, R's type 7)
are set against the same percentiles of each of ``n_replicates`` datasets simulated from the fit
on the same design (:func:`~estimation.simulation.simulate_replicates`): the median and the
``ci`` interval of the simulated percentile across replicates.

- Prediction correction (Bergstrand et al. 2011, AAPS J 13:143): every observed and simulated
  value is scaled to the typical prediction of its bin, pcY = lb + (Y - lb) (PRED_bin - lb) /
  (PRED - lb), PRED_bin the median PRED of the bin's observations, lb a lower bound (default 0:
  pcY = Y PRED_bin / PRED); for data on a log scale, pcY = Y + PRED_bin - PRED
  (``pc_log_scale=True``). Records with PRED <= lb cannot be corrected and are left out (counted
  in ``settings["n_excluded"]``).
- Stratification by a data column (covariate, CMT, ...): bins, percentiles and PRED_bin are per
  stratum.
- LLOQ: an observed percentile whose rank falls among the observations below the LLOQ is
  censored (NaN), the below-LLOQ observations ranking lowest; the observed fraction below the LLOQ
  per bin is set against the simulated fractions (``VPC.blq``). Simulated percentiles are not
  censored (they are the model's).

Examples
--------
>>> check = vpc(result, n_replicates=200, bins="quantile", n_bins=8)  # doctest: +SKIP
>>> check.observed.head()  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from compartments.propagators import OdeOptions
from estimation.binning import assign_bins, bin_edges
from estimation.data import Dataset
from estimation.results import FitResult
from estimation.simulation import design_of, simulate_replicates

#: stratum label when the VPC is not stratified
ALL = "all"
OBSERVED_COLUMNS = ["stratum", "bin", "bin_lo", "bin_hi", "bin_mid", "percentile", "value", "n_obs"]
SIMULATED_COLUMNS = ["stratum", "bin", "bin_mid", "percentile", "lo", "median", "hi"]
BLQ_COLUMNS = ["stratum", "bin", "bin_mid", "observed", "lo", "median", "hi"]


@dataclass(frozen=True)
class VPC:
    """A visual predictive check, as tables (plot them with :mod:`estimation.plots`).

    Attributes
    ----------
    observed
        Observed percentiles: ``stratum, bin, bin_lo, bin_hi, bin_mid, percentile, value, n_obs``
        (``value`` NaN where censored by the LLOQ). ``bin_mid`` is the mean time of the bin's
        observations.
    simulated
        Simulated percentiles: ``stratum, bin, bin_mid, percentile, lo, median, hi``: the median
        and the ``ci`` interval across replicates of the percentile of each simulated dataset.
    observations
        The observations: ``ID, TIME, DV, bin, stratum, ROW, PRED`` (DV prediction-corrected with
        ``pred_corrected``; ``BLQ`` with an LLOQ).
    blq
        With an LLOQ: ``stratum, bin, bin_mid, observed, lo, median, hi``, the observed fraction
        below the LLOQ and the median and interval of the simulated fractions; else ``None``.
    settings
        The options used (``seed`` None when the simulations were given), the bin edges per
        stratum (``edges``) and the number of observations the prediction correction left out
        (``n_excluded``).
    """

    observed: pd.DataFrame
    simulated: pd.DataFrame
    observations: pd.DataFrame
    blq: pd.DataFrame | None
    settings: dict[str, Any]


def vpc(
    result: FitResult,
    *,
    n_replicates: int = 200,
    seed: int = 0,
    bins: str | Sequence[float] = "time",
    n_bins: int | None = None,
    pred_corrected: bool = False,
    stratify: str | None = None,
    lloq: float | None = None,
    percentiles: Sequence[float] = (5, 50, 95),
    ci: float = 0.95,
    data: Dataset | pd.DataFrame | None = None,
    pc_lower_bound: float = 0.0,
    pc_log_scale: bool = False,
    simulations: pd.DataFrame | None = None,
    ode_options: OdeOptions | None = None,
    output_column: str | None = None,
) -> VPC:
    """Visual predictive check of a fit.

    Parameters
    ----------
    result
        A fit (carrying its model, unless ``simulations`` are given).
    n_replicates
        Number of simulated datasets (ignored with ``simulations``).
    seed
        Seed of the simulations.
    bins
        ``"time"`` (equal-width), ``"quantile"`` (equal-count) or a sequence of bin edges.
    n_bins
        Number of bins (default ``min(10, distinct times)``).
    pred_corrected
        Prediction-corrected VPC (Bergstrand et al. 2011).
    stratify
        Data column whose values split the VPC into strata; default the output column of a
        fit with several outputs (each output its own panel).
    lloq
        Lower limit of quantification of the observations: censored observed percentiles and
        the fraction below the LLOQ.
    percentiles
        Percentiles of the observations to compare (0-100).
    ci
        Coverage of the interval of the simulated percentiles (0-1).
    data
        The observed data (default the fitted data).
    pc_lower_bound
        Lower bound lb of the prediction correction (0: plain ratio).
    pc_log_scale
        The data are on a log scale: additive prediction correction.
    simulations
        Replicates from :func:`~estimation.simulation.simulate_replicates` to reuse (e.g. for
        several VPCs of one fit); they must be on the design of ``data``.
    ode_options
        Solver options for ODE models.
    output_column
        Data column choosing the output of each observation (e.g. ``"DVID"``); default the
        fit's own (:attr:`FitResult.output_column`).

    Returns
    -------
    VPC
        Observed and simulated percentiles per stratum and bin, the observations, the fraction
        below the LLOQ.

    Examples
    --------
    >>> check = vpc(result, n_replicates=500, pred_corrected=True, stratify="SEX")  # doctest: +SKIP
    >>> check.simulated.query("percentile == 50")  # doctest: +SKIP
    """
    percentiles = tuple(float(p) for p in percentiles)
    if not percentiles or any(not 0 <= p <= 100 for p in percentiles):
        raise ValueError(f"percentiles must be numbers in [0, 100], got {percentiles}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    dataset = design_of(result, data)
    output_column = output_column or result.output_column
    if stratify is None and output_column is not None:
        stratify = output_column  # outputs (concentration, effect...) are never pooled
    simulated_here = simulations is None
    if simulations is None:
        simulations = simulate_replicates(result, n_replicates, seed=seed, data=dataset,
                                          ode_options=ode_options, output_column=output_column)
    rows, sim_dv, pred = _replicate_matrix(simulations)
    frame = dataset.to_dataframe()
    missing = np.setdiff1d(rows, frame.index.to_numpy())
    if missing.size:
        raise ValueError(f"the simulations have rows {missing[:5].tolist()} that the data do not have; "
                         "simulate on the design of the data")
    records = frame.loc[rows]
    obs_dv = pd.to_numeric(records["DV"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(obs_dv)
    if bad.any():
        raise ValueError(f"rows {rows[bad][:5].tolist()}: the observation has no DV; "
                         "a VPC needs observed data")
    time = records["TIME"].to_numpy(dtype=float)
    strata = _strata(stratify, records, simulations, rows)
    blq_obs = obs_dv < lloq if lloq is not None else np.zeros(obs_dv.shape, bool)
    blq_sim = sim_dv < lloq if lloq is not None else None

    # bins per stratum
    bin_of = np.zeros(rows.size, dtype=int)
    edges_of: dict[Any, list[float]] = {}
    for s in _unique(strata):
        sel = strata == s
        edges = bin_edges(time[sel], bins, n_bins)
        edges_of[s] = edges.tolist()
        bin_of[sel] = assign_bins(time[sel], edges) + 1

    # prediction correction within (stratum, bin)
    keep = np.ones(rows.size, dtype=bool)
    obs_values, sim_values = obs_dv, sim_dv
    if pred_corrected:
        factor_or_shift, keep = _prediction_correction(pred, strata, bin_of, pc_lower_bound, pc_log_scale)
        if pc_log_scale:
            obs_values, sim_values = obs_dv + factor_or_shift, sim_dv + factor_or_shift[None]
        else:
            lb = pc_lower_bound
            obs_values = lb + (obs_dv - lb) * factor_or_shift
            sim_values = lb + (sim_dv - lb) * factor_or_shift[None]
        if (~keep).any():
            warnings.warn(f"prediction correction: {int((~keep).sum())} observation(s) with PRED <= "
                          f"{pc_lower_bound:g} cannot be corrected and are left out of the VPC", stacklevel=2)

    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    observed, simulated, blq = [], [], []
    for s in _unique(strata):
        edges = edges_of[s]
        for b in np.unique(bin_of[(strata == s) & keep]):
            cols = np.flatnonzero((strata == s) & (bin_of == b) & keep)
            mid = float(np.mean(time[cols]))
            obs_p = _censored_percentiles(obs_values[cols], blq_obs[cols], percentiles)
            sim_p = np.percentile(sim_values[:, cols], percentiles, axis=1)  # (P, R)
            band = np.percentile(sim_p, (lo_q, 50.0, hi_q), axis=1)  # (3, P)
            for k, p in enumerate(percentiles):
                observed.append({"stratum": s, "bin": int(b), "bin_lo": edges[b - 1], "bin_hi": edges[b],
                                 "bin_mid": mid, "percentile": p, "value": obs_p[k], "n_obs": cols.size})
                simulated.append({"stratum": s, "bin": int(b), "bin_mid": mid, "percentile": p,
                                  "lo": band[0, k], "median": band[1, k], "hi": band[2, k]})
            if blq_sim is not None:
                frac = np.percentile(blq_sim[:, cols].mean(axis=1), (lo_q, 50.0, hi_q))
                blq.append({"stratum": s, "bin": int(b), "bin_mid": mid,
                            "observed": float(blq_obs[cols].mean()), "lo": frac[0], "median": frac[1],
                            "hi": frac[2]})

    observations = pd.DataFrame({
        "ID": records["ID"].to_numpy(), "TIME": time, "DV": obs_values, "bin": bin_of, "stratum": strata,
        "ROW": rows, "PRED": pred,
    })
    if lloq is not None:
        observations["BLQ"] = blq_obs
    settings = {
        "n_replicates": int(sim_dv.shape[0]), "seed": seed if simulated_here else None,
        "bins": bins if isinstance(bins, str) else "edges", "n_bins": n_bins, "edges": edges_of,
        "pred_corrected": pred_corrected, "pc_lower_bound": pc_lower_bound, "pc_log_scale": pc_log_scale,
        "stratify": stratify, "lloq": lloq, "percentiles": percentiles, "ci": ci,
        "n_excluded": int((~keep).sum()),
    }
    return VPC(
        observed=pd.DataFrame(observed, columns=OBSERVED_COLUMNS),
        simulated=pd.DataFrame(simulated, columns=SIMULATED_COLUMNS),
        observations=observations[keep].reset_index(drop=True),
        blq=pd.DataFrame(blq, columns=BLQ_COLUMNS) if lloq is not None else None, settings=settings,
    )


def _replicate_matrix(simulations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (sorted), simulated DV (replicates x rows) and PRED per row of a replicates table."""
    needed = {"REP", "ROW", "DV", "PRED"}
    if not needed <= set(simulations.columns):
        raise ValueError(f"simulations need columns {sorted(needed)} (simulate_replicates output); "
                         f"got {list(simulations.columns)}")
    dv = simulations.pivot(index="REP", columns="ROW", values="DV")
    if dv.isna().any().any():
        raise ValueError("every replicate of the simulations must have the same observation rows")
    pred = simulations.groupby("ROW")["PRED"].first().reindex(dv.columns)
    return dv.columns.to_numpy(), dv.to_numpy(dtype=float), pred.to_numpy(dtype=float)


def _strata(stratify: str | None, records: pd.DataFrame, simulations: pd.DataFrame,
            rows: np.ndarray) -> np.ndarray:
    """Stratum of every observation (the column's value on its row; ``"all"`` unstratified)."""
    if stratify is None:
        return np.full(rows.size, ALL, dtype=object)
    if stratify in records.columns:
        values = records[stratify]
    elif stratify in simulations.columns:
        values = simulations.groupby("ROW")[stratify].first().reindex(rows)
    else:
        raise ValueError(f"stratify: no column {stratify!r} in the data (columns: {list(records.columns)})")
    missing = values.isna().to_numpy()
    if missing.any():
        raise ValueError(f"stratify: column {stratify} is missing on rows {rows[missing][:5].tolist()}")
    return values.to_numpy(dtype=object)


def _unique(strata: np.ndarray) -> list[Any]:
    """Distinct strata, sorted where they can be."""
    values = list(pd.unique(strata))
    try:
        return sorted(values)
    except TypeError:
        return values


def _prediction_correction(pred: np.ndarray, strata: np.ndarray, bin_of: np.ndarray, lower_bound: float,
                           log_scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per observation the factor (PRED_bin - lb) / (PRED - lb), or the shift PRED_bin - PRED on a log
    scale, and the observations that can be corrected."""
    keep = np.isfinite(pred) if log_scale else np.isfinite(pred) & (pred > lower_bound)
    out = np.full(pred.shape, np.nan)
    groups = pd.DataFrame({"s": strata, "b": bin_of, "i": np.arange(pred.size)})
    for _, g in groups[keep].groupby(["s", "b"], sort=False):
        idx = g["i"].to_numpy()
        pred_bin = float(np.median(pred[idx]))
        if log_scale:
            out[idx] = pred_bin - pred[idx]
        else:
            out[idx] = (pred_bin - lower_bound) / (pred[idx] - lower_bound)
    return out, keep


def _censored_percentiles(values: np.ndarray, blq: np.ndarray, percentiles: Sequence[float]) -> np.ndarray:
    """Percentiles (type 7) with below-LLOQ values ranked lowest; NaN where the rank is among them.

    With n values the percentile p sits at 0-based rank h = (n - 1) p / 100, interpolated between
    ranks floor(h) and floor(h) + 1; it is censored when h < n_blq.
    """
    n, n_blq = values.size, int(blq.sum())
    ranked = np.where(blq, -np.inf, values)
    with np.errstate(invalid="ignore"):
        out = np.percentile(ranked, percentiles)
    h = (n - 1) * np.asarray(percentiles) / 100
    return np.where(h < n_blq, np.nan, out)
