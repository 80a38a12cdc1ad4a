"""Fisher information after SAEM: by stochastic approximation (Louis) or by linearisation.

Stochastic approximation (Kuhn & Lavielle 2005, Louis' missing-information principle),
at the estimates x, with the complete-data log-likelihood l_i(x; z_i) of
:mod:`estimation.complete_data` and the MCMC samples of z_i | y_i:

    I(x) = sum_i ( -E[d2 l_i] - Cov[d l_i] )

The derivatives are exact (``jax.jacfwd``) on the estimated natural parameters (thetas,
Omega elements, residual SDs), the parameters every method's covariance step uses. With
only mu-referenced thetas the predictions do not depend on x at a fixed state, so no
derivative of the structural solution is needed (plain forward solves for ODE models).

Linearisation: the R matrix (observed information) of the FOCE-I objective at the
SAEM estimates, from :func:`estimation.covariance.covariance_step`.

Examples
--------
>>> terms = louis_terms(cd, est_index, depends_on_x=False)  # doctest: +SKIP
>>> cov = louis_covariance(names, mean_g, mean_gg, mean_h)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from estimation.complete_data import CompleteData
from estimation.covariance import Covariance, covariance_step, from_information
from estimation.evaluator import Evaluator
from estimation.objectives import SubjectData
from estimation.saem_kernels import batched

Array = jnp.ndarray


def louis_terms(cd: CompleteData, est_index: np.ndarray, depends_on_x: bool
                ) -> Callable[[Array, Array, Array, SubjectData], tuple[Array, Array]]:
    """``(natural, z, f, data) -> (g, H)`` for a batch of states ``z`` (chains, subjects, etas).

    ``g`` (chains, subjects, parameters) are the per-subject gradients of l_i and ``H`` the
    Hessian of sum_c sum_i l_i, in the estimated natural parameters. ``f`` are the
    predictions at ``z``; they are recomputed (and differentiated) only when
    ``depends_on_x`` (some estimated theta changes the predictions at a fixed state).
    """
    est = jnp.asarray(est_index)
    predict, data_ll = batched(cd.predict), batched(cd.data_loglik)

    def complete(x: Array, natural: Array, z: Array, f: Array, data: SubjectData) -> Array:
        nat = natural.at[est].set(x)
        pred = predict(nat, z, data) if depends_on_x else f
        return data_ll(nat, pred, data) + cd.prior_loglik(nat, z, data.covariates)

    def terms(natural: Array, z: Array, f: Array, data: SubjectData) -> tuple[Array, Array]:
        x = natural[est]
        g = jax.jacfwd(complete)(x, natural, z, f, data)
        h = jax.jacfwd(jax.jacfwd(lambda v: jnp.sum(complete(v, natural, z, f, data))))(x)
        return g, h

    return terms


def louis_covariance(names: tuple[str, ...], mean_g: np.ndarray, mean_gg: np.ndarray,
                     mean_h: np.ndarray) -> Covariance:
    """Inverse of I = -E[sum_i H_i] - sum_i (E[g_i g_i'] - E[g_i] E[g_i]').

    ``mean_g`` (subjects, p) and ``mean_gg`` (subjects, p, p) are per-subject Monte Carlo
    means, ``mean_h`` (p, p) the mean of the Hessian summed over subjects.
    """
    cov_g = mean_gg - np.einsum("ni,nj->nij", mean_g, mean_g)
    info = -mean_h - np.sum(cov_g, axis=0)
    info = (info + info.T) / 2
    if not np.all(np.isfinite(info)):
        return Covariance("stochastic", names, None, "failed: non-finite Fisher information", float("nan"))
    cov = from_information("stochastic", names, info, "Fisher information (stochastic approximation)")
    if not cov.ok:
        return Covariance("stochastic", names, None, cov.status + "; more iterations or chains may help",
                          cov.condition_number)
    return cov


def linearised_covariance(evaluator: Evaluator, natural: np.ndarray, modes: np.ndarray) -> Covariance:
    """Inverse observed information of the FOCE-I (linearised) objective at the estimates."""
    cov = covariance_step(evaluator, natural, modes, "r")
    return Covariance("linearised", cov.names, cov.matrix, cov.status, cov.condition_number)
