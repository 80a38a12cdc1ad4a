"""Resets (EVID 3/4) restart the system, and time may restart with them (NONMEM)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from compartments import Model
from compartments.simulate import simulate

MODEL = (Model("oral").compartment("depot").compartment("central", volume="V")
         .flow("depot", "central", k="KA").elimination("central", cl="CL")
         .dose("depot").output("Cc", "central / V"))
PARAMS = {"KA": 1.2, "CL": 2.0, "V": 20.0}


def analytic(dose: float, t: np.ndarray) -> np.ndarray:
    ka, k, v = 1.2, 2.0 / 20.0, 20.0
    return dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def test_time_restarts_after_reset() -> None:
    rows = pd.DataFrame({
        "ID": 1, "TIME": [0, 1, 2, 0, 1, 3], "EVID": [1, 0, 0, 4, 0, 0],
        "AMT": [100, 0, 0, 50, 0, 0], "CMT": 1,
    })
    df = simulate(MODEL, PARAMS, rows)
    obs = df[df["EVID"] == 0]
    expected = np.r_[analytic(100, np.array([1.0, 2.0])), analytic(50, np.array([1.0, 3.0]))]
    np.testing.assert_allclose(obs["Cc"], expected, rtol=1e-10)


def test_reset_without_dose_zeroes_the_system() -> None:
    rows = pd.DataFrame({
        "ID": 1, "TIME": [0, 1, 5, 6], "EVID": [1, 0, 3, 0], "AMT": [100, 0, 0, 0], "CMT": 1,
    })
    df = simulate(MODEL, PARAMS, rows)
    assert df["Cc"].iloc[1] == pytest.approx(analytic(100, np.array([1.0]))[0], rel=1e-10)
    assert df["Cc"].iloc[3] == 0.0


MM = (Model("mm").compartment("central", volume="V")
      .elimination("central", rate="VM * C / (KM + C)").dose("central").output("Cc", "central / V"))


def test_steady_state_cycles_are_reported_and_bounded() -> None:
    from compartments.events import bolus
    from compartments.propagators import OdeOptions

    params = {"V": 20.0, "VM": 10.0, "KM": 2.0}
    regimen = bolus(100, cmt="central", ii=12, steady_state=True)
    df = simulate(MM, params, regimen, times=[1.0])
    assert 2 <= df.attrs["ss_cycles"] < OdeOptions().ss_max_cycles
    with pytest.warns(RuntimeWarning, match="steady state not reached"):
        simulate(MM, params, regimen, times=[1.0], options=OdeOptions(ss_max_cycles=2))
