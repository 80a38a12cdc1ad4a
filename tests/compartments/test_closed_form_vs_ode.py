"""The exact paths (closed form, matrix exponential) agree with the ODE path to 1e-6.

Every scenario of a table is one subject of a single batch, so each (model, path)
pair is compiled once. The one-compartment model's ODE reference is the
two-compartment model with Q = 0 (the peripheral is cut off), which saves a
compilation. Steady-state scenarios are kept in their own batches: steady state
on the ODE path (iterated dosing cycles) is by far the most expensive program
to compile, so those comparisons are marked slow; in the fast set
test_steady_state checks both paths' steady states against long repeated
dosing, and the one-state closed form's against the textbook below.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from cmt_helpers import LINEAR_PARAMS

from compartments.compiled import compile_model
from compartments.events import Regimen, bolus, infusion
from compartments.graph import Model

RTOL = 1e-6
TIMES = [0.0, 0.1, 0.5, 1.0, 1.7, 2.5, 3.0, 4.2, 6.0, 8.0, 9.9, 12.5, 16.0, 24.0, 30.0,
         36.5, 48.0, 60.0]

SCENARIOS: dict[str, Regimen] = {
    "iv_bolus": bolus(100, cmt="central"),
    "iv_infusion": infusion(100, cmt="central", duration=2.0, time=0.5),
    "oral": bolus(100, cmt="depot"),
    "oral_multiple": bolus(100, cmt="depot", ii=12, n=4),
    "infusion_multiple": infusion(60, cmt="central", duration=1.5, ii=8, n=4),
    "oral_plus_iv": bolus(100, cmt="depot") + bolus(50, cmt="central", time=5.0)
    + infusion(80, cmt="central", rate=20, time=20.0),
}
SS_SCENARIOS: dict[str, Regimen] = {
    "ss_oral": bolus(100, cmt="depot", ii=12, n=3, steady_state=True),
    "ss_iv_bolus": bolus(100, cmt="central", ii=24, steady_state=True),
    "ss_infusion": infusion(100, cmt="central", duration=3.0, ii=12, n=2, steady_state=True),
    "ss_long_infusion": infusion(100, cmt="central", duration=15.0, ii=12, steady_state=True),
    "ss_constant_infusion": infusion(0, cmt="central", rate=10.0, steady_state=True),
    "ss_then_oral": bolus(100, cmt="depot", ii=12, steady_state=True)
    + bolus(200, cmt="depot", time=12.0),
}


def _runs(scenarios: dict[str, Regimen]) -> list[tuple[Regimen, list[float]]]:
    return [(regimen, TIMES) for regimen in scenarios.values()]


def _two_cmt_both(batch: Callable[..., pd.DataFrame], model: Model,
                  scenarios: dict[str, Regimen]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Matrix exponential and ODE solutions of every scenario, first with the typical Q,
    then with Q = 0 (the peripheral is cut off: the one-compartment model on the ODE path)."""
    runs = _runs(scenarios) * 2
    q = np.repeat([LINEAR_PARAMS["Q"], 0.0], len(scenarios))
    params = {**LINEAR_PARAMS, "Q": q}
    exact = batch(model, runs, params, amounts=True)
    ode = batch(model, runs, params, amounts=True, use_ode=True)
    return exact, ode


def _assert_agree(exact: pd.DataFrame, exact_subject: int, ode: pd.DataFrame,
                  ode_subject: int, columns: list[str]) -> None:
    a_frame = exact[exact["ID"] == exact_subject]
    b_frame = ode[ode["ID"] == ode_subject]
    # values far below the largest amount (e.g. an empty depot) are compared absolutely
    scale = np.abs(b_frame[columns].to_numpy()).max()
    for column in columns:
        a = a_frame[column].to_numpy()
        b = b_frame[column].to_numpy()
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-9 * scale, err_msg=column)
    assert np.abs(a_frame["Cc"]).max() > 0


ONE_CMT_COLUMNS = ["Cc", "A_depot", "A_central"]
TWO_CMT_COLUMNS = ONE_CMT_COLUMNS + ["A_peripheral1"]


@pytest.fixture(scope="module")
def one_cmt(batch, oral_model) -> pd.DataFrame:
    assert compile_model(oral_model).kind == "closed_form"
    return batch(oral_model, _runs(SCENARIOS), LINEAR_PARAMS, amounts=True)


@pytest.fixture(scope="module")
def one_cmt_ss(batch, oral_model) -> pd.DataFrame:
    return batch(oral_model, _runs(SS_SCENARIOS), LINEAR_PARAMS, amounts=True)


@pytest.fixture(scope="module")
def two_cmt(batch, two_cmt_model) -> tuple[pd.DataFrame, pd.DataFrame]:
    assert compile_model(two_cmt_model).kind == "linear"
    return _two_cmt_both(batch, two_cmt_model, SCENARIOS)


