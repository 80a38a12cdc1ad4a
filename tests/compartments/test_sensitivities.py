"""Exact sensitivities (``simulate(..., sensitivities=True)``) vs central finite differences.

The closed form's derivatives are symbolic, the matrix exponential's come from JAX
and the ODE path's from the forward sensitivity equations; in every case event
times and dose amounts (lag, F, modelled rate and duration) enter by the chain
rule through the event sequence. The base parameter set and its 2 m perturbed
copies are subjects of one batch, so each model compiles once.

Agreement criterion: ``|exact - fd| <= 1e-5 * max(|fd|, 1e-3 * max|fd| of the
scenario, 1e-4 * max|fd| of all scenarios)`` -- relative, with a floor for
derivatives that cross zero or vanish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest

from compartments.compiled import compile_model
from compartments.edits import add_peripheral
from compartments.events import Regimen, bolus, infusion
from compartments.graph import Model

RTOL = 1e-5
STEP = 1e-4  # relative finite-difference step
PARAMS = {"V": 20.0, "KA": 1.3, "CL": 2.5, "F1": 0.8, "ALAG1": 0.7, "R1": 40.0, "D1": 2.5,
          "VM": 40.0, "KM": 2.0, "V2": 35.0, "Q": 4.0}
# observation times avoid event times (doses at 0, 12, 24 (+ lag 0.7); infusion ends)
TIMES = [0.3, 1.1, 2.0, 3.3, 5.0, 9.0, 13.1, 16.0, 25.0, 30.5]

SCENARIOS: dict[str, Regimen] = {
    "oral_F_lag_multiple": bolus(100, cmt="depot", ii=12, n=3),
    "modelled_duration": infusion(100, cmt="central", modelled="duration", time=0.5),
    "modelled_rate_multiple": infusion(100, cmt="central", modelled="rate", time=0.5, ii=12,
                                       n=2),
    "fixed_rate_plus_oral": infusion(60, cmt="central", rate=15.0, time=4.0)
    + bolus(100, cmt="depot"),
}
SS_SCENARIOS: dict[str, Regimen] = {
    "ss_oral_lag": bolus(100, cmt="depot", ii=12, steady_state=True),
    "ss_modelled_duration": infusion(100, cmt="central", modelled="duration", ii=12,
                                     steady_state=True),
    "ss_modelled_rate": infusion(100, cmt="central", modelled="rate", ii=12, n=2,
                                 steady_state=True),
}


def exact_and_finite_differences(
    batch: Callable[..., pd.DataFrame], model: Model, scenarios: Sequence[Regimen],
    **kwargs: object,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Parameter names, exact and central-difference d Cc / d p, each (param, scenario,
    time), and Cc at the base parameters (scenario, time)."""
    names = list(compile_model(model).param_names)
    p0 = np.array([PARAMS[n] for n in names])
    sets = [p0]
    for j in range(len(names)):
        for sign in (1.0, -1.0):
            p = p0.copy()
            p[j] *= 1.0 + sign * STEP
            sets.append(p)
    grid = np.array(sets)
    runs = [(regimen, TIMES) for regimen in scenarios for _ in range(len(grid))]
    params = {n: np.tile(grid[:, j], len(scenarios)) for j, n in enumerate(names)}
    df = batch(model, runs, params, sensitivities=True, **kwargs)
    shape = (len(scenarios), len(grid), len(TIMES))
    y = df["Cc"].to_numpy().reshape(shape)
    exact = np.stack([df[f"dCc/d{n}"].to_numpy().reshape(shape)[:, 0] for n in names])
    fd = np.stack([(y[:, 1 + 2 * j] - y[:, 2 + 2 * j]) / (2 * STEP * p0[j])
                   for j in range(len(names))])
    return names, exact, fd, y[:, 0]


