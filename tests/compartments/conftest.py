"""Fixtures of the compartments tests; the models themselves live in ``cmt_helpers``."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from cmt_helpers import dose_event_1cmt, oral_iv_1cmt, run_batch

from compartments import solve as solve_module
from compartments.edits import add_lag, add_peripheral, set_elimination
from compartments.graph import Model
from compartments.simulate import batch_solver


@pytest.fixture(scope="session")
def oral_model() -> Model:
    """:func:`oral_iv_1cmt` (closed-form path)."""
    return oral_iv_1cmt()


@pytest.fixture(scope="session")
def two_cmt_model() -> Model:
    """:func:`oral_iv_1cmt` with a peripheral compartment (matrix-exponential path)."""
    return add_peripheral(oral_iv_1cmt())


@pytest.fixture(scope="session")
def dose_event_model() -> Model:
    """:func:`dose_event_1cmt` (closed-form path)."""
    return dose_event_1cmt()


@pytest.fixture(scope="session")
def mm_dose_event_model() -> Model:
    """:func:`dose_event_1cmt` with Michaelis-Menten elimination (ODE path)."""
    return set_elimination(dose_event_1cmt(), "michaelis-menten")


@pytest.fixture(scope="session")
def lagged_oral_model() -> Model:
    """:func:`oral_iv_1cmt` with an oral lag time ALAG1."""
    return add_lag(oral_iv_1cmt(), "depot")


@pytest.fixture(scope="session")
def batch() -> Callable[..., pd.DataFrame]:
    """:func:`run_batch` as a fixture."""
    return run_batch


@pytest.fixture(params=["superposition", "scan"])
def linear_path(request, monkeypatch):  # type: ignore[no-untyped-def]
    """Linear models solved by superposition of the dose responses, or by the sequential scan
    of the timeline, whatever the design (by default multiple-dose designs scan, see
    ``compartments.solve.SUPERPOSITION_RATIO``); solvers built fresh and not stored."""
    ratio = float("inf") if request.param == "superposition" else 0.0
    monkeypatch.setenv("POPKIN_NO_STORED_PROGRAMS", "1")
    monkeypatch.setattr(solve_module, "SUPERPOSITION_RATIO", ratio)
    batch_solver.cache_clear()
    yield request.param
    batch_solver.cache_clear()
