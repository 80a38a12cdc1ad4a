"""JAX settings applied by popkin: float64, and the guard against exhausting the process's
memory mappings with compiled programs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from compartments.jax_config import map_count_fraction, release_compiled_programs


def test_float64_is_enabled() -> None:
    assert jnp.zeros(1).dtype == jnp.float64


def test_map_count_fraction_reads_this_process() -> None:
    fraction = map_count_fraction()
    assert 0.0 < fraction < 1.0   # on Linux: some mappings, below vm.max_map_count


def test_released_programs_recompile_to_the_same_result() -> None:
    f = jax.jit(lambda x: jnp.cumsum(jnp.exp(-x) * x))
    x = jnp.linspace(0.0, 3.0, 7)
    before = np.asarray(f(x))
    assert f._cache_size() == 1
    assert release_compiled_programs(threshold=2.0) is False   # far from the limit: kept
    assert f._cache_size() == 1
    assert release_compiled_programs(threshold=0.0) is True
    assert f._cache_size() == 0
    np.testing.assert_array_equal(np.asarray(f(x)), before)
