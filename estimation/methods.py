"""Estimation methods: each a small class carrying its own options.

Examples
--------
>>> FOCEI().name
'FOCE-I'
>>> FOCE(max_iter=200).max_iter
200
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """Options shared by the likelihood-approximation methods.

    Parameters
    ----------
    max_iter
        Maximum outer (population parameter) iterations.
    gtol
        Convergence: largest absolute gradient of the OFV with respect to the
        unconstrained parameters.
    ftol
        Convergence: relative change of the OFV between iterations.
    edm_tol
        Convergence also when the estimated distance to the minimum (the OFV decrease a
        quasi-Newton step would still bring, 1/2 g' H^-1 g) is below this, in OFV units:
        on large datasets the gradient cannot reach ``gtol`` within the OFV's precision.
    inner_max_iter, inner_tol
        Newton iterations and gradient tolerance of the eta (mode) search.
    covariance
        ``"sandwich"`` (R^-1 S R^-1, default as NONMEM), ``"r"``, ``"s"`` or ``None``.
    """

    max_iter: int = 500
    gtol: float = 1e-4
    ftol: float = 1e-10
    edm_tol: float = 1e-4
    inner_max_iter: int = 100
    inner_tol: float = 1e-9
    covariance: str | None = "sandwich"

    name = "method"
    conditional = True   # eta at the mode (FOCE family) rather than at zero (FO)
    interaction = True   # residual variance evaluated at the individual prediction
    laplacian = False    # exact second derivatives in the integral approximation

    def __post_init__(self) -> None:
        if self.covariance not in (None, "sandwich", "r", "s"):
            raise ValueError(f"covariance must be 'sandwich', 'r', 's' or None, got {self.covariance!r}")


@dataclass(frozen=True)
class FO(Method):
    """First-order: the model linearised around eta = 0."""

    name = "FO"
    conditional = False
    interaction = False


@dataclass(frozen=True)
class FOCE(Method):
    """First-order conditional estimation (no interaction)."""

    name = "FOCE"
    interaction = False


@dataclass(frozen=True)
class FOCEI(Method):
    """First-order conditional estimation with interaction (NONMEM's FOCE INTER)."""

    name = "FOCE-I"


@dataclass(frozen=True)
class Laplace(Method):
    """Laplacian approximation of the marginal likelihood.

    ``hessian="expected"`` (default) uses the expected-information Hessian in
    eta (what NONMEM's and nlmixr2's Laplace objectives give on the Wang 2007
    reference set, equal to FOCE-I's); ``hessian="exact"`` uses the exact
    second derivatives of the individual objective.
    """

    hessian: str = "expected"
    name = "Laplace"
    laplacian = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hessian not in ("expected", "exact"):
            raise ValueError(f"hessian must be 'expected' or 'exact', got {self.hessian!r}")


def method_from_name(name: str) -> Method:
    """Method from a command-line name: ``fo``, ``foce``, ``focei`` or ``laplace``."""
    table = {"fo": FO(), "foce": FOCE(), "focei": FOCEI(), "laplace": Laplace()}
    key = name.lower().replace("-", "")
    if key not in table:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(table)}")
    return table[key]
