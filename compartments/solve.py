"""Solve one subject's records: the event engine shared by every propagator.

Each ADDL-expanded record produces timeline events: the record itself at its
time (observation, reset, steady-state set-up), the dose administration at
``time + lag``, the end of its infusion, and the ends of infusions still running
from its steady-state history. Event times depend on the parameters (lag,
modelled rate or duration, F), so the timeline is sorted inside JAX and
differentiated through: event-time and dose sensitivities come from the chain
rule, interval sensitivities from the propagator (closed form or sensitivity
equations).

Steady state (SS=1/2): for linear models the periodic state is solved exactly,
X = (I - M)^-1 c for the period map X -> M X + c; for nonlinear models the
period map is iterated until the state changes by less than ``ss_rtol`` (or by no
more than the integration error).
With lag L the state at the record time is the periodic state at phase II - L
after an administration; as in NONMEM 7.4, a lag longer than II continues that
state backwards in time (phase < 0), with at most m + 1 history infusions
(m = floor(duration / II)) still running. A constant infusion at steady state
(AMT=0, RATE>0, II=0) sets the steady state and ends at its record.

Resets (EVID 3/4 and SS=1 doses) zero the amounts, stop running infusions and
cancel administrations still waiting on their lag time (NONMEM semantics).

The amounts at the records come from a sequential scan of the sorted timeline,
or, for linear models with time-constant parameters, by superposition: the sum of
the responses to every dose event before the record in its reset segment, all
evaluated at once (see :func:`_superposed_amounts`), which avoids a sequential loop
whose steps are tiny for XLA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from compartments.compiled import CompiledModel
from compartments.events import DOSE, RESET, RESET_DOSE, EventTable, expand_records
from compartments.propagators import Advance, OdeOptions, make_advance

Array = jnp.ndarray

#: Number of overlapping steady-state infusions tracked (duration up to 8 x II).
MAX_SS_OVERLAP = 8
#: Period used to find the steady state of a constant infusion (SS with II = 0).
CONSTANT_INFUSION_PERIOD = 24.0
#: Linear models superpose the responses to the dose events (record x dose-event pairs, all
#: evaluated at once) where that takes at most this many times the propagator steps of the
#: sequential scan of the timeline (e.g. single-dose designs); otherwise they scan.
SUPERPOSITION_RATIO = 1.0

_RECORD, _ADMIN, _END, _SS_END = 0, 1, 2, 3


class RecordArrays(NamedTuple):
    """ADDL-expanded records of one subject (or a batch, with a leading axis), padded."""

    time: Array
    evid: Array
    amt: Array
    rate: Array
    ii: Array
    ss: Array
    cmt: Array
    valid: Array


@dataclass(frozen=True)
class Layout:
    """Static facts about a batch of records that shape the compiled program."""

    n_records: int
    infusions: bool
    ss_slots: int
    ss_infusions: bool
    dose_slots: int

    @property
    def slots(self) -> int:
        return 2 + int(self.infusions) + (MAX_SS_OVERLAP if self.ss_infusions else 0)


def records_from_tables(tables: list[EventTable]) -> tuple[RecordArrays, Layout, list[np.ndarray]]:
    """Expand and pad the records of several subjects into batch arrays.

    Returns the arrays (leading axis = subject), their :class:`Layout` and, per
    subject, the index of each original record among the expanded ones.
    """
    expanded = [expand_records(t) for t in tables]
    n = max((len(e) for e in expanded), default=1) or 1
    fields: dict[str, list[np.ndarray]] = {k: [] for k in RecordArrays._fields}
    positions = []
    for e in expanded:
        k = len(e)
        pad = n - k
        last = e.time[-1] if k else 0.0
        fields["time"].append(np.r_[e.time, np.full(pad, last)])
        fields["evid"].append(np.r_[e.evid, np.full(pad, 2)])
        fields["amt"].append(np.r_[e.amt, np.zeros(pad)])
        fields["rate"].append(np.r_[e.rate, np.zeros(pad)])
        fields["ii"].append(np.r_[e.ii, np.zeros(pad)])
        fields["ss"].append(np.r_[e.ss, np.zeros(pad, int)])
        fields["cmt"].append(np.r_[e.cmt, np.zeros(pad, int)])
        fields["valid"].append(np.r_[np.ones(k, bool), np.zeros(pad, bool)])
        positions.append(_original_positions(e.source, k))
    arrays = RecordArrays(**{k: np.stack(v) for k, v in fields.items()})
    dose = (arrays.evid == DOSE) | (arrays.evid == RESET_DOSE)
    ss_count = int(((arrays.ss > 0) & dose).sum(axis=1).max(initial=0))
    layout = Layout(
        n_records=n,
        infusions=bool(((arrays.rate != 0) & dose).any()),
        ss_slots=ss_count,
        ss_infusions=bool(((arrays.rate != 0) & dose & (arrays.ss > 0)).any()),
        dose_slots=int(dose.sum(axis=1).max(initial=0)),
    )
    return arrays, layout, positions


def _original_positions(source: np.ndarray, k: int) -> np.ndarray:
    """Index, among expanded records, of each original record (its first occurrence)."""
    first: dict[int, int] = {}
    # implied doses share their parent's source index but come later; the parent comes first
    for j in range(k):
        first.setdefault(int(source[j]), j)
    return np.asarray([first[i] for i in sorted(first)], dtype=int)


class Solution(NamedTuple):
    """Outputs and amounts after each record, and steady-state cycles used."""

    outputs: Array
    amounts: Array
    ss_cycles: Array


def make_solver(
    cm: CompiledModel, layout: Layout, options: OdeOptions | None = None, *,
    force_ode: bool = False,
):
    """Build ``solve(p, records) -> Solution`` for one subject (pure, jit/vmap-able).

    ``p`` is the parameter vector, or one vector per record (``(n_records, n_params)``)
    when parameters vary over time (time-varying covariates). Then, as in NONMEM, a
    record's own parameters give its dose quantities (F, lag, rate, duration), its
    steady state and its outputs, and the system is advanced to a record's time (through
    any lagged administrations or infusion ends on the way) with that record's parameters.
    """
    options = options or OdeOptions()
    advance = make_advance(cm, options, force_ode=force_ode)
    linear = cm.kind != "ode" and not force_ode
    n, N = cm.n_states, layout.n_records
    static_order = (not layout.infusions and not layout.ss_infusions
                    and all(lag == 0 for lag in cm.system.lag))
    dose_kinds = _dose_event_slots(layout)
    extra_kinds = tuple(k for k in dose_kinds if k != _RECORD)   # record slots are always events
    E = N + layout.dose_slots * len(extra_kinds)                  # events of the compact timeline
    pairs = N * layout.dose_slots * len(dose_kinds)
    superpose = linear and pairs <= SUPERPOSITION_RATIO * E

    def solve(p: Array, rec: RecordArrays) -> Solution:
        varying = p.ndim == 2
        p_rec = p if varying else jnp.broadcast_to(p, (N, p.shape[-1]))
        q = _record_quantities(cm, p_rec, rec)
        ss = _steady_states(advance, linear, options, p_rec, rec, q, layout, n)
        tl = _compact_timeline(rec, q, ss, layout, extra_kinds)
        if static_order:
            # no lag and no infusion: every event sits at its record's time, in record order
            # (a dose's administration right after its record)
            order = jnp.lexsort((tl.slot, tl.sort_owner))
        else:
            # records after a reset (EVID 3/4) may restart time: sort within reset segments
            segment = jnp.cumsum((rec.evid == RESET) | (rec.evid == RESET_DOSE))[tl.owner]
            order = jnp.lexsort((tl.slot, tl.sort_owner, tl.time, segment))
        position = jnp.zeros(E, int).at[order].set(jnp.arange(E))   # event -> sorted position
        # the first N events are the records themselves, in record order
        ev = _event_effects(tl.time[order], tl.kind[order], tl.owner[order], position[:N],
                            position[tl.admin_event], rec, q, ss, n)
        if varying:
            # each interval is advanced with the parameters of the next record event on the
            # sorted timeline (the record being advanced to); after the last one, the last record's
            sorted_owner = tl.owner[order]
            is_record = (tl.kind[order] == _RECORD) & jnp.isfinite(tl.time[order])
            upcoming = jnp.where(is_record, jnp.arange(E), E)
            upcoming = jax.lax.cummin(upcoming, reverse=True)
            interval_p = p_rec[jnp.where(upcoming < E, sorted_owner[jnp.minimum(upcoming, E - 1)], N - 1)]
        else:
            interval_p = None

        if superpose and not varying:
            sources = position[_dose_events(tl, dose_kinds, extra_kinds)]
            amounts = _superposed_amounts(advance, ev, sources, tl.dose_used, p, n)
            outputs = jax.vmap(cm.outputs)(amounts, p_rec, rec.time)
            return Solution(outputs=outputs, amounts=amounts, ss_cycles=ss.cycles)

        def step(carry, x):  # type: ignore[no-untyped-def]
            A, t_prev = carry
            t_now, rate, reset, jump, p_interval = x
            # always advance, also over zero-length intervals: their JVP (A' = A + f dt) carries
            # the sensitivity to an event time that ties with the next record's time
            A = advance(A, rate, t_prev, t_now, p if p_interval is None else p_interval)
            A = jnp.where(reset, 0.0, A) + jump
            return (A, t_now), A

        init = (jnp.zeros(n), jnp.asarray(rec.time[0], float))
        _, states = jax.lax.scan(step, init, (ev.time, ev.rate_before, ev.reset, ev.jump, interval_p))
        amounts = states[ev.record_position]
        outputs = jax.vmap(cm.outputs)(amounts, p_rec, rec.time)
        return Solution(outputs=outputs, amounts=amounts, ss_cycles=ss.cycles)

    return solve


def _dose_event_slots(layout: Layout) -> tuple[int, ...]:
    """Timeline slots of a dose record that can carry amounts or rate changes: the
    administration, the infusion end, the record itself (steady state) and the ends of
    steady-state infusions, as far as the layout has them."""
    kinds = [_ADMIN]
    if layout.infusions:
        kinds.append(_END)
    if layout.ss_slots:
        kinds.append(_RECORD)
    if layout.ss_infusions:
        kinds.extend(range(_SS_END, layout.slots))
    return tuple(kinds)


def _superposed_amounts(advance: Advance, ev: _Events, sources: Array, dose_used: Array, p: Array,
                        n: int) -> Array:
    """Amounts at every record of a linear time-invariant model, by superposition.

    The state at record k is the sum, over the events e before it (in timeline order) in
    its reset segment, of the response to e's bolus or steady-state amounts and to e's
    change of infusion rates: ``advance(jump_e, rate_change_e, t_e, t_k)``. Only the
    events of dose records (:func:`_dose_event_slots`) carry amounts or rate changes;
    ``sources`` are their sorted positions, ``(dose_slots, kinds)``. All pairs are evaluated
    at once instead of the sequential scan over the timeline (the same numbers to rounding;
    derivatives, event times included, through the propagator's exact JVP).
    """
    source = sources.reshape(-1)
    carries = jnp.repeat(dose_used, sources.shape[1])
    segment = jnp.cumsum(ev.reset)
    target = ev.record_position                                       # (N,)
    active = (carries[None, :] & (source[None, :] <= target[:, None])
              & (segment[source][None, :] == segment[target][:, None]))
    t0 = ev.time[source]
    # inactive pairs are advanced over an empty interval (finite values and derivatives)
    t1 = jnp.where(active, ev.time[target][:, None], t0[None, :])
    jump = jnp.where(carries[:, None], ev.jump[source], 0.0)
    rate = jnp.where(carries[:, None], ev.rate_change[source], 0.0)
    pairs = jax.vmap(jax.vmap(advance, in_axes=(0, 0, 0, 0, None)), in_axes=(None, None, None, 0, None))
    response = pairs(jump, rate, t0, t1, p)                           # (N, D*K, n)
    return jnp.sum(jnp.where(active[:, :, None], response, 0.0), axis=1)


class _Events(NamedTuple):
    time: Array             # (E,) event time (the last finite time for padding)
    rate_before: Array      # (E, n) infusion rates on the interval ending at the event
    reset: Array            # (E,) the event zeroes the state (EVID 3/4, SS=1)
    jump: Array             # (E, n) amounts added at the event (bolus, steady state)
    record_position: Array  # (N,) position of each record's own event
    rate_change: Array      # (E, n) change of the infusion rates at the event (within its segment)


def _event_effects(times: Array, kinds: Array, owners: Array, record_pos: Array, admin_pos: Array,
                   rec: RecordArrays, q: _Quantities, ss: _SteadyStates, n: int) -> _Events:
    """Vectorised NONMEM event semantics on the sorted timeline.

    A reset (EVID 3/4 or an SS=1 dose) starts a new segment: it zeroes the state,
    stops running infusions and cancels administrations still waiting on a lag.
    So an administration counts only in the segment of its record, an infusion
    end only in the segment of its start, a steady-state infusion end only in the
    segment of its steady-state record. Rates are segment-wise cumulative sums.
    ``record_pos`` and ``admin_pos`` are the sorted positions of each record's own event and
    of its administration (any position for a record that is no dose).
    """
    E = times.shape[0]
    idx = jnp.arange(E)
    real = jnp.isfinite(times)
    r = owners
    evid = rec.evid[r]
    dose = q.is_dose[r]
    is_record = real & (kinds == _RECORD)
    reset = is_record & ((evid == RESET) | (evid == RESET_DOSE) | (dose & (rec.ss[r] == 1)))
    segment = jnp.cumsum(reset)
    same_as_record = segment == segment[record_pos[r]]
    admin = real & (kinds == _ADMIN) & dose & same_as_record
    start = admin & q.infusion[r] & ~q.constant[r]
    started = start[admin_pos]                                # per record
    end = real & (kinds == _END) & started[r] & (segment == segment[admin_pos[r]])
    set_ss = is_record & dose & (rec.ss[r] > 0)
    ss_end = real & (kinds == _SS_END) & same_as_record
    e_c = jnp.eye(n)[rec.cmt[r]]
    rate = q.rate[r]
    delta = (jnp.where(start, rate, 0.0) - jnp.where(end | ss_end, rate, 0.0)
             + jnp.where(set_ss, ss.n_running[r] * rate, 0.0))[:, None] * e_c
    cumulative = jnp.cumsum(delta, axis=0)
    last_reset = jax.lax.cummax(jnp.where(reset, idx, -1))
    before_segment = jnp.where((last_reset >= 1)[:, None], cumulative[jnp.maximum(last_reset - 1, 0)], 0.0)
    rate_after = cumulative - jnp.where((last_reset >= 0)[:, None], before_segment, 0.0)
    rate_before = jnp.concatenate([jnp.zeros((1, n)), rate_after[:-1]], axis=0)
    rate_change = rate_after - jnp.where(reset[:, None], 0.0, rate_before)
    jump = (jnp.where(admin & ~q.infusion[r], q.amount[r], 0.0)[:, None] * e_c
            + jnp.where(set_ss[:, None], ss.state[r], 0.0))
    t_finite = jax.lax.cummax(jnp.where(real, times, -jnp.inf))
    t_now = jnp.where(real, times, jnp.where(jnp.isfinite(t_finite), t_finite, rec.time[0]))
    return _Events(t_now, rate_before, reset, jump, record_pos, rate_change)


class _Quantities(NamedTuple):
    is_dose: Array
    amount: Array      # F * AMT
    infusion: Array    # bool
    rate: Array        # infusion rate
    duration: Array    # infusion duration (inf for a constant SS infusion)
    lag: Array
    constant: Array    # constant infusion at steady state (SS>0, II=0)


def _record_quantities(cm: CompiledModel, p: Array, rec: RecordArrays) -> _Quantities:
    """Dose quantities of every record from its own parameters ``p`` (n_records x n_params)."""
    dose_params = jax.vmap(cm.dose_parameters)(p)[jnp.arange(rec.cmt.shape[0]), rec.cmt]
    F, lag, modelled_rate, modelled_dur = (dose_params[:, i] for i in range(4))
    is_dose = rec.valid & ((rec.evid == DOSE) | (rec.evid == RESET_DOSE))
    amount = jnp.where(is_dose, F * rec.amt, 0.0)
    infusion = is_dose & (rec.rate != 0)
    constant = infusion & (rec.ss > 0) & (rec.ii == 0) & (rec.amt == 0)
    rate = jnp.where(
        rec.rate > 0, rec.rate,
        jnp.where(rec.rate == -1, modelled_rate,
                  jnp.where(rec.rate == -2, amount / jnp.where(is_dose, modelled_dur, 1.0), 0.0)),
    )
    safe_rate = jnp.where(rate > 0, rate, 1.0)
    duration = jnp.where(rec.rate == -2, modelled_dur, amount / safe_rate)
    duration = jnp.where(constant, jnp.inf, jnp.where(infusion, duration, 0.0))
    return _Quantities(is_dose, amount, infusion, jnp.where(infusion, rate, 0.0), duration,
                       jnp.where(is_dose, lag, 0.0), constant)


class _SteadyStates(NamedTuple):
    state: Array       # (N, n) state set at the record time (zeros where not SS)
    n_running: Array   # (N,) infusions of the SS history still running at the record time
    phase: Array       # (N,) time since the last history administration
    cycles: Array      # (N,) dosing cycles used to reach steady state (0 for exact)


def _steady_states(advance: Advance, linear: bool, options: OdeOptions, p: Array,
                   rec: RecordArrays, q: _Quantities, layout: Layout, n: int) -> _SteadyStates:
    N = layout.n_records
    zeros = _SteadyStates(jnp.zeros((N, n)), jnp.zeros(N, int), jnp.zeros(N), jnp.zeros(N, int))
    if layout.ss_slots == 0:
        return zeros
    wanted = q.is_dose & (rec.ss > 0)
    # indices of the (at most ss_slots) steady-state records of this subject
    idx = jnp.nonzero(wanted, size=layout.ss_slots, fill_value=0)[0]
    # padding slots repeat index 0, which may itself be a steady-state record
    used = jnp.arange(layout.ss_slots) < jnp.sum(wanted)

    def one(r: Array) -> tuple[Array, Array, Array, Array]:
        c = rec.cmt[r]
        e_c = jnp.eye(n)[c]
        ii = jnp.where(q.constant[r], CONSTANT_INFUSION_PERIOD, rec.ii[r])
        ii = jnp.where(ii > 0, ii, 1.0)
        dur = jnp.where(q.constant[r], ii, q.duration[r])
        rate = q.rate[r]
        bolus = jnp.where(q.infusion[r], 0.0, q.amount[r]) * e_c
        m = jnp.floor(dur / ii)
        rem = dur - m * ii
        t0 = rec.time[r] + q.lag[r]

        def partial(X: Array, phi: Array) -> Array:
            # at a tie the (m+1)-th infusion runs to phi, as the running count assumes
            split = jnp.where(rem < phi, rem, phi)
            X = advance(X + bolus, (m + 1) * rate * e_c, t0, t0 + split, p[r])
            return advance(X, m * rate * e_c, t0 + split, t0 + phi, p[r])

        def period(X: Array) -> Array:
            return partial(X, ii)

        if linear:
            c0 = period(jnp.zeros(n))
            M = jax.jacfwd(period)(jnp.zeros(n))
            X = jnp.linalg.solve(jnp.eye(n) - M, c0)
            cycles = jnp.asarray(0)
        else:
            def relative_change(X: Array, X_prev: Array) -> Array:
                return jnp.max(jnp.abs(X - X_prev) / (jnp.abs(X) + options.atol))

            # converged when a cycle changes the state by at most ss_rtol, or when the change,
            # already within the integrator's accuracy (10 rtol), stops decreasing: the cycles
            # then only reproduce the integration error
            def cond(state):  # type: ignore[no-untyped-def]
                X, X_prev, k, previous = state
                change = relative_change(X, X_prev)
                stalled = (change <= 10 * options.rtol) & (change >= previous)
                return (k < options.ss_max_cycles) & ((k < 2) | ((change > options.ss_rtol) & ~stalled))

            def body(state):  # type: ignore[no-untyped-def]
                X, X_prev, k, _ = state
                return period(X), X, k + 1, relative_change(X, X_prev)

            X, _, cycles, _ = jax.lax.while_loop(
                cond, body, (jnp.zeros(n), jnp.full(n, jnp.inf), 0, jnp.asarray(jnp.inf)))
        # NONMEM 7.4: the state at the record is the periodic state at II - lag after an
        # administration, continued backwards in time when the lag exceeds II
        phi = ii - q.lag[r]
        state = jnp.where(q.constant[r], X, partial(X, phi))
        ks = jnp.arange(MAX_SS_OVERLAP)
        # at most m + 1 history infusions run, also when a lag > II makes phi negative; one
        # ending exactly at the record counts (ending there), so that its end time keeps its
        # sensitivity when the duration is a multiple of II
        running = jnp.sum((dur - phi - ks * ii >= 0) & (ks <= m) & q.infusion[r] & ~q.constant[r])
        return state, running, phi, cycles

    states, running, phases, cycles = jax.vmap(one)(idx)
    keep = used[:, None]
    state = zeros.state.at[idx].add(jnp.where(keep, states, 0.0))
    n_running = zeros.n_running.at[idx].add(jnp.where(used, running, 0))
    phase = zeros.phase.at[idx].add(jnp.where(used, phases, 0.0))
    cyc = zeros.cycles.at[idx].add(jnp.where(used, cycles, 0))
    return _SteadyStates(state, n_running, phase, cyc)


class _Timeline(NamedTuple):
    """The events of one subject, unsorted: every record, and the other slots of dose records."""

    time: Array          # (E,) inf = no event
    kind: Array          # (E,) _RECORD, _ADMIN, _END, _SS_END
    owner: Array         # (E,) record the event belongs to
    slot: Array          # (E,) slot within its record (orders ties)
    sort_owner: Array    # (E,) owner, or n_records for unused dose slots (sorted last)
    admin_event: Array   # (N,) event of each record's administration (its own event if no dose)
    dose_index: Array    # (D,) record of each dose slot
    dose_used: Array     # (D,) the dose slot holds a dose


def _compact_timeline(rec: RecordArrays, q: _Quantities, ss: _SteadyStates, layout: Layout,
                      extra_kinds: tuple[int, ...]) -> _Timeline:
    """Events: the N records (event r is record r), then ``extra_kinds`` slots of each of the
    ``dose_slots`` doses.

    Slots that cannot hold an event (the administration of an observation, say) are left
    out, so the scan takes N + dose_slots x len(extra_kinds) steps rather than N x slots.
    """
    N, S, D, K = layout.n_records, layout.slots, layout.dose_slots, len(extra_kinds)
    times, kinds, owners = _timeline(rec, q, ss, layout)
    dose_index = jnp.nonzero(q.is_dose, size=D, fill_value=0)[0]
    dose_used = jnp.arange(D) < jnp.sum(q.is_dose)
    extra = jnp.asarray(extra_kinds, dtype=int)
    full = jnp.concatenate([jnp.arange(N) * S, (dose_index[:, None] * S + extra[None, :]).reshape(-1)])
    used = jnp.concatenate([jnp.ones(N, bool), jnp.repeat(dose_used, K)])
    owner = owners[full]
    rank = jnp.cumsum(q.is_dose) - 1
    admin_event = jnp.where(q.is_dose, N + rank * K + extra_kinds.index(_ADMIN), jnp.arange(N))
    return _Timeline(jnp.where(used, times[full], jnp.inf), kinds[full], owner, full % S,
                     jnp.where(used, owner, N), admin_event, dose_index, dose_used)


def _dose_events(tl: _Timeline, dose_kinds: tuple[int, ...], extra_kinds: tuple[int, ...]) -> Array:
    """``(dose_slots, len(dose_kinds))`` events of each dose slot, kind by kind."""
    D, N = tl.dose_index.shape[0], tl.admin_event.shape[0]
    columns = [tl.dose_index if kind == _RECORD
               else N + jnp.arange(D) * len(extra_kinds) + extra_kinds.index(kind) for kind in dose_kinds]
    return jnp.stack(columns, axis=1)


def _timeline(rec: RecordArrays, q: _Quantities, ss: _SteadyStates, layout: Layout):
    """Times, kinds and owning record of every timeline slot (inf = no event)."""
    N = layout.n_records
    inf = jnp.inf
    t_rec = jnp.where(rec.valid, rec.time, inf)
    t_admin = jnp.where(q.is_dose, rec.time + q.lag, inf)
    columns = [t_rec, t_admin]
    kinds = [_RECORD, _ADMIN]
    if layout.infusions:
        t_end = jnp.where(q.infusion & jnp.isfinite(q.duration), t_admin + q.duration, inf)
        columns.append(t_end)
        kinds.append(_END)
    if layout.ss_infusions:
        ii = jnp.where(rec.ii > 0, rec.ii, 1.0)
        for k in range(MAX_SS_OVERLAP):
            remaining = q.duration - ss.phase - k * ii
            has = q.infusion & (rec.ss > 0) & ~q.constant & (k < ss.n_running)
            columns.append(jnp.where(has & (remaining >= 0), rec.time + remaining, inf))
            kinds.append(_SS_END)
    times = jnp.stack(columns, axis=1).reshape(-1)
    kind = jnp.tile(jnp.asarray(kinds), N)
    owners = jnp.repeat(jnp.arange(N), len(kinds))
    return times, kind, owners
