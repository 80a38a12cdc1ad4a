"""Closed forms (sum of exponentials) of 2- and 3-compartment linear models.

The spectral propagator (``compartments.linear_spectrum`` + Sylvester's formula) is the
closed form: eigenvalues from the quadratic (2 compartments) or the trigonometric cubic
(3 compartments), the depot a block of its own (so 3-compartment oral, 4 states, is
exact too). Checked here, for 2- and 3-compartment models dosed orally (depot) and
intravenously (central, bolus and infusion), single, multiple and steady-state dosing:

- eigenvalues against numpy's general eigenvalue solver (1e-10);
- amounts and Cc against the ODE path (diffrax, rtol 1e-9) to 1e-6 relative;
- steady state (SS=1) against 50 doses simulated on the ODE path (the slowest
  eigenvalue is 0.047/h: after 588 h the approach to steady state is below 1e-11);
- sensitivities d Cc / d p (exact, JAX through the closed form and the exact
  steady-state solve) against central finite differences, 1e-5 relative (as
  ``test_sensitivities.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from compartments.compiled import compile_model
from compartments.edits import add_peripheral
from compartments.events import Regimen, bolus, infusion
from compartments.graph import Model

PARAMS = {"KA": 1.2, "CL": 4.0, "V1": 20.0, "Q2": 5.0, "V2": 30.0, "Q3": 2.0, "V3": 15.0}
TIMES = [0.25, 1.0, 2.2, 3.5, 6.0, 9.5, 13.0, 20.0, 26.5, 37.0]
TAU, N_LONG = 12.0, 50
LAST = TAU * (N_LONG - 1)
SS_TIMES = [LAST + t for t in (0.3, 1.0, 2.5, 4.0, 7.0, 11.9)]
COLUMNS = ["Cc", "A_depot", "A_central", "A_peripheral1"]

SCENARIOS: dict[str, tuple[Regimen, list[float]]] = {
    "iv_bolus": (bolus(100, cmt="central"), TIMES),
    "iv_infusion": (infusion(100, cmt="central", duration=2.0, time=0.5), TIMES),
    "oral": (bolus(100, cmt="depot"), TIMES),
    "oral_multiple": (bolus(100, cmt="depot", ii=TAU, n=3), TIMES),
    "infusion_multiple": (infusion(60, cmt="central", duration=1.5, ii=8.0, n=4), TIMES),
}
# steady state (exact path) and the same regimen dosed 50 times (the ODE reference)
SS_PAIRS: dict[str, tuple[Regimen, Regimen]] = {
    "ss_oral": (bolus(100, cmt="depot", time=LAST, ii=TAU, steady_state=True),
                bolus(100, cmt="depot", ii=TAU, n=N_LONG)),
    "ss_iv_bolus": (bolus(100, cmt="central", time=LAST, ii=TAU, steady_state=True),
                    bolus(100, cmt="central", ii=TAU, n=N_LONG)),
    "ss_infusion": (infusion(100, cmt="central", duration=3.0, time=LAST, ii=TAU, steady_state=True),
                    infusion(100, cmt="central", duration=3.0, ii=TAU, n=N_LONG)),
}


def oral_iv(n_compartments: int) -> Model:
    """Depot and central dosing; 2 or 3 compartments (peripheral volumes V2, V3)."""
    model = (Model(f"oral_iv_{n_compartments}cmt").compartment("depot")
             .compartment("central", volume="V1").flow("depot", "central", k="KA")
             .elimination("central", cl="CL").dose("depot").dose("central")
             .output("Cc", "central / V1"))
    model = add_peripheral(model, q="Q2", volume="V2")
    if n_compartments == 3:
        model = add_peripheral(model, q="Q3", volume="V3")
    return model


MODELS = {2: oral_iv(2), 3: oral_iv(3)}


def _params(model: Model) -> dict[str, float]:
    return {n: PARAMS[n] for n in compile_model(model).param_names}


def _columns(model: Model) -> list[str]:
    return COLUMNS + (["A_peripheral2"] if "peripheral2" in model.compartment_names else [])


@pytest.fixture(scope="module", params=[2, 3], ids=["2cmt", "3cmt"])
def solutions(request, batch) -> tuple[Model, pd.DataFrame, pd.DataFrame]:
    """Exact and ODE solutions: the scenarios, then the steady-state pairs."""
    model = MODELS[request.param]
    runs = list(SCENARIOS.values())
    exact = batch(model, runs + [(ss, SS_TIMES) for ss, _ in SS_PAIRS.values()], _params(model),
                  amounts=True)
    ode = batch(model, runs + [(long, SS_TIMES) for _, long in SS_PAIRS.values()], _params(model),
                amounts=True, use_ode=True)
    return model, exact, ode


@pytest.mark.parametrize("n_compartments", [2, 3])
def test_closed_form_path_is_used_with_exact_eigenvalues(n_compartments: int) -> None:
    for model in (MODELS[n_compartments], _iv(n_compartments)):
        cm = compile_model(model)
        assert cm.kind == "linear" and cm.linear_eigenvalues is not None, model.name
        p = cm.param_vector(_params(model))
        exact = np.sort(np.asarray(cm.linear_eigenvalues(p)))
        reference = np.sort(np.linalg.eigvals(np.asarray(cm.linear_matrix(p))).real)
        np.testing.assert_allclose(exact, reference, rtol=1e-10)


def _iv(n_compartments: int) -> Model:
    model = (Model(f"iv_{n_compartments}cmt").compartment("central", volume="V1")
             .elimination("central", cl="CL").dose("central").output("Cc", "central / V1"))
    model = add_peripheral(model, q="Q2", volume="V2")
    return add_peripheral(model, q="Q3", volume="V3") if n_compartments == 3 else model


def _compare(exact: pd.DataFrame, ode: pd.DataFrame, subject: int, columns: list[str]) -> None:
    a = exact[exact["ID"] == subject]
    b = ode[ode["ID"] == subject]
    scale = np.abs(b[columns].to_numpy()).max()
    assert a["Cc"].abs().max() > 0
    for column in columns:
        np.testing.assert_allclose(a[column].to_numpy(), b[column].to_numpy(), rtol=1e-6,
                                   atol=1e-9 * scale, err_msg=f"subject {subject}: {column}")


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=list(SCENARIOS))
def test_closed_form_matches_ode(solutions, index: int) -> None:
    model, exact, ode = solutions
    _compare(exact, ode, index + 1, _columns(model))


@pytest.mark.parametrize("index", range(len(SS_PAIRS)), ids=list(SS_PAIRS))
def test_steady_state_matches_ode_after_fifty_doses(solutions, index: int) -> None:
    model, exact, ode = solutions
    _compare(exact, ode, len(SCENARIOS) + index + 1, _columns(model))


SENS_SCENARIOS = [SCENARIOS["oral_multiple"][0], SCENARIOS["iv_infusion"][0],
                  SS_PAIRS["ss_oral"][0], SS_PAIRS["ss_infusion"][0]]
SENS_TIMES = [[0.3, 1.7, 13.1, 30.0], [0.3, 1.7, 4.0, 9.1],
              [LAST + t for t in (0.3, 1.7, 4.0, 9.1)], [LAST + t for t in (0.3, 1.7, 4.0, 9.1)]]
STEP = 1e-4


@pytest.mark.parametrize("n_compartments", [
    # two compartments without steady state are also in test_sensitivities.py (fast)
    pytest.param(2, marks=pytest.mark.slow), 3])
def test_sensitivities_match_finite_differences(batch, n_compartments: int) -> None:
    """d Cc / d p of single, multiple and steady-state dosing, 1e-5 relative."""
    model = MODELS[n_compartments]
    names = list(compile_model(model).param_names)
    p0 = np.array([PARAMS[n] for n in names])
    grid = [p0] + [p0 * (1 + sign * STEP * np.eye(len(names))[j])
                   for j in range(len(names)) for sign in (1.0, -1.0)]
    runs = [(regimen, t) for regimen, t in zip(SENS_SCENARIOS, SENS_TIMES, strict=True) for _ in grid]
    params = {n: np.tile(np.array(grid)[:, j], len(SENS_SCENARIOS)) for j, n in enumerate(names)}
    df = batch(model, runs, params, sensitivities=True)
    shape = (len(SENS_SCENARIOS), len(grid), len(SENS_TIMES[0]))
    y = df["Cc"].to_numpy().reshape(shape)
    for j, name in enumerate(names):
        exact = df[f"dCc/d{name}"].to_numpy().reshape(shape)[:, 0]
        fd = (y[:, 1 + 2 * j] - y[:, 2 + 2 * j]) / (2 * STEP * p0[j])
        floor = max(1e-4 * np.abs(fd).max(), 1e-300)
        err = np.abs(exact - fd) / np.maximum(np.abs(fd), floor)
        assert err.max() <= 1e-5, (name, err.max(), exact.ravel()[err.argmax()], fd.ravel()[err.argmax()])
