"""Model edits return new models with the expected structure and clear errors.

The edited models are solved numerically elsewhere: ``add_peripheral`` in the
closed-form vs ODE and sensitivity tests, ``add_lag`` in the steady-state
tests and ``set_elimination`` in the sensitivity, steady-state and ODE tests.
Here the structure is checked symbolically (nothing is jit-compiled).
"""

from __future__ import annotations

import pytest
import sympy as sp
from cmt_helpers import oral_iv_1cmt

import compartments
from compartments import ExpressionError, Model, ModelError, compile_model
from compartments.edits import add_lag, add_peripheral, add_transit, set_elimination
from compartments.expressions import symbol
from compartments.symbolic import build_system


def iv_model() -> Model:
    return (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
            .dose("central").output("Cc", "central / V"))


def rhs(model: Model) -> sp.Matrix:
    return build_system(model).rhs


def same_dynamics(a: Model, b: Model) -> bool:
    return (a.compartment_names == b.compartment_names
            and sp.simplify(rhs(a) - rhs(b)) == sp.zeros(len(a.compartments), 1))


def test_edits_are_exported_from_the_package() -> None:
    for name in ("add_peripheral", "add_transit", "add_lag", "set_elimination"):
        assert name in compartments.__all__
        assert callable(getattr(compartments, name))


# -------------------------------------------------------------- add_peripheral
def test_add_peripheral_matches_a_hand_built_two_compartment_model() -> None:
    base = oral_iv_1cmt()
    edited = add_peripheral(base)
    by_hand = (Model("by_hand").compartment("depot").compartment("central", volume="V")
               .compartment("peripheral1", volume="V2")
               .flow("depot", "central", k="KA").elimination("central", cl="CL")
               .flow("central", "peripheral1", k="Q / V")
               .flow("peripheral1", "central", k="Q / V2")
               .dose("depot").output("Cc", "central / V"))
    assert same_dynamics(edited, by_hand)
    assert set(edited.parameter_names) == {"V", "V2", "KA", "CL", "Q"}
    assert base.compartment_names == ("depot", "central")  # the original is unchanged
    assert compile_model(edited).kind == "linear"


def test_add_peripheral_twice_needs_new_parameters() -> None:
    two = add_peripheral(iv_model())
    with pytest.raises(ModelError, match="volume 'V2' is already the volume of compartment "
                                         "'peripheral1'.*volume='V3', q='Q3'"):
        add_peripheral(two)
    three = add_peripheral(two, q="Q3", volume="V3")
    assert three.compartment_names == ("central", "peripheral1", "peripheral2")
    assert {"Q", "Q3", "V2", "V3"} <= set(three.parameter_names)
    named = add_peripheral(iv_model(), name="tissue", q="QT", volume="VT")
    assert named.get_compartment("tissue").volume == symbol("VT")


def test_add_peripheral_errors() -> None:
    with pytest.raises(ModelError, match="no compartment 'centre'"):
        add_peripheral(iv_model(), central="centre")
    with pytest.raises(ModelError, match="compartment 'depot' has no volume"):
        add_peripheral(oral_iv_1cmt(), central="depot")
    with pytest.raises(ModelError, match="already has a compartment 'central'"):
        add_peripheral(oral_iv_1cmt(), name="central")
    with pytest.raises(ExpressionError, match="unknown function 'system'"):
        add_peripheral(iv_model(), q="system('ls')")


# ----------------------------------------------------------------- add_transit
def test_add_transit_chain_and_dosing() -> None:
    base = add_lag(oral_iv_1cmt().dose("depot", f="F1", lag="ALAG1"), "depot", "TLAG")
    edited = add_transit(base, 3, ktr="KTR")
    assert edited.compartment_names == ("transit1", "transit2", "transit3", "depot", "central")
    dosing = {d.compartment: d for d in edited.dosing}
    assert set(dosing) == {"transit1", "central"}
    assert dosing["transit1"].bioavailability == symbol("F1")
    assert dosing["transit1"].lag == symbol("TLAG")
    KTR, KA, CL, V = (symbol(n) for n in ("KTR", "KA", "CL", "V"))
    T1, T2, T3, DEPOT, CENTRAL = (symbol(n) for n in edited.compartment_names)
    expected = sp.Matrix([-KTR * T1, KTR * (T1 - T2), KTR * (T2 - T3), KTR * T3 - KA * DEPOT,
                          KA * DEPOT - CL * CENTRAL / V])
    assert sp.simplify(rhs(edited) - expected) == sp.zeros(5, 1)
    assert compile_model(edited).kind == "linear"
    assert base.compartment_names == ("depot", "central")


def test_add_transit_accepts_an_expression_for_ktr() -> None:
    edited = add_transit(oral_iv_1cmt(), 2, ktr="(NTR + 1) / MTT")
    assert {"NTR", "MTT"} <= set(edited.parameter_names)
    assert "KTR" not in edited.parameter_names


