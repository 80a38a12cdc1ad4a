"""Dosing and observation events with NONMEM semantics.

An :class:`EventTable` holds the records of one subject as NONMEM reads them
(EVID, AMT, RATE, II, ADDL, SS, CMT). It is built either from a human
regimen (:func:`bolus`, :func:`infusion`) or from NONMEM-format rows
(:func:`events_from_nonmem`). :func:`expand_records` turns it into the
ADDL-expanded arrays the solver consumes.

EVID: 0 observation, 1 dose, 2 other (no dose, no observation; outputs are
still computed), 3 reset, 4 reset and dose. RATE: 0 bolus, > 0 infusion rate,
-1 rate modelled by the model's dosing ``rate``, -2 duration modelled by its
``duration``. SS: 0 none, 1 steady state (resets first), 2 steady state added
to the current state. CMT is NONMEM's 1-based compartment number (state order).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from compartments.graph import Model

OBSERVATION, DOSE, OTHER, RESET, RESET_DOSE = 0, 1, 2, 3, 4
MODELLED_RATE, MODELLED_DURATION = -1.0, -2.0


class EventError(ValueError):
    """An event record is invalid; the message names the record and the field."""


@dataclass(frozen=True)
class EventTable:
    """The records of one subject (NONMEM semantics, ADDL not yet expanded).

    ``cmt`` is the 1-based compartment of dose records; ``output`` is the
    0-based model output read by observation records.
    """

    time: np.ndarray
    evid: np.ndarray
    amt: np.ndarray
    rate: np.ndarray
    ii: np.ndarray
    addl: np.ndarray
    ss: np.ndarray
    cmt: np.ndarray
    output: np.ndarray
    subject: object = 1
    rows: np.ndarray | None = field(default=None)

    def __len__(self) -> int:
        return len(self.time)


@dataclass(frozen=True)
class Dose:
    """One dosing instruction of a regimen (see :func:`bolus` and :func:`infusion`)."""

    amount: float
    cmt: str
    time: float = 0.0
    rate: float = 0.0
    ii: float = 0.0
    n: int = 1
    steady_state: bool = False


@dataclass(frozen=True)
class Regimen:
    """A sequence of doses; combine regimens with ``+``.

    Examples
    --------
    >>> r = bolus(320, cmt="depot") + bolus(160, cmt="depot", time=12, ii=12, n=13)
    >>> len(r.doses)
    2
    """

    doses: tuple[Dose, ...]

    def __add__(self, other: Regimen) -> Regimen:
        return Regimen(self.doses + other.doses)

    def event_table(
        self, model: Model, times: Sequence[float], output: str | None = None, subject: object = 1
    ) -> EventTable:
        """Event table with these doses and observations of ``output`` at ``times``."""
        names = model.compartment_names
        out_index = _output_index(model, output)
        rows = []
        for dose in self.doses:
            if dose.cmt not in names:
                raise EventError(
                    f"dose into {dose.cmt!r}: model {model.name!r} has compartments {list(names)}"
                )
            if model.get_dosing(dose.cmt) is None:
                raise EventError(f"dose into {dose.cmt!r}: it is not a dosing target of the model")
            rows.append(
                (dose.time, DOSE, dose.amount, dose.rate, dose.ii, dose.n - 1,
                 1 if dose.steady_state else 0, names.index(dose.cmt) + 1, -1)
            )
        for t in np.asarray(times, dtype=float):
            rows.append((float(t), OBSERVATION, 0.0, 0.0, 0.0, 0, 0, 0, out_index))
        rows.sort(key=lambda r: (r[0], r[1] == OBSERVATION))
        cols = list(zip(*rows, strict=True)) if rows else [()] * 9
        table = EventTable(
            time=np.asarray(cols[0], float), evid=np.asarray(cols[1], int),
            amt=np.asarray(cols[2], float), rate=np.asarray(cols[3], float),
            ii=np.asarray(cols[4], float), addl=np.asarray(cols[5], int),
            ss=np.asarray(cols[6], int), cmt=np.asarray(cols[7], int),
            output=np.asarray(cols[8], int), subject=subject,
        )
        validate_events(table, model)
        return table


def bolus(
    amount: float, cmt: str, *, time: float = 0.0, ii: float = 0.0, n: int = 1,
    steady_state: bool = False,
) -> Regimen:
    """Bolus dose(s) of ``amount`` into ``cmt``, ``n`` doses every ``ii``.

    Examples
    --------
    >>> bolus(320, cmt="depot").doses[0].amount
    320
    """
    return Regimen((Dose(amount, cmt, time, 0.0, ii, n, steady_state),))


def infusion(
    amount: float, cmt: str, *, rate: float | None = None, duration: float | None = None,
    time: float = 0.0, ii: float = 0.0, n: int = 1, steady_state: bool = False,
    modelled: str | None = None,
) -> Regimen:
    """Zero-order infusion(s) given by ``rate`` or ``duration``.

    ``modelled="rate"`` or ``"duration"`` takes them from the model's dosing
    parameters instead (NONMEM RATE=-1 / -2).

    Examples
    --------
    >>> infusion(500, cmt="central", duration=2).doses[0].rate
    250.0
    """
    if modelled is not None:
        if modelled not in ("rate", "duration"):
            raise EventError(f"modelled must be 'rate' or 'duration', got {modelled!r}")
        value = MODELLED_RATE if modelled == "rate" else MODELLED_DURATION
    elif (rate is None) == (duration is None):
        raise EventError("infusion: give exactly one of rate= or duration=")
    elif rate is not None:
        if rate <= 0:
            raise EventError(f"infusion: rate must be > 0, got {rate}")
        value = float(rate)
    else:
        if duration <= 0:
            raise EventError(f"infusion: duration must be > 0, got {duration}")
        value = float(amount) / float(duration)
    return Regimen((Dose(amount, cmt, time, value, ii, n, steady_state),))


def _output_index(model: Model, output: str | None) -> int:
    if output is None:
        return 0
    if output not in model.output_names:
        raise EventError(f"unknown output {output!r}; model outputs: {list(model.output_names)}")
    return model.output_names.index(output)


def validate_events(table: EventTable, model: Model) -> None:
    """Check NONMEM semantics record by record; raise :class:`EventError` naming the record."""
    n_states = len(model.compartments)
    rows = table.rows if table.rows is not None else np.arange(len(table)) + 1

    def fail(i: int, column: str, message: str) -> None:
        raise EventError(
            f"subject {table.subject}, record {rows[i]}: column {column} = "
            f"{_fmt(getattr(table, column.lower())[i])}: {message}"
        )

    for name in ("time", "amt", "rate", "ii"):
        values = getattr(table, name)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            fail(int(bad[0]), name.upper(), "expected a finite number")
    for i in range(len(table)):
        evid = int(table.evid[i])
        if evid not in (0, 1, 2, 3, 4):
            fail(i, "EVID",
                 "expected 0 (observation), 1 (dose), 2 (other), 3 (reset) or 4 (reset+dose)")
        if i and table.time[i] < table.time[i - 1] and evid not in (RESET, RESET_DOSE):
            fail(i, "TIME",
                 f"time decreases (previous {table.time[i - 1]:g}) without a reset (EVID 3/4)")
        if table.ss[i] not in (0, 1, 2):
            fail(i, "SS", "expected 0, 1 or 2")
        if table.addl[i] < 0:
            fail(i, "ADDL", "expected a non-negative integer")
        if table.ii[i] < 0:
            fail(i, "II", "expected II >= 0")
        if evid in (DOSE, RESET_DOSE):
            dosed = table.amt[i] != 0 or table.rate[i] != 0
            if table.amt[i] < 0:
                fail(i, "AMT", "expected a non-negative dose amount")
            if not dosed:
                fail(i, "AMT", "a dose record (EVID 1/4) needs AMT > 0 (or RATE > 0 with SS=1)")
            if not 1 <= table.cmt[i] <= n_states:
                fail(i, "CMT",
                     f"expected a compartment number 1..{n_states} of {model.compartment_names}")
            cmt_name = model.compartment_names[int(table.cmt[i]) - 1]
            dosing = model.get_dosing(cmt_name)
            if dosing is None:
                fail(i, "CMT",
                     f"compartment {cmt_name!r} is not a dosing target of model {model.name!r}")
            rate = table.rate[i]
            if rate < 0 and rate not in (MODELLED_RATE, MODELLED_DURATION):
                fail(i, "RATE",
                     "expected 0 (bolus), > 0, -1 (modelled rate) or -2 (modelled duration)")
            if rate == MODELLED_RATE and dosing.rate is None:
                fail(i, "RATE", f"RATE=-1 but the model defines no infusion rate for {cmt_name!r}")
            if rate == MODELLED_DURATION and dosing.duration is None:
                fail(i, "RATE",
                     f"RATE=-2 but the model defines no infusion duration for {cmt_name!r}")
            if table.ss[i] and table.ii[i] == 0 and not (rate > 0 and table.amt[i] == 0):
                fail(i, "II", "steady state (SS=1/2) needs II > 0, "
                     "except a constant infusion (AMT=0, RATE>0)")
            if table.addl[i] > 0 and table.ii[i] <= 0:
                fail(i, "II", "ADDL > 0 needs II > 0")
        elif evid == OBSERVATION and not 0 <= table.output[i] < len(model.outputs):
            fail(i, "CMT", f"observation of unknown output {table.output[i]}")


def _fmt(value: object) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


@dataclass(frozen=True)
class Records:
    """ADDL-expanded records of one subject, in processing order.

    ``source`` gives, for each record, the index of the original record it came
    from (implied ADDL doses point to their parent dose record).
    """

    time: np.ndarray
    evid: np.ndarray
    amt: np.ndarray
    rate: np.ndarray
    ii: np.ndarray
    ss: np.ndarray
    cmt: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


def expand_records(table: EventTable) -> Records:
    """Expand ADDL into explicit dose records (NONMEM's implied doses).

    Implied doses are placed at ``time + k*II``; at equal times they are
    processed before the records at that time (NONMEM gives implied doses, like
    lagged administrations, before an event record at the same time, so an
    observation there sees the dose). ``cmt`` is 0-based (state index) for doses
    and the output index for observations.
    """
    items = []
    for i in range(len(table)):
        evid = int(table.evid[i])
        cmt = int(table.cmt[i]) - 1 if evid in (DOSE, RESET_DOSE) else int(table.output[i])
        base = (float(table.amt[i]), float(table.rate[i]), float(table.ii[i]), cmt)
        items.append((float(table.time[i]), 0, i, evid, base[0], base[1], base[2],
                      int(table.ss[i]), base[3]))
        for k in range(1, int(table.addl[i]) + 1):
            t = float(table.time[i]) + k * float(table.ii[i])
            items.append((t, 1, i, DOSE, base[0], base[1], base[2], 0, base[3]))
    order = _processing_order(items)
    items = [items[j] for j in order]
    cols = list(zip(*items, strict=True)) if items else [()] * 9
    return Records(
        time=np.asarray(cols[0], float), evid=np.asarray(cols[3], int),
        amt=np.asarray(cols[4], float), rate=np.asarray(cols[5], float),
        ii=np.asarray(cols[6], float), ss=np.asarray(cols[7], int),
        cmt=np.asarray(cols[8], int), source=np.asarray(cols[2], int),
    )


def _processing_order(items: list[tuple]) -> list[int]:
    """Records keep file order; implied doses slot in by time, before records at that time.

    Resets split the file into segments whose times restart, so implied doses
    never move across a reset.
    """
    segment, seg_of = 0, []
    for item in items:
        if item[1] == 0 and item[3] in (RESET, RESET_DOSE):
            segment += 1
        seg_of.append(segment)
    # an implied dose is inserted in the segment of its parent, ordered by time
    keyed = []
    explicit_rank = 0
    for j, item in enumerate(items):
        if item[1] == 0:
            explicit_rank += 1
            keyed.append(((seg_of[j], item[0], 1, explicit_rank), j))
        else:
            keyed.append(((seg_of[j], item[0], 0, explicit_rank), j))
    return [j for _, j in sorted(keyed)]


def events_from_nonmem(
    data: pd.DataFrame, model: Model, *, output_column: str | None = None
) -> list[EventTable]:
    """Convert NONMEM-format rows into one :class:`EventTable` per subject.

    Column names are case-insensitive; ``.`` and empty cells are missing. Only
    ID and TIME are required; EVID defaults to 1 where AMT > 0 and MDV is not 1,
    else 0; CMT of doses defaults to the first dosing compartment. Observations
    read the model's first output unless ``output_column`` (e.g. ``"DVID"``,
    1-based) chooses another.

    Examples
    --------
    >>> import pandas as pd  # doctest: +SKIP
    """
    df = data.rename(columns={c: c.upper() for c in data.columns})
    for required in ("ID", "TIME"):
        if required not in df.columns:
            raise EventError(f"missing required column {required}; columns: {list(data.columns)}")
    df = df.replace({".": np.nan, "": np.nan})
    n = len(df)

    def column(name: str, default: float) -> np.ndarray:
        if name not in df.columns:
            return np.full(n, default, dtype=float)
        values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
        raw = df[name].to_numpy()
        bad = np.flatnonzero(np.isnan(values) & pd.notna(raw))
        if bad.size:
            raise EventError(
                f"row {bad[0] + 1}: column {name} = {raw[bad[0]]!r}: expected a number"
            )
        return np.where(np.isnan(values), default, values)

    amt = column("AMT", 0.0)
    mdv = column("MDV", np.nan)
    default_evid = np.where((amt > 0) & (mdv != 0), DOSE, OBSERVATION)
    evid = column("EVID", np.nan)
    evid = np.where(np.isnan(evid), default_evid, evid).astype(int)
    time = column("TIME", np.nan)
    bad = np.flatnonzero(np.isnan(time))
    if bad.size:
        raise EventError(f"row {bad[0] + 1}: column TIME is missing: expected a number")
    first_dosing = next(
        (i for i, c in enumerate(model.compartment_names) if model.get_dosing(c)), 0
    )
    cmt = column("CMT", first_dosing + 1).astype(int)
    if output_column is not None:
        out = column(output_column.upper(), 1.0).astype(int) - 1
    else:
        out = np.zeros(n, dtype=int)
    fields = {
        "time": time, "evid": evid, "amt": amt, "rate": column("RATE", 0.0),
        "ii": column("II", 0.0), "addl": column("ADDL", 0.0).astype(int),
        "ss": column("SS", 0.0).astype(int), "cmt": cmt, "output": out,
    }
    ids = df["ID"].to_numpy()
    tables, seen = [], set()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], n]
    for s, e in zip(starts, ends, strict=True):
        subject = ids[s]
        if subject in seen:
            raise EventError(
                f"row {s + 1}: column ID = {subject}: subject appears in two separate blocks; "
                "sort the data by ID (records of one subject must be contiguous)"
            )
        seen.add(subject)
        table = EventTable(
            **{k: v[s:e] for k, v in fields.items()}, subject=subject, rows=np.arange(s, e) + 1
        )
        validate_events(table, model)
        tables.append(table)
    return tables


def stack(values: Iterable[np.ndarray], length: int, fill: float) -> np.ndarray:
    """Stack 1-d arrays into a 2-d array padded with ``fill`` to ``length``."""
    values = list(values)
    out = np.full((len(values), length), fill, dtype=np.result_type(*values, type(fill)))
    for i, v in enumerate(values):
        out[i, : len(v)] = v
    return out
