"""Population parameters: thetas, the Omega matrix and residual-error parameters,
and their packing into one unconstrained vector for the optimiser.

Natural scale: thetas as written in the model, Omega as a covariance matrix,
residual-error parameters as standard deviations (``add_sd``, ``prop_sd``).
Unconstrained scale: bounded thetas through a logit/log map, each Omega block
through the log-Cholesky parameterisation, error SDs through log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

Array = jnp.ndarray


@dataclass(frozen=True)
class Theta:
    """A fixed effect with its initial value, optional bounds and fixed flag.

    Examples
    --------
    >>> Theta(0.45).init
    0.45
    >>> Theta(0.3, lower=0, upper=1).bounded
    True
    """

    init: float
    lower: float = -np.inf
    upper: float = np.inf
    fixed: bool = False

    def __post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ValueError(f"theta bounds must satisfy lower < upper, got ({self.lower}, {self.upper})")
        if not self.lower < self.init < self.upper and not self.fixed:
            raise ValueError(
                f"theta initial value {self.init} must lie strictly inside ({self.lower}, {self.upper})"
            )

    @property
    def bounded(self) -> bool:
        """Whether any bound is finite."""
        return bool(np.isfinite(self.lower) or np.isfinite(self.upper))


def as_theta(value: float | Theta) -> Theta:
    """A :class:`Theta` from a number (initial value) or a Theta."""
    return value if isinstance(value, Theta) else Theta(float(value))


@dataclass(frozen=True)
class OmegaBlock:
    """A block of the Omega matrix: correlated etas ``names`` with covariance ``matrix``.

    Examples
    --------
    >>> OmegaBlock(("eta_cl", "eta_v"), ((0.1, 0.01), (0.01, 0.1))).size
    2
    """

    names: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    fixed: bool = False

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=float)
        if m.shape != (len(self.names), len(self.names)):
            raise ValueError(f"Omega block {self.names}: matrix must be {len(self.names)}x{len(self.names)}")
        if not np.allclose(m, m.T):
            raise ValueError(f"Omega block {self.names}: matrix must be symmetric")
        if np.any(np.linalg.eigvalsh(m) <= 0):
            raise ValueError(f"Omega block {self.names}: matrix must be positive definite")

    @property
    def size(self) -> int:
        """Number of etas in the block."""
        return len(self.names)


def omega_blocks(spec: Mapping[str, float] | Sequence[OmegaBlock] | None) -> tuple[OmegaBlock, ...]:
    """Normalise an Omega specification: ``{eta: variance}`` (diagonal) or blocks."""
    if spec is None:
        return ()
    if isinstance(spec, Mapping):
        return tuple(OmegaBlock((name,), ((float(var),),)) for name, var in spec.items())
    return tuple(spec)


@dataclass(frozen=True)
class ParameterSpace:
    """Names, initial values and transforms of every population parameter.

    The natural vector is ``[thetas..., omega lower-triangle of each block..., sigmas...]``;
    :meth:`to_unconstrained` / :meth:`from_unconstrained` map the estimated
    (non-fixed) part to and from the optimiser's vector.
    """

    theta_names: tuple[str, ...]
    thetas: tuple[Theta, ...]
    eta_names: tuple[str, ...]
    blocks: tuple[OmegaBlock, ...]
    sigma_names: tuple[str, ...]
    sigma_init: tuple[float, ...]
    sigma_fixed: tuple[bool, ...]

    # ------------------------------------------------------------ natural scale
    @property
    def omega_element_names(self) -> tuple[str, ...]:
        """Names of the Omega elements (variances ``eta_cl``; covariances ``eta_cl,eta_v``)."""
        names = []
        for block in self.blocks:
            for i in range(block.size):
                for j in range(i + 1):
                    a, b = block.names[i], block.names[j]
                    names.append(a if i == j else f"{b},{a}")
        return tuple(names)

    @property
    def natural_names(self) -> tuple[str, ...]:
        """Names of the natural parameter vector."""
        omega = tuple(f"omega({n})" for n in self.omega_element_names)
        return self.theta_names + omega + self.sigma_names

    def natural_init(self) -> np.ndarray:
        """Initial natural vector."""
        omega = []
        for block in self.blocks:
            m = np.asarray(block.matrix, dtype=float)
            for i in range(block.size):
                for j in range(i + 1):
                    omega.append(m[i, j])
        return np.asarray([t.init for t in self.thetas] + omega + list(self.sigma_init), dtype=float)

    def split(self, natural: Array) -> tuple[Array, Array, Array]:
        """``(theta, Omega matrix, sigma)`` from a natural vector (NumPy arrays for a NumPy
        vector, so host code compiles nothing; JAX arrays otherwise)."""
        nt = len(self.thetas)
        no = len(self.omega_element_names)
        theta = natural[:nt]
        omega_flat = natural[nt:nt + no]
        sigma = natural[nt + no:]
        k = len(self.eta_names)
        rows: list[int] = []
        cols: list[int] = []
        index: list[int] = []
        pos, offset = 0, 0
        for block in self.blocks:
            for i in range(block.size):
                for j in range(i + 1):
                    rows += [offset + i, offset + j]
                    cols += [offset + j, offset + i]
                    index += [pos, pos]
                    pos += 1
            offset += block.size
        r, c, e = np.asarray(rows, int), np.asarray(cols, int), np.asarray(index, int)
        if isinstance(natural, np.ndarray):
            omega = np.zeros((k, k))
            omega[r, c] = omega_flat[e]
        else:
            omega = jnp.zeros((k, k)).at[r, c].set(omega_flat[e])
        return theta, omega, sigma

    # ------------------------------------------------------- unconstrained scale
    @property
    def estimated(self) -> np.ndarray:
        """Boolean mask of the natural vector: True where estimated (not fixed)."""
        mask = [not t.fixed for t in self.thetas]
        for block in self.blocks:
            mask += [not block.fixed] * (block.size * (block.size + 1) // 2)
        mask += [not f for f in self.sigma_fixed]
        return np.asarray(mask, dtype=bool)

    def to_unconstrained(self, natural: np.ndarray) -> np.ndarray:
        """Optimiser vector (estimated parameters only) from a natural vector."""
        natural = np.asarray(natural, dtype=float)
        out = []
        for t, value in zip(self.thetas, natural[: len(self.thetas)], strict=True):
            out.append(_theta_to_u(t, value))
        pos = len(self.thetas)
        for block in self.blocks:
            size = block.size * (block.size + 1) // 2
            m = _tri_to_matrix(natural[pos:pos + size], block.size)
            chol = np.linalg.cholesky(m)
            for i in range(block.size):
                for j in range(i + 1):
                    out.append(np.log(chol[i, j]) if i == j else chol[i, j])
            pos += size
        out += list(np.log(natural[pos:]))
        return np.asarray(out, dtype=float)[self.estimated]

    def from_unconstrained(self, u: Array, natural_fixed: Array) -> Array:
        """Natural vector from the optimiser vector (fixed entries from ``natural_fixed``)."""
        full = jnp.zeros(len(self.estimated))
        full = full.at[np.flatnonzero(self.estimated)].set(u)
        out = []
        for i, t in enumerate(self.thetas):
            out.append(natural_fixed[i] if t.fixed else _theta_from_u(t, full[i]))
        pos = len(self.thetas)
        for block in self.blocks:
            size = block.size * (block.size + 1) // 2
            if block.fixed:
                out += [natural_fixed[pos + k] for k in range(size)]
            else:
                chol = jnp.zeros((block.size, block.size))
                k = 0
                for i in range(block.size):
                    for j in range(i + 1):
                        v = full[pos + k]
                        chol = chol.at[i, j].set(jnp.exp(v) if i == j else v)
                        k += 1
                m = chol @ chol.T
                out += [m[i, j] for i in range(block.size) for j in range(i + 1)]
            pos += size
        for k, fixed in enumerate(self.sigma_fixed):
            out.append(natural_fixed[pos + k] if fixed else jnp.exp(full[pos + k]))
        return jnp.stack(out)


def _theta_to_u(t: Theta, value: float) -> float:
    lo, hi = t.lower, t.upper
    if np.isfinite(lo) and np.isfinite(hi):
        z = (value - lo) / (hi - lo)
        return float(np.log(z / (1 - z)))
    if np.isfinite(lo):
        return float(np.log(value - lo))
    if np.isfinite(hi):
        return float(np.log(hi - value))
    return float(value)


def _theta_from_u(t: Theta, u: Array) -> Array:
    lo, hi = t.lower, t.upper
    if np.isfinite(lo) and np.isfinite(hi):
        return lo + (hi - lo) / (1 + jnp.exp(-u))
    if np.isfinite(lo):
        return lo + jnp.exp(u)
    if np.isfinite(hi):
        return hi - jnp.exp(u)
    return u


def _tri_to_matrix(values: np.ndarray, size: int) -> np.ndarray:
    m = np.zeros((size, size))
    k = 0
    for i in range(size):
        for j in range(i + 1):
            m[i, j] = m[j, i] = values[k]
            k += 1
    return m
