"""Per-subject objective functions: FO, FOCE, FOCE-I, Laplace and AGQ.

All written for ONE subject, ``vmap``-ed over subjects and ``jit``-ed. The OFV
follows NONMEM: -2 log L without the N_obs log(2 pi) constant.

For subject i with transformed observations y, transformed predictions f(eta),
residual variances V and Omega, define the (half) joint objective

    l(eta) = 1/2 sum_j [log V_j + (y_j - f_j(eta))^2 / V_j] + 1/2 eta' Omega^-1 eta.

- FO:      C = G0 Omega G0' + diag(V(0)), r = y - f(0);            OFV_i = log|C| + r' C^-1 r
- FOCE, FOCE-I, Laplace: eta_hat minimises l and
           OFV_i = 2 l(eta_hat) + log|Omega| + log|H(eta_hat)|
  with the expected (first-order) Hessian
           H = G' V^-1 G + 1/2 dV' V^-2 dV + Omega^-1    (G = df/deta, dV = dV/deta)
  For FOCE, V is fixed at V(0) (no interaction, dV = 0) and the formula equals
  NONMEM's log|C| + r' C^-1 r with C = G Omega G' + diag(V(0)),
  r = y - f(eta_hat) + G eta_hat. For FOCE-I, V is evaluated at eta (interaction).
  ``Laplace(hessian="exact")`` uses the exact Hessian d2l/deta2 instead (the
  true Laplacian approximation); its default ``"expected"`` is the Hessian
  NONMEM's and nlmixr2's Laplace objective reproduce on the reference set.
- AGQ: the Laplace OFV corrected by an adaptive Gauss-Hermite rule at the mode
  (``_quadrature_correction``); one node per eta is Laplace.

eta_hat comes from a damped Newton search; its dependence on the population
parameters is differentiated implicitly (``jax.lax.custom_root``), so gradients
of the OFV are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from compartments.propagators import OdeOptions
from compartments.solve import Layout, RecordArrays, make_solver
from estimation.methods import FOCEI, Method
from estimation.population import PopulationModel
from estimation.problem import Problem

Array = jnp.ndarray
#: FO linearises with the residual variance at the prediction, like FOCE-I at eta = 0.
FOCE_LIKE = FOCEI()
#: Largest change of any eta in one Newton iteration of the mode search (a factor of about 150
#: on a log-normal parameter). Far from the population optimum (a rejected outer line-search
#: point) the expected Hessian can be so poorly conditioned that the full step sends etas to
#: +-25, where an ODE model needs millions of solver steps; the bound keeps such trials cheap
#: and leaves ordinary searches, whose steps are far smaller, unchanged.
MAX_ETA_STEP = 5.0
#: The mode search stops after an accepted Newton step of at most this in every eta. Its
#: expected-Hessian steps converge linearly (about x3.5 per iteration on ACOP Oral_1CPT under
#: FOCE-I), so the error left is below 1e-8; the gradient test alone (``inner_tol``) went on
#: for 5-15 more iterations at the level of rounding.
INNER_STEP_TOL = 1e-8


class SubjectData(NamedTuple):
    """One subject's arrays (a batch has a leading subject axis)."""

    records: RecordArrays
    obs_index: Array
    obs_output: Array
    dv: Array
    mask: Array
    covariates: Array


def subject_data(problem: Problem) -> SubjectData:
    """The problem's arrays as a :class:`SubjectData` batch (``jax.device_put``: unlike
    ``jnp.asarray``, it compiles nothing for a new array shape)."""
    return SubjectData(
        records=RecordArrays(*(jax.device_put(a) for a in problem.records)),
        obs_index=jax.device_put(problem.obs_index), obs_output=jax.device_put(problem.obs_output),
        dv=jax.device_put(problem.dv), mask=jax.device_put(problem.obs_mask),
        covariates=jax.device_put(problem.covariates),
    )


class Moments(NamedTuple):
    """Transformed observations and predictions and residual variances of one subject."""

    y: Array
    f: Array
    var: Array
    raw: Array


