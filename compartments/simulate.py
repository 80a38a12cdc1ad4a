"""Simulate dosing regimens for one subject or a population.

``simulate(model, params, events, times)`` runs the event engine of
:mod:`compartments.solve` (``vmap``-ed over subjects, ``jit``-compiled once per
model and data layout) and returns a tidy DataFrame.
"""

from __future__ import annotations

import warnings
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
from compartments.solve import Layout, RecordArrays, make_solver, records_from_tables
from compartments.stored_programs import StoredJit

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
    key = (cm.model, layout, options, force_ode)
    if not sensitivities:
        return StoredJit(jax.vmap(solve), name="simulate.solve", key=key)

    def with_sens(p, rec):  # type: ignore[no-untyped-def]
        # the solution comes out of the same forward pass as the derivatives
        def outputs(q):  # type: ignore[no-untyped-def]
            sol = solve(q, rec)
            return sol.outputs, sol

        jac, sol = jax.jacfwd(outputs, has_aux=True)(p)
        return sol, jac

    return StoredJit(jax.vmap(with_sens), name="simulate.solve_sensitivities", key=key)


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
    DataFrame with ID, TIME, EVID, one column per output (and amounts). For
    nonlinear models with steady-state records, ``df.attrs["ss_cycles"]`` is the
    largest number of dosing cycles iterated to reach steady state (0 for the exact
    linear solution); a RuntimeWarning says when the bound was hit.

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
    shared: EventTable | None = None  # one design shared by every subject (a regimen)
    if isinstance(events, Regimen):
        if times is None:
            raise ValueError("simulate: a regimen needs observation times (times=...)")
        shared = events.event_table(model, times, output=output, subject=1)
        n_subjects = n_param_subjects
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
    if shared is not None:
        # validate and expand the design once, then repeat it for every subject
        one, layout, (position,) = records_from_tables([shared])
        records = RecordArrays(*(np.repeat(f, n_subjects, axis=0) for f in one))
        positions = [position] * n_subjects
        ids = np.repeat(np.arange(1, n_subjects + 1), len(shared))
        time_col = np.tile(shared.time, n_subjects)
        evid_col = np.tile(shared.evid, n_subjects)
    else:
        records, layout, positions = records_from_tables(tables)
        ids = np.concatenate([np.full(len(t), t.subject) for t in tables])
        time_col = np.concatenate([t.time for t in tables])
        evid_col = np.concatenate([t.evid for t in tables])
    solver = batch_solver(cm, layout, options, use_ode, sensitivities)
    result = solver(jnp.asarray(P), records)
    sol, jac = (result if sensitivities else (result, None))
    # row of every original record among the (subject, expanded record) pairs
    n_records = layout.n_records
    rows = np.concatenate([i * n_records + pos for i, pos in enumerate(positions)])
    frame: dict[str, np.ndarray] = {"ID": ids, "TIME": time_col, "EVID": evid_col}
    n_out, n_states, n_params = len(cm.output_names), cm.n_states, cm.n_params
    outputs = np.asarray(sol.outputs).reshape(n_subjects * n_records, n_out)[rows]
    for k, name in enumerate(cm.output_names):
        frame[name] = outputs[:, k]
    if amounts:
        amts = np.asarray(sol.amounts).reshape(n_subjects * n_records, n_states)[rows]
        for k, name in enumerate(cm.state_names):
            frame[f"A_{name}"] = amts[:, k]
    if sensitivities:
        jac_rows = np.asarray(jac).reshape(n_subjects * n_records, n_out, n_params)[rows]
        for k, name in enumerate(cm.output_names):
            for j, pname in enumerate(cm.param_names):
                frame[f"d{name}/d{pname}"] = jac_rows[:, k, j]
    df = pd.DataFrame(frame)
    cycles = int(np.max(np.asarray(sol.ss_cycles), initial=0))
    df.attrs["ss_cycles"] = cycles
    if cycles >= options.ss_max_cycles:
        warnings.warn(
            f"steady state not reached within ss_max_cycles={options.ss_max_cycles} dosing cycles "
            "(OdeOptions.ss_max_cycles / ss_rtol); steady-state records use the last cycle",
            RuntimeWarning, stacklevel=2,
        )
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
