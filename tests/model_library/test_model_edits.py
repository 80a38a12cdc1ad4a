"""Population-model edits (estimation.model_edits) on library and hand-written models.

Covariate factors are checked as exact identities of the compiled individual-parameter
function h(theta, eta, covariates) at chosen covariate values; structural edits by the
parameters, thetas and etas they add or drop and by the solution path they lead to.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from estimation.error_models import Additive, Exponential, Proportional
from estimation.model_edits import (
    add_covariate_effect,
    add_iiv,
    add_lag,
    add_peripheral,
    add_transit,
    remove_iiv,
    set_elimination,
    set_error_model,
    set_omega_block,
)
from estimation.population import PopulationModel, PopulationModelError
from model_library import get


def individual(model: PopulationModel, thetas: dict[str, float], covariates: dict[str, float],
               etas: dict[str, float] | None = None) -> dict[str, float]:
    """Structural parameters of one subject from the compiled h."""
    space = model.space
    theta = jnp.asarray([thetas.get(n, float(model.thetas[n])) for n in space.theta_names])
    eta = jnp.asarray([(etas or {}).get(n, 0.0) for n in space.eta_names])
    cov = jnp.asarray([covariates[n] for n in model.covariate_names])
    values = np.asarray(model.individual_function(theta, eta, cov))
    return dict(zip(model.compiled.param_names, values.tolist(), strict=True))


# ------------------------------------------------------------------ covariate effects
@pytest.mark.parametrize(("form", "factor"), [
    ("power", lambda wt, e: (wt / 70) ** e),
    ("linear", lambda wt, e: 1 + e * (wt - 70)),
    ("exponential", lambda wt, e: math.exp(e * (wt - 70))),
])
def test_continuous_covariate_effects_are_exact(form: str, factor) -> None:  # type: ignore[no-untyped-def]
    base = get("oral_1cmt")
    model = add_covariate_effect(base, "CL", "WT", form, reference=70, init=0.01)
    assert model.covariate_names == ("WT",)
    assert model.thetas["e_wt_cl"] == 0.01
    cl = math.exp(base.thetas["tcl"])
    for wt, e in [(70.0, 0.75), (35.0, 0.75), (104.5, -0.3)]:
        got = individual(model, {"e_wt_cl": e}, {"WT": wt})
        assert got["CL"] == pytest.approx(cl * factor(wt, e), rel=1e-13)
        assert got["V"] == pytest.approx(math.exp(base.thetas["tv"]), rel=1e-13)


def test_categorical_covariate_effect_has_one_theta_per_level() -> None:
    model = add_covariate_effect(get("iv_1cmt"), "V", "RACE", "categorical", levels=(1, 2, 3))
    assert [n for n in model.space.theta_names if n.startswith("e_")] == ["e_race_v_2", "e_race_v_3"]
    v = math.exp(model.thetas["tv"])
    effects = {"e_race_v_2": 0.2, "e_race_v_3": -0.4}
    expected = {1.0: v, 2.0: v * math.exp(0.2), 3.0: v * math.exp(-0.4)}
    for race, value in expected.items():
        assert individual(model, effects, {"RACE": race})["V"] == pytest.approx(value, rel=1e-13)


def test_covariate_effects_stack_and_apply_to_pkpd_models() -> None:
    model = add_covariate_effect(get("iv_1cmt_emax"), "EC50", "AGE", "power", reference=40)
    model = add_covariate_effect(model, "EC50", "SEX", "categorical", levels=(0, 1))
    got = individual(model, {"e_age_ec50": 0.5, "e_sex_ec50_1": math.log(2)}, {"AGE": 160.0, "SEX": 1.0})
    assert got["EC50"] == pytest.approx(math.exp(model.thetas["tec50"]) * 2 * 2, rel=1e-13)


def test_covariate_effect_errors_name_the_problem() -> None:
    model = get("iv_1cmt")
    with pytest.raises(PopulationModelError, match="'KA' is not a structural parameter"):
        add_covariate_effect(model, "KA", "WT", "power", reference=70)
    with pytest.raises(PopulationModelError, match="needs reference="):
        add_covariate_effect(model, "CL", "WT", "power")
    with pytest.raises(PopulationModelError, match="unknown form"):
        add_covariate_effect(model, "CL", "WT", "allometric", reference=70)
    with pytest.raises(PopulationModelError, match="levels="):
        add_covariate_effect(model, "CL", "SEX", "categorical", levels=(0,))
    once = add_covariate_effect(model, "CL", "WT", "power", reference=70)
    with pytest.raises(PopulationModelError, match="already has the covariate effect"):
        add_covariate_effect(once, "CL", "WT", "linear", reference=70)


# ------------------------------------------------------------------- random effects
def test_add_and_remove_iiv_round_trip() -> None:
    base = get("transit_analytic_1cmt")     # NTR has no IIV
    assert base.parameters["NTR"] == "exp(tntr)"
    with_iiv = add_iiv(base, "NTR", 0.04)
    assert with_iiv.parameters["NTR"] == "exp(tntr + eta_ntr)"
    assert with_iiv.space.eta_names[-1] == "eta_ntr"
    got = individual(with_iiv, {}, {"DOSE": 100.0}, {"eta_ntr": 0.3})
    assert got["NTR"] == pytest.approx(3.0 * math.exp(0.3), rel=1e-13)
    back = remove_iiv(with_iiv, "NTR")
    assert dict(back.parameters) == dict(base.parameters)
    assert back.space.eta_names == base.space.eta_names
    additive = add_iiv(base, "NTR", 0.5, form="additive")
    assert individual(additive, {}, {"DOSE": 1.0}, {"eta_ntr": 0.5})["NTR"] == pytest.approx(3.5, rel=1e-13)
    with pytest.raises(PopulationModelError, match="already has an eta"):
        add_iiv(base, "CL")


def test_omega_block_keeps_variances_and_sets_covariances() -> None:
    model = set_omega_block(get("oral_1cmt"), ["eta_cl", "eta_v"], {("eta_cl", "eta_v"): 0.05})
    block = model.space.blocks[0]
    assert block.names == ("eta_cl", "eta_v")
    np.testing.assert_allclose(block.matrix, [[0.3, 0.05], [0.05, 0.1]])
    assert [b.names for b in model.space.blocks[1:]] == [("eta_ka",)]
    # removing an eta of the block keeps the rest of it
    smaller = remove_iiv(set_omega_block(model, ["eta_ka", "eta_cl", "eta_v"]), "eta_cl")
    assert [b.names for b in smaller.space.blocks] == [("eta_ka", "eta_v")]
    np.testing.assert_allclose(smaller.space.blocks[0].matrix, [[0.6, 0.0], [0.0, 0.1]])
    with pytest.raises(PopulationModelError, match="two or more distinct etas"):
        set_omega_block(model, ["eta_cl"])
    with pytest.raises(PopulationModelError, match="unknown"):
        set_omega_block(model, ["eta_cl", "eta_q"])


def test_set_error_model_for_all_or_one_output() -> None:
    model = set_error_model(get("iv_2cmt"), Proportional(0.15))
    assert model.space.sigma_names == ("prop_sd",)
    pkpd = set_error_model(get("iv_1cmt_idr3"), Exponential(0.2, name="exp_sd_e"), output="E")
    assert pkpd.space.sigma_names == ("prop_sd", "exp_sd_e")
    assert isinstance(pkpd.error_models[1], Exponential)
    with pytest.raises(PopulationModelError, match="no output 'R'"):
        set_error_model(pkpd, Additive(1.0), output="R")


# ---------------------------------------------------------------- structural edits
def test_add_peripheral_to_one_and_two_compartment_models() -> None:
    two = add_peripheral(get("oral_1cmt"), typical_q=4.0, typical_volume=50.0)
    assert two.structure.compartment_names == ("depot", "central", "peripheral1")
    assert two.parameters["Q"] == "exp(tq + eta_q)" and two.parameters["V2"] == "exp(tv2 + eta_v2)"
    assert two.thetas["tv2"] == pytest.approx(math.log(50.0))
    assert two.compiled.kind == "linear" and two.compiled.linear_eigenvalues is not None
    three = add_peripheral(get("iv_2cmt"), typical_q=1.5, typical_volume=150.0, variance=None)
    assert three.structure.compartment_names == ("central", "peripheral1", "peripheral2")
    assert three.parameters["Q3"] == "exp(tq3)" and "eta_v3" not in three.space.eta_names
    # the library's 3-compartment model is this edit of the 2-compartment one
    library = get("iv_3cmt")
    assert set(three.compiled.param_names) == set(library.compiled.param_names)
    assert {str(f.rate) for f in three.structure.flows} == {str(f.rate) for f in library.structure.flows}


def test_lag_and_transit_add_their_parameters() -> None:
    lagged = add_lag(get("oral_2cmt"), typical=0.4)
    assert str(lagged.structure.get_dosing("depot").lag) == "ALAG1"
    assert lagged.thetas["talag1"] == pytest.approx(math.log(0.4))
    transit = add_transit(get("oral_1cmt"), 3, typical=2.0)
    assert transit.structure.compartment_names[:3] == ("transit1", "transit2", "transit3")
    assert transit.parameters["MTT"] == "exp(tmtt + eta_mtt)"
    library = get("transit_1cmt")
    assert {str(f.rate) for f in transit.structure.flows} == {str(f.rate) for f in library.structure.flows}


def test_michaelis_menten_elimination_replaces_clearance() -> None:
    mm = set_elimination(get("iv_1cmt"), "michaelis-menten", typical={"VM": 20.0, "KM": 2.0})
    assert "CL" not in mm.parameters and "tcl" not in mm.thetas and "eta_cl" not in mm.space.eta_names
    assert mm.compiled.kind == "ode"
    assert set(mm.compiled.param_names) == set(get("iv_1cmt_mm").compiled.param_names)
    assert mm.thetas["tvm"] == pytest.approx(math.log(20.0))
    back = set_elimination(mm, "linear", typical={"CL": 4.0})
    assert back.compiled.kind == "closed_form" and back.thetas["tcl"] == pytest.approx(math.log(4.0))


def test_edits_leave_their_argument_unchanged() -> None:
    base = get("oral_1cmt")
    before = (dict(base.parameters), dict(base.thetas), base.space.blocks, base.structure)
    add_peripheral(add_lag(set_omega_block(add_covariate_effect(base, "CL", "WT", "power", reference=70),
                                           ["eta_cl", "eta_v"]), "depot"))
    assert (dict(base.parameters), dict(base.thetas), base.space.blocks, base.structure) == before
