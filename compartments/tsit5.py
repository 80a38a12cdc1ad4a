"""Tsitouras' 5(4) Runge-Kutta pair in one lean ``lax.while_loop``: popkin's default ODE integrator.

``integrate_tsit5(field, y0, t0, t1, args, ...)`` solves dy/dt = field(t, y, args) from t0 to
t1 (backwards when t1 < t0) with adaptive steps and returns y(t1); a solve that needs more
than ``max_steps`` steps, or whose state becomes non-finite, returns NaN.

It is the method of ``diffrax.Tsit5`` with an integral step-size controller (the defaults of
``diffrax.PIDController``: safety 0.9, factors 0.2-10, no growth after a rejected step), the
starting step of Hairer, Norsett & Wanner (Solving ODEs I, II.4), and the error measured on
part of the state only (``control``: popkin controls the steps on the amounts and lets the
sensitivities ride on them). Written out by hand because popkin's solves are many tiny
systems (2-10 states) vmapped over subjects, where the cost of a step is the loop's own
bookkeeping: a step here costs about a fifth of a ``diffrax.diffeqsolve`` step
(benchmarks/compartments_bench.py, case (b)).

The state may be any pytree (the JVP of the integrator solves the pair (y, dy)); only the
leaves that ``control`` returns decide the steps, so under ``jax.vmap`` over tangent
directions the step sequence stays shared (unbatched).

Examples
--------
>>> import jax.numpy as jnp
>>> decay = lambda t, y, k: -k * y
>>> y1 = integrate_tsit5(decay, jnp.array([1.0]), 0.0, 2.0, 0.5, rtol=1e-10, atol=1e-12)
>>> bool(jnp.abs(y1[0] - jnp.exp(-1.0)) < 1e-9)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jnp.ndarray
PyTree = Any

# Tsitouras (2011), "Runge-Kutta pairs of order 5(4) satisfying only the first column
# simplifying assumption", Comput. Math. Appl. 62:770; coefficients as in diffrax's Tsit5.
_C = np.array([0.0, 0.161, 0.327, 0.9, 0.98002554090450968572981028628702459549421379795630247688547, 1.0])
_A = (
    (),
    (0.161,),
    (-0.008480655492356988544426874250230774675121177393430391537369234245294192976164,
     0.3354806554923569885444268742502307746751211773934303915373692342452941929761641),
    (2.897153057105493432130432594192938764924887287701866490314866693455023795137503,
     -6.359448489975074843148159912383825625952700647415626703305928850207288721235210,
     4.362295432869581411017727318190886861027813359713760212991062156752264926097707),
    (5.325864828439256604428877920840511317836476253097040101202360397727981648835607,
     -11.74888356406282787774717033978577296188744178259862899288666928009020615663593,
     7.495539342889836208304604784564358155658679161518186721010132816213648793440552,
     -0.09249506636175524925650207933207191611349983406029535244034750452930469056411389),
    (5.861455442946420028659251486982647890394337666164814434818157239052507339770711,
     -12.92096931784710929170611868178335939541780751955743459166312250439928519268343,
     8.159367898576158643180400794539253485181918321135053305748355423955009222648673,
     -0.07158497328140099722453054252582973869127213147363544882721139659546372402303777,
     -0.02826905039406838290900305721271224146717633626879770007617876201276764571291579),
)
_B = np.array([
    0.09646076681806522951816731316512876333711995238157997181903319145764851595234062815,
    0.01,
    0.4798896504144995747752495322905965199130404621990332488332634944254542060153074523,
    1.379008574103741893192274821856872770756462643091360525934940067397245698027561293,
    -3.290069515436080679901047585711363850115683290894936158531296799594813811049925401,
    2.324710524099773982415355918398765796109060233222962411944060046314465391054716027,
])
# b - b_hat (the embedded fourth-order solution); the last weight multiplies f(t1, y1) (FSAL)
_E = np.array([
    _B[0] - 0.09468075576583945807478876255758922856117527357724631226139574065785592789071067,
    _B[1] - 0.009183565540343253096776363936645313759813746240984095238905939532922955247253608,
    _B[2] - 0.4877705284247615707855642599631228241516691959761363774365216240304071651579571959,
    _B[3] - 1.234297566930478985655109673884237654035539930748192848315425833500484878378061439,
    _B[4] + 2.707712349983525454881109975059321670689605166938197378763992255714444407154902012,
    _B[5] - 1.866628418170587035753719399566211498666255505244122593996591602841258328965767580,
    -1 / 66,
])
SAFETY, FACTOR_MIN, FACTOR_MAX = 0.9, 0.2, 10.0
#: exponent of the step-size update and the starting step: 1 / (order + 1), as diffrax's
#: PIDController for Runge-Kutta methods
_EXPONENT = 1.0 / 6.0


def _combine(y: PyTree, h: Array, ks: list[PyTree], weights) -> PyTree:  # type: ignore[no-untyped-def]
    """y + h * sum_j weights[j] * ks[j], leaf by leaf (zero weights skipped)."""
    def leaf(y_leaf, *k_leaves):  # type: ignore[no-untyped-def]
        total = None
        for w, k in zip(weights, k_leaves, strict=True):
            if w != 0.0:
                term = float(w) * k
                total = term if total is None else total + term
        return y_leaf if total is None else y_leaf + h * total

    return jax.tree_util.tree_map(leaf, y, *ks)


def integrate_tsit5(
    field: Callable[[Array, PyTree, Any], PyTree],
    y0: PyTree,
    t0: Array,
    t1: Array,
    args: Any,
    *,
    rtol: float,
    atol: float,
    max_steps: int = 100_000,
    control: Callable[[PyTree], Array] | None = None,
) -> PyTree:
    """y(t1) for dy/dt = field(t, y, args), y(t0) = y0 (pure, jit/vmap-able).

    Parameters
    ----------
    field
        The vector field ``field(t, y, args)``, returning a pytree like ``y``.
    y0, t0, t1, args
        Initial state, interval (``t1 < t0`` integrates backwards; ``t1 == t0`` returns
        ``y0``) and the field's extra arguments.
    rtol, atol
        Tolerances: a step is accepted when the RMS over the controlled components of
        error / (atol + rtol * max(|y|, |y_new|)) is at most 1.
    max_steps
        Attempted steps allowed; beyond them the result is NaN.
    control
        The components that control the steps (a 1-d array from the state); default: the
        first leaf of ``y``, flattened.

    Returns
    -------
    PyTree
        The state at ``t1``, NaN where the solve failed.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> growth = lambda t, y, r: r * y
    >>> float(integrate_tsit5(growth, jnp.array([1.0]), 1.0, 0.0, 1.0, rtol=1e-9, atol=1e-12)[0])
    0.36787944...
    """
    control = control or (lambda y: jnp.ravel(jax.tree_util.tree_leaves(y)[0]))
    t0 = jnp.asarray(t0, dtype=float)
    t1 = jnp.asarray(t1, dtype=float)
    direction = jnp.where(t1 < t0, -1.0, 1.0)
    span = jnp.abs(t1 - t0)

    def g(s: Array, y: PyTree) -> PyTree:   # the field in the forward variable s = |t - t0|
        return jax.tree_util.tree_map(lambda v: direction * v, field(t0 + direction * s, y, args))

    def scaled_norm(err: Array, y: Array, y_new: Array) -> Array:
        scale = atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y_new))
        return jnp.sqrt(jnp.mean((err / scale) ** 2))

    f0 = g(jnp.zeros(()), y0)
    # starting step (Hairer, Norsett & Wanner, II.4), on the controlled components
    c0, d_f0 = control(y0), control(f0)
    scale0 = atol + rtol * jnp.abs(c0)
    d0 = jnp.sqrt(jnp.mean((c0 / scale0) ** 2))
    d1 = jnp.sqrt(jnp.mean((d_f0 / scale0) ** 2))
    small = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = jnp.where(small, 1e-6, 0.01 * d0 / jnp.where(small, 1.0, d1))
    f_probe = g(h0, _combine(y0, h0, [f0], [1.0]))
    d2 = jnp.sqrt(jnp.mean(((control(f_probe) - d_f0) / scale0) ** 2)) / h0
    d_max = jnp.maximum(d1, d2)
    flat = d_max <= 1e-15
    h1 = jnp.where(flat, jnp.maximum(1e-6, h0 * 1e-3), (0.01 / jnp.where(flat, 1.0, d_max)) ** _EXPONENT)
    h_start = jnp.minimum(jnp.minimum(100 * h0, h1), jnp.where(span > 0, span, 1.0))

    def cond(state):  # type: ignore[no-untyped-def]
        s, _, _, _, n = state
        return (s < span) & (n < max_steps)

    def body(state):  # type: ignore[no-untyped-def]
        s, y, h, k1, n = state
        last = h >= span - s
        h = jnp.where(last, span - s, h)
        ks = [k1]
        for i in range(1, 6):
            ks.append(g(s + _C[i] * h, _combine(y, h, ks, _A[i])))
        y_new = _combine(y, h, ks, _B)
        k7 = g(s + h, y_new)
        err = h * sum(float(w) * control(k) for w, k in zip(_E, [*ks, k7], strict=True))
        c_old, c_new = control(y), control(y_new)
        ratio = scaled_norm(err, c_old, c_new)
        finite = jnp.all(jnp.isfinite(c_new)) & jnp.isfinite(ratio)
        accept = finite & (ratio <= 1.0)
        factor = SAFETY * jnp.where(ratio > 0, ratio, 1e-10) ** (-_EXPONENT)
        factor = jnp.where(accept, jnp.clip(factor, 1.0, FACTOR_MAX), jnp.clip(factor, FACTOR_MIN, SAFETY))
        factor = jnp.where(finite, factor, FACTOR_MIN)
        s_new = jnp.where(accept, jnp.where(last, span, s + h), s)
        y = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), y_new, y)
        k1 = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), k7, k1)
        return s_new, y, h * factor, k1, n + 1

    s, y, _, _, _ = jax.lax.while_loop(cond, body, (jnp.zeros(()), y0, h_start, f0, jnp.asarray(0)))
    ok = s >= span
    return jax.tree_util.tree_map(lambda a: jnp.where(ok, a, jnp.nan), y)