@dataclass(frozen=True, eq=False)
class SubjectModel:
    """Predictions and residual moments of one subject as functions of (natural, eta)."""

    model: PopulationModel
    layout: Layout
    options: OdeOptions

    def __post_init__(self) -> None:
        model = self.model
        object.__setattr__(self, "_solve", make_solver(model.compiled, self.layout, self.options))
        names = model.space.sigma_names
        slices = [np.asarray([names.index(n) for n in em.parameter_names]) for em in model.error_models]
        object.__setattr__(self, "_sigma_index", slices)

    def split(self, natural: Array) -> tuple[Array, Array, Array]:
        """``(theta, Omega, sigma)``."""
        return self.model.space.split(natural)

    def individual(self, natural: Array, eta: Array, subj: SubjectData) -> Array:
        """Structural parameters of the subject (one vector, or one per record when
        covariates vary over time)."""
        theta, _, _ = self.split(natural)
        h = self.model.individual_function
        if subj.covariates.ndim == 2:   # time-varying covariates: one parameter vector per record
            return jax.vmap(h, in_axes=(None, None, 0))(theta, eta, subj.covariates)
        return h(theta, eta, subj.covariates)

    def predict(self, natural: Array, eta: Array, subj: SubjectData) -> Array:
        """Untransformed predictions at the subject's observations."""
        p = self.individual(natural, eta, subj)
        out = self._solve(p, subj.records).outputs  # type: ignore[attr-defined]
        return out[subj.obs_index, subj.obs_output]

    def moments(self, natural: Array, f: Array, subj: SubjectData) -> Moments:
        """Transformed y, transformed f and residual variance at predictions ``f``."""
        _, _, sigma = self.split(natural)
        ys, fs, vs = [], [], []
        for em, idx in zip(self.model.error_models, self._sigma_index, strict=True):  # type: ignore[attr-defined]
            s = sigma[idx]
            ys.append(em.transform(subj.dv))
            fs.append(em.transform(f))
            vs.append(em.sd(f, s) ** 2)
        pick = subj.obs_output
        choose = (lambda arrs: arrs[0]) if len(ys) == 1 else (
            lambda arrs: jnp.choose(pick, jnp.stack(arrs), mode="clip"))
        var = choose(vs)
        var = jnp.where(subj.mask, var, 1.0)
        return Moments(choose(ys), choose(fs), var, f)


class Local(NamedTuple):
    """Half joint objective l, its gradient and expected Hessian at one eta."""

    value: Array
    grad: Array
    hess: Array
    f: Array
    var: Array
    G: Array
    dvar: Array


def _local_fn(sm: SubjectModel, method: Method, natural: Array, subj: SubjectData,
              var0: Array | None) -> Callable[[Array], Local]:
    """``eta -> Local``: predictions and their eta-derivatives from ONE solve with sensitivities.

    l(eta)  = 1/2 sum [log V + r^2 / V] + 1/2 eta' Omega^-1 eta,  r = y - f
    dl/deta = -G' (r / V) + 1/2 dV' (1/V - r^2/V^2) + Omega^-1 eta
    H       = G' V^-1 G + 1/2 dV' V^-2 dV + Omega^-1  (expected information)
    """
    _, omega, _ = sm.split(natural)
    omega_inv = jnp.linalg.inv(omega)
    mask = subj.mask

    def moments(eta: Array) -> tuple[Array, Array]:
        mo = sm.moments(natural, sm.predict(natural, eta, subj), subj)
        out = jnp.stack([mo.f, mo.var])
        return out, out

    def local(eta: Array) -> Local:
        J, out = jax.jacfwd(moments, has_aux=True)(eta)
        y = sm.moments(natural, subj.dv, subj).y
        f = out[0]
        G = jnp.where(mask[:, None], J[0], 0.0)
        if method.interaction:
            var, dV = out[1], jnp.where(mask[:, None], J[1], 0.0)
        else:
            var, dV = var0, jnp.zeros_like(G)
        r = jnp.where(mask, y - f, 0.0)
        value = 0.5 * jnp.sum(jnp.where(mask, jnp.log(var) + r**2 / var, 0.0))
        value = value + 0.5 * eta @ omega_inv @ eta
        grad = -G.T @ (r / var) + 0.5 * dV.T @ (jnp.where(mask, 1 / var - r**2 / var**2, 0.0))
        grad = grad + omega_inv @ eta
        hess = G.T @ (G / var[:, None]) + 0.5 * dV.T @ (dV / var[:, None] ** 2) + omega_inv
        return Local(value, grad, hess, f, var, G, dV)

    return local


