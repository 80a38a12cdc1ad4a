"""Random effects: EBE (eta) distributions, and etas against covariates.

Examples
--------
>>> eta_distribution_plot(result).savefig("etas.png")  # doctest: +SKIP
>>> eta_covariate_plot(result).savefig("eta_covariates.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from estimation.plots.style import COLORS, hide_unused, new_figure, smoother, styled
from estimation.results import FitResult

#: a covariate with at most this many distinct values is drawn as categories (box plots)
MAX_CATEGORIES = 6


def eta_names(result: FitResult) -> list[str]:
    """The etas of the fit (columns of ``result.etas`` other than ID and ``var(...)``).

    Examples
    --------
    >>> eta_names(result)  # doctest: +SKIP
    ['eta_ka', 'eta_cl', 'eta_v']
    """
    return [c for c in result.etas.columns if c != "ID" and not c.startswith("var(")]


@styled
def eta_distribution_plot(result: FitResult, *, bins: int | str = "auto") -> Figure:
    """Histogram of each eta's EBEs with the fitted N(0, omega^2) density and the shrinkage.

    Parameters
    ----------
    result
        A fit with random effects.
    bins
        Histogram bins (as :func:`numpy.histogram_bin_edges`).

    Returns
    -------
    Figure
        One panel per eta (title: name, omega^2, shrinkage %), with a rug of the EBEs.

    Examples
    --------
    >>> eta_distribution_plot(result).axes[0].get_xlabel()  # doctest: +SKIP
    'eta_ka'
    """
    names = eta_names(result)
    if not names:
        raise ValueError(f"model {result.model_name!r} has no random effects (etas) to plot")
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    fig = new_figure(nrows, ncols, panel=(3.2, 2.8))
    for ax, name in zip(fig.axes, names, strict=False):
        values = result.etas[name].to_numpy(float)
        variance = result.omega.get(name, float("nan"))
        ax.hist(values, bins=np.histogram_bin_edges(values, bins=bins), density=True,
                color=COLORS["simulated"], alpha=0.6, edgecolor="white", label="EBE")
        ax.plot(values, np.zeros_like(values), "|", color=COLORS["observed"], ms=8, zorder=3)
        if np.isfinite(variance) and variance > 0:
            sd = np.sqrt(variance)
            half = max(3.5 * sd, np.max(np.abs(values)) * 1.05)
            grid = np.linspace(-half, half, 200)
            ax.plot(grid, np.exp(-0.5 * (grid / sd) ** 2) / (sd * np.sqrt(2 * np.pi)),
                    color=COLORS["density"], label=r"N(0, $\omega^2$)")
        ax.axvline(0.0, color=COLORS["reference"], lw=0.8)
        shrinkage = result.eta_shrinkage.get(name, float("nan"))
        ax.set_title(f"{name}: $\\omega^2$ {variance:.3g}, shrinkage {shrinkage:.1f}%")
        ax.set_xlabel(name)
        ax.set_ylabel("density")
    hide_unused(fig, len(names))
    fig.axes[0].legend(loc="upper left")
    fig.suptitle(f"{result.model_name} ({result.method}): random effects (EBEs)")
    return fig


def baseline_covariates(result: FitResult) -> pd.DataFrame:
    """One row per subject (index ID) with the first value of each covariate of the fit's data.

    Examples
    --------
    >>> baseline_covariates(result).columns.tolist()  # theo_sd  # doctest: +SKIP
    ['WT']
    """
    if result.data is None:
        raise ValueError("this result carries no data (loaded from JSON?): "
                         "set result.data to plot covariates")
    return result.data.baseline_covariates()


@styled
def eta_covariate_plot(result: FitResult, covariates: Sequence[str] | None = None) -> Figure:
    """Each eta against each baseline covariate.

    A continuous covariate gives a scatter plot with a LOESS smoother; one with at most
    :data:`MAX_CATEGORIES` distinct values gives box plots per category.

    Parameters
    ----------
    result
        A fit carrying its data (``result.data``).
    covariates
        Covariate columns (default: all covariates of the data).

    Returns
    -------
    Figure
        Rows: etas; columns: covariates.

    Examples
    --------
    >>> eta_covariate_plot(result, ["WT"]).axes[0].get_xlabel()  # doctest: +SKIP
    'WT'
    """
    names = eta_names(result)
    if not names:
        raise ValueError(f"model {result.model_name!r} has no random effects (etas) to plot")
    table = baseline_covariates(result)
    covariates = list(covariates) if covariates is not None else list(table.columns)
    unknown = [c for c in covariates if c not in table.columns]
    if unknown:
        raise ValueError(f"no covariate(s) {unknown} in the data; covariates: {list(table.columns)}")
    if not covariates:
        raise ValueError("the data have no covariates to plot the etas against")
    etas = result.etas.set_index("ID")
    joined = etas[names].join(table[covariates], how="inner")
    fig = new_figure(len(names), len(covariates), panel=(3.0, 2.6))
    for i, eta in enumerate(names):
        for j, cov in enumerate(covariates):
            ax = fig.axes[i * len(covariates) + j]
            x = pd.to_numeric(joined[cov], errors="coerce").to_numpy(float)
            y = joined[eta].to_numpy(float)
            levels = np.unique(x[np.isfinite(x)])
            if len(levels) <= MAX_CATEGORIES:
                groups = [y[x == level] for level in levels]
                ax.boxplot(groups, positions=np.arange(len(levels)), widths=0.5)
                ax.set_xticks(np.arange(len(levels)), [f"{v:g}" for v in levels])
            else:
                ax.scatter(x, y, s=14, color=COLORS["observed"], alpha=0.7, lw=0, zorder=3)
                smoother(ax, x, y)
            ax.axhline(0.0, color=COLORS["reference"], lw=0.8, zorder=1)
            ax.set_xlabel(cov)
            ax.set_ylabel(eta)
    fig.suptitle(f"{result.model_name} ({result.method}): random effects against covariates")
    return fig
