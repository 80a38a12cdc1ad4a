"""Mu-referencing read off the parameter expressions (exact symbolic identities)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from compartments import Model
from estimation.error_models import Additive
from estimation.mu_reference import MuReference
from estimation.parameters import Theta
from estimation.population import PopulationModel


def oral(parameters: dict[str, str], thetas: dict, omega: dict[str, float]) -> PopulationModel:
    structure = (Model("oral_1cmt").compartment("depot").compartment("central", volume="V")
                 .flow("depot", "central", k="KA").elimination("central", cl="CL")
                 .dose("depot").output("Cc", "central / V"))
    return PopulationModel(structure, parameters=parameters, thetas=thetas, omega=omega, error=Additive(0.5))


def test_log_normal_with_covariates_and_linear_forms() -> None:
    model = oral({"KA": "exp(tka + eta_ka)", "CL": "exp(tcl + e_wt * log(WT / 70) + eta_cl)",
                  "V": "tv + th_wt * (WT - 70) + eta_v"},
                 {"tka": 0.4, "tcl": 1.0, "e_wt": 0.75, "tv": 30.0, "th_wt": 0.1},
                 {"eta_ka": 0.3, "eta_cl": 0.1, "eta_v": 4.0})
    mu = MuReference.of(model)
    assert mu.transforms == ("log", "log", "identity")
    assert set(mu.mu_thetas) == {"tka", "tcl", "e_wt", "tv", "th_wt"}
    assert mu.numerical_thetas == () and mu.prediction_thetas == ()
    design = mu.design(np.array([[70.0], [140.0]]))   # covariate WT
    assert design.shape == (2, 3, 5)
    col = {n: mu.mu_thetas.index(n) for n in mu.mu_thetas}
    assert design[1, 1, col["e_wt"]] == pytest.approx(np.log(2.0))
    assert design[1, 2, col["th_wt"]] == pytest.approx(70.0)
    assert design[0, 0, col["tka"]] == 1.0 and design[0, 0, col["tcl"]] == 0.0


def test_non_linear_thetas_and_parameters_without_eta_are_numerical() -> None:
    model = oral({"KA": "exp(tka)", "CL": "tvcl * exp(eta_cl)", "V": "exp(tv + eta_v + eta_cl)"},
                 {"tka": 0.4, "tvcl": 2.7, "tv": 3.4}, {"eta_cl": 0.1, "eta_v": 0.1})
    mu = MuReference.of(model)
    # eta_cl enters two parameters: sampled as eta itself; eta_v shares V with eta_cl
    assert mu.transforms == (None, None)
    assert mu.mu_thetas == ()
    assert mu.numerical_thetas == ("tka", "tvcl", "tv")
    assert mu.prediction_thetas == ("tka", "tvcl", "tv")


def test_product_form_is_mu_referenced_on_log_scale_and_fixed_or_bounded_thetas_are_not() -> None:
    model = oral({"KA": "exp(tka + eta_ka)", "CL": "tvcl * (WT/70)**0.75 * exp(eta_cl)",
                  "V": "exp(tv + eta_v)"},
                 {"tka": Theta(0.4, fixed=True), "tvcl": 2.7, "tv": Theta(3.4, lower=0, upper=10)},
                 {"eta_ka": 0.3, "eta_cl": 0.1, "eta_v": 0.1})
    mu = MuReference.of(model)
    assert mu.transforms == ("log", "log", "log")
    tvcl, wt = sp.Symbol("tvcl", real=True), sp.Symbol("WT", real=True)
    assert sp.simplify(mu.mu_expressions[1] - (sp.log(tvcl) + sp.Rational(3, 4) * sp.log(wt / 70))) == 0
    assert mu.mu_thetas == ()
    assert mu.numerical_thetas == ("tvcl", "tv")
    assert mu.prediction_thetas == ()
