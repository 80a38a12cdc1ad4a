"""Steady state (SS=1, SS=2) equals the limit of long repeated dosing.

For each design the steady-state record at time 0 and ``N_DOSES`` ordinary doses
are two subjects of one batch; the profile over the dosing interval after the
steady-state record must equal the profile over the last interval of the long
regimen. Linear models get the steady state exactly (periodic state solved as
a linear system, closed-form path); the Michaelis-Menten model finds it by
iterating dosing cycles on the ODE path, and the number of cycles is reported.
Lag times are shorter than II (NONMEM defines the lag > II case by its own
convention, covered by the conformance tests).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from cmt_helpers import LINEAR_PARAMS, MM_PARAMS

from compartments.compiled import compile_model
from compartments.edits import set_elimination
from compartments.events import EventTable, Regimen, bolus, infusion
from compartments.graph import Model
from compartments.propagators import OdeOptions
from compartments.simulate import batch_solver
from compartments.solve import records_from_tables

N_DOSES = 60
PHASES = np.array([0.0, 0.3, 0.75, 1.0, 2.0, 3.5, 6.0, 9.0, 11.9])  # within one interval
LAG = 0.7  # observations avoid the administration times (ties are conformance matters)


def designs() -> dict[str, tuple[Regimen, Regimen, float]]:
    """name -> (steady-state regimen, long regimen, II)."""
    return {
        "oral_bolus_with_lag": (
            bolus(300, cmt="depot", ii=12, steady_state=True),
            bolus(300, cmt="depot", ii=12, n=N_DOSES), 12.0),
        "iv_bolus": (
            bolus(300, cmt="central", ii=24, steady_state=True),
            bolus(300, cmt="central", ii=24, n=N_DOSES), 24.0),
        "infusion": (
            infusion(300, cmt="central", duration=3.0, ii=12, steady_state=True),
            infusion(300, cmt="central", duration=3.0, ii=12, n=N_DOSES), 12.0),
        "infusion_longer_than_ii": (
            infusion(300, cmt="central", duration=15.0, ii=12, steady_state=True),
            infusion(300, cmt="central", duration=15.0, ii=12, n=N_DOSES), 12.0),
    }


def _scenarios(model: Model) -> tuple[list[tuple[Regimen, np.ndarray] | EventTable], list[str]]:
    runs: list[tuple[Regimen, np.ndarray] | EventTable] = []
    labels = []
    for name, (ss, long, ii) in designs().items():
        runs.append((ss, PHASES * ii / 12.0))
        runs.append((long, (N_DOSES - 1) * ii + PHASES * ii / 12.0))
        labels.append(name)
    # SS=2 on an empty system is the same as SS=1
    table = bolus(300, cmt="depot", ii=12, steady_state=True).event_table(model, PHASES)
    runs.append(replace(table, ss=np.where(table.evid == 1, 2, 0)))
    # constant infusion at steady state (AMT=0, RATE>0, II=0) vs a long infusion;
    # compared at the record time, where the steady-state state is set
    runs.append((infusion(0, cmt="central", rate=10.0, steady_state=True), [0.0]))
    runs.append((infusion(10.0 * 720, cmt="central", rate=10.0), [720.0]))
    return runs, labels


def _solve(batch, model: Model, params: dict[str, float], options: OdeOptions | None):
    runs, labels = _scenarios(model)
    df = batch(model, runs, params, amounts=True, options=options)
    # the steady-state cycles come from the same (cached) compiled solver
    tables = [r if isinstance(r, EventTable) else r[0].event_table(model, r[1]) for r in runs]
    records, layout, _ = records_from_tables(tables)
    solver = batch_solver(compile_model(model), layout, options or OdeOptions(), False, False)
    P = np.tile([params[n] for n in compile_model(model).param_names], (len(tables), 1))
    cycles = np.asarray(solver(P, records).ss_cycles)
    return df, labels, cycles


@pytest.fixture(scope="module")
def linear(batch, lagged_oral_model):
    assert compile_model(lagged_oral_model).kind == "closed_form"
    return _solve(batch, lagged_oral_model, {**LINEAR_PARAMS, "ALAG1": LAG}, None)


@pytest.fixture(scope="module")
def michaelis_menten(batch, lagged_oral_model):
    model = set_elimination(lagged_oral_model, "michaelis-menten")
    assert compile_model(model).kind == "ode"
    return _solve(batch, model, {**MM_PARAMS, "ALAG1": LAG}, OdeOptions(ss_rtol=1e-11))


def _profile(df: pd.DataFrame, subject: int) -> np.ndarray:
    rows = df["ID"] == subject
    columns = ["Cc"] + [c for c in df.columns if c.startswith("A_")]
    return df.loc[rows, columns].to_numpy()


def _check_designs(df: pd.DataFrame, labels: list[str], rtol: float) -> None:
    for k, label in enumerate(labels):
        ss, long = _profile(df, 2 * k + 1), _profile(df, 2 * k + 2)
        scale = np.abs(long).max()
        np.testing.assert_allclose(ss, long, rtol=rtol, atol=rtol * 1e-3 * scale,
                                   err_msg=f"{label}: steady state != limit of repeated dosing")
    n = 2 * len(labels)
    np.testing.assert_allclose(_profile(df, n + 1), _profile(df, 1), rtol=1e-12,
                               err_msg="SS=2 on an empty system differs from SS=1")
    constant, long_infusion = _profile(df, n + 2), _profile(df, n + 3)
    np.testing.assert_allclose(constant, long_infusion, rtol=rtol,
                               atol=rtol * 1e-3 * np.abs(long_infusion).max(),
                               err_msg="constant infusion at steady state")


def test_linear_steady_state_is_limit_of_repeated_dosing(linear) -> None:
    df, labels, cycles = linear
    _check_designs(df, labels, rtol=1e-9)
    assert np.all(cycles == 0)  # solved exactly, no iteration


def test_linear_constant_infusion_steady_state_is_rate_over_clearance(linear) -> None:
    df, labels, _ = linear
    cc = df.loc[df["ID"] == 2 * len(labels) + 2, "Cc"].to_numpy()
    np.testing.assert_allclose(cc, 10.0 / LINEAR_PARAMS["CL"], rtol=1e-12)


def test_michaelis_menten_steady_state_is_limit_of_repeated_dosing(michaelis_menten) -> None:
    df, labels, cycles = michaelis_menten
    _check_designs(df, labels, rtol=1e-7)
    used = cycles[cycles > 0]
    assert used.size > 0, "no steady-state iteration reported"
    assert np.all(used < OdeOptions().ss_max_cycles), f"iteration did not converge: {used}"


def test_michaelis_menten_constant_infusion_steady_state(michaelis_menten) -> None:
    """At steady state infusion balances elimination: R = VM C / (KM + C)."""
    df, labels, _ = michaelis_menten
    cc = df.loc[df["ID"] == 2 * len(labels) + 2, "Cc"].to_numpy()
    expected = MM_PARAMS["KM"] * 10.0 / (MM_PARAMS["VM"] - 10.0)
    np.testing.assert_allclose(cc, expected, rtol=1e-7)
