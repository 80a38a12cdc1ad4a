"""Simulate-then-estimate with the seed's additive (linear) covariate form.

CL = th_cl + th_wt * (WT - 70) + eta_cl (SimBiology's p_i = A_i theta + B_i eta_i),
V = exp(tv + eta_v), KA = exp(tka); data simulated by popkin with a fixed seed. The
estimates must recover the truth within sampling error: |estimate - truth| < 3 SE for
every theta, and the truth inside a generous band for the variances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from compartments import Model
from estimation.error_models import Combined
from estimation.fit import fit
from estimation.methods import FOCEI
from estimation.population import PopulationModel
from estimation.simulation import simulate_observations

#: validation fits (minutes with a cold compile cache): run by `make test-slow` in CI
pytestmark = pytest.mark.slow

TRUTH = {"th_cl": 3.0, "th_wt": 0.04, "tv": np.log(30.0), "tka": np.log(1.2),
         "eta_cl": 0.25, "eta_v": 0.04, "add_sd": 0.05, "prop_sd": 0.1}


def covariate_model(start: dict[str, float]) -> PopulationModel:
    structure = (Model("oral_1cmt_wt").compartment("depot").compartment("central", volume="V")
                 .flow("depot", "central", k="KA").elimination("central", cl="CL")
                 .dose("depot").output("Cc", "central / V"))
    return PopulationModel(
        structure,
        parameters={"CL": "th_cl + th_wt * (WT - 70) + eta_cl", "V": "exp(tv + eta_v)", "KA": "exp(tka)"},
        thetas={k: start[k] for k in ("th_cl", "th_wt", "tv", "tka")},
        omega={"eta_cl": start["eta_cl"], "eta_v": start["eta_v"]},
        error=Combined(start["add_sd"], start["prop_sd"]),
    )


def design(n_subjects: int = 40, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    times = [0.5, 1, 2, 4, 6, 8, 12, 24]
    for i in range(1, n_subjects + 1):
        wt = float(np.round(rng.uniform(50, 100), 1))
        rows.append({"ID": i, "TIME": 0.0, "DV": 0.0, "AMT": 100.0, "EVID": 1, "MDV": 1, "CMT": 1, "WT": wt})
        for t in times:
            rows.append({"ID": i, "TIME": t, "DV": 0.0, "AMT": 0.0, "EVID": 0, "MDV": 0, "CMT": 2, "WT": wt})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def result():
    truth = covariate_model(TRUTH)
    data = simulate_observations(truth, design(), seed=2024)
    start = {**TRUTH, "th_cl": 2.0, "th_wt": 0.0, "tv": np.log(20.0), "tka": 0.0,
             "eta_cl": 0.5, "eta_v": 0.1, "add_sd": 0.1, "prop_sd": 0.2}
    return fit(covariate_model(start), data.drop(columns=["ETA_eta_cl", "ETA_eta_v"]), FOCEI())


def test_thetas_recovered_within_sampling_error(result) -> None:
    assert result.converged, result.message
    for name in ("th_cl", "th_wt", "tv", "tka"):
        est, se = result.theta[name], result.se[name]
        assert np.isfinite(se) and se > 0
        assert abs(est - TRUTH[name]) < 3 * se, (name, est, TRUTH[name], se)


def test_variances_recovered(result) -> None:
    assert 0.25 / 2.5 < result.omega["eta_cl"] < 0.25 * 2.5
    assert 0.04 / 2.5 < result.omega["eta_v"] < 0.04 * 2.5
    assert result.sigma["prop_sd"] == pytest.approx(0.1, rel=0.3)


def test_linear_covariate_model_reports_sd_not_cv(result) -> None:
    params = result.parameters.set_index("parameter")
    assert params.loc["th_cl", "bsv_kind"] == "SD"
    assert params.loc["th_cl", "bsv"] == pytest.approx(np.sqrt(result.omega["eta_cl"]))
    assert params.loc["tv", "bsv_kind"] == "CV%"
