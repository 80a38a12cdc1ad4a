"""One SAEM iteration: MCMC sweep, stochastic approximation, M-step (all in one jit-able function).

With gamma_k the step size (1 during exploration, 1/(k - K1) during smoothing):

- sufficient statistics s1_i = E[z_i] (per subject) and S2 = sum_i E[z_i z_i'] are updated
  s <- s + gamma_k (stat(z^(k)) - s), averaging over chains;
- closed-form M-step: the mu thetas by generalised least squares,
  beta = (sum X_i' W X_i)^-1 sum X_i' W (s1_i - r_i) with W = Omega^-1 (current Omega),
  X_i = d mu_i / d beta (covariate design) and r_i the rest of m_i; then
  Omega = (1/N) (S2 - sum m_i s1_i' - sum s1_i m_i' + sum m_i m_i'), kept block-diagonal
  as the model's Omega blocks (fixed blocks unchanged);
- numerical M-step for the other thetas and the residual-error SDs: a few Fisher-scoring
  steps (with step halving) on the complete-data log-likelihood at the current samples,
  in the optimiser's unconstrained scale, followed by x <- x + gamma_k (x_hat - x);
- simulated annealing while ``anneal``: variances and residual SDs may shrink by at most
  the annealing factor per iteration (Omega_jj >= factor * previous, sd >= factor * previous).

Examples
--------
>>> steps = SaemSteps(cd, kernels=(2, 2, 2, 2), n_chains=1, n_newton=3, anneal_factor=0.95)  # doctest: +SKIP
>>> state, value = steps.iteration(state, key, 1.0, True, True, data, design)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from estimation.complete_data import CompleteData, omega_positions
from estimation.objectives import SubjectData
from estimation.saem_kernels import (
    MOMENT_STEP,
    ChainState,
    batched,
    make_sweep,
    move_schedule,
    update_moments,
)

Array = jnp.ndarray


class SaemState(NamedTuple):
    """Population parameters, numerical-M-step vector, sufficient statistics and chains."""

    natural: Array
    x: Array       # unconstrained values of the numerically updated parameters
    x_start: Array  # their starting values (second start of the numerical M-step)
    s1: Array      # (subjects, etas)
    s2: Array      # (etas, etas)
    chains: ChainState


@dataclass(frozen=True, eq=False)
class SaemSteps:
    """The compiled pieces of SAEM for one model structure and data layout."""

    cd: CompleteData
    kernels: tuple[int, int, int, int]
    n_chains: int
    n_newton: int
    anneal_factor: float

    def __post_init__(self) -> None:
        model = self.cd.model
        space = model.space
        mu = self.cd.mu  # type: ignore[attr-defined]
        names = space.natural_names
        est = space.estimated
        u_position = np.cumsum(est) - 1
        numerical = [names.index(t) for t in mu.numerical_thetas]
        sigmas = [len(names) - len(space.sigma_names) + j for j, fixed in enumerate(space.sigma_fixed)
                  if not fixed]
        num_index = np.asarray(numerical + sigmas, dtype=int)
        pos, rows, cols = omega_positions(model)
        k = len(space.eta_names)
        block_of = np.concatenate([[b] * blk.size for b, blk in enumerate(space.blocks)]).astype(int) \
            if k else np.zeros(0, int)
        fixed_element = np.asarray([space.blocks[block_of[r]].fixed for r in rows], dtype=bool)
        object.__setattr__(self, "beta_index", np.asarray([names.index(t) for t in mu.mu_thetas], int))
        object.__setattr__(self, "num_index", num_index)
        object.__setattr__(self, "num_u", u_position[num_index].astype(int))
        object.__setattr__(self, "num_is_sigma", np.asarray([False] * len(numerical) + [True] * len(sigmas)))
        object.__setattr__(self, "omega_pos", pos)
        object.__setattr__(self, "omega_rows", rows)
        object.__setattr__(self, "omega_cols", cols)
        object.__setattr__(self, "omega_free", ~fixed_element)
        object.__setattr__(self, "block_mask", block_of[:, None] == block_of[None, :])
        object.__setattr__(self, "depends_on_x", bool(set(mu.prediction_thetas) & set(mu.numerical_thetas)))
        kinds, comps = move_schedule(k, self.kernels)
        object.__setattr__(self, "sweep", make_sweep(self.cd, kinds, comps, refresh=self.depends_on_x))
        object.__setattr__(self, "n_moves", len(kinds) + int(self.depends_on_x))

    # ------------------------------------------------------------- x <-> natural
    def initial_x(self, natural: np.ndarray) -> np.ndarray:
        """Unconstrained values of the numerically updated parameters at ``natural``."""
        u = self.cd.model.space.to_unconstrained(natural)
        return u[self.num_u]  # type: ignore[attr-defined]

    def _natural_with(self, natural: Array, x: Array) -> Array:
        space = self.cd.model.space
        u = jnp.zeros(int(space.estimated.sum())).at[self.num_u].set(x)  # type: ignore[attr-defined]
        values = space.from_unconstrained(u, natural)[self.num_index]  # type: ignore[attr-defined]
        return natural.at[self.num_index].set(values)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ M-steps
    def mu_step(self, natural: Array, s1: Array, s2: Array, anneal: Array, design: Array,
                covariates: Array) -> Array:
        """Closed-form update of the mu thetas and Omega from the sufficient statistics."""
        cd = self.cd
        space = cd.model.space
        _, omega, _ = space.split(natural)
        n = s1.shape[0]
        m = jax.vmap(cd.mean, in_axes=(None, 0))(natural, covariates)
        beta_index = self.beta_index  # type: ignore[attr-defined]
        if len(beta_index):
            beta_old = natural[beta_index]
            rest = m - jnp.einsum("nkp,p->nk", design, beta_old)
            w = jnp.linalg.inv(omega)
            a = jnp.einsum("nkp,kl,nlq->pq", design, w, design)
            b = jnp.einsum("nkp,kl,nl->p", design, w, s1 - rest)
            beta = jnp.linalg.solve(a, b)
            natural = natural.at[beta_index].set(beta)
            m = rest + jnp.einsum("nkp,p->nk", design, beta)
        cross = m.T @ s1
        new = (s2 - cross - cross.T + m.T @ m) / n
        new = jnp.where(self.block_mask, (new + new.T) / 2, 0.0)  # type: ignore[attr-defined]
        old_diag, new_diag = jnp.diag(omega), jnp.maximum(jnp.diag(new), 1e-12)
        target = jnp.where(anneal, jnp.maximum(new_diag, self.anneal_factor * old_diag), new_diag)
        scale = jnp.sqrt(target / new_diag)
        new = new * scale[:, None] * scale[None, :]
        values = new[self.omega_rows, self.omega_cols]  # type: ignore[attr-defined]
        pos = self.omega_pos  # type: ignore[attr-defined]
        return natural.at[pos].set(jnp.where(self.omega_free, values, natural[pos]))  # type: ignore[attr-defined]

    def numerical_step(self, natural: Array, x: Array, x_start: Array, chains: ChainState,
                       data: SubjectData, gamma: Array, anneal: Array) -> tuple[Array, Array]:
        """Fisher scoring on the complete-data log-likelihood, then the SA step on x.

        The search runs from the current x and from the starting values, and keeps the
        better end point: a residual SD that reached 0 (where the combined error's
        objective is flat in log SD) can come back when the data want it.
        """
        if not len(self.num_index):  # type: ignore[attr-defined]
            return natural, x
        cd = self.cd
        predict, data_ll = batched(cd.predict), batched(cd.data_loglik)
        moments = batched(cd.moments)
        z, n_chains = chains.z, chains.z.shape[0]
        mask = data.mask[None, :, :]

        def evaluate(xv: Array) -> tuple[Array, Array, Array]:
            nat = self._natural_with(natural, xv)
            f = predict(nat, z, data) if self.depends_on_x else chains.f  # type: ignore[attr-defined]
            prior = cd.prior_loglik(nat, z, data.covariates)
            value = -(jnp.sum(data_ll(nat, f, data)) + jnp.sum(prior)) / n_chains
            _, ft, var = moments(nat, f, data)
            return value, ft, var

        def prior_part(xv: Array) -> Array:
            return -jnp.sum(cd.prior_loglik(self._natural_with(natural, xv), z, data.covariates)) / n_chains

        def newton(_: int, xv: Array) -> Array:
            def with_aux(v: Array) -> tuple[tuple[Array, Array, Array], tuple[Array, Array]]:
                out = evaluate(v)
                return out, out[1:]

            (dvalue, dft, dvar), (_, var) = jax.jacfwd(with_aux, has_aux=True)(xv)
            dft = jnp.where(mask[..., None], dft, 0.0)
            dvar = jnp.where(mask[..., None], dvar, 0.0)
            info = (jnp.einsum("cnmi,cnm,cnmj->ij", dft, 1 / var, dft)
                    + 0.5 * jnp.einsum("cnmi,cnm,cnmj->ij", dvar, 1 / var**2, dvar)) / n_chains
            info = info + jax.hessian(prior_part)(xv)
            step = jnp.linalg.solve(info + 1e-9 * jnp.eye(len(xv)), -dvalue)
            step = jnp.where(jnp.all(jnp.isfinite(step)), step, 0.0)
            lengths = jnp.asarray([1.0, 0.5, 0.25, 0.125, 0.0])
            values = jax.vmap(lambda t: evaluate(xv + t * step)[0])(lengths)
            values = jnp.where(jnp.isfinite(values), values, jnp.inf)
            return xv + lengths[jnp.argmin(values)] * step

        ends = jax.vmap(lambda x0: jax.lax.fori_loop(0, self.n_newton, newton, x0))(jnp.stack([x, x_start]))
        values = jax.vmap(lambda v: evaluate(v)[0])(ends)
        x_hat = ends[jnp.argmin(jnp.where(jnp.isfinite(values), values, jnp.inf))]
        floor = x + jnp.log(self.anneal_factor)
        x_hat = jnp.where(anneal & self.num_is_sigma, jnp.maximum(x_hat, floor), x_hat)  # type: ignore[attr-defined]
        x_new = x + gamma * (x_hat - x)
        return self._natural_with(natural, x_new), x_new

    # ---------------------------------------------------------------- iteration
    def initial_state(self, natural: Array, x: Array, data: SubjectData) -> SaemState:
        """Chains at eta = 0; sufficient statistics of that state (``x``: :meth:`initial_x`)."""
        from estimation.saem_kernels import initial_state

        chains = initial_state(self.cd, natural, data, self.n_chains)
        s1 = jnp.mean(chains.z, axis=0)
        s2 = jnp.mean(jnp.einsum("cni,cnj->cij", chains.z, chains.z), axis=0)
        return SaemState(natural, x, x, s1, s2, chains)

    def iteration(self, state: SaemState, key: Array, gamma: Array, anneal: Array, update: Array,
                  data: SubjectData, design: Array) -> tuple[SaemState, Array]:
        """One SAEM iteration; returns the new state and -2 x the complete-data log-likelihood
        at the new samples (averaged over chains, before the M-step)."""
        cd = self.cd
        natural = state.natural
        chains, _ = self.sweep(natural, state.chains, key, data)  # type: ignore[attr-defined]
        chains = update_moments(chains, jnp.minimum(gamma, MOMENT_STEP))
        value = -2 * jnp.sum(chains.ll + cd.prior_loglik(natural, chains.z, data.covariates)) / self.n_chains
        s1 = state.s1 + gamma * (jnp.mean(chains.z, axis=0) - state.s1)
        s2 = state.s2 + gamma * (jnp.mean(jnp.einsum("cni,cnj->cij", chains.z, chains.z), axis=0) - state.s2)
        new = self.mu_step(natural, s1, s2, anneal, design, data.covariates)
        new, x = self.numerical_step(new, state.x, state.x_start, chains, data, gamma, anneal)
        keep = ~update
        return SaemState(jnp.where(keep, natural, new), jnp.where(keep, state.x, x), state.x_start,
                         jnp.where(keep, state.s1, s1), jnp.where(keep, state.s2, s2), chains), value
