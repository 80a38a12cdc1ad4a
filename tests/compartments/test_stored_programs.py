"""Stored programs: a new process (here a new StoredJit) reuses the traced program from disk,
gets bit-identical results, and never reuses a program across different keys or shapes."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

from compartments import stored_programs
from compartments.stored_programs import StoredJit


class Pair(NamedTuple):
    total: jnp.ndarray
    scaled: jnp.ndarray


@pytest.fixture
def store(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POPKIN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("POPKIN_NO_STORED_PROGRAMS", raising=False)
    monkeypatch.delenv("POPKIN_NO_COMPILE_CACHE", raising=False)
    return tmp_path / "programs"


def _counting(traces: list[int], factor: float):  # type: ignore[no-untyped-def]
    def fn(x, rec):  # type: ignore[no-untyped-def]
        traces.append(1)   # runs only while JAX traces the function
        return Pair(jnp.sum(x * rec["w"]), factor * x)
    return fn


def test_second_instance_loads_program_without_tracing(store) -> None:  # type: ignore[no-untyped-def]
    x, rec = jnp.arange(3.0), {"w": jnp.asarray([1.0, 2.0, 3.0])}
    traces: list[int] = []
    first = StoredJit(_counting(traces, 2.0), name="test.pair", key=("a",))
    out1 = first(x, rec)
    assert len(traces) == 1 and len(list(store.glob("test.pair-*.bin"))) == 1
    # a fresh instance with the same name and key stands for a new process
    second = StoredJit(_counting(traces, 2.0), name="test.pair", key=("a",))
    out2 = second(x, rec)
    assert len(traces) == 1, "the stored program was traced again"
    assert isinstance(out2, Pair)
    np.testing.assert_array_equal(np.asarray(out1.scaled), np.asarray(out2.scaled))
    assert float(out2.total) == 8.0


def test_key_and_shape_select_distinct_programs(store) -> None:  # type: ignore[no-untyped-def]
    rec = {"w": jnp.ones(3)}
    traces: list[int] = []
    a = StoredJit(_counting(traces, 2.0), name="test.pair", key=("a",))
    b = StoredJit(_counting(traces, 3.0), name="test.pair", key=("b",))
    assert float(a(jnp.ones(3), rec).scaled[0]) == 2.0
    assert float(b(jnp.ones(3), rec).scaled[0]) == 3.0     # not a's program
    assert a(jnp.ones(4), {"w": jnp.ones(4)}).scaled.shape == (4,)
    assert len(traces) == 3 and len(list(store.glob("*.bin"))) == 3


def test_unreadable_file_is_replaced(store) -> None:  # type: ignore[no-untyped-def]
    traces: list[int] = []
    x, rec = jnp.ones(2), {"w": jnp.ones(2)}
    StoredJit(_counting(traces, 2.0), name="test.pair", key=())(x, rec)
    (path,) = store.glob("*.bin")
    path.write_bytes(b"truncated")
    again = StoredJit(_counting(traces, 2.0), name="test.pair", key=())
    assert float(again(x, rec).total) == 2.0
    assert len(traces) == 2
    third = StoredJit(_counting(traces, 2.0), name="test.pair", key=())
    assert float(third(x, rec).total) == 2.0 and len(traces) == 2   # rewritten, loads again


def test_store_off_traces_as_jit(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POPKIN_NO_STORED_PROGRAMS", "1")
    traces: list[int] = []
    fn = StoredJit(_counting(traces, 2.0), name="test.pair", key=())
    assert float(fn(jnp.ones(2), {"w": jnp.ones(2)}).total) == 2.0
    assert not store.exists()


def test_code_version_covers_source_and_dependencies() -> None:
    version = stored_programs.code_version()
    assert len(version) == 64 and version == stored_programs.code_version()
