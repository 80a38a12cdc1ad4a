"""Normalised prediction distribution errors (NPDE) and prediction discrepancies (NPD).

Definitions of the npde package (Brendel et al. 2006, Comets et al. 2008), computed from K
datasets simulated from the fit at its estimates (:func:`~estimation.simulation.simulate_arrays`):

- EPRED: the Monte Carlo mean of the simulated individual predictions f(eta) (NONMEM's EPRED,
  the expected prediction under the inter-individual variability).
- PD: the fraction of the K simulated values below the observation (``ysim < yobs``); NPD is
  its normal quantile.
- PDE: the same after decorrelating each subject's vector: with E_i and V_i the mean and
  covariance (denominator K - 1) of the subject's simulated vectors and V_i = L L' (Cholesky, the
  npde package's default ``decorr.method = "cholesky"``), y* = L^-1 (y - E_i) for the observed
  and every simulated vector; PDE is the fraction of simulated y*_j below the observed y*_j and
  NPDE its normal quantile.
- A fraction of 0 or 1 becomes 1/(2K) or 1 - 1/(2K) before the quantile (the npde package's
  default ``ties = TRUE``).

Observations whose simulated values do not vary (e.g. a zero pre-dose prediction with a
proportional error) carry no information on the others; they are left out of the decorrelation
(their PDE is their PD). A subject whose covariance is still not positive definite gets NaN NPDE
(its NPD is kept) and a warning, as the npde package reports such subjects.

Under the model, the NPDE of all observations are independent N(0, 1) (up to the Monte Carlo
error of E_i and V_i); the NPD are N(0, 1) marginally but correlated within a subject.

Examples
--------
>>> table = npde(result, n_replicates=1000, seed=1)  # doctest: +SKIP
>>> table[["NPDE"]].describe()  # doctest: +SKIP
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from compartments.propagators import OdeOptions
from estimation.data import Dataset
from estimation.problem import build_problem
from estimation.results import FitResult
from estimation.simulation import design_of, fitted_model, simulate_arrays

#: a simulated observation is constant when its SD is below this fraction of its mean magnitude
CONSTANT_RELATIVE_SD = 1e-10


def npde(
    result: FitResult,
    *,
    n_replicates: int = 1000,
    seed: int = 0,
    data: Dataset | pd.DataFrame | None = None,
    ode_options: OdeOptions | None = None,
    output_column: str | None = None,
) -> pd.DataFrame:
    """NPDE, NPD and EPRED of every observation, from ``n_replicates`` simulations of the fit.

    Parameters
    ----------
    result
        A fit (carrying its model).
    n_replicates
        Number K of simulated datasets (the Monte Carlo SE of a PDE is sqrt(p (1 - p) / K)).
    seed
        Seed of the simulations.
    data
        The observed data (default the fitted data).
    ode_options
        Solver options for ODE models.
    output_column
        Data column choosing the output of each observation (e.g. ``"DVID"``); default the
        fit's own (:attr:`FitResult.output_column`).

    Returns
    -------
    pandas.DataFrame
        One row per observation: ``ROW``, ``ID``, ``TIME``, ``DV``, ``EPRED``, ``NPD``, ``NPDE``,
        ``PD``, ``PDE``.

    Examples
    --------
    >>> table = npde(result, n_replicates=1000, seed=1)  # doctest: +SKIP
    >>> float(table["NPDE"].mean()), float(table["NPDE"].var())  # doctest: +SKIP
    """
    if int(n_replicates) < 2:
        raise ValueError(f"npde needs at least 2 replicates, got {n_replicates}")
    model, natural = fitted_model(result)
    dataset = design_of(result, data)
    problem = build_problem(model, dataset, output_column=output_column or result.output_column)
    sims = simulate_arrays(model, problem, natural, n_replicates, seed=seed, ode_options=ode_options)
    mask = problem.obs_mask
    y_obs = np.where(mask, problem.dv, 0.0)
    y_sim = np.where(mask, sims.dv, 0.0)
    pd_ = _fraction_below(y_sim, y_obs)
    pde, failed = decorrelated_pde(y_sim, y_obs, mask)
    if failed:
        bad = [problem.subject_ids[i] for i in failed]
        warnings.warn(f"NPDE: the covariance of the simulated observations of subject(s) {bad} is not "
                      "positive definite; their NPDE are NaN (NPD are given)", stacklevel=2)
    k = sims.dv.shape[0]
    ids = np.repeat(np.asarray(problem.subject_ids, dtype=object), mask.shape[1]).reshape(mask.shape)
    return pd.DataFrame({
        "ROW": problem.obs_row[mask], "ID": ids[mask], "TIME": problem.obs_time[mask],
        "DV": problem.dv[mask], "EPRED": sims.ipred.mean(axis=0)[mask],
        "NPD": norm.ppf(_away_from_bounds(pd_, k))[mask],
        "NPDE": norm.ppf(_away_from_bounds(pde, k))[mask],
        "PD": pd_[mask], "PDE": pde[mask],
    })


def _fraction_below(y_sim: np.ndarray, y_obs: np.ndarray) -> np.ndarray:
    """Fraction of replicates (axis 0) strictly below the observation."""
    return np.mean(y_sim < y_obs[None], axis=0)


def _away_from_bounds(p: np.ndarray, k: int) -> np.ndarray:
    """0 -> 1/(2K), 1 -> 1 - 1/(2K) (npde's ``ties = TRUE``); NaN stays NaN."""
    return np.where(p == 0, 1 / (2 * k), np.where(p == 1, 1 - 1 / (2 * k), p))


def decorrelated_pde(
    y_sim: np.ndarray, y_obs: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, list[int]]:
    """PDE on a padded (replicate, subject, observation) grid, and the subjects that failed.

    Per subject: y* = L^-1 (y - mean) with cov = L L' over the replicates (denominator K - 1);
    PDE_j is the fraction of simulated y*_j below the observed y*_j. Constant observations
    (SD below ``CONSTANT_RELATIVE_SD`` of the mean) and padding are kept out of the
    decorrelation; a constant observation's PDE is its PD.

    Parameters
    ----------
    y_sim
        Simulated values, shape ``(K, n_subjects, n_obs_max)``.
    y_obs
        Observed values, shape ``(n_subjects, n_obs_max)``.
    mask
        The real observations, shape ``(n_subjects, n_obs_max)``.

    Returns
    -------
    tuple
        PDE (NaN on padding and on failed subjects) and the indices of the subjects whose
        covariance is not positive definite.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pde, failed = decorrelated_pde(rng.normal(size=(100, 1, 2)), np.zeros((1, 2)), np.ones((1, 2), bool))
    >>> pde.shape, failed
    ((1, 2), [])
    """
    k = y_sim.shape[0]
    mean = y_sim.mean(axis=0)
    centred = y_sim - mean[None]
    sd = np.sqrt(np.sum(centred**2, axis=0) / (k - 1))
    varying = mask & (sd > CONSTANT_RELATIVE_SD * np.abs(mean))
    centred = np.where(varying[None], centred, 0.0)
    cov = np.einsum("rij,rik->ijk", centred, centred) / (k - 1)
    eye = np.eye(mask.shape[1], dtype=bool)
    cov = np.where(eye[None] & ~varying[:, :, None], 1.0, cov)
    obs_centred = np.where(varying, y_obs - mean, 0.0)
    pde = np.full(mask.shape, np.nan)
    failed: list[int] = []
    for i in range(mask.shape[0]):
        try:
            chol = np.linalg.cholesky(cov[i])
        except np.linalg.LinAlgError:
            failed.append(i)
            continue
        dec_obs = np.linalg.solve(chol, obs_centred[i])
        dec_sim = np.linalg.solve(chol, centred[:, i, :].T).T
        pde[i] = np.mean(dec_sim < dec_obs[None], axis=0)
    # constant observations: their PDE is their PD
    constant = mask & ~varying
    constant[failed] = False
    pde = np.where(constant, _fraction_below(y_sim, y_obs), pde)
    pde = np.where(mask, pde, np.nan)
    return pde, failed
