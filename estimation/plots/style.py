"""The one style of every popkin figure: sizes, fonts, colours, reference lines, smoother.

Figures are built on :class:`matplotlib.figure.Figure` directly (no ``pyplot``: no global
state, no window, nothing to close), with the settings of :data:`RC` applied while they
are drawn.

Examples
--------
>>> fig = new_figure(1, 2)
>>> len(fig.axes), fig.get_size_inches().tolist()
(2, [8.0, 3.5])
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: colours (colour-blind safe, Okabe-Ito) with the role they play in every figure
COLORS = {
    "observed": "#404040",
    "ipred": "#0072B2",
    "pred": "#D55E00",
    "smooth": "#CC79A7",
    "reference": "#7F7F7F",
    "simulated": "#56B4E9",
    "simulated_median": "#E69F00",
    "density": "#009E73",
    "observed_percentile": "#B2182B",
}
#: matplotlib settings applied while a figure is built
RC: dict[str, object] = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "lines.markersize": 3.5,
    "savefig.dpi": 150,
    "figure.dpi": 100,
}
PANEL_SIZE = (4.0, 3.5)  # inches per panel

P = ParamSpec("P")
T = TypeVar("T")


def styled(function: Callable[P, T]) -> Callable[P, T]:
    """Run ``function`` (a plot builder) with the settings of :data:`RC`.

    Examples
    --------
    >>> @styled
    ... def size() -> float:
    ...     return mpl.rcParams["font.size"]
    >>> size()
    9.0
    """

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with mpl.rc_context(RC):
            return function(*args, **kwargs)

    return wrapper


@styled
def new_figure(nrows: int, ncols: int, *, panel: tuple[float, float] | None = None,
               sharex: bool = False, sharey: bool = False) -> Figure:
    """A figure with an ``nrows`` x ``ncols`` grid of panels of :data:`PANEL_SIZE` inches.

    Examples
    --------
    >>> [int(i) for i in new_figure(2, 3).axes[4].get_subplotspec().get_geometry()]
    [2, 3, 4, 4]
    """
    width, height = panel or PANEL_SIZE
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False)
    return fig


def identity_line(ax: Axes) -> None:
    """The line y = x across the current limits of ``ax`` (which are kept equal on both axes).

    Examples
    --------
    >>> ax = new_figure(1, 1).axes[0]; _ = ax.plot([1, 3], [2, 5], "o"); identity_line(ax)
    >>> ax.get_xlim() == ax.get_ylim()
    True
    """
    lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
    hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], color=COLORS["reference"], lw=1.0, ls="-", zorder=1, label="identity")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)


def horizontal_lines(ax: Axes, levels: tuple[float, ...] = (0.0,),
                     dashed: tuple[float, ...] = (-2.0, 2.0)) -> None:
    """Reference lines of a residual plot: solid at ``levels``, dashed at ``dashed``.

    Examples
    --------
    >>> ax = new_figure(1, 1).axes[0]; horizontal_lines(ax)
    >>> [float(li.get_ydata()[0]) for li in ax.get_lines()]
    [0.0, -2.0, 2.0]
    """
    for y in levels:
        ax.axhline(y, color=COLORS["reference"], lw=1.0, zorder=1)
    for y in dashed:
        ax.axhline(y, color=COLORS["reference"], lw=0.8, ls="--", zorder=1)


def smoother(ax: Axes, x: np.ndarray, y: np.ndarray, *, log: bool = False, label: str = "LOESS") -> None:
    """Draw the :func:`loess` curve of ``y`` against ``x`` (when there are enough points).

    With ``log`` the curve is fitted to log x and log y (positive points only) and drawn
    back on the original scale, for logarithmic axes.

    Examples
    --------
    >>> ax = new_figure(1, 1).axes[0]; x = np.arange(10.0); smoother(ax, x, x**2)
    >>> ax.get_lines()[0].get_label()
    'LOESS'
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & ((x > 0) & (y > 0) if log else True)
    x, y = (np.log(x[keep]), np.log(y[keep])) if log else (x[keep], y[keep])
    if len(x) < 5 or np.ptp(x) == 0:
        return
    grid, fitted = loess(x, y)
    if log:
        grid, fitted = np.exp(grid), np.exp(fitted)
    ax.plot(grid, fitted, color=COLORS["smooth"], lw=1.6, zorder=4, label=label)


def loess(x: np.ndarray, y: np.ndarray, *, span: float = 2 / 3,
          n_grid: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Local linear regression with tricube weights (Cleveland's LOESS, degree 1, no robustness step).

    Parameters
    ----------
    x, y
        The points (finite).
    span
        Fraction of the points in each local fit (R's ``loess(span=)``, xpose's default 2/3).
    n_grid
        Number of evaluation points, evenly spaced over the range of ``x``.

    Returns
    -------
    grid, fitted
        Where the curve is evaluated and its values. A local linear fit reproduces a
        straight line exactly.

    Notes
    -----
    The neighbourhood is the ``floor(span * n)`` nearest points, as R's
    ``loess(degree = 1, family = "gaussian", surface = "direct")``, which it reproduces
    (``tests/data/scripts/loess_cars.R``).

    Examples
    --------
    >>> x = np.linspace(0, 10, 30)
    >>> grid, fitted = loess(x, 2 * x + 1, n_grid=5)
    >>> np.allclose(fitted, 2 * grid + 1)
    True
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    grid = np.linspace(x.min(), x.max(), n_grid)
    k = max(3, int(np.floor(span * len(x))))  # R: q = floor(n * span)
    distance = np.abs(x[None, :] - grid[:, None])  # grid x points
    h = np.sort(distance, axis=1)[:, min(k, len(x)) - 1]
    h = np.where(h > 0, h, 1.0) * (1 + 1e-12)
    w = np.clip(1 - (distance / h[:, None]) ** 3, 0, None) ** 3
    sw, swx, swy = w.sum(1), (w * x).sum(1), (w * y).sum(1)
    swxx, swxy = (w * x * x).sum(1), (w * x * y).sum(1)
    det = sw * swxx - swx**2
    safe = np.abs(det) > 1e-12 * np.maximum(sw * swxx, 1e-300)
    slope = np.where(safe, (sw * swxy - swx * swy) / np.where(safe, det, 1.0), 0.0)
    intercept = (swy - slope * swx) / sw
    return grid, intercept + slope * grid


def hide_unused(fig: Figure, n_used: int) -> None:
    """Hide the panels after the first ``n_used`` (a grid larger than its content).

    Examples
    --------
    >>> fig = new_figure(1, 3); hide_unused(fig, 2)
    >>> [ax.get_visible() for ax in fig.axes]
    [True, True, False]
    """
    for ax in fig.axes[n_used:]:
        ax.set_visible(False)