@pytest.mark.parametrize("n", [0, -2, 2.5, True, "3"])
def test_add_transit_needs_a_positive_integer(n: object) -> None:
    with pytest.raises(ModelError, match="n must be a positive integer"):
        add_transit(oral_iv_1cmt(), n)  # type: ignore[arg-type]


def test_add_transit_errors() -> None:
    with pytest.raises(ModelError, match="no compartment 'gut'"):
        add_transit(oral_iv_1cmt(), 2, into="gut")
    not_dosed = add_peripheral(oral_iv_1cmt())
    with pytest.raises(ModelError, match="'peripheral1' is not a dosing target.*"
                                         r"\.dose\('peripheral1'\)"):
        add_transit(not_dosed, 2, into="peripheral1")
    with pytest.raises(ModelError, match="already has transit compartments"):
        add_transit(add_transit(oral_iv_1cmt(), 2), 2, into="transit1")


# --------------------------------------------------------------------- add_lag
def test_add_lag_sets_and_replaces_the_lag() -> None:
    edited = add_lag(oral_iv_1cmt(), "depot")
    assert edited.get_dosing("depot").lag == symbol("ALAG1")
    assert edited.get_dosing("central").lag == 0
    assert "ALAG1" in edited.parameter_names
    again = add_lag(edited, "depot", "TLAG * 2")
    assert again.get_dosing("depot").lag == 2 * symbol("TLAG")
    assert "ALAG1" not in again.parameter_names
    assert [d.compartment for d in again.dosing] == ["depot", "central"]  # order kept


def test_add_lag_errors() -> None:
    with pytest.raises(ModelError, match="no compartment 'gut'"):
        add_lag(oral_iv_1cmt(), "gut")
    with pytest.raises(ModelError, match="'peripheral1' is not a dosing target"):
        add_lag(add_peripheral(oral_iv_1cmt()), "peripheral1")
    with pytest.raises(ModelError, match=r"uses \['central'\]; a lag time is a parameter"):
        add_lag(oral_iv_1cmt(), "depot", "central / 10")


# ------------------------------------------------------------- set_elimination
def test_switch_to_michaelis_menten_and_back() -> None:
    base = oral_iv_1cmt()
    mm = set_elimination(base, "michaelis-menten")
    VM, KM, V, CENTRAL, DEPOT, KA = (symbol(n) for n in ("VM", "KM", "V", "central", "depot",
                                                         "KA"))
    conc = CENTRAL / V
    assert sp.simplify(rhs(mm)[1] - (KA * DEPOT - VM * conc / (KM + conc))) == 0
    assert set(mm.parameter_names) == {"V", "KA", "VM", "KM"}
    assert compile_model(mm).kind == "ode"
    assert set_elimination(mm, "linear") == base  # the round trip restores the model
    assert compile_model(set_elimination(mm, "linear")).kind == "closed_form"


@pytest.mark.parametrize("kind", ["mm", "MM", "Michaelis-Menten", "saturable"])
def test_michaelis_menten_spellings(kind: str) -> None:
    assert set_elimination(iv_model(), kind) == set_elimination(iv_model(), "michaelis-menten")


def test_set_elimination_custom_names_and_position() -> None:
    m = add_peripheral(iv_model())
    mm = set_elimination(m, "mm", vm="VMAX", km="KM50")
    assert {"VMAX", "KM50"} <= set(mm.parameter_names)
    assert mm.flows[0].target is None and mm.flows[0].source == "central"  # same place
    both = mm.elimination("central", cl="CLNS")  # parallel linear + saturable elimination
    single = set_elimination(both, "linear", cl="CL")
    assert sum(f.target is None for f in single.flows) == 1
    assert same_dynamics(single, m)


def test_set_elimination_errors() -> None:
    with pytest.raises(ModelError, match="unknown elimination kind 'zero-order'"):
        set_elimination(iv_model(), "zero-order")
    with pytest.raises(ModelError, match="no compartment 'centre'"):
        set_elimination(iv_model(), "mm", compartment="centre")
    with pytest.raises(ModelError, match="'depot' has no volume"):
        set_elimination(oral_iv_1cmt(), "mm", compartment="depot")
    with pytest.raises(ModelError, match=r"has no elimination to switch.*\.elimination"):
        set_elimination(add_peripheral(iv_model()), "mm", compartment="peripheral1")


def test_composed_edits() -> None:
    m = set_elimination(add_lag(add_transit(add_peripheral(oral_iv_1cmt()), 2), "transit1"),
                        "mm")
    assert m.compartment_names == ("transit1", "transit2", "depot", "central", "peripheral1")
    assert {"VM", "KM", "Q", "V2", "KTR", "ALAG1"} <= set(m.parameter_names)
    assert compile_model(m).kind == "ode"