@pytest.fixture(scope="module")
def two_cmt_ss(batch, two_cmt_model) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _two_cmt_both(batch, two_cmt_model, SS_SCENARIOS)


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=list(SCENARIOS))
def test_one_compartment_closed_form_matches_ode(one_cmt, two_cmt, index: int) -> None:
    _, ode = two_cmt
    _assert_agree(one_cmt, index + 1, ode, len(SCENARIOS) + index + 1, ONE_CMT_COLUMNS)
    assert np.all(ode.loc[ode["ID"] == len(SCENARIOS) + index + 1, "A_peripheral1"] == 0)


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=list(SCENARIOS))
def test_two_compartment_matrix_exponential_matches_ode(two_cmt, index: int) -> None:
    exact, ode = two_cmt
    _assert_agree(exact, index + 1, ode, index + 1, TWO_CMT_COLUMNS)
    # with Q = 0 the matrix exponential reduces to the one-compartment model too
    cut = len(SCENARIOS) + index + 1
    _assert_agree(exact, cut, ode, cut, TWO_CMT_COLUMNS)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(SS_SCENARIOS)), ids=list(SS_SCENARIOS))
def test_one_compartment_steady_state_closed_form_matches_ode(
    one_cmt_ss, two_cmt_ss, index: int
) -> None:
    _, ode = two_cmt_ss
    _assert_agree(one_cmt_ss, index + 1, ode, len(SS_SCENARIOS) + index + 1, ONE_CMT_COLUMNS)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(SS_SCENARIOS)), ids=list(SS_SCENARIOS))
def test_two_compartment_steady_state_matrix_exponential_matches_ode(
    two_cmt_ss, index: int
) -> None:
    exact, ode = two_cmt_ss
    _assert_agree(exact, index + 1, ode, index + 1, TWO_CMT_COLUMNS)


@pytest.mark.slow
def test_closed_form_matches_matrix_exponential_at_steady_state(one_cmt_ss, two_cmt_model,
                                                                batch) -> None:
    """Cross-check of the two exact paths at steady state (no ODE compile, but two more
    steady-state programs; test_steady_state covers the closed form's steady state)."""
    runs = _runs(SS_SCENARIOS)
    # Q -> 0 (not 0: a peripheral compartment that never empties has no steady state,
    # and the exact linear solve of (I - M) X = c is then singular)
    exact = batch(two_cmt_model, runs, {**LINEAR_PARAMS, "Q": 1e-12}, amounts=True)
    for index in range(len(SS_SCENARIOS)):
        _assert_agree(one_cmt_ss, index + 1, exact, index + 1, ONE_CMT_COLUMNS)


def test_closed_form_matches_textbook_formulas(one_cmt) -> None:
    """Single doses of the one-compartment model against the textbook equations."""
    exact = one_cmt
    V, KA, CL = LINEAR_PARAMS["V"], LINEAR_PARAMS["KA"], LINEAR_PARAMS["CL"]
    k = CL / V
    t = np.asarray(TIMES)
    names = list(SCENARIOS)

    def cc(name: str) -> np.ndarray:
        return exact.loc[exact["ID"] == names.index(name) + 1, "Cc"].to_numpy()

    np.testing.assert_allclose(cc("iv_bolus"), 100 / V * np.exp(-k * t), rtol=1e-10)
    bateman = 100 * KA / (V * (KA - k)) * (np.exp(-k * t) - np.exp(-KA * t))
    np.testing.assert_allclose(cc("oral"), bateman, rtol=1e-10, atol=1e-14)
    rate, start, end = 50.0, 0.5, 2.5
    during = rate / CL * (1 - np.exp(-k * np.clip(t - start, 0, None)))
    after = rate / CL * (1 - np.exp(-k * (end - start))) * np.exp(-k * (t - end))
    infusion_cc = np.where(t <= start, 0.0, np.where(t <= end, during, after))
    np.testing.assert_allclose(cc("iv_infusion"), infusion_cc, rtol=1e-10, atol=1e-14)


def test_one_state_closed_form_matches_textbook_formulas(batch) -> None:
    """The one-state (IV) closed form, including steady state, against the textbook."""
    model = (Model("iv_1cmt").compartment("central", volume="V")
             .elimination("central", cl="CL").dose("central").output("Cc", "central / V"))
    assert compile_model(model).kind == "closed_form"
    V, CL, tau = 20.0, 2.5, 12.0
    k = CL / V
    t = np.asarray([0.5, 1.0, 2.0, 4.0, 8.0, 11.5])
    runs = [
        (bolus(100, cmt="central"), t),
        (infusion(100, cmt="central", duration=2.0), t),
        (bolus(100, cmt="central", ii=tau, steady_state=True), t),
        (infusion(100, cmt="central", duration=2.0, ii=tau, steady_state=True), t),
    ]
    df = batch(model, runs, {"V": V, "CL": CL})
    cc = [df.loc[df["ID"] == i + 1, "Cc"].to_numpy() for i in range(len(runs))]
    np.testing.assert_allclose(cc[0], 100 / V * np.exp(-k * t), rtol=1e-10)
    rate = 50.0
    single = np.where(t <= 2.0, rate / CL * (1 - np.exp(-k * t)),
                      rate / CL * (1 - np.exp(-k * 2.0)) * np.exp(-k * (t - 2.0)))
    np.testing.assert_allclose(cc[1], single, rtol=1e-10)
    accumulation = 1 / (1 - np.exp(-k * tau))
    np.testing.assert_allclose(cc[2], 100 / V * np.exp(-k * t) * accumulation, rtol=1e-10)
    # SS infusion = this dose + all earlier ones, each a single infusion shifted by tau
    ss_inf = single + rate / CL * (1 - np.exp(-k * 2.0)) * np.exp(-k * (t + tau - 2.0)) \
        * accumulation
    np.testing.assert_allclose(cc[3], ss_inf, rtol=1e-10)