def _value_fn(sm: SubjectModel, method: Method, natural: Array, subj: SubjectData,
              var0: Array | None) -> Callable[[Array], Array]:
    """``eta -> l(eta)`` from a plain solve (no sensitivities), for line searches."""
    _, omega, _ = sm.split(natural)
    omega_inv = jnp.linalg.inv(omega)

    def value(eta: Array) -> Array:
        mo = sm.moments(natural, sm.predict(natural, eta, subj), subj)
        var = mo.var if method.interaction else var0
        r = jnp.where(subj.mask, mo.y - mo.f, 0.0)
        data = 0.5 * jnp.sum(jnp.where(subj.mask, jnp.log(var) + r**2 / var, 0.0))
        return data + 0.5 * eta @ omega_inv @ eta

    return value


def _newton(local: Callable[[Array], Local], value: Callable[[Array], Array], eta0: Array,
            method: Method, max_iter: Array | int) -> Array:
    """Damped Newton search for the mode of l, at most ``max_iter`` iterations.

    Steps use the expected Hessian (scoring), are at most ``MAX_ETA_STEP`` and are backtracked
    until l decreases enough. The search stops when the gradient is at most
    ``method.inner_tol``, after an accepted step of at most ``INNER_STEP_TOL`` in every eta, or
    when no step decreases l.
    """

    def cond(state):  # type: ignore[no-untyped-def]
        _, k, done = state
        return (k < max_iter) & ~done

    def body(state):  # type: ignore[no-untyped-def]
        eta, k, _ = state
        loc = local(eta)
        g = loc.grad
        converged = jnp.max(jnp.abs(g)) <= method.inner_tol
        step = -jnp.linalg.solve(loc.hess, g)
        step = jnp.where(jnp.all(jnp.isfinite(step)), step, -g)
        step = step * jnp.minimum(1.0, MAX_ETA_STEP / jnp.max(jnp.abs(step)))
        slope = g @ step

        def bt_cond(s):  # type: ignore[no-untyped-def]
            t, v = s
            return (t > 1e-6) & ~(v <= loc.value + 1e-4 * t * slope)

        def bt_body(s):  # type: ignore[no-untyped-def]
            t, _ = s
            t = t * 0.5
            return t, value(eta + t * step)

        t, v = jax.lax.while_loop(bt_cond, bt_body, (2.0, jnp.inf))
        accepted = ~converged & jnp.isfinite(v) & (v <= loc.value + 1e-4 * t * slope)
        new_eta = jnp.where(accepted, eta + t * step, eta)
        taken = jnp.max(jnp.abs(t * step))
        # stop when converged, or when no further progress is possible at this precision
        tiny = taken < 1e-12 * (1 + jnp.max(jnp.abs(eta)))
        return new_eta, k + 1, converged | ~accepted | tiny | (taken <= INNER_STEP_TOL)

    return jax.lax.while_loop(cond, body, (eta0, 0, False))[0]


class SubjectResult(NamedTuple):
    """OFV contribution and conditional mode of one subject."""

    ofv: Array
    eta: Array


def subject_objective(
    sm: SubjectModel, method: Method
) -> Callable[[Array, Array, SubjectData, Array | int], SubjectResult]:
    """``(natural, eta_start, subject, max_iter) -> SubjectResult`` for ``method``; the mode
    search takes at most ``max_iter`` Newton iterations (``method.inner_max_iter`` for
    converged modes; fewer for an exploratory search, e.g. from eta = 0)."""

    def objective(natural: Array, eta0: Array, subj: SubjectData, max_iter: Array | int) -> SubjectResult:
        _, omega, _ = sm.split(natural)
        zero = jnp.zeros(omega.shape[0])
        _, logdet_o = jnp.linalg.slogdet(omega)
        if not method.conditional:
            loc = _local_fn(sm, FOCE_LIKE, natural, subj, None)(zero)
            y = sm.moments(natural, subj.dv, subj).y
            r = jnp.where(subj.mask, y - loc.f, 0.0)
            return SubjectResult(_linearised_ofv(loc.G, omega, loc.var, r), zero)
        var0 = None
        if not method.interaction:
            var0 = sm.moments(natural, sm.predict(natural, zero, subj), subj).var
        local = _local_fn(sm, method, natural, subj, var0)
        value = _value_fn(sm, method, natural, subj, var0)

        def solve(_f, guess):  # type: ignore[no-untyped-def]
            return _newton(local, value, jax.lax.stop_gradient(guess), method, max_iter)

        def tangent_solve(g, y):  # type: ignore[no-untyped-def]
            return jnp.linalg.solve(jax.jacfwd(g)(y), y)

        eta_hat = jax.lax.custom_root(lambda e: local(e).grad, eta0, solve, tangent_solve)
        loc = local(eta_hat)
        hess = loc.hess
        if method.laplacian and getattr(method, "hessian", "expected") == "exact":
            hess = jax.jacfwd(lambda e: local(e).grad)(eta_hat)
        _, logdet_h = jnp.linalg.slogdet(hess)
        ofv = 2.0 * loc.value + logdet_o + logdet_h
        nodes = getattr(method, "nodes", 1)
        if nodes > 1:
            ofv = ofv + _quadrature_correction(value, eta_hat, hess, loc.value, nodes)
        return SubjectResult(ofv, eta_hat)

    return objective


