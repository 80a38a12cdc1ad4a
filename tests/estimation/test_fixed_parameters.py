"""Fixed residual-error SDs and fixed Omega blocks in fits (NONMEM's ``$SIGMA 0.1 FIX``,
``$OMEGA ... FIX``; nlmixr2's ``fix(...)``), on the Wang 2007 data (10 subjects).

Exact identities: a fixed parameter keeps its value through FOCE-I and SAEM, is not
counted in ``n_estimated`` nor in the covariance step, and the OFV of the fit equals the
OFV evaluated (``evaluate()``, NONMEM's MAXEVAL=0) at the returned estimates; fixing the SD
at the free fit's estimate gives back the free fit (the constrained optimum is the free one),
and fixing it elsewhere can only raise the OFV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from estimation_helpers import wang_model

from estimation.error_models import Combined, Proportional
from estimation.fit import evaluate, fit
from estimation.methods import FOCEI, SAEM
from estimation.parameters import OmegaBlock
from estimation.population import PopulationModel
from estimation.results import FitResult

_FREE: dict[str, FitResult] = {}


def free_fit(wang: pd.DataFrame) -> FitResult:
    if "fit" not in _FREE:
        _FREE["fit"] = fit(wang_model(Proportional(0.3)), wang, FOCEI())
    return _FREE["fit"]


def test_error_model_fixed_flags_reach_the_parameter_space() -> None:
    model = wang_model(Proportional(0.2, fixed=True))
    assert model.space.sigma_fixed == (True,)
    assert model.space.estimated.tolist() == [True, True, False]
    edited = model.with_initial({"prop_sd": 0.1, "theta": 0.4})
    assert edited.space.sigma_fixed == (True,) and edited.space.natural_init()[-1] == 0.1
    assert Combined(0.1, 0.2, prop_fixed=True).parameter_fixed == (False, True)


def test_fixed_sd_at_the_free_estimate_gives_the_free_fit(wang: pd.DataFrame) -> None:
    free = free_fit(wang)
    assert free.converged, free.message
    sd = free.sigma["prop_sd"]
    fixed = fit(wang_model(Proportional(sd, fixed=True)), wang, FOCEI())
    assert fixed.converged, fixed.message
    assert fixed.sigma["prop_sd"] == sd
    assert fixed.ofv == pytest.approx(free.ofv, abs=1e-6)
    assert fixed.theta["theta"] == pytest.approx(free.theta["theta"], rel=1e-4)
    assert fixed.omega["eta"] == pytest.approx(free.omega["eta"], rel=1e-3)


def test_fixed_sd_stays_fixed_through_focei(wang: pd.DataFrame, tmp_path) -> None:
    free = free_fit(wang)
    result = fit(wang_model(Proportional(0.05, fixed=True)), wang, FOCEI())
    assert result.converged, result.message
    assert result.sigma["prop_sd"] == 0.05
    assert result.n_estimated == free.n_estimated - 1 == 2
    assert result.ofv > free.ofv
    assert evaluate(result.final_model(), wang, FOCEI()).ofv == pytest.approx(result.ofv, abs=1e-8)
    assert result.covariance_status == "ok"
    assert result.covariance_names == ("theta", "omega(eta)")
    assert "prop_sd" not in result.se
    row = result.parameters.set_index("parameter").loc["prop_sd"]
    assert bool(row["fixed"]) and np.isnan(row["se"])
    assert result.final_model().space.sigma_fixed == (True,)
    loaded = FitResult.load(result.save(tmp_path / "results.json"))
    assert loaded.parameters["fixed"].tolist() == [False, False, True]
    assert loaded.n_estimated == 2 and loaded.summary() == result.summary()


def test_fixed_omega_block_stays_fixed(wang: pd.DataFrame) -> None:
    free = free_fit(wang)
    model = PopulationModel(wang_model(Proportional(0.3)).structure, parameters={"KE": "theta * exp(eta)"},
                            thetas={"theta": 0.5}, omega=[OmegaBlock(("eta",), ((0.04,),), fixed=True)],
                            error=Proportional(0.3))
    result = fit(model, wang, FOCEI())
    assert result.converged, result.message
    assert result.omega["eta"] == 0.04
    assert result.n_estimated == 2
    assert result.covariance_names == ("theta", "prop_sd")
    assert result.ofv > free.ofv
    assert evaluate(result.final_model(), wang, FOCEI()).ofv == pytest.approx(result.ofv, abs=1e-8)
    assert bool(result.parameters.set_index("parameter").loc["omega(eta)", "fixed"])


@pytest.mark.slow  # compiles SAEM's programs for this model (about 10 s)
def test_saem_keeps_a_fixed_sd(wang: pd.DataFrame) -> None:
    method = SAEM(n_burn=60, n_smooth=40, n_samples=200, n_conditional=30, seed=1)
    result = fit(wang_model(Proportional(0.05, fixed=True)), wang, method)
    assert result.sigma["prop_sd"] == 0.05
    assert (result.traces["prop_sd"] == 0.05).all()
    assert result.n_estimated == 2
    assert result.covariance_names == ("theta", "omega(eta)")
    assert bool(result.parameters.set_index("parameter").loc["prop_sd", "fixed"])
    # the other parameters moved from their starting values
    assert result.theta["theta"] != 0.5 and result.omega["eta"] != 0.04

