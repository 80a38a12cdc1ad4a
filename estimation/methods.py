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
        unconstrained parameters; values below ``estimation.fit.GTOL_FLOOR`` (1e-3) act
        as the floor (see :func:`estimation.fit.fit`).
    edm_tol
        Convergence also when the estimated distance to the minimum (the OFV decrease a
        quasi-Newton step would still bring, 1/2 g' H^-1 g) is below this, in OFV units:
        on large datasets the gradient cannot reach ``gtol`` within the OFV's precision.
    inner_max_iter, inner_tol
        Newton iterations and gradient tolerance of the eta (mode) search; it also stops
        after a step of at most 1e-8 in every eta (``objectives.INNER_STEP_TOL``).
    zero_eta_start
        Where the outer search stops, search each subject's mode from eta = 0 as well (30
        Newton iterations) and keep the lower mode (as NONMEM's ``MCETA=1`` also tests
        eta = 0); when this lowers the OFV, the search restarts from there. Without
        it a mode warm-started at one parameter vector can stay in a secondary mode of the
        individual objective (flip-flop absorption, saturable elimination) after the
        parameters move on, and the fit can stop at a point whose OFV is not the OFV of
        its own modes.
    covariance
        ``"sandwich"`` (R^-1 S R^-1, default as NONMEM), ``"r"``, ``"s"`` or ``None``.
    """

    max_iter: int = 500
    gtol: float = 1e-4
    edm_tol: float = 1e-4
    inner_max_iter: int = 100
    inner_tol: float = 1e-9
    zero_eta_start: bool = True
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


@dataclass(frozen=True)
class AGQ(Method):
    """Adaptive Gauss-Hermite quadrature of the marginal likelihood (nlmixr2's ``"agq"``).

    Each subject's integral over eta is a tensor-product Gauss-Hermite rule with ``nodes``
    points per random effect, centred at the mode and scaled by the Hessian there
    (Pinheiro & Bates 1995): ``nodes=1`` is the Laplacian approximation, and the rule
    converges to the exact marginal likelihood as ``nodes`` grows. The default of 2 nodes
    with the expected-information Hessian is nlmixr2's, and reproduces its objective on the
    Wang 2007 reference set. A subject costs ``nodes ** n_eta`` extra solves per evaluation.

    Parameters
    ----------
    nodes
        Quadrature points per random effect (1-20).
    hessian
        ``"expected"`` (expected-information Hessian, as nlmixr2) or ``"exact"``.

    Examples
    --------
    >>> AGQ(nodes=3).nodes
    3
    """

    nodes: int = 2
    hessian: str = "expected"
    name = "AGQ"
    laplacian = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if int(self.nodes) != self.nodes or not 1 <= self.nodes <= 20:
            raise ValueError(f"AGQ nodes must be an integer from 1 to 20, got {self.nodes!r}")
        if self.hessian not in ("expected", "exact"):
            raise ValueError(f"hessian must be 'expected' or 'exact', got {self.hessian!r}")


@dataclass(frozen=True)
class SAEM(Method):
    """Stochastic approximation EM (Kuhn & Lavielle; Monolix), then importance sampling.

    Parameters
    ----------
    n_burn
        K1: exploration iterations (step size 1).
    n_smooth
        K2: smoothing iterations (step size 1/k).
    n_chains
        MCMC chains per subject; ``None`` chooses ceil(50 / subjects), as Monolix.
    kernels
        Moves per iteration of the four Metropolis-Hastings kernels
        (:mod:`estimation.saem_kernels`): prior draws, full-vector random walks,
        component-wise random-walk passes and draws from the running conditional moments
        (the three standard kernels of Monolix and saemix are ``(k1, k2, k3, 0)``).
    n_anneal
        Iterations with simulated annealing (variances and residual SDs shrink by at most
        ``anneal_factor`` per iteration); ``None``: the first half of exploration.
    anneal_factor
        Annealing: smallest allowed ratio of a variance (or SD) to its previous value.
    omega_start
        Exploration starts from Omega with every (estimated) variance at least this
        (Monolix starts from 1): wide random effects let the chains find the main mode
        (e.g. not the ka/ke flip-flop), annealing then shrinks them gradually. ``None``:
        start from the model's Omega.
    n_newton
        Fisher-scoring steps per iteration of the numerical M-step (residual error and
        thetas that are not mu-referenced).
    n_conditional
        MCMC iterations at the estimates for the conditional means and variances of eta
        (importance-sampling proposal) and the stochastic Fisher information.
    n_samples
        Importance-sampling draws per subject for the OFV.
    seed
        Seed of every random draw (``jax.random``); the same seed gives the same result.
    covariance
        ``"stochastic"`` (Fisher information by stochastic approximation, Louis' formula;
        default), ``"linearised"`` (FOCE-I R matrix at the estimates) or ``None``.
    inner_max_iter, inner_tol
        The conditional-mode (EBE) search after SAEM.

    Examples
    --------
    >>> SAEM(n_burn=200, n_smooth=100, seed=7).name
    'SAEM'
    """

    n_burn: int = 300
    n_smooth: int = 200
    n_chains: int | None = None
    kernels: tuple[int, int, int, int] = (2, 2, 1, 2)
    n_anneal: int | None = None
    anneal_factor: float = 0.95
    omega_start: float | None = 1.0
    n_newton: int = 3
    n_conditional: int = 50
    n_samples: int = 1000
    seed: int = 0
    covariance: str | None = "stochastic"

    name = "SAEM"

    def __post_init__(self) -> None:
        if self.covariance not in (None, "stochastic", "linearised"):
            raise ValueError(f"SAEM covariance must be 'stochastic', 'linearised' or None, "
                             f"got {self.covariance!r}")
        counts = {"n_burn": self.n_burn, "n_smooth": self.n_smooth, "n_samples": self.n_samples,
                  "n_conditional": self.n_conditional}
        for label, value in counts.items():
            if int(value) != value or value < 1:
                raise ValueError(f"SAEM {label} must be a positive integer, got {value!r}")
        if self.n_chains is not None and self.n_chains < 1:
            raise ValueError(f"SAEM n_chains must be >= 1 or None, got {self.n_chains!r}")
        if len(self.kernels) != 4 or min(self.kernels) < 0 or sum(self.kernels) == 0:
            raise ValueError(f"SAEM kernels must be four non-negative counts, not all zero, "
                             f"got {self.kernels!r}")
        if not 0 < self.anneal_factor <= 1:
            raise ValueError(f"SAEM anneal_factor must be in (0, 1], got {self.anneal_factor!r}")
        if self.omega_start is not None and not self.omega_start > 0:
            raise ValueError(f"SAEM omega_start must be > 0 or None, got {self.omega_start!r}")
        if self.n_newton < 1:
            raise ValueError(f"SAEM n_newton must be >= 1, got {self.n_newton!r}")


def method_from_name(name: str) -> Method:
    """Method from a command-line name: ``fo``, ``foce``, ``focei``, ``laplace``, ``agq`` or
    ``saem``."""
    table = {"fo": FO(), "foce": FOCE(), "focei": FOCEI(), "laplace": Laplace(), "agq": AGQ(),
             "saem": SAEM()}
    key = name.lower().replace("-", "")
    if key not in table:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(table)}")
    return table[key]
