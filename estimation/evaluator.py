"""Compiled population objective: OFV, exact gradients and per-subject pieces.

One set of jit-compiled functions per (model, method, data layout), cached, with
the data passed as arguments, so that refitting the same model to data of the
same shape (bootstrap, simulation-estimation) reuses the compiled program; the
traced programs are also stored on disk (:mod:`compartments.stored_programs`), so
that a new process neither traces nor (with the compile cache) compiles them:

- the per-subject objective ``vmap``-ed over subjects;
- the per-subject gradients with respect to the natural parameters (forward mode
  through the propagators' exact derivatives and the implicit derivative of the eta
  modes): summed and chained with d natural / d u they are the optimiser's exact
  gradient, as they stand the covariance step's scores.
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
    subject_gradients: object
    per_subject: object
    natural_of: object
    subject_model: SubjectModel


@lru_cache(maxsize=32)
def _compiled(model: PopulationModel, method: Method, options: OdeOptions, layout: Layout) -> _Compiled:
    space = model.space
    sm = SubjectModel(model, layout, options)
    per_subject = jax.vmap(subject_objective(sm, method), in_axes=(None, 0, 0, None))
    full_search = method.inner_max_iter  # Newton iterations of a converged mode search

    def natural_of(u: Array, natural_fixed: Array) -> tuple[Array, Array]:
        natural = space.from_unconstrained(u, natural_fixed)
        return natural, jax.jacfwd(space.from_unconstrained)(u, natural_fixed)

    def subject_gradients(natural, etas, data):  # type: ignore[no-untyped-def]
        def ofv(x: Array) -> tuple[Array, tuple[Array, Array]]:
            res = per_subject(x, etas, data, full_search)
            return res.ofv, (res.ofv, res.eta)

        jac, (ofv_i, eta_hat) = jax.jacfwd(ofv, has_aux=True)(natural)
        return ofv_i, eta_hat, jac

    # one program serves the optimiser's gradient and the covariance step's scores: fewer
    # programs to load in a new process (each costs 0.1-0.5 s to read from the cache)
    key = (model, method, options, layout)
    return _Compiled(
        subject_gradients=StoredJit(subject_gradients, name="objective.subject_gradients", key=key),
        per_subject=StoredJit(per_subject, name="objective.per_subject", key=key),
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
        self.natural_fixed = jax.device_put(self.space.natural_init())
        # the compiled objective depends only on the method's objective options
        self.objective_method = replace(self.method, max_iter=0, gtol=0.0, edm_tol=0.0,
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
        """As :meth:`value_and_grad`, and each subject's OFV contribution.

        The gradient is the chain rule on the host: the subjects' gradients in the
        estimated natural parameters times d natural / d ``u``.
        """
        natural, jac_u = self._fn.natural_of(np.asarray(u, dtype=float), self.natural_fixed)
        ofv_i, eta_hat, jac = self._fn.subject_gradients(natural, np.asarray(etas, dtype=float), self.data)
        est = self.space.estimated
        ofv_i = np.asarray(ofv_i)
        grad = np.asarray(jac)[:, est].sum(axis=0) @ np.asarray(jac_u)[est]
        return float(ofv_i.sum()), grad, np.asarray(eta_hat), ofv_i

    def per_subject(self, natural: np.ndarray, etas: np.ndarray,
                    max_iter: int | None = None) -> SubjectResult:
        """Per-subject OFV and eta modes at natural parameters, the modes searched from ``etas``
        with at most ``max_iter`` Newton iterations (default ``method.inner_max_iter``)."""
        limit = self.method.inner_max_iter if max_iter is None else int(max_iter)
        return self._fn.per_subject(np.asarray(natural, dtype=float), np.asarray(etas, dtype=float),
                                    self.data, limit)

    def natural(self, u: np.ndarray) -> np.ndarray:
        """Natural parameter vector of the optimiser vector ``u``."""
        natural, _ = self._fn.natural_of(np.asarray(u, dtype=float), self.natural_fixed)
        return np.asarray(natural)

    def scores(self, natural: np.ndarray, etas: np.ndarray) -> np.ndarray:
        """Per-subject gradients of OFV_i with respect to the natural parameters."""
        _, _, jac = self._fn.subject_gradients(np.asarray(natural, dtype=float),
                                               np.asarray(etas, dtype=float), self.data)
        return np.asarray(jac)
