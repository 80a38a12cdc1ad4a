"""The MCMC E-step of SAEM: Metropolis-Hastings kernels on every subject's state at once.

The three standard kernels (Kuhn & Lavielle 2005; Monolix, saemix) and a fourth, each run a
set number of times per SAEM iteration, for all chains and subjects in lockstep (``vmap``):

1. prior draw: z' = m + L e with Omega = L L', accepted with min(1, p(y|z') / p(y|z));
2. full-vector random walk: z' = z + s2 * sd(Omega) * e;
3. component-wise random walk: z'_j = z_j + s3_j * sd(Omega_jj) * e, one component at a time;
4. conditional draw: an independent proposal z' ~ N(mu_i, C_i) from running estimates of
   each subject's conditional mean mu_i and covariance C_i of z (stochastic approximation
   over the iterations with the step min(gamma_k, 0.05): the adaptation vanishes during
   smoothing and stops at the estimates), with twice C_i (an over-dispersed proposal: the
   running moments of one chain under-state the spread, and an independence sampler fed
   its own under-dispersion would shrink Omega) plus 1% of Omega (normal, not Student
   t, tails: a far-out draw of a nonlinear ODE model can cost thousands of solver steps,
   and all subjects wait for it in lockstep). It is the
   moment-based counterpart of the Laplace-approximation proposal of f-SAEM (Karimi,
   Lavielle & Moulines 2020; saemix's kernel 4): where the data pin down only a
   combination of parameters (Michaelis-Menten VM and KM), the random walks crawl along
   the ridge of the posterior, while this proposal samples across it.

kernels 2-4 accept with the ratio of the posteriors p(y|z) p(z) (kernel 4 also divided by
the ratio of the proposal densities). The step scales s2 and s3 adapt after every sweep
towards an acceptance rate of 0.4 (saemix's rule, s <- s (1 + 0.4 (rate - 0.4))).

All moves of a sweep run in one ``lax.scan`` with a single call site of the prediction
function, so a sweep compiles one structural solve (this matters for ODE models).

Examples
--------
>>> kinds, comps = move_schedule(3, (2, 2, 2, 1))
>>> kinds.tolist(), comps.tolist()
([0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 3], [0, 0, 0, 0, 0, 1, 2, 0, 1, 2, 0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from estimation.complete_data import CompleteData
from estimation.objectives import SubjectData

Array = jnp.ndarray
TARGET_ACCEPTANCE = 0.4
ADAPTATION_RATE = 0.4
PRIOR, RANDOM_WALK, COMPONENT_WISE, CONDITIONAL, REFRESH = 0, 1, 2, 3, 4
#: largest step of the running conditional moments (a window of about 20 iterations)
MOMENT_STEP = 0.05
#: kernel 4's proposal covariance: this multiple of the running conditional covariance...
PROPOSAL_INFLATION = 2.0
#: ... plus this fraction of Omega
COVARIANCE_FLOOR = 0.01


class ChainState(NamedTuple):
    """Current samples of every chain and subject, and the adaptive step scales."""

    z: Array         # (chains, subjects, etas)
    f: Array         # (chains, subjects, observations): predictions at z
    ll: Array        # (chains, subjects): data log-likelihood at z
    rw_scale: Array  # (etas,) full-vector random-walk scale, relative to sd(Omega)
    cw_scale: Array  # (etas,) component-wise random-walk scales
    post_mean: Array  # (subjects, etas) running conditional mean of z (kernel 4)
    post_cov: Array   # (subjects, etas, etas) running conditional covariance of z (kernel 4)


def move_schedule(n_eta: int, kernels: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Kernel kind and component of every move of one sweep (``kernels``: moves of kernels
    1, 2 and 4, and passes of kernel 3 over the components)."""
    kinds = ([PRIOR] * kernels[0] + [RANDOM_WALK] * kernels[1] + [COMPONENT_WISE] * (kernels[2] * n_eta)
             + [CONDITIONAL] * kernels[3])
    comps = [0] * (kernels[0] + kernels[1]) + list(range(n_eta)) * kernels[2] + [0] * kernels[3]
    return np.asarray(kinds, dtype=np.int32), np.asarray(comps, dtype=np.int32)


def batched(fn: Callable) -> Callable:
    """``fn(natural, z, subject)`` mapped over chains (data shared) and subjects."""
    per_subject = jax.vmap(fn, in_axes=(None, 0, 0))
    return jax.vmap(per_subject, in_axes=(None, 0, None))


def initial_state(cd: CompleteData, natural: Array, data: SubjectData, n_chains: int) -> ChainState:
    """Chains started at eta = 0 (z = m), with step scales 0.5 (kernel 2) and 1 (kernel 3)
    and the prior N(m, Omega) as kernel 4's first conditional moments."""
    m = jax.vmap(cd.mean, in_axes=(None, 0))(natural, data.covariates)
    z = jnp.broadcast_to(m, (n_chains, *m.shape))
    f = batched(cd.predict)(natural, z, data)
    ll = batched(cd.data_loglik)(natural, f, data)
    k = cd.n_eta
    _, omega, _ = cd.model.space.split(natural)
    return ChainState(z, f, ll, jnp.asarray(np.full(k, 0.5)), jnp.asarray(np.ones(k)), m,
                      jnp.broadcast_to(omega, (m.shape[0], k, k)))


