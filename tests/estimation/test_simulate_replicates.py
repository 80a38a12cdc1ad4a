"""Population simulation from a fit: ``simulate_replicates`` and the shared simulation path.

References are exact: the typical prediction of Wang's model is 10 exp(-0.5 t); under IIV only,
eta = log(-log(DV / 10) / (0.5 t)) recovers the drawn eta exactly, so its sample moments test the
draws (tolerance 4 Monte Carlo SE); with residual error, (DV - IPRED) / (sd IPRED) are N(0, 1).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from estimation_helpers import wang_data, wang_model
from simulation_helpers import rich_result, wang_result

import estimation.simulation as simulation
from estimation.error_models import Exponential
from estimation.problem import build_problem
from estimation.simulation import simulate_arrays, simulate_observations, simulate_replicates

SIGMA_PROP = np.sqrt(0.1)


def test_evaluate_keeps_the_fixed_values_and_gives_the_reference_ofv() -> None:
    """The fixed-parameter result the simulations start from: Wang's values unchanged, no iteration,
    FOCE-I OFV 39.458 (NONMEM / nlmixr2, tests/data/Wang2007_reference_ofv.csv; 3 decimals)."""
    result = wang_result()
    assert result.iterations == 0 and "no estimation" in result.message
    assert result.theta == {"theta": 0.5}
    assert result.omega == pytest.approx({"eta": 0.04}, rel=1e-12)
    assert result.sigma == pytest.approx({"prop_sd": SIGMA_PROP}, rel=1e-12)
    assert result.ofv == pytest.approx(39.458, abs=1e-3)


def test_table_layout_and_seed() -> None:
    result = wang_result()
    sims = simulate_replicates(result, 50, seed=3)
    assert list(sims.columns[:7]) == ["REP", "ID", "TIME", "DV", "PRED", "IPRED", "ROW"]
    assert len(sims) == 50 * 20
    assert sims["REP"].tolist() == list(np.repeat(np.arange(1, 51), 20))
    first = sims[sims["REP"] == 1]
    np.testing.assert_array_equal(first["ROW"], result.table["ROW"])
    np.testing.assert_array_equal(first["TIME"], result.table["TIME"])
    np.testing.assert_array_equal(first["ID"].astype(int), result.table["ID"].astype(int))
    pd.testing.assert_frame_equal(sims, simulate_replicates(result, 50, seed=3))
    assert not np.allclose(sims["DV"], simulate_replicates(result, 50, seed=4)["DV"])


def test_typical_predictions_are_pred() -> None:
    """variability="none": DV = PRED = 10 exp(-0.5 t) = the fit's PRED column."""
    result = wang_result()
    sims = simulate_replicates(result, 3, variability="none")
    np.testing.assert_allclose(sims["PRED"], 10 * np.exp(-0.5 * sims["TIME"]), rtol=1e-12)
    np.testing.assert_array_equal(sims["DV"], sims["PRED"])
    np.testing.assert_array_equal(sims["IPRED"], sims["PRED"])
    np.testing.assert_allclose(sims[sims["REP"] == 1]["PRED"], result.table["PRED"], rtol=1e-10)


def test_iiv_draws_have_the_fitted_omega() -> None:
    """variability="iiv": DV = IPRED; the etas read back from DV at t = 1 are N(0, 0.04)."""
    sims = simulate_replicates(wang_result(), 400, seed=11, variability="iiv")
    np.testing.assert_array_equal(sims["DV"], sims["IPRED"])
    np.testing.assert_allclose(sims.loc[sims["TIME"] == 0, "DV"], 10.0, rtol=1e-12)
    dv = sims.loc[sims["TIME"] == 1, "DV"].to_numpy()
    eta = np.log(-np.log(dv / 10) / 0.5)
    n = eta.size  # 4000 draws
    assert abs(eta.mean()) < 4 * 0.2 / np.sqrt(n)
    assert abs(eta.var(ddof=1) - 0.04) < 4 * 0.04 * np.sqrt(2 / (n - 1))


def test_residual_draws_are_proportional() -> None:
    sims = simulate_replicates(wang_result(), 400, seed=12)
    z = ((sims["DV"] - sims["IPRED"]) / (SIGMA_PROP * sims["IPRED"])).to_numpy()
    n = z.size  # 8000 draws
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var(ddof=1) - 1) < 4 * np.sqrt(2 / (n - 1))


