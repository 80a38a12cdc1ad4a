"""Models and helpers shared by the compartments tests (imported by their conftest).

Tests batch many scenarios (and finite-difference parameter sets) as the
subjects of one ``simulate`` call, so that each model is compiled once per
file: compilation, not solving, dominates the cost of these tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from compartments.events import EventTable, Regimen
from compartments.graph import Model
from compartments.simulate import simulate

#: Typical values shared by the linear test models.
LINEAR_PARAMS = {"V": 20.0, "KA": 1.3, "CL": 2.5, "V2": 35.0, "Q": 4.0}
#: Typical values of the Michaelis-Menten test models (moderately saturated).
MM_PARAMS = {"V": 20.0, "KA": 1.3, "VM": 40.0, "KM": 2.0, "V2": 35.0, "Q": 4.0}


def oral_iv_1cmt() -> Model:
    """One-compartment model dosed orally (depot) and intravenously (central)."""
    return (
        Model("oral_iv_1cmt")
        .compartment("depot")
        .compartment("central", volume="V")
        .flow("depot", "central", k="KA")
        .elimination("central", cl="CL")
        .dose("depot")
        .dose("central")
        .output("Cc", "central / V")
    )


def dose_event_1cmt() -> Model:
    """One-compartment model with every dose-event parameter: F, lag, modelled rate and
    duration (central doses take RATE=-1 -> R1 and RATE=-2 -> D1)."""
    return (
        Model("dose_events_1cmt")
        .compartment("depot")
        .compartment("central", volume="V")
        .flow("depot", "central", k="KA")
        .elimination("central", cl="CL")
        .dose("depot", f="F1", lag="ALAG1")
        .dose("central", rate="R1", duration="D1")
        .output("Cc", "central / V")
    )


def run_batch(
    model: Model,
    scenarios: Sequence[tuple[Regimen, Sequence[float]] | EventTable],
    params: dict[str, np.ndarray | float],
    **kwargs: object,
) -> pd.DataFrame:
    """Simulate each scenario as one subject (ID 1, 2, ...) of a single batch.

    A scenario is a ``(regimen, observation times)`` pair or a ready event
    table. ``params`` values are scalars or arrays of one value per scenario.
    Returns the observation rows only.
    """
    tables = [
        replace(s, subject=i + 1) if isinstance(s, EventTable)
        else s[0].event_table(model, s[1], subject=i + 1)
        for i, s in enumerate(scenarios)
    ]
    df = simulate(model, params, tables, **kwargs)
    return df[df["EVID"] == 0].reset_index(drop=True)