#: Largest tensor grid of adaptive Gauss-Hermite quadrature (nodes ** n_eta solves per subject).
MAX_QUADRATURE_POINTS = 4096


def gauss_hermite_grid(nodes: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product Gauss-Hermite rule for weight exp(-|z|^2) in ``dim`` dimensions.

    Returns the points ``(nodes ** dim, dim)`` and ``log w + |z|^2`` for each point (the
    log-weights of the rule applied to ``f(z) exp(-|z|^2)``, i.e. to ``f`` alone).

    Examples
    --------
    >>> z, logw = gauss_hermite_grid(2, 3)
    >>> z.shape, bool(np.isclose(np.exp(logw - (z**2).sum(1)).sum(), np.pi ** 1.5))
    ((8, 3), True)
    """
    if nodes ** dim > MAX_QUADRATURE_POINTS:
        raise ValueError(f"AGQ with {nodes} nodes on {dim} random effects needs {nodes ** dim} "
                         f"solves per subject (at most {MAX_QUADRATURE_POINTS}); use fewer nodes")
    x, w = np.polynomial.hermite.hermgauss(nodes)
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    z = np.stack([g.ravel() for g in grids], axis=1)
    logw = np.sum(np.log(np.stack(np.meshgrid(*([w] * dim), indexing="ij")).reshape(dim, -1)), axis=0)
    return z, logw + np.sum(z**2, axis=1)


def _quadrature_correction(value: Callable[[Array], Array], eta_hat: Array, hess: Array,
                           value_hat: Array, nodes: int) -> Array:
    """AGQ OFV minus the Laplacian OFV of one subject.

    With H = C C' at the mode, eta_k = eta_hat + sqrt(2) C^-T z_k, and the integral of
    exp(-l) is 2^(q/2) |H|^(-1/2) sum_k w_k exp(|z_k|^2 - l(eta_k)); relative to the
    Laplacian approximation (2 pi)^(q/2) |H|^(-1/2) exp(-l(eta_hat)) the OFV changes by
    -2 log(pi^(-q/2) sum_k w_k exp(|z_k|^2 - (l(eta_k) - l(eta_hat)))), zero for one node.
    """
    dim = eta_hat.shape[0]
    z, logw = gauss_hermite_grid(nodes, dim)
    chol = jnp.linalg.cholesky(hess)
    offsets = jax.scipy.linalg.solve_triangular(chol, np.sqrt(2.0) * z.T, trans="T", lower=True).T
    values = jax.vmap(value)(eta_hat + offsets)
    log_sum = jax.scipy.special.logsumexp(logw - (values - value_hat))
    return -2.0 * (log_sum - 0.5 * dim * np.log(np.pi))


def _linearised_ofv(G: Array, omega: Array, var: Array, r: Array) -> Array:
    """log|C| + r' C^-1 r with C = G Omega G' + diag(var) (padded rows have var 1, r 0).

    Computed with eta-sized matrices only (matrix determinant lemma and Woodbury):
    log|C| = sum log var + log|Omega| + log|H|, r' C^-1 r = r' V^-1 r - b' H^-1 b,
    H = Omega^-1 + G' V^-1 G, b = G' V^-1 r.
    """
    H = jnp.linalg.inv(omega) + G.T @ (G / var[:, None])
    b = G.T @ (r / var)
    _, logdet_h = jnp.linalg.slogdet(H)
    _, logdet_o = jnp.linalg.slogdet(omega)
    quad = jnp.sum(r**2 / var) - b @ jnp.linalg.solve(H, b)
    return jnp.sum(jnp.log(var)) + logdet_o + logdet_h + quad
