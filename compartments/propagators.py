"""Advance the amounts of one subject over an interval with constant infusion rates.

``advance(A0, R, t0, t1, p) -> A1`` solves dA/dt = f(A, p, t) + R on [t0, t1].
Three implementations share that signature:

- closed form (linear one-compartment models): exact, with a custom JVP whose
  derivatives are the symbolic derivatives of the closed form;
- matrix exponential (other linear models): exact, differentiated by JAX;
- ODE (anything else): popkin's Tsit5 integrator (:mod:`compartments.tsit5`) or any
  diffrax solver, with a custom JVP from the forward sensitivity equations
  dS/dt = J S + df/dp built by sympy, solved together with the states.

Event-time and dose-amount sensitivities follow by the chain rule when the
solver differentiates through the event sequence (``jax.jacfwd``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jax.scipy.linalg import expm

from compartments.compiled import CompiledModel
from compartments.tsit5 import integrate_tsit5

if TYPE_CHECKING:   # diffrax is imported where an ODE is solved: closed-form fits never load it
    import diffrax

Array = jnp.ndarray
Advance = Callable[[Array, Array, Array, Array, Array], Array]


@dataclass(frozen=True)
class OdeOptions:
    """Options of the ODE path.

    Parameters
    ----------
    solver
        A diffrax solver, e.g. a stiff one such as ``diffrax.Kvaerno5()``; ``None`` (default)
        is popkin's own Tsit5 (:func:`compartments.tsit5.integrate_tsit5`: the method of
        ``diffrax.Tsit5()`` with diffrax's default step control, in a loop about five times
        cheaper per step for these small systems; non-stiff).
    rtol, atol
        Relative and absolute tolerances of the adaptive step-size controller.
    max_steps
        Maximum number of steps per interval between events.
    ss_max_cycles, ss_rtol
        Steady state of nonlinear models is found by repeated dosing until the
        relative change of the state over one cycle is below ``ss_rtol`` (or, once it is
        within 10 ``rtol``, stops decreasing: the integration error then dominates), for
        at most ``ss_max_cycles`` cycles (the number used is reported).

    A solve that fails (e.g. more than ``max_steps`` steps) returns NaN rather than
    raising, so that compiled programs can be kept in the persistent cache.

    Examples
    --------
    >>> import diffrax
    >>> OdeOptions(solver=diffrax.Kvaerno5(), rtol=1e-6).rtol
    1e-06
    """

    solver: diffrax.AbstractSolver | None = None
    rtol: float = 1e-9
    atol: float = 1e-12
    max_steps: int = 100_000
    ss_max_cycles: int = 500
    ss_rtol: float = 1e-10

    def __hash__(self) -> int:
        return hash((type(self.solver).__name__, self.rtol, self.atol, self.max_steps,
                     self.ss_max_cycles, self.ss_rtol))


def make_advance(cm: CompiledModel, options: OdeOptions, *, force_ode: bool = False) -> Advance:
    """The propagator of ``cm``: closed form, spectral (Sylvester), matrix exponential or ODE."""
    if force_ode or cm.kind == "ode":
        return _ode_advance(cm, options)
    if cm.kind == "closed_form":
        return _closed_form_advance(cm)
    if cm.linear_eigenvalues is not None:
        return _spectral_advance(cm)
    return _matrix_exponential_advance(cm)


def _spectral_advance(cm: CompiledModel) -> Advance:
    """Exact solution of linear models by Sylvester's formula with closed-form eigenvalues.

    exp(K dt) = sum_i exp(l_i dt) P_i and int_0^dt exp(K s) ds = sum_i (exp(l_i dt) - 1)/l_i P_i
    with the spectral projectors P_i = prod_{j != i} (K - l_j I) / (l_i - l_j)
    (distinct eigenvalues, as for compartment models with distinct rate constants).
    Differentiated by JAX through the closed-form eigenvalues.
    """
    n = cm.n_states
    linear_matrix, eigenvalues = cm.linear_matrix, cm.linear_eigenvalues
    eye = jnp.eye(n)

    def advance(A0: Array, R: Array, t0: Array, t1: Array, p: Array) -> Array:
        K = linear_matrix(p)
        lam = eigenvalues(p)
        dt = t1 - t0
        out = jnp.zeros(n)
        for i in range(n):
            P = eye
            for j in range(n):
                if j != i:
                    P = P @ (K - lam[j] * eye) / (lam[i] - lam[j])
            growth = jnp.exp(lam[i] * dt)
            safe = jnp.where(lam[i] == 0, 1.0, lam[i])
            integral = jnp.where(lam[i] == 0, dt, jnp.expm1(lam[i] * dt) / safe)
            out = out + growth * (P @ A0) + integral * (P @ R)
        return out

    return advance


def _closed_form_advance(cm: CompiledModel) -> Advance:
    solution, derivative = cm.closed_form, cm.closed_form_derivative

    @jax.custom_jvp
    def advance(A0: Array, R: Array, t0: Array, t1: Array, p: Array) -> Array:
        return solution(A0, R, t1 - t0, p)

    @advance.defjvp
    def advance_jvp(primals, tangents):  # type: ignore[no-untyped-def]
        A0, R, t0, t1, p = primals
        dA0, dR, dt0, dt1, dp = tangents
        out = solution(A0, R, t1 - t0, p)
        jac = derivative(A0, R, t1 - t0, p)
        direction = jnp.concatenate([dA0, dR, jnp.atleast_1d(dt1 - dt0), dp])
        return out, jac @ direction

    return advance


def _matrix_exponential_advance(cm: CompiledModel) -> Advance:
    n = cm.n_states
    linear_matrix = cm.linear_matrix

    def advance(A0: Array, R: Array, t0: Array, t1: Array, p: Array) -> Array:
        K = linear_matrix(p)
        aug = jnp.zeros((n + 1, n + 1)).at[:n, :n].set(K).at[:n, n].set(R)
        E = expm(aug * (t1 - t0))
        return E[:n, :n] @ A0 + E[:n, n]

    return advance


def _ode_advance(cm: CompiledModel, options: OdeOptions) -> Advance:
    n, m = cm.n_states, cm.n_params
    rhs, jacobian, sens_rhs = cm.rhs, cm.jacobian, cm.sensitivity_rhs
    integrate = _integrator(options, n)

    def field_states(t, A, args):  # type: ignore[no-untyped-def]
        p, R = args
        return rhs(A, p, t) + R

    def unflatten(y: Array) -> tuple[Array, Array, Array, Array]:
        A, SA, SR, Sp = jnp.split(y, [n, n + n * n, n + 2 * n * n])
        return A, SA.reshape(n, n), SR.reshape(n, n), Sp.reshape(n, m)

    def field_sensitivities(t, y, args):  # type: ignore[no-untyped-def]
        # one flat vector (A, dA/dA0, dA/dR, dA/dp): diffrax steps a single array several
        # times faster than a pytree of small leaves (benchmarks/compartments_bench.py, (c))
        p, R = args
        A, SA, SR, Sp = unflatten(y)
        J = jacobian(A, p, t)
        return jnp.concatenate([
            rhs(A, p, t) + R, (J @ SA).reshape(-1), (J @ SR + jnp.eye(n)).reshape(-1),
            sens_rhs(A, Sp.reshape(-1), p, t).reshape(-1),
        ])

    @jax.custom_jvp
    def advance(A0: Array, R: Array, t0: Array, t1: Array, p: Array) -> Array:
        return integrate(field_states, A0, t0, t1, (p, R))

    @advance.defjvp
    def advance_jvp(primals, tangents):  # type: ignore[no-untyped-def]
        # first order: the full sensitivity matrix from sympy's Jacobians, solved once whatever
        # the number of tangent directions; higher orders differentiate this rule, i.e. the
        # sensitivity solve, through the integrator's own JVP below
        A0, R, t0, t1, p = primals
        dA0, dR, dt0, dt1, dp = tangents
        y0 = jnp.concatenate([A0, jnp.eye(n).reshape(-1), jnp.zeros(n * n + n * m)])
        A1, SA, SR, Sp = unflatten(integrate(field_sensitivities, y0, t0, t1, (p, R)))
        f1 = rhs(A1, p, t1) + R
        f0 = rhs(A0, p, t0) + R
        tangent = SA @ (dA0 - f0 * dt0) + SR @ dR + Sp @ dp + f1 * dt1
        return A1, tangent

    return advance


def _integrator(options: OdeOptions, n: int) -> Callable:
    """``integrate(field, y0, t0, t1, args) -> y1`` with diffrax, differentiable to any order.

    Steps are controlled on the amounts (the first ``n`` components of the innermost
    state): sensitivities ride on the states' steps, as in CVODES without sensitivity
    error control, so that a derivative never costs more steps than the solution. The
    JVP is itself an ODE solve, of the state pair (y, dy) with the forward sensitivity
    field (the JVP of ``field`` by JAX), never a derivative of the solver's internals:
    programs stay small, and under ``jacfwd`` only dy carries the batch of tangent
    directions (y and the step sizes are shared by all directions).
    """
    def amounts(y):  # type: ignore[no-untyped-def]
        while isinstance(y, tuple):
            y = y[0]
        return y[:n]

    def norm(y) -> Array:  # type: ignore[no-untyped-def]
        return jnp.sqrt(jnp.mean(amounts(y) ** 2))

    if options.solver is None:
        def solve(vector_field, y0, t0, t1, args):  # type: ignore[no-untyped-def]
            # t1 < t0 integrates backwards (steady state with a lag longer than II)
            return integrate_tsit5(vector_field, y0, t0, t1, args, rtol=options.rtol, atol=options.atol,
                                   max_steps=options.max_steps, control=amounts)
    else:
        solve = _diffrax_solve(options, norm)

    @functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
    def integrate(vector_field, y0, t0, t1, args):  # type: ignore[no-untyped-def]
        return solve(vector_field, y0, t0, t1, args)

    @integrate.defjvp
    def integrate_jvp(vector_field, primals, tangents):  # type: ignore[no-untyped-def]
        y0, t0, t1, args = primals
        dy0, dt0, dt1, dargs = tangents

        def augmented(t, z, aug_args):  # type: ignore[no-untyped-def]
            (y, dy), (a, da) = z, aug_args
            return jax.jvp(lambda y_, a_: vector_field(t, y_, a_), (y, a), (dy, da))

        f0 = vector_field(t0, y0, args)
        s0 = jax.tree_util.tree_map(lambda d, f: d - f * dt0, dy0, f0)
        _, s1 = integrate(augmented, (y0, s0), t0, t1, (args, dargs))
        # the primal comes from its own solve: it must not depend on the tangents (linearize,
        # used by implicit differentiation, separates the two)
        y1 = integrate(vector_field, y0, t0, t1, args)
        f1 = vector_field(t1, y1, args)
        return y1, jax.tree_util.tree_map(lambda s, f: s + f * dt1, s1, f1)

    return integrate


def _diffrax_solve(options: OdeOptions, norm: Callable) -> Callable:
    """``solve(field, y0, t0, t1, args) -> y1`` by ``diffrax.diffeqsolve`` with ``options.solver``."""
    import diffrax

    solver = options.solver
    controller = diffrax.PIDController(rtol=options.rtol, atol=options.atol, norm=norm)

    def solve(vector_field, y0, t0, t1, args):  # type: ignore[no-untyped-def]
        # a zero-length interval is integrated over a dummy tiny interval and discarded;
        # t1 < t0 integrates backwards (steady state with a lag longer than II)
        empty = t1 == t0
        t1_safe = jnp.where(empty, t0 + 1e-6 * jnp.maximum(1.0, jnp.abs(t0)), t1)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(vector_field), solver, t0, t1_safe, None, y0, args=args,
            stepsize_controller=controller, max_steps=options.max_steps,
            adjoint=diffrax.ForwardMode(), saveat=diffrax.SaveAt(t1=True),
            # no host-side error callback, so that compiled programs can be stored in the
            # persistent compilation cache; a failed solve (e.g. max_steps) gives NaN instead
            throw=False,
        )
        ok = sol.result == diffrax.RESULTS.successful
        return jax.tree_util.tree_map(lambda a, b: jnp.where(empty, a, jnp.where(ok, b[-1], jnp.nan)),
                                      y0, sol.ys)

    return solve
