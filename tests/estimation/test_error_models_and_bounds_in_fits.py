"""Exponential (log-transform-both-sides) error and bounded thetas inside real fits.

Exact identities on the Wang 2007 data (10 subjects, one random effect):
- exponential error on Cc is additive error on log(Cc) fitted to log(DV): the same
  objective (NONMEM's LTBS convention: the OFV of the log data) and the same estimates;
- bounds that do not bind (a logit-mapped theta) do not move the estimate of an
  unbounded fit, and a bound that binds holds the estimate inside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from estimation_helpers import wang_data

from compartments import Model
from estimation.data import read_nonmem
from estimation.error_models import Additive, Exponential, Proportional
from estimation.fit import fit
from estimation.methods import FOCEI
from estimation.parameters import Theta
from estimation.population import PopulationModel

#: validation fits (minutes with a cold compile cache): run by `make test-slow` in CI
pytestmark = pytest.mark.slow


def wang(output: str, error, theta: Theta | float = 0.5) -> PopulationModel:  # type: ignore[no-untyped-def]
    structure = (Model("wang").compartment("central").elimination("central", k="KE")
                 .dose("central").output("Y", output))
    return PopulationModel(structure, parameters={"KE": "theta * exp(eta)"}, thetas={"theta": theta},
                           omega={"eta": 0.04}, error=error)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return wang_data()


def test_exponential_error_fit_equals_additive_fit_on_the_log_scale(data: pd.DataFrame) -> None:
    method = FOCEI(covariance="r")
    exp_fit = fit(wang("central", Exponential(0.3)), read_nonmem(data), method)
    logged = data.assign(DV=np.log(data["DV"]))
    log_fit = fit(wang("log(central)", Additive(0.3)), read_nonmem(logged), method)
    assert exp_fit.converged and log_fit.converged
    assert exp_fit.ofv == pytest.approx(log_fit.ofv, abs=1e-6)
    assert exp_fit.theta["theta"] == pytest.approx(log_fit.theta["theta"], rel=1e-5)
    assert exp_fit.omega["eta"] == pytest.approx(log_fit.omega["eta"], rel=1e-4)
    assert exp_fit.sigma["exp_sd"] == pytest.approx(log_fit.sigma["add_sd"], rel=1e-5)
    assert exp_fit.se["theta"] == pytest.approx(log_fit.se["theta"], rel=1e-3)


def test_bounds_that_do_not_bind_leave_the_estimate_unchanged(data: pd.DataFrame) -> None:
    method = FOCEI(covariance=None)
    free = fit(wang("central", Proportional(0.3)), read_nonmem(data), method)
    bounded = fit(wang("central", Proportional(0.3), Theta(0.5, lower=0.05, upper=5.0)),
                  read_nonmem(data), method)
    assert free.converged and bounded.converged
    assert bounded.theta["theta"] == pytest.approx(free.theta["theta"], rel=1e-5)
    assert bounded.ofv == pytest.approx(free.ofv, abs=1e-6)


def test_a_binding_bound_holds_the_estimate(data: pd.DataFrame) -> None:
    method = FOCEI(covariance=None)
    free = fit(wang("central", Proportional(0.3)), read_nonmem(data), method)
    upper = 0.9 * free.theta["theta"]
    bounded = fit(wang("central", Proportional(0.3), Theta(0.5 * upper, lower=0.0, upper=upper)),
                  read_nonmem(data), method)
    assert bounded.theta["theta"] < upper
    assert bounded.theta["theta"] == pytest.approx(upper, rel=2e-3)
    assert bounded.ofv > free.ofv
