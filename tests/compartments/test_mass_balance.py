"""Mass balance of closed systems.

Elimination goes into an explicit ``eliminated`` compartment, so the model is a
closed system: at every time the amounts sum to the dose administered so far
(F * AMT of boluses given, RATE * elapsed time of running infusions). With the
elimination switched off (CL = 0 or VM = 0) nothing reaches ``eliminated``.
The ``eliminated`` amount is also checked against the integral of the
elimination flux (CL * C or VM * C / (KM + C)) computed by Simpson's rule from
the same solution, which ties the explicit compartment to the flow it records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cmt_helpers import LINEAR_PARAMS, MM_PARAMS

from compartments.compiled import compile_model
from compartments.events import bolus, infusion
from compartments.graph import Model
from compartments.propagators import OdeOptions

F1 = 0.6
H = 0.05  # observation grid step; every dose and infusion end is a grid point
GRID = np.round(np.arange(0.0, 48.0 + H / 2, H), 10)
ORAL = dict(amount=100.0, ii=12.0, n=3)           # F1 * 100 at 0, 12, 24
INFUSION = dict(amount=300.0, rate=20.0, time=2.0)  # 2 -> 17
IV = dict(amount=50.0, time=5.0)


def closed_system(elimination: str) -> Model:
    """Depot -> central <-> peripheral, central -> eliminated (linear or Michaelis-Menten)."""
    flux = {"cl": "CL"} if elimination == "linear" else {"rate": "VM * C / (KM + C)"}
    return (
        Model(f"closed_{elimination}")
        .compartment("depot")
        .compartment("central", volume="V")
        .compartment("peripheral1", volume="V2")
        .compartment("eliminated")
        .flow("depot", "central", k="KA")
        .flow("central", "peripheral1", cl="Q")
        .flow("peripheral1", "central", cl="Q")
        .flow("central", "eliminated", **flux)
        .dose("depot", f="F1")
        .dose("central")
        .output("Cc", "central / V")
    )


def administered(t: np.ndarray, with_iv: bool) -> np.ndarray:
    """Dose that has entered the system by time ``t`` (doses count at their own time)."""
    total = np.zeros_like(t)
    for k in range(ORAL["n"]):
        total += np.where(t >= k * ORAL["ii"], F1 * ORAL["amount"], 0.0)
    duration = INFUSION["amount"] / INFUSION["rate"]
    total += INFUSION["rate"] * np.clip(t - INFUSION["time"], 0.0, duration)
    if with_iv:
        total += np.where(t >= IV["time"], IV["amount"], 0.0)
    return total


def cumulative_simpson(y: np.ndarray, h: float) -> np.ndarray:
    """Integral of ``y`` from the first grid point to every even grid point."""
    panels = h / 3.0 * (y[:-2:2] + 4.0 * y[1:-1:2] + y[2::2])
    return np.r_[0.0, np.cumsum(panels)]


def _run(batch, model: Model, params: dict[str, float], off: str,
         options: OdeOptions | None) -> pd.DataFrame:
    regimen = (bolus(ORAL["amount"], cmt="depot", ii=ORAL["ii"], n=ORAL["n"])
               + infusion(INFUSION["amount"], cmt="central", rate=INFUSION["rate"],
                          time=INFUSION["time"]))
    with_iv = regimen + bolus(IV["amount"], cmt="central", time=IV["time"])
    runs = [(regimen, GRID), (with_iv, GRID), (with_iv, GRID)]
    values = {k: np.full(3, v) for k, v in {**params, "F1": F1}.items()}
    values[off] = np.array([params[off], params[off], 0.0])  # subject 3: no elimination
    return batch(model, runs, values, amounts=True, options=options)


def _amounts(df: pd.DataFrame, subject: int) -> pd.DataFrame:
    return df[df["ID"] == subject].reset_index(drop=True)


def _check_balance(df: pd.DataFrame, model: Model, rtol: float) -> None:
    columns = [f"A_{c}" for c in model.compartment_names]
    # doses tie with grid points; compare away from them (event order is not the subject)
    dose_times = [0.0, 12.0, 24.0, INFUSION["time"], IV["time"]]
    away = ~np.isin(GRID, dose_times)
    for subject, with_iv in ((1, False), (2, True), (3, True)):
        frame = _amounts(df, subject)
        total = frame[columns].sum(axis=1).to_numpy()
        expected = administered(GRID, with_iv)
        np.testing.assert_allclose(total[away], expected[away], rtol=rtol,
                                   atol=rtol * expected.max(),
                                   err_msg=f"subject {subject}: amounts do not sum to the dose")
        assert np.all(frame[columns].to_numpy() >= -1e-9 * expected.max())
    assert np.all(_amounts(df, 3)["A_eliminated"] == 0.0)
    assert _amounts(df, 2)["A_eliminated"].iloc[-1] > 0.5 * administered(GRID, True)[-1]


def _check_elimination_integral(df: pd.DataFrame, flux, rtol: float) -> None:
    """Subject 1 (no IV bolus: continuous concentration, kinks on even grid points)."""
    frame = _amounts(df, 1)
    integral = cumulative_simpson(flux(frame["Cc"].to_numpy()), H)
    eliminated = frame["A_eliminated"].to_numpy()[::2]
    np.testing.assert_allclose(eliminated, integral, rtol=rtol, atol=rtol * integral.max())


@pytest.fixture(scope="module")
def linear(batch) -> tuple[Model, pd.DataFrame]:
    model = closed_system("linear")
    assert compile_model(model).kind == "linear"
    return model, _run(batch, model, LINEAR_PARAMS, "CL", None)


@pytest.fixture(scope="module")
def michaelis_menten(batch) -> tuple[Model, pd.DataFrame]:
    model = closed_system("michaelis-menten")
    assert compile_model(model).kind == "ode"
    return model, _run(batch, model, MM_PARAMS, "VM", OdeOptions())


def test_linear_closed_system_conserves_mass(linear) -> None:
    model, df = linear
    _check_balance(df, model, rtol=1e-10)


def test_linear_eliminated_amount_is_integrated_clearance(linear) -> None:
    _, df = linear
    cl = LINEAR_PARAMS["CL"]
    _check_elimination_integral(df, lambda c: cl * c, rtol=1e-7)


def test_michaelis_menten_closed_system_conserves_mass(michaelis_menten) -> None:
    model, df = michaelis_menten
    _check_balance(df, model, rtol=1e-8)


def test_michaelis_menten_eliminated_amount_is_integrated_flux(michaelis_menten) -> None:
    _, df = michaelis_menten
    vm, km = MM_PARAMS["VM"], MM_PARAMS["KM"]
    _check_elimination_integral(df, lambda c: vm * c / (km + c), rtol=1e-6)
