"""The covariance step on the Wang 2007 data (proportional error, FOCE-I): its status when R
is not positive definite, the correlation matrix and the condition number.

Exact identities: the correlation matrix is D^-1 C D^-1 with D = diag(sqrt(diag C)); the
condition number is the ratio of the extreme eigenvalues of that correlation matrix
(NONMEM's), whatever the units; a model whose two thetas enter only as their product has
the OFV of the one-theta model at the same product, but an indefinite R; an information
matrix singular to 1e-6 after scaling to unit diagonal gives no covariance, a merely badly
scaled one does.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from estimation_helpers import wang_model

from estimation.covariance import covariance_step, from_information
from estimation.error_models import Proportional
from estimation.evaluator import Evaluator
from estimation.fit import evaluate, fit
from estimation.methods import FOCEI
from estimation.population import PopulationModel
from estimation.problem import build_problem
from estimation.results import FitResult

_FITS: dict[str, FitResult] = {}


def free_fit(wang: pd.DataFrame) -> FitResult:
    if "fit" not in _FITS:
        _FITS["fit"] = fit(wang_model(Proportional(0.3)), wang, FOCEI())
    return _FITS["fit"]


def test_non_identifiable_thetas_give_no_standard_errors(wang: pd.DataFrame) -> None:
    """KE = tk1 * tk2 * exp(eta) near the optimum (product 2% above the estimate, Omega and
    SD at the estimates): R is indefinite, while the identifiable KE = theta * exp(eta) at
    the same point has a positive definite R."""
    free = free_fit(wang)
    product = 1.02 * free.theta["theta"]
    start = {**free.omega, **free.sigma}
    one = wang_model(Proportional(0.3)).with_initial({"theta": product, **start})
    two = PopulationModel(one.structure, parameters={"KE": "tk1 * tk2 * exp(eta)"},
                          thetas={"tk1": math.sqrt(product), "tk2": math.sqrt(product)},
                          omega=dict(free.omega), error=Proportional(free.sigma["prop_sd"]))
    identifiable = evaluate(one, wang, FOCEI())
    result = evaluate(two, wang, FOCEI())
    assert identifiable.covariance_status == "ok"
    assert result.ofv == pytest.approx(identifiable.ofv, abs=1e-7)  # eta modes to inner_tol
    assert result.covariance_status == ("R matrix is not positive definite "
                                        "(non-identifiable or not at a minimum)")
    assert result.covariance_matrix is None and result.correlation() is None
    assert result.condition_number == math.inf
    assert set(result.se) == {"tk1", "tk2", "eta", "prop_sd"}
    assert all(np.isnan(v) for v in result.se.values())
    assert result.parameters["se"].isna().all() and result.parameters["ci_low"].isna().all()
    assert "condition number" not in result.summary().splitlines()[3]


def test_correlation_is_the_scaled_covariance(wang: pd.DataFrame) -> None:
    result = free_fit(wang)
    assert result.covariance_status == "ok"
    cov = result.covariance_matrix
    d_inv = np.diag(1 / np.sqrt(np.diag(cov)))
    corr = result.correlation()
    assert list(corr.index) == list(corr.columns) == ["theta", "omega(eta)", "prop_sd"]
    np.testing.assert_allclose(corr.to_numpy(), d_inv @ cov @ d_inv, rtol=1e-12)
    np.testing.assert_allclose(np.diag(corr.to_numpy()), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(corr.to_numpy(), corr.to_numpy().T, rtol=0, atol=1e-15)
    assert np.all(np.abs(corr.to_numpy()[~np.eye(3, dtype=bool)]) < 1)


def test_condition_number_is_that_of_the_correlation_matrix(wang: pd.DataFrame) -> None:
    result = free_fit(wang)
    model = result.model
    evaluator = Evaluator(build_problem(model, wang), FOCEI())
    natural = np.asarray([*result.theta.values(), *result.omega.values(), *result.sigma.values()])
    etas = result.etas[list(model.space.eta_names)].to_numpy()
    steps = {kind: covariance_step(evaluator, natural, etas, kind) for kind in ("r", "s", "sandwich")}
    assert all(step.ok for step in steps.values())

    def ratio(cov: np.ndarray) -> float:
        sd = np.sqrt(np.diag(cov))
        eig = np.linalg.eigvalsh(cov / np.outer(sd, sd))
        return float(eig.max() / eig.min())

    for step in steps.values():
        assert step.condition_number == pytest.approx(ratio(step.matrix), rel=1e-10)
    assert result.condition_number == pytest.approx(ratio(result.covariance_matrix), rel=1e-10)
    assert 1 < result.condition_number < 1000


def test_singular_and_badly_scaled_information() -> None:
    names = ("a", "b")
    nearly_singular = np.array([[1.0, 1 - 1e-9], [1 - 1e-9, 1.0]]) * np.outer([1e3, 1e-2], [1e3, 1e-2])
    singular = from_information("r", names, nearly_singular, "R")
    assert singular.matrix is None and singular.condition_number == math.inf
    assert singular.status.startswith("R matrix is singular to the precision of the covariance step "
                                      "(scaled eigenvalue ratio 5.0e-10 < 1e-06)")
    badly_scaled = from_information("r", names, np.diag([1e8, 1e-8]), "R")
    assert badly_scaled.ok and badly_scaled.condition_number == pytest.approx(1.0)
    np.testing.assert_allclose(badly_scaled.matrix, np.diag([1e-8, 1e8]))
    indefinite = from_information("s", names, np.array([[1.0, 2.0], [2.0, 1.0]]), "S")
    assert indefinite.status == "S matrix is not positive definite (non-identifiable or not at a minimum)"
