"""Covariance step: R (observed information), S (cross-product of scores) and the sandwich.

With OFV_i = -2 log L_i and g_i = dOFV_i/dx (exact, forward-mode) on the natural
parameters x (thetas, Omega elements, residual SDs):

- S = sum_i (g_i / 2)(g_i / 2)'                       (cross-product of scores)
- R = 1/2 d2 OFV / dx2                                 (observed information)
- covariance: R^-1 S R^-1 (``"sandwich"``, NONMEM's default), R^-1 (``"r"``) or S^-1 (``"s"``).
- condition number: largest / smallest eigenvalue of R (of S for ``"s"``), infinite when
  that matrix is not positive definite, in which case no covariance is given (status
  "R matrix is not positive definite ..."). Unlike NONMEM's (of the correlation matrix of
  the estimates) it depends on the units of the natural parameters. At the optimum of a
  non-identifiable model R is singular only up to rounding: its smallest eigenvalue can come
  out positive, the status "ok" with a huge condition number (3e8 on Wang 2007 with
  KE = tk1 * tk2 * exp(eta)), so read the condition number too.

R is the Jacobian of the exact total gradient, taken by central differences of
that gradient (step 1e-4 relative), so each column costs two gradient evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimation.evaluator import Evaluator


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
        return _invert(kind, names, S, S, "S")
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
    eig = np.linalg.eigvalsh(R)
    cond = float(eig.max() / eig.min()) if eig.min() > 0 else float("inf")
    if eig.min() <= 0:
        return Covariance(kind, names, None,
                          "R matrix is not positive definite (non-identifiable or not at a minimum)", cond)
    R_inv = np.linalg.inv(R)
    if kind == "r":
        return Covariance(kind, names, R_inv, "ok", cond)
    return Covariance(kind, names, R_inv @ S @ R_inv, "ok", cond)


def _invert(kind: str, names: tuple[str, ...], M: np.ndarray, _: np.ndarray, label: str) -> Covariance:
    eig = np.linalg.eigvalsh(M)
    cond = float(eig.max() / eig.min()) if eig.min() > 0 else float("inf")
    if eig.min() <= 0:
        return Covariance(kind, names, None, f"{label} matrix is not positive definite", cond)
    return Covariance(kind, names, np.linalg.inv(M), "ok", cond)
