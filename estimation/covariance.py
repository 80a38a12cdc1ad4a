"""Covariance step: R (observed information), S (cross-product of scores) and the sandwich.

With OFV_i = -2 log L_i and g_i = dOFV_i/dx (exact, forward-mode) on the natural
parameters x (thetas, Omega elements, residual SDs):

- S = sum_i (g_i / 2)(g_i / 2)'                       (cross-product of scores)
- R = 1/2 d2 OFV / dx2                                 (observed information)
- covariance: R^-1 S R^-1 (``"sandwich"``, NONMEM's default), R^-1 (``"r"``) or S^-1 (``"s"``).
- condition number: largest / smallest eigenvalue of the correlation matrix of the estimates,
  as NONMEM prints it (independent of the parameters' units; above about 1000 the estimates
  are strongly correlated); infinite when no covariance is given.
- no covariance is given when R (S for ``"s"``) is not positive definite, or is singular to
  the precision of the step: the smallest eigenvalue of the unit-diagonal scaling of R,
  diag(R)^-1/2 R diag(R)^-1/2, below ``SINGULAR_RATIO`` (1e-6) times the largest. R comes
  from differences of gradients whose eta modes are found to about 1e-9, so a singular R
  (non-identifiable parameters, e.g. KE = tk1 * tk2 * exp(eta)) has scaled eigenvalues of
  that noise, positive or negative; an identifiable model with correlations of 0.999 has
  about 5e-4.

R is the Jacobian of the exact total gradient, taken by central differences of
that gradient (step 1e-4 relative), so each column costs two gradient evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimation.evaluator import Evaluator

#: R (or S) counts as singular when its unit-diagonal scaling has an eigenvalue ratio below this
SINGULAR_RATIO = 1e-6


@dataclass(frozen=True)
class Covariance:
    """Outcome of the covariance step on the estimated natural parameters."""

    kind: str | None
    names: tuple[str, ...]
    matrix: np.ndarray | None
    status: str
    condition_number: float

    @property
    def ok(self) -> bool:
        """Whether standard errors are available."""
        return self.matrix is not None

    def standard_errors(self) -> dict[str, float]:
        """``name -> SE`` (NaN when unavailable)."""
        if self.matrix is None:
            return {n: float("nan") for n in self.names}
        return {n: float(np.sqrt(max(v, 0.0))) for n, v in zip(self.names, np.diag(self.matrix), strict=True)}

    def correlation(self) -> np.ndarray | None:
        """Correlation matrix of the estimates."""
        if self.matrix is None:
            return None
        sd = np.sqrt(np.clip(np.diag(self.matrix), 1e-300, None))
        return self.matrix / np.outer(sd, sd)


def covariance_step(
    evaluator: Evaluator, natural: np.ndarray, etas: np.ndarray, kind: str | None
) -> Covariance:
    """Run the covariance step of ``kind`` at ``natural`` (etas warm-start the modes)."""
    space = evaluator.space
    est = np.flatnonzero(space.estimated)
    names = tuple(space.natural_names[i] for i in est)
    if kind is None:
        return Covariance(None, names, None, "not requested", float("nan"))
    scores = evaluator.scores(natural, etas)[:, est]
    if not np.all(np.isfinite(scores)):
        return Covariance(kind, names, None, "failed: non-finite gradients at the estimates", float("nan"))
    S = (scores / 2).T @ (scores / 2)
    if kind == "s":
        return from_information(kind, names, S, "S")
    R = np.zeros((len(est), len(est)))
    for col, i in enumerate(est):
        h = 1e-4 * max(abs(natural[i]), 1e-2)
        up, down = natural.copy(), natural.copy()
        up[i] += h
        down[i] -= h
        g_up = evaluator.scores(up, etas)[:, est].sum(axis=0)
        g_down = evaluator.scores(down, etas)[:, est].sum(axis=0)
        R[:, col] = (g_up - g_down) / (2 * h) / 2
    R = (R + R.T) / 2
    if not np.all(np.isfinite(R)):
        return Covariance(kind, names, None, "failed: non-finite R matrix", float("nan"))
    r_only = from_information(kind, names, R, "R")
    if kind == "r" or not r_only.ok:
        return r_only
    matrix = r_only.matrix @ S @ r_only.matrix
    return Covariance(kind, names, matrix, "ok", _correlation_condition(matrix))


def _definiteness(M: np.ndarray, label: str) -> str:
    """Empty when ``M`` is positive definite and not singular to ``SINGULAR_RATIO``, else why not."""
    not_definite = f"{label} matrix is not positive definite (non-identifiable or not at a minimum)"
    diag = np.diag(M)
    if np.any(diag <= 0):
        return not_definite
    scale = 1 / np.sqrt(diag)
    eig = np.linalg.eigvalsh(M * np.outer(scale, scale))
    if eig.min() <= 0:
        return not_definite
    if eig.min() < SINGULAR_RATIO * eig.max():
        return (f"{label} matrix is singular to the precision of the covariance step (scaled eigenvalue "
                f"ratio {eig.min() / eig.max():.1e} < {SINGULAR_RATIO:g}): non-identifiable parameters")
    return ""


def _correlation_condition(cov: np.ndarray) -> float:
    """Largest / smallest eigenvalue of the correlation matrix of ``cov`` (NONMEM's number)."""
    sd = np.sqrt(np.diag(cov))
    eig = np.linalg.eigvalsh(cov / np.outer(sd, sd))
    return float(eig.max() / eig.min()) if eig.min() > 0 else float("inf")


def from_information(kind: str, names: tuple[str, ...], M: np.ndarray, label: str) -> Covariance:
    """The covariance M^-1 of an information matrix ``M`` (R, S or SAEM's Fisher information,
    named ``label`` in the status), or why there is none.

    Examples
    --------
    >>> from_information("r", ("a", "b"), np.array([[4.0, 0.0], [0.0, 1.0]]), "R").matrix
    array([[0.25, 0.  ],
           [0.  , 1.  ]])
    """
    problem = _definiteness(M, label)
    if problem:
        return Covariance(kind, names, None, problem, float("inf"))
    matrix = np.linalg.inv(M)
    return Covariance(kind, names, matrix, "ok", _correlation_condition(matrix))
