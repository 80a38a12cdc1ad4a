"""Closed-form eigenvalues of linear compartment models (the sum-of-exponentials solution).

A linear compartment model dA/dt = K A + R has the solution
``A(t) = sum_i exp(l_i t) P_i A0 + sum_i (exp(l_i t) - 1) / l_i P_i R``: a sum of
exponentials whose exponents are the eigenvalues ``l_i`` of K (the spectral propagator in
:mod:`compartments.propagators` builds the projectors ``P_i`` from K and the ``l_i``).

The eigenvalues come in closed form from the structure of the graph. The strongly
connected components of the flow graph (compartments that exchange mass both ways) are
the diagonal blocks of K in a block-triangular order, so the eigenvalues of K are those
of the blocks:

- a compartment alone (depot, transit compartment, one-compartment disposition):
  the diagonal entry, e.g. ``-KA``;
- two exchanging compartments (two-compartment disposition): the quadratic formula,
  in the cancellation-free form ``l1 = tr/2 - sqrt(tr^2/4 - det)``, ``l2 = det / l1``;
- three (three-compartment disposition): the trigonometric solution of the cubic
  (three real roots, as NONMEM's ADVAN11/12), the smallest in magnitude recomputed
  from the product of the roots to avoid cancellation.

So a three-compartment model with first-order absorption (4 states) is a depot block
and a three-state disposition block, solved exactly. Blocks of more than three states,
and symbolically equal eigenvalues (a transit chain with one rate constant: the
spectral formula needs distinct eigenvalues) have no spectral form here; those models
use the matrix exponential. Derivatives are exact: JAX differentiates the formulas.

Examples
--------
>>> import sympy as sp
>>> k10, k12, k21, ka = sp.symbols("k10 k12 k21 ka", positive=True)
>>> K = sp.Matrix([[-ka, 0, 0], [ka, -k10 - k12, k21], [0, k12, -k21]])
>>> spectral_blocks(K)
((0,), (1, 2))
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import sympy as sp

Array = jnp.ndarray

#: Largest diagonal block solved in closed form (the cubic).
MAX_BLOCK = 3


def spectral_blocks(K: sp.Matrix) -> tuple[tuple[int, ...], ...] | None:
    """The diagonal blocks of ``K`` (strongly connected components of the flow graph).

    Returns the blocks as tuples of state indices, or ``None`` when a block is larger
    than :data:`MAX_BLOCK`, two one-state blocks have symbolically equal rate
    constants (repeated eigenvalues), or a one-state block is a sink (eigenvalue 0).

    Examples
    --------
    >>> import sympy as sp
    >>> k = sp.Symbol("k")
    >>> spectral_blocks(sp.Matrix([[-k, 0], [k, -k]])) is None   # a transit chain
    True
    """
    n = K.shape[0]
    reach = np.eye(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and sp.simplify(K[i, j]) != 0:
                reach[j, i] = True  # mass flows from j to i
    for k in range(n):
        reach = reach | (reach[:, [k]] & reach[[k], :])
    blocks: list[tuple[int, ...]] = []
    seen: set[int] = set()
    for i in range(n):
        if i in seen:
            continue
        block = tuple(j for j in range(n) if reach[i, j] and reach[j, i])
        seen |= set(block)
        if len(block) > MAX_BLOCK:
            return None
        blocks.append(block)
    singles = [sp.simplify(K[b[0], b[0]]) for b in blocks if len(b) == 1]
    if any(value == 0 for value in singles):
        # a sink (a compartment that never empties, e.g. a cumulative eliminated amount) has
        # eigenvalue 0, which the disposition shares whenever its clearance is 0
        return None
    for a in range(len(singles)):
        for b in range(a):
            if sp.simplify(singles[a] - singles[b]) == 0:
                return None
    return tuple(blocks)


def eigenvalue_function(
    blocks: tuple[tuple[int, ...], ...], linear_matrix: Callable[[Array], Array]
) -> Callable[[Array], Array]:
    """``p -> eigenvalues of K(p)`` in closed form, block by block (see the module docstring).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> K = lambda p: jnp.array([[-p[0], 0.0], [p[0], -p[1]]])
    >>> eigenvalue_function(((0,), (1,)), K)(jnp.array([1.5, 0.2])).tolist()
    [-1.5, -0.2]
    """

    def eigenvalues(p: Array) -> Array:
        K = linear_matrix(p)
        values = []
        for block in blocks:
            idx = jnp.asarray(block)
            B = K[idx][:, idx]
            if len(block) == 1:
                values.append(B[0, 0][None])
            elif len(block) == 2:
                values.append(_quadratic_roots(B))
            else:
                values.append(_cubic_roots(B))
        return jnp.concatenate(values)

    return eigenvalues


def _quadratic_roots(B: Array) -> Array:
    tr = B[0, 0] + B[1, 1]
    det = B[0, 0] * B[1, 1] - B[0, 1] * B[1, 0]
    disc = jnp.maximum(tr * tr / 4 - det, 0.0)
    # tr < 0 for compartment models: subtracting the root adds magnitudes, no cancellation
    large = tr / 2 - jnp.sqrt(disc)
    return jnp.stack([large, det / large])


def _cubic_roots(B: Array) -> Array:
    # characteristic polynomial l^3 + a l^2 + b l + c
    a = -jnp.trace(B)
    b = (B[0, 0] * B[1, 1] - B[0, 1] * B[1, 0] + B[0, 0] * B[2, 2] - B[0, 2] * B[2, 0]
         + B[1, 1] * B[2, 2] - B[1, 2] * B[2, 1])
    det = (B[0, 0] * (B[1, 1] * B[2, 2] - B[1, 2] * B[2, 1])
           - B[0, 1] * (B[1, 0] * B[2, 2] - B[1, 2] * B[2, 0])
           + B[0, 2] * (B[1, 0] * B[2, 1] - B[1, 1] * B[2, 0]))
    c = -det
    p = b - a * a / 3
    q = 2 * a**3 / 27 - a * b / 3 + c
    # three real roots (p < 0): x_k = 2 sqrt(-p/3) cos(acos(3q/(2p) sqrt(-3/p))/3 - 2 pi k/3)
    m = jnp.sqrt(-p / 3)
    arg = jnp.clip(3 * q / (2 * p) / m, -1.0, 1.0)
    theta = jnp.arccos(arg) / 3
    roots = [2 * m * jnp.cos(theta - 2 * jnp.pi * k / 3) - a / 3 for k in (1, 2)]
    # the root nearest zero (k = 0) loses digits to cancellation: take it from the product
    smallest = -c / (roots[0] * roots[1])
    return jnp.stack([smallest, roots[0], roots[1]])
