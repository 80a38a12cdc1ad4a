"""The complete-data likelihood SAEM works with: p(y_i, z_i; theta) for one subject.

The sampled state ``z`` holds, per eta, ``phi = mu(theta, covariates) + eta`` when the eta
is mu-referenced (:mod:`estimation.mu_reference`) and the eta itself otherwise, so

    log p(y_i, z_i) = log p(y_i | z_i) + log N(z_i - m_i(theta); 0, Omega)

with ``m_i`` = mu on the referenced etas and 0 elsewhere. The data term uses the
objectives' conventions (transformed observations for log-transform-both-sides errors,
per-output error models) and leaves out the N_obs log(2 pi) constant, as NONMEM's OFV;
the prior term is the full normal density.

Examples
--------
>>> cd = CompleteData(model, problem.layout, OdeOptions())  # doctest: +SKIP
>>> f = cd.predict(natural, z, subject)  # doctest: +SKIP
>>> cd.data_loglik(natural, f, subject)  # doctest: +SKIP
>>> cd.prior_loglik(natural, z_batch, data.covariates)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from compartments.propagators import OdeOptions
from compartments.solve import Layout
from estimation.mu_reference import MuReference
from estimation.objectives import SubjectData, SubjectModel
from estimation.population import PopulationModel

Array = jnp.ndarray
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True, eq=False)
class CompleteData:
    """Predictions and complete-data log-likelihood terms of one subject."""

    model: PopulationModel
    layout: Layout
    options: OdeOptions

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject_model", SubjectModel(self.model, self.layout, self.options))
        mu = MuReference.of(self.model)
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "_mu_fn", mu.mu_function())
        object.__setattr__(self, "_referenced", jnp.asarray(mu.referenced, dtype=jnp.float64))

    @property
    def n_eta(self) -> int:
        """Number of random effects."""
        return len(self.model.space.eta_names)

    def mean(self, natural: Array, covariates: Array) -> Array:
        """m_i: the mean of the sampled state (mu on referenced etas, 0 elsewhere)."""
        theta = natural[: len(self.model.space.theta_names)]
        return self._mu_fn(theta, covariates) * self._referenced  # type: ignore[attr-defined]

    def eta(self, natural: Array, z: Array, covariates: Array) -> Array:
        """The random effects of state ``z``."""
        return z - self.mean(natural, covariates)

    def predict(self, natural: Array, z: Array, subj: SubjectData) -> Array:
        """Untransformed predictions at the subject's observations for state ``z``."""
        return self.subject_model.predict(natural, self.eta(natural, z, subj.covariates), subj)  # type: ignore[attr-defined]

    def moments(self, natural: Array, f: Array, subj: SubjectData) -> tuple[Array, Array, Array]:
        """Transformed observations, transformed predictions and residual variances."""
        mo = self.subject_model.moments(natural, f, subj)  # type: ignore[attr-defined]
        return mo.y, mo.f, mo.var

    def data_loglik(self, natural: Array, f: Array, subj: SubjectData) -> Array:
        """log p(y | f) without the N_obs log(2 pi) / 2 constant (NONMEM convention)."""
        y, ft, var = self.moments(natural, f, subj)
        r = jnp.where(subj.mask, y - ft, 0.0)
        value = -0.5 * jnp.sum(jnp.where(subj.mask, jnp.log(var) + r**2 / var, 0.0))
        return jnp.where(jnp.isfinite(value), value, -jnp.inf)

    def prior_loglik(self, natural: Array, z: Array, covariates: Array) -> Array:
        """log N(eta; 0, Omega) of the states ``z`` (..., subjects, etas) of subjects with
        ``covariates`` (subjects, covariates): the full normal density, shape (..., subjects).

        Omega is factorised once for the whole batch (no batched linear algebra).
        """
        _, omega, _ = self.model.space.split(natural)
        chol = jnp.linalg.cholesky(omega)
        chol_inv = jax.scipy.linalg.solve_triangular(chol, jnp.eye(self.n_eta), lower=True)
        m = jax.vmap(self.mean, in_axes=(None, 0))(natural, covariates)
        w = (z - m) @ chol_inv.T
        return -0.5 * jnp.sum(w**2, axis=-1) - jnp.sum(jnp.log(jnp.diag(chol))) - 0.5 * self.n_eta * LOG_2PI


def omega_positions(model: PopulationModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Natural-vector positions of the Omega elements and their (row, column) in Omega."""
    space = model.space
    pos, rows, cols = [], [], []
    k = len(space.theta_names)
    offset = 0
    for block in space.blocks:
        for i in range(block.size):
            for j in range(i + 1):
                pos.append(k)
                rows.append(offset + i)
                cols.append(offset + j)
                k += 1
        offset += block.size
    return np.asarray(pos, int), np.asarray(rows, int), np.asarray(cols, int)