def test_replicate_one_is_simulate_observations_and_chunking_does_not_matter(monkeypatch) -> None:
    """Same seed, same draws: replicate 1 is the single simulated dataset; the draws do not depend on
    the chunks or the number of replicates; the etas not on the variability simulated."""
    result = rich_result()
    sims = simulate_replicates(result, 4, seed=7)
    single = simulate_observations(result.final_model(), result.data, seed=7)
    obs = single.iloc[sims.loc[sims["REP"] == 1, "ROW"].to_numpy() - 1]
    np.testing.assert_allclose(sims.loc[sims["REP"] == 1, "DV"], obs["DV"], rtol=1e-12)
    monkeypatch.setattr(simulation, "LANES_PER_CALL", 2 * result.n_subjects)  # 2 replicate slots a call
    np.testing.assert_allclose(simulate_replicates(result, 4, seed=7)["DV"], sims["DV"], rtol=1e-12)
    monkeypatch.undo()
    longer = simulate_replicates(result, 6, seed=7)
    np.testing.assert_allclose(longer.loc[longer["REP"] <= 4, "DV"], sims["DV"], rtol=1e-12)
    iiv = simulate_replicates(result, 4, seed=7, variability="iiv")
    np.testing.assert_array_equal(iiv["IPRED"], sims["IPRED"])


def test_design_and_covariate_columns() -> None:
    """Simulation on another design (new times and doses); covariates carried per row."""
    result = rich_result()
    assert list(simulate_replicates(result, 1).columns) == ["REP", "ID", "TIME", "DV", "PRED", "IPRED",
                                                            "ROW", "GRP"]
    design = pd.DataFrame({
        "ID": [1, 1, 1, 2, 2], "TIME": [0.0, 0.5, 3.0, 0.0, 2.0], "DV": [np.nan, 0, 0, np.nan, 0],
        "AMT": [5.0, 0, 0, 40.0, 0], "EVID": [1, 0, 0, 1, 0], "MDV": [1, 0, 0, 1, 0], "CMT": 1,
        "GRP": [7, 7, 7, 8, 8]})
    sims = simulate_replicates(result, 2, data=design, variability="none")
    np.testing.assert_allclose(sims["PRED"], [5 * np.exp(-0.25), 5 * np.exp(-1.5), 40 * np.exp(-1.0)] * 2,
                               rtol=1e-12)
    assert sims["ROW"].tolist() == [2, 3, 5] * 2
    assert sims["GRP"].tolist() == [7, 7, 8] * 2
    # a design written by `popkin simulate` has REP and PRED columns: the table keeps its own
    again = simulate_replicates(result, 2, data=design.assign(REP=1, PRED=-1.0), variability="none")
    assert again["REP"].tolist() == [1, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(again["PRED"], sims["PRED"])


def test_exponential_error_is_log_normal() -> None:
    """log(DV) - log(IPRED) ~ N(0, 0.2^2) for the exponential error (simulated arrays, no fit)."""
    model = wang_model(Exponential(0.2))
    problem = build_problem(model, wang_data())
    sims = simulate_arrays(model, problem, model.space.natural_init(), 500, seed=5)
    mask = problem.obs_mask
    r = (np.log(sims.dv) - np.log(sims.ipred))[:, mask].ravel()
    n = r.size
    assert abs(r.mean()) < 4 * 0.2 / np.sqrt(n)
    assert abs(r.std(ddof=1) - 0.2) < 4 * 0.2 / np.sqrt(2 * (n - 1))


def test_exponential_error_on_a_zero_prediction_is_zero() -> None:
    """Y = F exp(eps), as NONMEM simulates it: theo_sd's samples at the oral dose time (central
    amount 0) simulate as 0, the others as positive values."""
    from estimation.data import example_path, read_nonmem
    from model_library import get

    data = read_nonmem(example_path("theo_sd"))
    sim = simulate_observations(get("oral_1cmt", error=Exponential(0.2)), data, seed=3)
    obs = sim[sim["EVID"] == 0]
    at_dose = obs["TIME"] == 0
    assert at_dose.sum() == 12 and (obs.loc[at_dose, "DV"] == 0).all()
    assert (obs.loc[~at_dose, "DV"] > 0).all()


def test_errors_name_the_problem() -> None:
    result = wang_result()
    with pytest.raises(ValueError, match="variability must be one of"):
        simulate_replicates(result, 2, variability="eps")
    with pytest.raises(ValueError, match="n_replicates must be at least 1"):
        simulate_replicates(result, 0)
    with pytest.raises(ValueError, match="loaded from JSON"):
        simulate_replicates(replace(result, model=None), 2)

