"""Bad graphs and bad regimens raise clear errors naming what is wrong.

Invalid event tables are generated with hypothesis: a valid subject is drawn,
then exactly one record is corrupted; the :class:`EventError` must name the
column (and the record) that is wrong. Nothing here is compiled.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
from cmt_helpers import oral_iv_1cmt
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from compartments import ExpressionError, Model, ModelError, compile_model, parse_expression
from compartments.edits import add_peripheral
from compartments.events import (
    EventError,
    EventTable,
    bolus,
    events_from_nonmem,
    infusion,
    validate_events,
)
from compartments.expressions import FUNCTIONS
from compartments.simulate import simulate

# depot (dosed), central (dosed), peripheral1 (not a dosing target); no modelled rate/duration
MODEL = add_peripheral(oral_iv_1cmt())
N_STATES = len(MODEL.compartment_names)


# ------------------------------------------------------------------ bad graphs
def test_flow_to_missing_compartment() -> None:
    m = Model("m").compartment("central", volume="V")
    with pytest.raises(ModelError, match=r"flow central -> periph: no compartment 'periph'"):
        m.flow("central", "periph", k="K12")
    with pytest.raises(ModelError, match="no compartment 'depot'"):
        m.flow("depot", "central", k="KA")
    with pytest.raises(ModelError, match="no compartment 'gut'"):
        m.dose("gut")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda m: m.compartment("central"), "compartment 'central' is already defined"),
        (lambda m: m.compartment("2nd"), "invalid compartment name '2nd'"),
        (lambda m: m.compartment("t"), "invalid compartment name 't'"),
        (lambda m: m.flow("central", None, k="K", cl="CL"), r"exactly one of k=, cl=, rate="),
        (lambda m: m.flow("central", None), r"exactly one of k=, cl=, rate="),
        (lambda m: m.flow("central", "central", k="K"), "source and target are the same"),
        (lambda m: m.compartment("gut").flow("gut", "central", cl="CL"),
         "cl= needs a volume on compartment 'gut'"),
        (lambda m: m.output("Cc", "central / V").output("Cc", "central"),
         "output 'Cc' is already defined"),
    ],
)
def test_bad_building_steps(build: Callable[[Model], Model], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        build(Model("m").compartment("central", volume="V"))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Model("empty"), "has no compartments"),
        (Model("m").compartment("central", volume="V"), "has no outputs"),
        (oral_iv_1cmt().output("E", "EMAX * Cc2"), "output 'E' uses undefined symbol 'Cc2'"),
        (oral_iv_1cmt().output("E", "C_liver"), "'C_liver' refers to unknown compartment 'liver'"),
        (oral_iv_1cmt().output("E", "C_depot"), "compartment 'depot' has no volume for C_depot"),
        (oral_iv_1cmt().flow("central", "depot", rate="K * C_gut"),
         "flow central -> depot: 'C_gut' refers to unknown compartment 'gut'"),
        (oral_iv_1cmt().dose("depot", f="central / 100"),
         r"dosing of 'depot': F uses \['central'\]"),
        (oral_iv_1cmt().dose("depot", lag="t"), r"dosing of 'depot': lag uses \['t'\]"),
        (Model("m").compartment("central", volume="central").output("Cc", "central"),
         "volume of 'central' uses"),
        (oral_iv_1cmt().output("KA", "central"), r"output names \['KA'\] clash"),
    ],
    ids=["empty", "no_outputs", "undefined_symbol", "C_unknown", "C_without_volume",
         "flow_C_unknown", "F_uses_amount", "lag_uses_time", "volume_uses_amount",
         "output_name_clash"],
)
def test_invalid_graphs_fail_validation(model: Model, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        model.validate()
    with pytest.raises(ModelError, match=message):  # and when compiled
        compile_model(model)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('ls')", "unsupported syntax"),
        ("os.system('rm -rf /')", "unsupported syntax"),
        ("().__class__.__bases__[0]", "unsupported syntax"),
        ("(lambda: 1)()", "unsupported syntax"),
        ("CL if WT > 70 else V", "unsupported syntax"),
        ("'CL'", "unsupported syntax"),
        ("[CL, V]", "unsupported syntax"),
        ("CL > 1", "unsupported syntax"),
        ("exp(x=CL)", "unsupported syntax"),
        ("eval('1')", "unknown function 'eval'"),
        ("gamma(CL)", "unknown function 'gamma'"),
        ("exp", "'exp' is a function and needs arguments"),
        ("CL *", "cannot parse"),
        ("True", "unsupported syntax"),
    ],
)
def test_unsafe_or_unknown_expressions_are_rejected(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, context="flow central -> elimination")
    with pytest.raises(ExpressionError, match="flow central -> elimination"):
        Model("m").compartment("central", volume="V").elimination("central", rate=text)


@given(name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
       .filter(lambda s: s not in FUNCTIONS and not keyword.iskeyword(s)))
def test_any_unknown_function_is_rejected(name: str) -> None:
    with pytest.raises(ExpressionError, match=f"unknown function '{name}'"):
        parse_expression(f"{name}(CL) * 2")


@given(attribute=st.from_regex(r"__[a-z]{1,10}__", fullmatch=True),
       base=st.sampled_from(["CL", "()", "exp(CL)", "'x'", "1"]))
def test_attribute_access_is_never_evaluated(attribute: str, base: str) -> None:
    with pytest.raises(ExpressionError):
        parse_expression(f"{base}.{attribute}")


# ---------------------------------------------------------------- bad regimens
def test_regimen_errors_name_the_problem() -> None:
    model = oral_iv_1cmt()
    with pytest.raises(EventError, match=r"dose into 'gut'.*compartments \['depot', 'central'\]"):
        bolus(100, cmt="gut").event_table(model, [1.0])
    with pytest.raises(EventError, match="'peripheral1': it is not a dosing target"):
        bolus(100, cmt="peripheral1").event_table(MODEL, [1.0])
    with pytest.raises(EventError, match="exactly one of rate= or duration="):
        infusion(100, cmt="central", rate=10, duration=10)
    with pytest.raises(EventError, match="duration must be > 0"):
        infusion(100, cmt="central", duration=0)
    with pytest.raises(EventError, match="rate must be > 0"):
        infusion(100, cmt="central", rate=-5)
    with pytest.raises(EventError, match="modelled must be 'rate' or 'duration'"):
        infusion(100, cmt="central", modelled="speed")
    with pytest.raises(EventError, match="column RATE.*no infusion duration"):
        infusion(100, cmt="central", modelled="duration").event_table(model, [1.0])
    with pytest.raises(EventError, match="column II.*ADDL > 0 needs II > 0"):
        bolus(100, cmt="depot", n=3).event_table(model, [1.0])
    with pytest.raises(EventError, match="column II.*steady state"):
        bolus(100, cmt="depot", steady_state=True).event_table(model, [1.0])
    with pytest.raises(EventError, match="column AMT"):
        bolus(-100, cmt="depot").event_table(model, [1.0])
    with pytest.raises(EventError, match="unknown output 'Cp'"):
        bolus(100, cmt="depot").event_table(model, [1.0], output="Cp")


def test_simulate_errors_name_the_problem() -> None:
    model = oral_iv_1cmt()
    with pytest.raises(ValueError, match="needs observation times"):
        simulate(model, {"KA": 1.0, "CL": 1.0, "V": 10.0}, bolus(100, cmt="depot"))
    with pytest.raises(KeyError, match="no value for parameter 'CL'"):
        simulate(model, {"KA": 1.0, "V": 10.0}, bolus(100, cmt="depot"), times=[1.0])


# --------------------------------------------------- hypothesis: event tables
@dataclass
class Subject:
    """Columns of one valid subject, as lists (NONMEM semantics, 1-based CMT)."""

    time: list[float]
    evid: list[int]
    amt: list[float]
    rate: list[float]
    ii: list[float]
    addl: list[int]
    ss: list[int]
    cmt: list[int]

    def table(self) -> EventTable:
        n = len(self.time)
        return EventTable(
            time=np.asarray(self.time, float), evid=np.asarray(self.evid, int),
            amt=np.asarray(self.amt, float), rate=np.asarray(self.rate, float),
            ii=np.asarray(self.ii, float), addl=np.asarray(self.addl, int),
            ss=np.asarray(self.ss, int), cmt=np.asarray(self.cmt, int),
            output=np.zeros(n, int),
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "ID": 7, "TIME": self.time, "EVID": self.evid, "AMT": self.amt, "RATE": self.rate,
            "II": self.ii, "ADDL": self.addl, "SS": self.ss,
            "CMT": [c if e in (1, 4) else 1 for c, e in zip(self.cmt, self.evid, strict=True)],
            "DV": 0.0,
        })

    def doses(self) -> list[int]:
        return [i for i, e in enumerate(self.evid) if e == 1]


@st.composite
def subjects(draw: st.DrawFn) -> Subject:
    n = draw(st.integers(2, 8))
    times = sorted(draw(st.lists(st.floats(0, 200, allow_nan=False), min_size=n, max_size=n)))
    s = Subject([], [], [], [], [], [], [], [])
    for i, t in enumerate(times):
        evid = 1 if i == 0 else draw(st.sampled_from([0, 1, 2]))
        amt = rate = ii = 0.0
        addl = ss = 0
        cmt = 0
        if evid == 1:
            amt = draw(st.floats(0.1, 1000))
            rate = draw(st.sampled_from([0.0, 5.0, 50.0]))
            ii = draw(st.sampled_from([0.0, 8.0, 12.0, 24.0]))
            addl = draw(st.integers(0, 4)) if ii > 0 else 0
            ss = draw(st.sampled_from([0, 1, 2])) if ii > 0 else 0
            cmt = draw(st.sampled_from([1, 2]))
        for column, value in zip(("time", "evid", "amt", "rate", "ii", "addl", "ss", "cmt"),
                                 (t, evid, amt, rate, ii, addl, ss, cmt), strict=True):
            getattr(s, column).append(value)
    return s


def _corrupt(s: Subject, data: st.DataObject) -> tuple[int, str]:
    """Break exactly one record of ``s`` in place; return (record index, column)."""
    kind = data.draw(st.sampled_from([
        "negative_amt", "zero_dose", "bad_evid", "time_decreases", "ss_without_ii",
        "addl_without_ii", "unknown_cmt", "cmt_not_dosed", "bad_ss", "negative_addl",
        "negative_ii", "bad_rate", "unmodelled_rate", "not_finite",
    ]), label="corruption")
    doses = s.doses()
    dose = data.draw(st.sampled_from(doses), label="dose record")
    any_record = data.draw(st.integers(0, len(s.time) - 1), label="record")
    if kind == "negative_amt":
        s.amt[dose] = -data.draw(st.floats(1e-3, 1e4))
        return dose, "AMT"
    if kind == "zero_dose":
        s.amt[dose], s.rate[dose] = 0.0, 0.0
        return dose, "AMT"
    if kind == "bad_evid":
        s.evid[any_record] = data.draw(st.integers(-10, 100).filter(lambda e: e not in range(5)))
        return any_record, "EVID"
    if kind == "time_decreases":
        record = data.draw(st.integers(1, len(s.time) - 1))
        s.time[record] = s.time[record - 1] - data.draw(st.floats(1e-3, 50))
        return record, "TIME"
    if kind == "ss_without_ii":
        s.ss[dose], s.ii[dose], s.addl[dose] = data.draw(st.sampled_from([1, 2])), 0.0, 0
        return dose, "II"
    if kind == "addl_without_ii":
        s.addl[dose], s.ii[dose], s.ss[dose] = data.draw(st.integers(1, 10)), 0.0, 0
        return dose, "II"
    if kind == "unknown_cmt":
        s.cmt[dose] = data.draw(st.one_of(st.integers(-5, 0), st.integers(N_STATES + 1, 99)))
        return dose, "CMT"
    if kind == "cmt_not_dosed":
        s.cmt[dose] = MODEL.compartment_names.index("peripheral1") + 1
        return dose, "CMT"
    if kind == "bad_ss":
        s.ss[any_record] = data.draw(st.integers(-3, 9).filter(lambda v: v not in (0, 1, 2)))
        return any_record, "SS"
    if kind == "negative_addl":
        s.addl[any_record] = -data.draw(st.integers(1, 5))
        return any_record, "ADDL"
    if kind == "negative_ii":
        s.ii[any_record] = -data.draw(st.floats(1e-3, 48))
        s.addl[any_record], s.ss[any_record] = 0, 0
        return any_record, "II"
    if kind == "bad_rate":
        s.rate[dose] = data.draw(st.floats(-100, -1e-3).filter(lambda r: r not in (-1.0, -2.0)))
        return dose, "RATE"
    if kind == "unmodelled_rate":  # the model defines no modelled rate or duration
        s.rate[dose] = data.draw(st.sampled_from([-1.0, -2.0]))
        return dose, "RATE"
    column = data.draw(st.sampled_from(["TIME", "AMT", "RATE", "II"]))
    getattr(s, column.lower())[any_record] = data.draw(st.sampled_from([np.inf, -np.inf, np.nan]))
    return any_record, column


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(s=subjects())
def test_generated_valid_tables_pass(s: Subject) -> None:
    validate_events(s.table(), MODEL)
    (table,) = events_from_nonmem(s.frame(), MODEL)
    np.testing.assert_array_equal(table.evid, s.evid)


@FAST
@given(s=subjects(), data=st.data())
def test_invalid_event_tables_name_the_column(s: Subject, data: st.DataObject) -> None:
    record, column = _corrupt(s, data)
    with pytest.raises(EventError) as info:
        validate_events(s.table(), MODEL)
    message = str(info.value)
    assert f"column {column}" in message
    assert f"record {record + 1}:" in message


@FAST
@given(s=subjects(), data=st.data())
def test_invalid_nonmem_rows_name_the_row_and_column(s: Subject, data: st.DataObject) -> None:
    """Through the NONMEM-format converter: the record number is the data row."""
    record, column = _corrupt(s, data)
    # an empty (NaN) cell is a missing value in NONMEM data, valid except for TIME
    assume(not (column != "TIME" and np.isnan(getattr(s, column.lower())[record])))
    frame = s.frame()
    padding = pd.DataFrame({"ID": 1, "TIME": [0.0], "EVID": [0], "DV": [1.0]})
    frame = pd.concat([padding, frame], ignore_index=True)  # the subject starts at row 2
    with pytest.raises(EventError) as info:
        events_from_nonmem(frame, MODEL)
    message = str(info.value)
    assert f"column {column}" in message
    assert f"record {record + 2}:" in message or f"row {record + 2}:" in message


@given(value=st.sampled_from(["abc", "1..2", "x1", "--"]),
       column=st.sampled_from(["AMT", "TIME", "RATE", "II", "EVID"]))
def test_non_numeric_cells_name_row_and_column(value: str, column: str) -> None:
    frame = pd.DataFrame({"ID": [1, 1], "TIME": [0.0, 1.0], "EVID": [1, 0], "AMT": [100.0, 0.0],
                          "CMT": [1, 1], "RATE": [0.0, 0.0], "II": [0.0, 0.0]}).astype(object)
    frame.loc[1, column] = value
    with pytest.raises(EventError, match=f"row 2: column {column} = '{value}'"):
        events_from_nonmem(frame, MODEL)


def test_nonmem_structure_errors() -> None:
    with pytest.raises(EventError, match="missing required column TIME"):
        events_from_nonmem(pd.DataFrame({"ID": [1], "AMT": [1.0]}), MODEL)
    frame = pd.DataFrame({"ID": [1, 2, 1], "TIME": [0.0, 0.0, 1.0], "AMT": [100.0, 100.0, 0.0],
                          "EVID": [1, 1, 0]})
    with pytest.raises(EventError, match="row 3: column ID = 1: subject appears in two"):
        events_from_nonmem(frame, MODEL)


def test_reset_allows_time_to_restart() -> None:
    s = Subject([0.0, 10.0, 0.0, 5.0], [1, 0, 4, 0], [100.0, 0.0, 100.0, 0.0],
                [0.0] * 4, [0.0] * 4, [0] * 4, [0] * 4, [1, 0, 1, 0])
    validate_events(s.table(), MODEL)
    s.evid[2] = 1
    with pytest.raises(EventError, match="record 3: column TIME.*without a reset"):
        validate_events(replace(s.table()), MODEL)
