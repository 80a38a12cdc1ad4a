"""popkin's Tsit5 integrator against exact solutions and against diffrax's Tsit5.

- Exact: y' = -k y (and its backward solve), and the two-state oral absorption system,
  whose closed form is the Bateman function, to the tolerance asked.
- diffrax: the same method and step control as ``diffrax.Tsit5`` with ``PIDController``,
  so on a Michaelis-Menten system both agree to the tolerance (not bit for bit: the
  arithmetic is ordered differently).
- Failure: more than ``max_steps`` steps gives NaN; an empty interval returns the state.
- Step control on part of the state: with ``control`` on the first leaf, a second leaf
  carried along (as the sensitivities are) does not change the steps, so it may be far
  less accurate than the controlled one (here a decay 200 times faster).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import compartments  # noqa: F401  (float64)
from compartments.tsit5 import integrate_tsit5


def decay(t, y, k):  # type: ignore[no-untyped-def]
    return -k * y


def oral(t, y, p):  # type: ignore[no-untyped-def]
    ka, ke = p
    return jnp.stack([-ka * y[0], ka * y[0] - ke * y[1]])


def michaelis_menten(t, y, p):  # type: ignore[no-untyped-def]
    ka, v, vm, km = p
    c = y[1] / v
    return jnp.stack([-ka * y[0], ka * y[0] - vm * c / (km + c)])


@pytest.mark.parametrize("rtol", [1e-6, 1e-9])
def test_decay_forwards_and_backwards(rtol: float) -> None:
    y1 = integrate_tsit5(decay, jnp.array([2.0]), 0.5, 10.5, 0.7, rtol=rtol, atol=rtol * 1e-3)
    assert float(y1[0]) == pytest.approx(2.0 * np.exp(-7.0), rel=20 * rtol)
    back = integrate_tsit5(decay, jnp.array([2.0]), 3.0, 1.0, 0.7, rtol=rtol, atol=rtol * 1e-3)
    assert float(back[0]) == pytest.approx(2.0 * np.exp(1.4), rel=20 * rtol)


def test_oral_absorption_matches_the_bateman_function() -> None:
    ka, ke, dose = 1.5, 0.1, 100.0
    solve = jax.jit(jax.vmap(lambda t1: integrate_tsit5(oral, jnp.array([dose, 0.0]), 0.0, t1,
                                                        jnp.array([ka, ke]), rtol=1e-9, atol=1e-12)))
    times = np.array([0.1, 0.5, 1.0, 2.0, 6.0, 24.0, 72.0])
    y = np.asarray(solve(jnp.asarray(times)))
    bateman = dose * ka / (ka - ke) * (np.exp(-ke * times) - np.exp(-ka * times))
    np.testing.assert_allclose(y[:, 0], dose * np.exp(-ka * times), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(y[:, 1], bateman, rtol=1e-7)


def test_agrees_with_diffrax_tsit5_on_michaelis_menten() -> None:
    import diffrax

    p = jnp.array([1.2, 70.0, 1000.0, 250.0])
    y0 = jnp.array([10000.0, 0.0])
    rtol, atol = 1e-8, 1e-11
    ours = integrate_tsit5(michaelis_menten, y0, 0.0, 48.0, p, rtol=rtol, atol=atol)
    sol = diffrax.diffeqsolve(diffrax.ODETerm(michaelis_menten), diffrax.Tsit5(), 0.0, 48.0, None, y0,
                              args=p, stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
                              max_steps=100_000)
    # the depot is empty by 48 h (1e-16, below atol): compared absolutely
    np.testing.assert_allclose(np.asarray(ours), np.asarray(sol.ys[-1]), rtol=1e-6, atol=1e-9)
    tight = integrate_tsit5(michaelis_menten, y0, 0.0, 48.0, p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(tight), rtol=1e-6, atol=1e-9)


def test_too_many_steps_give_nan_and_an_empty_interval_returns_the_state() -> None:
    y = integrate_tsit5(decay, jnp.array([1.0]), 0.0, 100.0, 50.0, rtol=1e-10, atol=1e-14, max_steps=5)
    assert np.isnan(float(y[0]))
    same = integrate_tsit5(decay, jnp.array([3.0]), 2.0, 2.0, 1.0, rtol=1e-9, atol=1e-12)
    assert float(same[0]) == 3.0


def test_only_the_controlled_leaf_decides_the_steps() -> None:
    def pair(t, y, k):  # type: ignore[no-untyped-def]
        slow, fast = y
        return -k * slow, -200.0 * k * fast

    y0 = (jnp.array([1.0]), jnp.array([1.0]))
    slow, fast = integrate_tsit5(pair, y0, 0.0, 0.02, 1.0, rtol=1e-9, atol=1e-12,
                                 control=lambda y: y[0])
    assert float(slow[0]) == pytest.approx(np.exp(-0.02), rel=1e-9)
    # the fast leaf rides on the few steps the slow one needs: far from exp(-4) = 0.018
    assert abs(float(fast[0]) - np.exp(-4.0)) > 1e-2
    # with both leaves controlled the fast one is accurate too
    both = integrate_tsit5(pair, y0, 0.0, 0.02, 1.0, rtol=1e-9, atol=1e-12,
                           control=lambda y: jnp.concatenate(y))
    assert float(both[1][0]) == pytest.approx(np.exp(-4.0), rel=1e-7)
