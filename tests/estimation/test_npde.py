"""NPDE, NPD and EPRED against NONMEM (Wang 2007), the exact expectation and the N(0, 1) identity.

NONMEM's NPDE column (tests/data/Wang2007_nonmem_focei_prop_table.csv) comes from its own 300
simulations (ESAMPLE default; its NPDE are normal quantiles of k/300) with its own seed, so ours
can only agree within Monte Carlo error: with K simulations a PDE p has SE sqrt(p (1 - p) / K),
and the difference of two independent estimates has variance p (1 - p) (1/300 + 1/K). We require
|z| < 4 for each of the 20 observations and sum z^2 below the 99.9% quantile of chi2(20).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from estimation_helpers import DATA
from scipy import stats
from simulation_helpers import RICH_OMEGA, rich_result, wang_result

from estimation.npde import decorrelated_pde, npde
from estimation.problem import build_problem
from estimation.simulation import fitted_model, simulate_arrays

NONMEM = pd.read_csv(DATA / "Wang2007_nonmem_focei_prop_table.csv")
NONMEM_K = 300
K = 2000


def _expected_f_at_1() -> tuple[float, float]:
    """Mean and SD of f = 10 exp(-0.5 exp(eta)), eta ~ N(0, 0.04), by 80-point Gauss-Hermite."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    f = 10 * np.exp(-0.5 * np.exp(0.2 * x))
    mean = float(w @ f / np.sqrt(2 * np.pi))
    return mean, float(np.sqrt(w @ f**2 / np.sqrt(2 * np.pi) - mean**2))


@pytest.fixture(scope="module")
def wang_npde() -> pd.DataFrame:
    return npde(wang_result(), n_replicates=K, seed=1)