def update_moments(state: ChainState, step: Array) -> ChainState:
    """Kernel 4's running conditional moments moved towards the current samples (averaged
    over chains) by ``step`` (stochastic approximation).

    Examples
    --------
    >>> chains = update_moments(chains, jnp.minimum(gamma, MOMENT_STEP))  # doctest: +SKIP
    """
    mean = state.post_mean + step * (jnp.mean(state.z, axis=0) - state.post_mean)
    dev = state.z - mean
    cov = state.post_cov + step * (jnp.mean(jnp.einsum("cni,cnj->cnij", dev, dev), axis=0) - state.post_cov)
    return state._replace(post_mean=mean, post_cov=(cov + jnp.swapaxes(cov, 1, 2)) / 2)


def make_sweep(cd: CompleteData, kinds: np.ndarray, comps: np.ndarray, *, refresh: bool = False
               ) -> Callable[[Array, ChainState, Array, SubjectData], tuple[ChainState, Array]]:
    """``(natural, state, key, data) -> (state, acceptance per move)`` (pure, jit-able).

    The data log-likelihood of the current samples is first re-evaluated at ``natural``
    (the residual error may have changed); with ``refresh`` (some estimated theta changes
    the predictions at a fixed state) a first move recomputes the predictions themselves.
    """
    if refresh:
        kinds = np.concatenate([[REFRESH], kinds]).astype(np.int32)
        comps = np.concatenate([[0], comps]).astype(np.int32)
    predict = batched(cd.predict)
    data_ll = batched(cd.data_loglik)
    kinds_j, comps_j = jnp.asarray(kinds), jnp.asarray(comps)
    n_moves = len(kinds)
    k = cd.n_eta
    rw_moves = np.asarray(kinds == RANDOM_WALK, dtype=float)
    cw_moves = np.stack([(kinds == COMPONENT_WISE) & (comps == j) for j in range(k)]).astype(float)

    def sweep(natural: Array, state: ChainState, key: Array, data: SubjectData) -> tuple[ChainState, Array]:
        _, omega, _ = cd.model.space.split(natural)
        chol = jnp.linalg.cholesky(omega)
        omega_inv = jnp.linalg.inv(omega)
        sd = jnp.sqrt(jnp.diag(omega))
        m = jax.vmap(cd.mean, in_axes=(None, 0))(natural, data.covariates)

        def log_prior(z: Array) -> Array:
            eta = z - m
            return -0.5 * jnp.einsum("cni,ij,cnj->cn", eta, omega_inv, eta)

        # kernel 4: normal around the running conditional moments, over-dispersed and floored
        cond_cov = PROPOSAL_INFLATION * state.post_cov + COVARIANCE_FLOOR * omega[None]
        cond_chol = jnp.linalg.cholesky(cond_cov)
        cond_chol_inv = jax.vmap(lambda c: jax.scipy.linalg.solve_triangular(c, jnp.eye(k), lower=True))(
            cond_chol)

        def log_proposal(z: Array) -> Array:
            # up to a constant per subject, which cancels in the acceptance ratio
            w = jnp.einsum("nij,cnj->cni", cond_chol_inv, z - state.post_mean)
            return -0.5 * jnp.sum(w**2, axis=-1)

        def move(carry, inputs):  # type: ignore[no-untyped-def]
            z, f, ll = carry
            kind, comp, index = inputs
            k_eps, k_u = jax.random.split(jax.random.fold_in(key, index))
            eps = jax.random.normal(k_eps, z.shape)
            onehot = (jnp.arange(k) == comp).astype(z.dtype)
            conditional = state.post_mean + jnp.einsum("nij,cnj->cni", cond_chol, eps)
            proposal = jnp.where(
                kind == REFRESH, z,
                jnp.where(kind == PRIOR, m + eps @ chol.T,
                jnp.where(kind == RANDOM_WALK, z + eps * (state.rw_scale * sd),
                jnp.where(kind == CONDITIONAL, conditional,
                          z + onehot * eps * (state.cw_scale[comp] * sd[comp])))))
            f_new = predict(natural, proposal, data)
            ll_new = data_ll(natural, f_new, data)
            log_ratio = ll_new - ll + jnp.where(kind == PRIOR, 0.0, log_prior(proposal) - log_prior(z))
            log_ratio = log_ratio - jnp.where(kind == CONDITIONAL,
                                              log_proposal(proposal) - log_proposal(z), 0.0)
            accept = (jnp.log(jax.random.uniform(k_u, ll.shape)) < log_ratio) & jnp.isfinite(ll_new)
            accept = accept | (kind == REFRESH)
            z = jnp.where(accept[..., None], proposal, z)
            f = jnp.where(accept[..., None], f_new, f)
            ll = jnp.where(accept, ll_new, ll)
            return (z, f, ll), jnp.mean(accept)

        ll0 = data_ll(natural, state.f, data)
        (z, f, ll), rates = jax.lax.scan(
            move, (state.z, state.f, ll0), (kinds_j, comps_j, jnp.arange(n_moves)))
        rw_rate = rates @ rw_moves / max(rw_moves.sum(), 1.0)
        cw_rate = (cw_moves @ rates) / jnp.maximum(cw_moves.sum(axis=1), 1.0)
        rw_scale = state.rw_scale * (1 + ADAPTATION_RATE * (rw_rate - TARGET_ACCEPTANCE)) \
            if rw_moves.sum() else state.rw_scale
        cw_scale = jnp.where(cw_moves.sum(axis=1) > 0,
                             state.cw_scale * (1 + ADAPTATION_RATE * (cw_rate - TARGET_ACCEPTANCE)),
                             state.cw_scale)
        return state._replace(z=z, f=f, ll=ll, rw_scale=rw_scale, cw_scale=cw_scale), rates

    return sweep
