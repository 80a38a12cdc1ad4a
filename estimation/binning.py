"""Bins of the independent variable (time) for visual predictive checks.

- ``"time"``: ``n_bins`` intervals of equal width between the smallest and largest time;
- ``"quantile"``: ``n_bins`` intervals holding about the same number of observations (tied
  times never straddle an edge, so there may be fewer bins; when many observations share the
  largest time, the last bin holds that time alone, ``[t_max, t_max]``);
- a sequence of edges given by the user.

Every bin is closed on the left and open on the right, ``[lo, hi)``, except the last, ``[lo, hi]``.
Empty bins are dropped by the callers.

Examples
--------
>>> bin_edges(np.array([0.5, 1, 2, 4, 8, 12, 24]), "quantile", 3)
array([ 0.5,  4. , 12. , 24. ])
>>> assign_bins(np.array([0.5, 1, 2, 24]), np.array([0.5, 2.0, 24.0]))
array([0, 0, 1, 1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: default number of bins: at most this many, and never more than the distinct times
DEFAULT_N_BINS = 10
BINNINGS = ("time", "quantile")


def bin_edges(times: np.ndarray, bins: str | Sequence[float], n_bins: int | None = None) -> np.ndarray:
    """Increasing bin edges for ``times`` (``n_bins + 1`` of them, fewer for tied quantiles).

    Parameters
    ----------
    times
        The times (or other independent variable) of the observations.
    bins
        ``"time"`` (equal width), ``"quantile"`` (equal counts) or the edges themselves.
    n_bins
        Number of bins for ``"time"`` and ``"quantile"``; default ``min(10, distinct times)``.

    Returns
    -------
    numpy.ndarray
        The edges, increasing (strictly, except a last bin ``[t_max, t_max]`` of quantile bins).

    Examples
    --------
    >>> bin_edges(np.array([0.0, 1, 2, 3, 4]), "time", 2)
    array([0., 2., 4.])
    """
    times = np.asarray(times, dtype=float)
    if times.size == 0:
        raise ValueError("no observations to bin")
    if not np.all(np.isfinite(times)):
        raise ValueError("the times to bin must be finite")
    if isinstance(bins, str):
        if bins not in BINNINGS:
            raise ValueError(f"bins must be one of {BINNINGS} or a sequence of edges, got {bins!r}")
        distinct = np.unique(times)
        n = min(DEFAULT_N_BINS, distinct.size) if n_bins is None else int(n_bins)
        if n < 1:
            raise ValueError(f"n_bins must be at least 1, got {n_bins}")
        lo, hi = float(distinct[0]), float(distinct[-1])
        if hi == lo:
            return np.array([lo, lo + 1.0]) if lo == 0 else np.array([lo, lo + abs(lo)])
        if bins == "time":
            return np.linspace(lo, hi, n + 1)
        return _quantile_edges(np.sort(times), n)
    edges = np.asarray(bins, dtype=float)
    if n_bins is not None and n_bins != edges.size - 1:
        raise ValueError(f"n_bins = {n_bins} does not match the {edges.size} edges given")
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(
            f"bin edges must be at least 2 finite, strictly increasing numbers, got {list(edges)}")
    outside = (times < edges[0]) | (times > edges[-1])
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} observation(s) (times {times[outside].min():g} to "
            f"{times[outside].max():g}) lie outside the bin edges [{edges[0]:g}, {edges[-1]:g}]; "
            "widen the edges or subset the data"
        )
    return edges


def _quantile_edges(ordered: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges splitting sorted times into ``n_bins`` groups of about equal size, ties kept together.

    Group k starts at the time of rank ceil(k n / n_bins); when many observations share the
    largest time, the last bin is that time alone, ``[t_max, t_max]``.
    """
    n = ordered.size
    ranks = np.minimum(np.ceil(n * np.arange(1, n_bins) / n_bins).astype(int), n - 1)
    starts = np.unique(ordered[ranks])
    starts = starts[starts > ordered[0]]
    return np.concatenate([[ordered[0]], starts, [ordered[-1]]])


def assign_bins(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """0-based bin of each time: ``[lo, hi)``, the last bin closed ``[lo, hi]``.

    Examples
    --------
    >>> assign_bins(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0]))
    array([0, 1, 1])
    """
    index = np.searchsorted(edges, np.asarray(times, dtype=float), side="right") - 1
    return np.clip(index, 0, edges.size - 2)
