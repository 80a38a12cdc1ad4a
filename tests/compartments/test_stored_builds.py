"""Stored model builds: a new process (here a fresh compile without the in-memory cache) reads
the sympy build from disk instead of building again, and gets identical functions; a damaged
file or another model's file is never used."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from compartments import compiled, stored_builds
from compartments.compiled import compile_model
from compartments.graph import Model


@pytest.fixture
def store(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POPKIN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("POPKIN_NO_STORED_PROGRAMS", raising=False)
    monkeypatch.delenv("POPKIN_NO_COMPILE_CACHE", raising=False)
    compile_model.cache_clear()
    yield tmp_path / "programs"
    compile_model.cache_clear()


def mm_model(name: str = "mm") -> Model:
    """An ODE model: saturable elimination, absorption lag."""
    return (Model(name).compartment("depot").compartment("central", volume="V")
            .flow("depot", "central", k="KA").elimination("central", rate="VM * C / (KM + C)")
            .dose("depot", lag="ALAG").output("Cc", "central / V"))


def _evaluate(cm: compiled.CompiledModel) -> list[np.ndarray]:
    a, t = jnp.asarray([3.0, 2.0]), jnp.asarray(1.5)
    p = jnp.asarray([1.2, 0.3, 10.0, 5.0, 2.0])[: cm.n_params]
    s = jnp.linspace(0.1, 1.0, cm.n_states * cm.n_params)  # S_i_j, state-major
    return [np.asarray(cm.rhs(a, p, t)), np.asarray(cm.jacobian(a, p, t)),
            np.asarray(cm.sensitivity_rhs(a, s, p, t)), np.asarray(cm.outputs(a, p, t)),
            np.asarray(cm.dose_parameters(p))]


def test_second_compile_reads_the_build_and_gives_identical_functions(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = mm_model()
    first = compile_model(model)
    assert [p.name for p in store.glob("model-*.pkl")] == [stored_builds.path(model).name]
    compile_model.cache_clear()
    builds: list[Model] = []
    monkeypatch.setattr(compiled, "build_model", lambda m: builds.append(m))
    second = compile_model(model)
    assert builds == [], "the stored build was not used"
    assert second.kind == first.kind == "ode" and second.param_names == first.param_names
    for x, y in zip(_evaluate(first), _evaluate(second), strict=True):
        np.testing.assert_array_equal(x, y)


def test_closed_form_and_linear_builds_round_trip(store) -> None:  # type: ignore[no-untyped-def]
    one = (Model("one").compartment("central", volume="V").elimination("central", cl="CL")
           .dose("central").output("Cc", "central / V"))
    two = (Model("two").compartment("central", volume="V").compartment("peripheral", volume="V2")
           .flow("central", "peripheral", cl="Q").flow("peripheral", "central", cl="Q")
           .elimination("central", cl="CL").dose("central").output("Cc", "central / V"))
    fresh = [compile_model(one), compile_model(two)]
    compile_model.cache_clear()
    loaded = [compile_model(one), compile_model(two)]
    p1, p2 = jnp.asarray([2.0, 30.0]), jnp.asarray([2.0, 30.0, 3.0, 50.0])
    a0, r = jnp.asarray([100.0]), jnp.asarray([0.0])
    np.testing.assert_array_equal(np.asarray(fresh[0].closed_form(a0, r, 1.5, p1)),
                                  np.asarray(loaded[0].closed_form(a0, r, 1.5, p1)))
    np.testing.assert_array_equal(np.asarray(fresh[0].closed_form_derivative(a0, r, 1.5, p1)),
                                  np.asarray(loaded[0].closed_form_derivative(a0, r, 1.5, p1)))
    assert loaded[1].kind == "linear"
    np.testing.assert_array_equal(np.asarray(fresh[1].linear_eigenvalues(p2)),
                                  np.asarray(loaded[1].linear_eigenvalues(p2)))


def test_damaged_or_foreign_file_is_rebuilt(store) -> None:  # type: ignore[no-untyped-def]
    model, other = mm_model("a"), mm_model("b")
    compile_model(model)
    path = stored_builds.path(model)
    path.write_bytes(b"not a pickle")
    assert stored_builds.load(model) is None
    compile_model.cache_clear()
    assert compile_model(model).kind == "ode"           # built again, file rewritten
    assert stored_builds.load(model) is not None
    compile_model(other)
    path.write_bytes(stored_builds.path(other).read_bytes())  # b's build under a's name
    assert stored_builds.load(model) is None


def test_store_off_builds_every_time(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POPKIN_NO_STORED_PROGRAMS", "1")
    compile_model(mm_model())
    assert not list(store.glob("model-*.pkl"))
