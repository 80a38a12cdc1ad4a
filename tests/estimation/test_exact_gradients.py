"""The optimiser's exact gradient of the population OFV (``Evaluator.value_and_grad``, in the
unconstrained parameters) against central finite differences of the OFV, on the Wang 2007
data at the published starting values (far from the optimum, so no gradient is near zero).

Covered: FO, FOCE, FOCE-I, Laplace and AGQ (also with two etas: a 3 x 3 node grid); a 2 x 2
Omega block (log-Cholesky map); a theta bounded on both sides (logit map) and below only (log
map); a fixed residual SD (masked).

The differences are of fourth order, (-f(2h) + 8 f(h) - 8 f(-h) + f(-2h)) / 12h with
h = 2e-3: the FOCE-I OFV is not stationary in eta at the mode, so it carries the mode
search's last digits (about 1e-9 with two etas), which the usual second-order difference
at h = 1e-5 would amplify to 1e-4; here truncation and noise both stay below 1e-6.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from estimation_helpers import wang_model

from compartments import Model
from estimation.error_models import Combined, Proportional
from estimation.evaluator import Evaluator
from estimation.methods import AGQ, FO, FOCE, FOCEI, Laplace
from estimation.parameters import OmegaBlock, Theta
from estimation.population import PopulationModel
from estimation.problem import build_problem

SD = float(np.sqrt(0.1))


def wang_theta(theta: Theta) -> PopulationModel:
    base = wang_model(Proportional(SD))
    return PopulationModel(base.structure, parameters={"KE": "theta * exp(eta)"}, thetas={"theta": theta},
                           omega={"eta": 0.04}, error=Proportional(SD))


def wang_block() -> PopulationModel:
    """KE = theta exp(eta), V = tv exp(eta_v) (tv = 1: Wang's unit volume), correlated etas."""
    structure = (Model("wang2007_v").compartment("central", volume="V").elimination("central", k="KE")
                 .dose("central").output("IPRED", "central / V"))
    return PopulationModel(
        structure, parameters={"KE": "theta * exp(eta)", "V": "tv * exp(eta_v)"},
        thetas={"theta": 0.5, "tv": 1.0},
        omega=[OmegaBlock(("eta", "eta_v"), ((0.04, 0.01), (0.01, 0.02)))],
        error=Combined(SD, SD),
    )


CASES = {
    "FO": (lambda: wang_model(Proportional(SD)), FO()),
    "FOCE": (lambda: wang_model(Proportional(SD)), FOCE()),
    "FOCE-I": (lambda: wang_model(Proportional(SD)), FOCEI()),
    "Laplace": (lambda: wang_model(Proportional(SD)), Laplace()),
    "AGQ": (lambda: wang_model(Proportional(SD)), AGQ()),
    "FOCE-I block Omega": (wang_block, FOCEI()),
    "AGQ block Omega, 3 nodes": (wang_block, AGQ(nodes=3)),
    "FOCE-I theta in (0.05, 5)": (lambda: wang_theta(Theta(0.5, lower=0.05, upper=5.0)), FOCEI()),
    "FOCE-I theta > 0": (lambda: wang_theta(Theta(0.5, lower=0.0)), FOCEI()),
    "FOCE-I fixed SD": (lambda: wang_model(Proportional(SD, fixed=True)), FOCEI()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exact_gradient_matches_central_differences(wang: pd.DataFrame, case: str) -> None:
    make, method = CASES[case]
    model: PopulationModel = make()
    ev = Evaluator(build_problem(model, wang), method)
    u = model.space.to_unconstrained(model.space.natural_init())
    assert len(u) == int(model.space.estimated.sum())
    etas = ev.initial_etas()
    _, grad, _ = ev.value_and_grad(u, etas)

    def ofv(x: np.ndarray) -> float:
        return ev.value_and_grad(x, etas)[0]

    h = 2e-3
    for k in range(len(u)):
        step = np.zeros(len(u))
        step[k] = h
        fd = (-ofv(u + 2 * step) + 8 * ofv(u + step) - 8 * ofv(u - step) + ofv(u - 2 * step)) / (12 * h)
        assert grad[k] == pytest.approx(fd, rel=1e-5, abs=1e-6), (case, k, grad[k], fd)


def test_every_method_is_covered() -> None:
    assert {method.name for _, method in CASES.values()} == {"FO", "FOCE", "FOCE-I", "Laplace", "AGQ"}
