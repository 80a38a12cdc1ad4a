"""Why the objective is not finite at the initial values: the records that make it so.

A fit cannot start from parameters where the OFV is NaN or infinite. The usual cause is an
observation whose residual variance is zero there: a proportional error model (sd = b |f|)
on a record predicted as exactly 0, such as a concentration sampled at the time of an oral
dose (theophylline's TIME 0 samples). Other causes are predictions that are not finite (an
ODE solve that failed) and error parameters that give a non-finite variance.

Examples
--------
>>> raise_for_non_finite_start(evaluator, natural, etas)  # doctest: +SKIP
Traceback (most recent call last):
...
estimation.problem.ProblemError: the objective is not finite at the initial values: 12 \
observation(s) have a residual variance of 0 there (prediction 0 with a proportional error \
model): rows 2, 14, 26, 38, 50, ... (at times 0); ...
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from estimation.evaluator import Evaluator
from estimation.problem import ProblemError


def raise_for_non_finite_start(evaluator: Evaluator, natural: np.ndarray, etas: np.ndarray) -> None:
    """Raise :class:`~estimation.problem.ProblemError` naming the observations (rows of the
    input file) whose prediction or residual variance is not usable at ``natural`` with the
    random effects ``etas`` (subjects x etas), or saying that every record is fine there.

    Examples
    --------
    >>> raise_for_non_finite_start(evaluator, space.natural_init(), zeros)  # doctest: +SKIP
    """
    sm = evaluator.subject_model
    nat = jnp.asarray(natural)

    def one(eta, subj):  # type: ignore[no-untyped-def]
        f = sm.predict(nat, eta, subj)
        return f, sm.moments(nat, f, subj).var

    f, var = (np.asarray(a) for a in jax.jit(jax.vmap(one))(jnp.asarray(etas), evaluator.data))
    problem = evaluator.problem
    used = np.asarray(problem.obs_mask, dtype=bool)
    rows, times = np.asarray(problem.obs_row), np.asarray(problem.obs_time)
    causes = []
    for mask, what in (
        (used & ~np.isfinite(f), "a prediction that is not finite (a failed solve? see OdeOptions)"),
        (used & np.isfinite(f) & (var == 0),
         "a residual variance of 0 there (prediction 0 with a proportional error model)"),
        (used & np.isfinite(f) & ~(var >= 0), "a residual variance that is not finite"),
    ):
        if mask.any():
            causes.append(f"{int(mask.sum())} observation(s) have {what}: rows {_listed(rows[mask])} "
                          f"(at times {_listed(np.unique(times[mask]))})")
    if causes:
        raise ProblemError(
            "the objective is not finite at the initial values: " + "; ".join(causes)
            + ". Use a combined error model (additive + proportional), exclude those records "
              "(MDV=1), or change the initial values")
    raise ProblemError("the objective is not finite at the initial values although every "
                       "prediction and residual variance is: check the initial Omega and "
                       "parameter values (an eta search that failed)")


def _listed(values: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(f"{v:g}" for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")
