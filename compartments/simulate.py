"""Simulate dosing regimens for one subject or a population.

``simulate(model, params, events, times)`` runs the event engine of
:mod:`compartments.solve` (``vmap``-ed over subjects, ``jit``-compiled once per
model and data layout) and returns a tidy DataFrame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from compartments.compiled import CompiledModel, compile_model
from compartments.events import EventTable, Regimen, events_from_nonmem
from compartments.graph import Model
from compartments.propagators import OdeOptions
from compartments.solve import Layout, make_solver, records_from_tables

Events = Regimen | EventTable | Sequence[EventTable] | pd.DataFrame


@lru_cache(maxsize=64)
def batch_solver(cm: CompiledModel, layout: Layout, options: OdeOptions, force_ode: bool,
                 sensitivities: bool):
    """Jitted ``f(P, records)`` over a batch of subjects (cached).

    With ``sensitivities=True`` it returns ``(solution, d outputs / d p)``, the
    derivatives from the propagator's exact derivatives (closed form or
    sensitivity equations) through the event sequence.
    """
    solve = make_solver(cm, layout, options, force_ode=force_ode)
    if not sensitivities:
        return jax.jit(jax.vmap(solve))

    def with_sens(p, rec):  # type: ignore[no-untyped-def]
        sol = solve(p, rec)
        jac = jax.jacfwd(lambda q: solve(q, rec).outputs)(p)
        return sol, jac

    return jax.jit(jax.vmap(with_sens))


def simulate(
    model: Model,
    params: Mapping[str, float | Sequence[float] | np.ndarray],
    events: Events,
    times: Sequence[float] | None = None,
    *,
    output: str | None = None,
    amounts: bool = False,
    sensitivities: bool = False,
    options: OdeOptions | None = None,
    use_ode: bool = False,
) -> pd.DataFrame:
    """Simulate ``model`` for one subject or a population.

    Parameters
    ----------
    model
        The compartment model.
    params
        ``name -> value`` for one subject, or ``name -> array`` (one value per
        subject) for a population; scalars are shared by all subjects.
    events
        A :class:`~compartments.events.Regimen` (with ``times``), an event table,
        a list of event tables (one per subject) or NONMEM-format rows.
    times
        Observation times when ``events`` is a regimen.
    output
        The output observed at ``times`` (default: the first one).
    amounts
        Also return compartment amounts (``A_<compartment>`` columns).
    sensitivities
        Also return ``d<output>/d<param>`` columns.
    options
        ODE solver options (solver, tolerances, steady-state iterations).
    use_ode
        Solve linear models by the ODE path too (for cross-checks).

    Returns
    -------
    DataFrame with ID, TIME, EVID, one column per output (and amounts).

    Examples
    --------
    >>> from compartments.graph import Model
    >>> from compartments.events import bolus
    >>> m = (Model().compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central/V"))
    >>> df = simulate(m, {"CL": 2.0, "V": 10.0}, bolus(100, cmt="central"), times=[1.0])
    >>> round(float(df["Cc"].iloc[0]), 4)
    8.1873
    """
    cm = compile_model(model)
    options = options or OdeOptions()
    values = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in params.items()}
    n_param_subjects = max((len(v) for v in values.values()), default=1)
    if isinstance(events, Regimen):
        if times is None:
            raise ValueError("simulate: a regimen needs observation times (times=...)")
        tables = [
            events.event_table(model, times, output=output, subject=i + 1)
            for i in range(n_param_subjects)
        ]
        observations_only = True
    else:
        if isinstance(events, pd.DataFrame):
            tables = events_from_nonmem(events, model)
        elif isinstance(events, EventTable):
            tables = [events]
        else:
            tables = list(events)
        observations_only = False
        if n_param_subjects == 1 and len(tables) > 1:
            n_param_subjects = len(tables)
    n_subjects = len(tables)
    if n_param_subjects not in (1, n_subjects):
        raise ValueError(
            f"simulate: parameters give {n_param_subjects} subjects but events give {n_subjects}"
        )
    P = np.column_stack([
        np.broadcast_to(_param(values, name, model), (n_subjects,)) for name in cm.param_names
    ]) if cm.param_names else np.zeros((n_subjects, 0))
    records, layout, positions = records_from_tables(tables)
    solver = batch_solver(cm, layout, options, use_ode, sensitivities)
    result = solver(jnp.asarray(P), records)
    sol, jac = (result if sensitivities else (result, None))
    outputs = np.asarray(sol.outputs)
    amts = np.asarray(sol.amounts)
    frames = []
    for i, table in enumerate(tables):
        pos = positions[i]
        frame = {"ID": np.full(len(table), table.subject), "TIME": table.time, "EVID": table.evid}
        for k, name in enumerate(cm.output_names):
            frame[name] = outputs[i, pos, k]
        if amounts:
            for k, name in enumerate(cm.state_names):
                frame[f"A_{name}"] = amts[i, pos, k]
        if sensitivities:
            jac_i = np.asarray(jac[i])
            for k, name in enumerate(cm.output_names):
                for j, pname in enumerate(cm.param_names):
                    frame[f"d{name}/d{pname}"] = jac_i[pos, k, j]
        frames.append(pd.DataFrame(frame))
    df = pd.concat(frames, ignore_index=True)
    if observations_only:
        df = df[df["EVID"] == 0].reset_index(drop=True)
    return df


def _param(values: Mapping[str, np.ndarray], name: str, model: Model) -> np.ndarray:
    if name not in values:
        raise KeyError(
            f"simulate: no value for parameter {name!r} of model {model.name!r}; "
            f"needed: {list(compile_model(model).param_names)}"
        )
    return values[name]
