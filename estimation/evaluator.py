"""Compiled population objective: OFV, exact gradients and per-subject pieces.

One set of jit-compiled functions per (model, method, data layout), cached, with
the data passed as arguments, so that refitting the same model to data of the
same shape (bootstrap, simulation-estimation) reuses the compiled program; the
traced programs are also stored on disk (:mod:`compartments.stored_programs`), so
that a new process neither traces nor (with the compile cache) compiles them:

- the per-subject objective ``vmap``-ed over subjects;
- its exact gradient with respect to the optimiser's unconstrained vector
  (forward mode through the propagators' exact derivatives and the implicit
  derivative of the eta modes);
- the per-subject gradients with respect to the natural parameters, used by
  the covariance step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from compartments.jax_config import release_compiled_programs
from compartments.propagators import OdeOptions
from compartments.solve import Layout
from compartments.stored_programs import StoredJit
from estimation.methods import Method
from estimation.objectives import SubjectModel, SubjectResult, subject_data, subject_objective
from estimation.population import PopulationModel
from estimation.problem import Problem

Array = jnp.ndarray


class _Compiled(NamedTuple):
    value_and_grad: object
    per_subject: object
    scores: object
    natural_of: object
    subject_model: SubjectModel


@lru_cache(maxsize=32)
def _compiled(model: PopulationModel, method: Method, options: OdeOptions, layout: Layout) -> _Compiled:
    space = model.space
    sm = SubjectModel(model, layout, options)
    per_subject = jax.vmap(subject_objective(sm, method), in_axes=(None, 0, 0, None))
    full_search = method.inner_max_iter  # Newton iterations of a converged mode search

    def natural_of(u: Array, natural_fixed: Array) -> Array:
        return space.from_unconstrained(u, natural_fixed)

    def total_u(u: Array, natural_fixed: Array, etas: Array, data) -> tuple[Array, tuple[Array, Array]]:  # type: ignore[no-untyped-def]
        res = per_subject(natural_of(u, natural_fixed), etas, data, full_search)
        total = jnp.sum(res.ofv)
        return total, (total, res.eta, res.ofv)

    def value_and_grad(u, natural_fixed, etas, data):  # type: ignore[no-untyped-def]
        grad, (total, eta_hat, ofv_i) = jax.jacfwd(total_u, has_aux=True)(u, natural_fixed, etas, data)
        return total, grad, eta_hat, ofv_i

    def scores(natural, etas, data):  # type: ignore[no-untyped-def]
        return jax.jacfwd(lambda x: per_subject(x, etas, data, full_search).ofv)(natural)

    key = (model, method, options, layout)
    return _Compiled(
        value_and_grad=StoredJit(value_and_grad, name="objective.value_and_grad", key=key),
        per_subject=StoredJit(per_subject, name="objective.per_subject", key=key),
        scores=StoredJit(scores, name="objective.scores", key=key),
        natural_of=StoredJit(natural_of, name="objective.natural_of", key=key), subject_model=sm,
    )


@dataclass(eq=False)
class Evaluator:
    """OFV and derivatives of ``problem`` under ``method``.

    Examples
    --------
    >>> ev = Evaluator(problem, FOCEI())  # doctest: +SKIP
    >>> ofv, grad, etas = ev.value_and_grad(u, etas)  # doctest: +SKIP
    """

    problem: Problem
    method: Method
    options: OdeOptions = field(default_factory=OdeOptions)

    def __post_init__(self) -> None:
        release_compiled_programs()
        self.space = self.problem.model.space
        self.natural_fixed = jnp.asarray(self.space.natural_init())
        # the compiled objective depends only on the method's objective options
        self.objective_method = replace(self.method, max_iter=0, gtol=0.0, ftol=0.0, edm_tol=0.0,
                                        covariance=None, zero_eta_start=False)
        self._fn = _compiled(self.problem.model, self.objective_method, self.options, self.problem.layout)
        self.subject_model = self._fn.subject_model
        self.data = subject_data(self.problem)

    @property
    def n_eta(self) -> int:
        """Number of random effects."""
        return len(self.space.eta_names)

    def initial_etas(self) -> np.ndarray:
        """Zero etas for every subject."""
        return np.zeros((self.problem.n_subjects, self.n_eta))

    def value_and_grad(self, u: np.ndarray, etas: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Total OFV, its exact gradient in ``u`` and the eta modes (searched from ``etas``)."""
        total, grad, eta_hat, _ = self.value_grad_subjects(u, etas)
        return total, grad, eta_hat

    def value_grad_subjects(self, u: np.ndarray, etas: np.ndarray
                            ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`value_and_grad`, and each subject's OFV contribution."""
        total, grad, eta_hat, ofv_i = self._fn.value_and_grad(
            jnp.asarray(u), self.natural_fixed, jnp.asarray(etas), self.data)
        return float(total), np.asarray(grad), np.asarray(eta_hat), np.asarray(ofv_i)

    def per_subject(self, natural: np.ndarray, etas: np.ndarray,
                    max_iter: int | None = None) -> SubjectResult:
        """Per-subject OFV and eta modes at natural parameters, the modes searched from ``etas``
        with at most ``max_iter`` Newton iterations (default ``method.inner_max_iter``)."""
        limit = self.method.inner_max_iter if max_iter is None else int(max_iter)
        return self._fn.per_subject(jnp.asarray(natural), jnp.asarray(etas), self.data, limit)

    def natural(self, u: np.ndarray) -> np.ndarray:
        """Natural parameter vector of the optimiser vector ``u``."""
        return np.asarray(self._fn.natural_of(jnp.asarray(u), self.natural_fixed))

    def scores(self, natural: np.ndarray, etas: np.ndarray) -> np.ndarray:
        """Per-subject gradients of OFV_i with respect to the natural parameters."""
        return np.asarray(self._fn.scores(jnp.asarray(natural), jnp.asarray(etas), self.data))
