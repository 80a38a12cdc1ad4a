"""Goodness-of-fit panel: DV vs PRED, DV vs IPRED, CWRES vs TIME, CWRES vs PRED.

Examples
--------
>>> fig = gof_plot(result)  # doctest: +SKIP
>>> fig.savefig("gof.png")  # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from estimation.plots.style import COLORS, horizontal_lines, identity_line, new_figure, smoother, styled
from estimation.results import FitResult

#: the four panels: (x column, y column, kind)
GOF_PANELS = (("PRED", "DV", "identity"), ("IPRED", "DV", "identity"),
              ("TIME", "CWRES", "residual"), ("PRED", "CWRES", "residual"))


@styled
def gof_plot(result: FitResult, *, log: bool = False) -> Figure:
    """The four standard goodness-of-fit panels (xpose's ``basic_gof``).

    DV against PRED and IPRED with the identity line, CWRES against TIME and PRED with
    lines at 0 and +/-2; every panel has a LOESS smoother (span 2/3).

    Parameters
    ----------
    result
        A fit (its ``table``: one row per observation).
    log
        Logarithmic axes for the DV panels (positive values only).

    Returns
    -------
    Figure
        Two by two panels, in the order of :data:`GOF_PANELS`.

    Examples
    --------
    >>> gof_plot(result).axes[1].get_xlabel()  # doctest: +SKIP
    'IPRED'
    """
    table = result.table
    _require(table, {"DV", "PRED", "IPRED", "TIME", "CWRES"})
    fig = new_figure(2, 2)
    for ax, (xname, yname, kind) in zip(fig.axes, GOF_PANELS, strict=True):
        x = table[xname].to_numpy(float)
        y = table[yname].to_numpy(float)
        if kind == "identity" and log:
            keep = (x > 0) & (y > 0)
            x, y = x[keep], y[keep]
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.scatter(x, y, s=12, color=COLORS["observed"], alpha=0.6, lw=0, zorder=3, label="observations")
        if kind == "identity":
            identity_line(ax)
            smoother(ax, x, y, log=log)
        else:
            horizontal_lines(ax)
            smoother(ax, x, y)
        ax.set_xlabel(xname)
        ax.set_ylabel(yname)
    fig.axes[0].legend(loc="upper left")
    fig.suptitle(f"{result.model_name} ({result.method}): goodness of fit")
    return fig


def _require(table: pd.DataFrame, columns: set[str]) -> None:
    missing = sorted(columns - set(table.columns))
    if missing:
        raise ValueError(f"the fit's table has no column(s) {missing}; it has {list(table.columns)}")