def _z(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    p = np.clip(theirs, 1 / NONMEM_K, 1 - 1 / NONMEM_K)
    return (ours - theirs) / np.sqrt(p * (1 - p) * (1 / NONMEM_K + 1 / K))


def test_columns_and_rows(wang_npde: pd.DataFrame) -> None:
    assert list(wang_npde.columns) == ["ROW", "ID", "TIME", "DV", "EPRED", "NPD", "NPDE", "PD", "PDE"]
    np.testing.assert_array_equal(wang_npde["ROW"], wang_result().table["ROW"])
    np.testing.assert_array_equal(wang_npde["DV"], NONMEM["DV"])


def test_npde_matches_nonmem_within_monte_carlo_error(wang_npde: pd.DataFrame) -> None:
    z = _z(wang_npde["PDE"].to_numpy(), stats.norm.cdf(NONMEM["NPDE"]))
    assert np.max(np.abs(z)) < 4, z
    assert np.sum(z**2) < stats.chi2.ppf(0.999, len(z)), z


def test_npd_matches_nonmem_within_monte_carlo_error(wang_npde: pd.DataFrame) -> None:
    z = _z(wang_npde["PD"].to_numpy(), stats.norm.cdf(NONMEM["NPD"]))
    assert np.max(np.abs(z)) < 4, z
    assert np.sum(z**2) < stats.chi2.ppf(0.999, len(z)), z


def test_epred_is_the_expected_prediction(wang_npde: pd.DataFrame) -> None:
    """EPRED = E_eta[f]: exactly 10 at t = 0 (as NONMEM); at t = 1 the Gauss-Hermite expectation
    within 4 SE (SD_f / sqrt(K)), and NONMEM's EPRED within 4 of its SE (K = 300)."""
    at0 = wang_npde["TIME"] == 0
    np.testing.assert_allclose(wang_npde.loc[at0, "EPRED"], 10.0, rtol=1e-12)
    np.testing.assert_allclose(NONMEM.loc[NONMEM["TIME"] == 0, "EPRED"], 10.0, rtol=1e-12)
    mean, sd = _expected_f_at_1()
    assert np.all(np.abs(wang_npde.loc[~at0, "EPRED"] - mean) < 4 * sd / np.sqrt(K))
    assert np.all(np.abs(NONMEM.loc[NONMEM["TIME"] == 1, "EPRED"] - mean) < 4 * sd / np.sqrt(NONMEM_K))


def test_npde_of_data_simulated_from_the_model_are_standard_normal() -> None:
    """60 subjects x 4 samples simulated from the model: NPDE ~ N(0, 1) and independent within a
    subject, while the NPD of a subject are correlated (shared eta); fixed seeds."""
    table = npde(rich_result(), n_replicates=1000, seed=3)
    x = table["NPDE"].to_numpy()
    n = x.size
    assert abs(x.mean()) < 4 / np.sqrt(n)
    assert abs(x.var(ddof=1) - 1) < 4 * np.sqrt(2 / (n - 1))
    assert stats.kstest(x, "norm").pvalue > 0.01
    by_rank = table.assign(k=table.groupby("ID").cumcount())
    npd = by_rank.pivot(index="ID", columns="k", values="NPD").to_numpy()
    npde_ = by_rank.pivot(index="ID", columns="k", values="NPDE").to_numpy()
    npd_corr = np.corrcoef(npd.T)[np.triu_indices(4, 1)]
    npde_corr = np.corrcoef(npde_.T)[np.triu_indices(4, 1)]
    assert RICH_OMEGA > 0 and npd_corr.mean() > 0.5, npd_corr
    assert np.abs(npde_corr).max() < 4 / np.sqrt(npd.shape[0]), npde_corr


def test_decorrelation_matches_a_direct_computation() -> None:
    """PDE of each subject recomputed from the same simulations with np.cov, a lower Cholesky
    factor and a triangular solve (the npde package's cholesky decorrelation)."""
    result = rich_result()
    table = npde(result, n_replicates=500, seed=9)
    model, natural = fitted_model(result)
    problem = build_problem(model, result.data)
    sims = simulate_arrays(model, problem, natural, 500, seed=9)
    k = sims.dv.shape[0]
    for i in range(problem.n_subjects):
        m = problem.obs_mask[i]
        ysim = sims.dv[:, i, m]
        yobs = problem.dv[i, m]
        mean = ysim.mean(axis=0)
        chol = scipy.linalg.cholesky(np.cov(ysim.T), lower=True)
        dec_sim = scipy.linalg.solve_triangular(chol, (ysim - mean).T, lower=True).T
        dec_obs = scipy.linalg.solve_triangular(chol, yobs - mean, lower=True)
        pde = np.mean(dec_sim < dec_obs, axis=0)
        pd_ = np.mean(ysim < yobs, axis=0)
        rows = table["ID"] == problem.subject_ids[i]
        np.testing.assert_array_equal(table.loc[rows, "PDE"], pde)
        np.testing.assert_array_equal(table.loc[rows, "PD"], pd_)
        np.testing.assert_allclose(table.loc[rows, "NPDE"],
                                   stats.norm.ppf(np.clip(pde, 1 / (2 * k), 1 - 1 / (2 * k))), rtol=1e-12)


def test_constant_observations_are_left_out_of_the_decorrelation() -> None:
    """An observation whose simulations do not vary (a zero pre-dose prediction): its PDE is its
    PD, and the others are decorrelated among themselves."""
    rng = np.random.default_rng(4)
    k = 400
    varying = rng.multivariate_normal([5.0, 3.0], [[1.0, 0.6], [0.6, 1.0]], size=k)
    y_sim = np.concatenate([np.zeros((k, 1)), varying], axis=1)[:, None, :]
    y_obs = np.array([[0.3, 5.5, 2.0]])
    pde, failed = decorrelated_pde(y_sim, y_obs, np.ones((1, 3), bool))
    alone, _ = decorrelated_pde(y_sim[:, :, 1:], y_obs[:, 1:], np.ones((1, 2), bool))
    assert failed == []
    assert pde[0, 0] == 1.0
    np.testing.assert_array_equal(pde[0, 1:], alone[0])


def test_errors() -> None:
    with pytest.raises(ValueError, match="at least 2 replicates"):
        npde(wang_result(), n_replicates=1)