def assert_sensitivities_match(names: list[str], exact: np.ndarray, fd: np.ndarray,
                               labels: Sequence[str]) -> None:
    """Check the agreement criterion of the module docstring; name any failure.

    A derivative that is zero for a whole scenario (a parameter that does not act
    on it, where finite differences give rounding noise) is compared against
    ``1e-4`` times the largest value of that derivative over all scenarios.
    """
    for j, name in enumerate(names):
        overall = np.abs(fd[j]).max()
        for s, label in enumerate(labels):
            a, b = exact[j, s], fd[j, s]
            floor = max(1e-3 * np.abs(b).max(), 1e-4 * overall, 1e-300)
            err = np.abs(a - b) / np.maximum(np.abs(b), floor)
            assert np.all(np.isfinite(a)), f"{label}: dCc/d{name} not finite"
            assert err.max() <= RTOL, (
                f"{label}: dCc/d{name} differs from finite differences by {err.max():.2e} "
                f"(relative) at TIME={TIMES[int(err.argmax())]}: {a[err.argmax()]!r} vs "
                f"{b[err.argmax()]!r}"
            )


@pytest.fixture(scope="module")
def closed_form(batch, dose_event_model):
    assert compile_model(dose_event_model).kind == "closed_form"
    return exact_and_finite_differences(batch, dose_event_model, list(SCENARIOS.values()))


def test_closed_form_sensitivities(closed_form) -> None:
    names, exact, fd, _ = closed_form
    assert {"F1", "ALAG1", "R1", "D1"} <= set(names)
    assert_sensitivities_match(names, exact, fd, list(SCENARIOS))


def test_closed_form_bioavailability_sensitivity_is_exact(closed_form) -> None:
    """Oral doses only: Cc = F1 * g(t) in a linear model, so dCc/dF1 = Cc / F1 exactly."""
    names, exact, _, cc = closed_form
    labels = list(SCENARIOS)
    oral, iv = labels.index("oral_F_lag_multiple"), labels.index("modelled_duration")
    f1 = names.index("F1")
    np.testing.assert_allclose(exact[f1, oral], cc[oral] / PARAMS["F1"], rtol=1e-12)
    assert np.all(exact[f1, iv] == 0.0)  # F1 only scales depot doses
    assert np.all(exact[names.index("D1"), oral] == 0.0)


def test_superposition_and_scan_sensitivities(batch, dose_event_model, linear_path) -> None:
    """Multiple doses, lags, modelled infusions and steady state on both linear paths."""
    scenarios = {**SCENARIOS, **SS_SCENARIOS}
    names, exact, fd, _ = exact_and_finite_differences(batch, dose_event_model, list(scenarios.values()))
    assert_sensitivities_match(names, exact, fd, list(scenarios))


def test_matrix_exponential_sensitivities(batch, dose_event_model) -> None:
    model = add_peripheral(dose_event_model)
    assert compile_model(model).kind == "linear"
    names, exact, fd, _ = exact_and_finite_differences(batch, model, list(SCENARIOS.values()))
    assert_sensitivities_match(names, exact, fd, list(SCENARIOS))


def test_ode_sensitivities_michaelis_menten(batch, mm_dose_event_model) -> None:
    assert compile_model(mm_dose_event_model).kind == "ode"
    names, exact, fd, _ = exact_and_finite_differences(
        batch, mm_dose_event_model, list(SCENARIOS.values())
    )
    assert {"VM", "KM", "F1", "ALAG1", "R1", "D1"} <= set(names)
    assert_sensitivities_match(names, exact, fd, list(SCENARIOS))


@pytest.mark.slow
def test_ode_steady_state_sensitivities_michaelis_menten(batch, mm_dose_event_model) -> None:
    """Steady state by iterated dosing cycles, differentiated through the iteration."""
    names, exact, fd, _ = exact_and_finite_differences(
        batch, mm_dose_event_model, list(SS_SCENARIOS.values())
    )
    assert_sensitivities_match(names, exact, fd, list(SS_SCENARIOS))
