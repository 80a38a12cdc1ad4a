"""Compartment graphs: building, symbolic systems, linearity and compiled functions.

Nothing here is jit-compiled; the compiled functions are evaluated eagerly.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from cmt_helpers import oral_iv_1cmt

from compartments import Model, ModelError, compile_model
from compartments.edits import add_peripheral, set_elimination
from compartments.expressions import symbol
from compartments.symbolic import build_system

KA, CL, V, DEPOT, CENTRAL = (symbol(n) for n in ("KA", "CL", "V", "depot", "central"))


def iv_model() -> Model:
    return (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
            .dose("central").output("Cc", "central / V"))


def test_builder_returns_new_models_and_leaves_the_original_alone() -> None:
    base = Model("m").compartment("central", volume="V")
    extended = base.elimination("central", cl="CL")
    assert base.flows == ()
    assert len(extended.flows) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        extended.name = "other"  # type: ignore[misc]
    assert oral_iv_1cmt() == oral_iv_1cmt()
    assert hash(oral_iv_1cmt()) == hash(oral_iv_1cmt())


def test_names_and_parameters() -> None:
    m = oral_iv_1cmt()
    assert m.compartment_names == ("depot", "central")
    assert m.output_names == ("Cc",)
    assert m.parameter_names == ("V", "KA", "CL")
    assert [d.compartment for d in m.dosing] == ["depot", "central"]
    pd_model = m.parameters("EMAX", "EC50").output("E", "EMAX * C_central / (EC50 + C_central)")
    assert pd_model.parameter_names == ("V", "KA", "CL", "EMAX", "EC50")


def test_flow_forms_resolve_to_amounts() -> None:
    m = (Model().compartment("depot").compartment("central", volume="V")
         .compartment("peripheral1", volume="V2")
         .flow("depot", "central", k="KA")
         .flow("central", "peripheral1", cl="Q")
         .flow("peripheral1", "central", rate="Q * C_peripheral1")
         .elimination("central", rate="VM * C / (KM + C)")
         .dose("depot").output("Cc", "C_central"))
    system = build_system(m)
    Q, V2, VM, KM, P1 = (symbol(n) for n in ("Q", "V2", "VM", "KM", "peripheral1"))
    expected = sp.Matrix([
        -KA * DEPOT,
        KA * DEPOT - Q * CENTRAL / V + Q * P1 / V2 - VM * (CENTRAL / V) / (KM + CENTRAL / V),
        Q * CENTRAL / V - Q * P1 / V2,
    ])
    assert sp.simplify(system.rhs - expected) == sp.zeros(3, 1)
    assert sp.simplify(system.outputs[0] - CENTRAL / V) == 0
    assert not system.is_linear


def test_symbolic_system_of_the_oral_model() -> None:
    system = build_system(oral_iv_1cmt())
    assert system.rhs == sp.Matrix([-KA * DEPOT, KA * DEPOT - CL * CENTRAL / V])
    assert system.jacobian == sp.Matrix([[-KA, 0], [KA, -CL / V]])
    # dfdp columns follow the parameter order (V, KA, CL)
    assert sp.simplify(system.dfdp - sp.Matrix([[0, -DEPOT, 0],
                                                [CL * CENTRAL / V**2, DEPOT, -CENTRAL / V]])) \
        == sp.zeros(2, 3)
    assert system.sensitivity_rhs.shape == (2, 3)
    assert system.linear_matrix == system.jacobian
    assert list(system.bioavailability) == [1, 1]
    assert list(system.lag) == [0, 0]
    assert all(v is sp.nan for v in system.rate)


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        (iv_model(), "closed_form"),
        (oral_iv_1cmt(), "closed_form"),
        (add_peripheral(oral_iv_1cmt()), "linear"),
        (add_peripheral(iv_model()), "linear"),
        (set_elimination(oral_iv_1cmt(), "mm"), "ode"),
    ],
    ids=["iv", "oral", "oral_2cmt", "iv_2cmt", "oral_mm"],
)
def test_solution_path_is_chosen_by_structure(model: Model, kind: str) -> None:
    assert compile_model(model).kind == kind


@pytest.mark.parametrize(
    "flow",
    [{"rate": "K0"}, {"rate": "KEL * central * exp(-t / TAU)"}, {"rate": "KEL * central**2"}],
    ids=["constant_term", "time_dependent", "quadratic"],
)
def test_nonlinear_or_nonautonomous_flows_are_not_linear(flow: dict[str, str]) -> None:
    m = (Model().compartment("central", volume="V").elimination("central", **flow)
         .dose("central").output("Cc", "central / V"))
    assert build_system(m).linear_matrix is None
    assert compile_model(m).kind == "ode"


def test_dose_event_parameters_are_compiled_per_state() -> None:
    m = (Model().compartment("depot").compartment("central", volume="V")
         .flow("depot", "central", k="KA").elimination("central", cl="CL")
         .dose("depot", f="F1", lag="ALAG1").dose("central", rate="R1", duration="D1")
         .output("Cc", "central / V"))
    cm = compile_model(m)
    p = cm.param_vector({"V": 10.0, "KA": 1.0, "CL": 2.0, "F1": 0.5, "ALAG1": 0.25,
                         "R1": 7.0, "D1": 3.0})
    dose = np.asarray(cm.dose_parameters(p))
    np.testing.assert_array_equal(dose[0, :2], [0.5, 0.25])
    assert np.isnan(dose[0, 2:]).all()
    np.testing.assert_array_equal(dose[1], [1.0, 0.0, 7.0, 3.0])


def test_compiled_functions_evaluate_the_symbolic_system() -> None:
    cm = compile_model(oral_iv_1cmt())
    p = cm.param_vector({"KA": 1.5, "CL": 2.0, "V": 10.0})
    A = jnp.asarray([100.0, 20.0])
    np.testing.assert_allclose(cm.rhs(A, p, 0.0), [-150.0, 150.0 - 4.0])
    np.testing.assert_allclose(cm.jacobian(A, p, 0.0), [[-1.5, 0.0], [1.5, -0.2]])
    np.testing.assert_allclose(cm.outputs(A, p, 0.0), [2.0])
    np.testing.assert_allclose(cm.linear_matrix(p), [[-1.5, 0.0], [1.5, -0.2]])
    # closed form at dt = 0 returns the initial state
    np.testing.assert_allclose(cm.closed_form(A, jnp.zeros(2), 0.0, p), A)


def test_compile_model_is_cached_per_model() -> None:
    assert compile_model(oral_iv_1cmt()) is compile_model(oral_iv_1cmt())


def test_param_vector_names_missing_values() -> None:
    cm = compile_model(oral_iv_1cmt())
    with pytest.raises(KeyError, match="CL"):
        cm.param_vector({"KA": 1.0, "V": 10.0})


def test_output_only_parameters_must_be_declared() -> None:
    with pytest.raises(ModelError, match="undefined symbol 'EMAX'"):
        oral_iv_1cmt().output("E", "EMAX * C_central").validate()
    with pytest.raises(ModelError, match="output 'E' uses output 'Cc'"):
        oral_iv_1cmt().parameters("EMAX").output("E", "EMAX * Cc").validate()
    oral_iv_1cmt().parameters("EMAX").output("E", "EMAX * C_central").validate()
