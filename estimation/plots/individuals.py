"""Individual fits: observations, IPRED and PRED against time, one panel per subject.

Examples
--------
>>> figures = [individual_plot(result, ids=page) for page in subject_pages(result)]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.figure import Figure

from estimation.plots.style import COLORS, hide_unused, new_figure, styled
from estimation.results import FitResult

PER_PAGE = 16


def subject_pages(result: FitResult, per_page: int = PER_PAGE) -> list[list[object]]:
    """The subject IDs of the fit in file order, in pages of ``per_page``.

    Examples
    --------
    >>> [len(p) for p in subject_pages(result, 5)]  # 12 subjects  # doctest: +SKIP
    [5, 5, 2]
    """
    ids = list(dict.fromkeys(result.table["ID"].tolist()))
    return [ids[i:i + per_page] for i in range(0, len(ids), per_page)]


@styled
def individual_plot(result: FitResult, ids: Sequence[object] | None = None, *, ncols: int = 4,
                    log: bool = False) -> Figure:
    """Observed DV (points), IPRED (solid) and PRED (dashed) against time for each subject.

    The predictions are those of the fit's table (at the observation times, joined by
    lines, as xpose's ``ind_plots``). With several outputs (an ``OUTPUT`` column), each
    output has its own marker and lines.

    Parameters
    ----------
    result
        A fit.
    ids
        The subjects to show (default: the first :data:`PER_PAGE`); see :func:`subject_pages`.
    ncols
        Panels per row.
    log
        Logarithmic concentration axis.

    Returns
    -------
    Figure
        One panel per subject, titled ``ID <id>``.

    Examples
    --------
    >>> individual_plot(result, ids=[1, 2]).axes[0].get_title()  # doctest: +SKIP
    'ID 1'
    """
    table = result.table
    missing = sorted({"ID", "TIME", "DV", "IPRED", "PRED"} - set(table.columns))
    if missing:
        raise ValueError(f"the fit's table has no column(s) {missing}")
    ids = list(ids) if ids is not None else subject_pages(result)[0]
    known = set(table["ID"].tolist())
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"no subject(s) {unknown} among the fitted observations")
    if not ids:
        raise ValueError("no subjects to plot")
    ncols = min(ncols, len(ids))
    nrows = math.ceil(len(ids) / ncols)
    fig = new_figure(nrows, ncols, panel=(2.6, 2.2))
    outputs = list(dict.fromkeys(table["OUTPUT"])) if "OUTPUT" in table.columns else [None]
    markers = "os^vD"
    for ax, subject in zip(fig.axes, ids, strict=False):
        subject_rows = table[table["ID"] == subject].sort_values("TIME", kind="stable")
        for k, output in enumerate(outputs):
            rows = subject_rows if output is None else subject_rows[subject_rows["OUTPUT"] == output]
            suffix = "" if output is None else f" {output}"
            ax.plot(rows["TIME"], rows["DV"], markers[k % len(markers)], color=COLORS["observed"],
                    label=f"observed{suffix}", zorder=3)
            ax.plot(rows["TIME"], rows["IPRED"], "-", color=COLORS["ipred"], label=f"IPRED{suffix}", zorder=2)
            ax.plot(rows["TIME"], rows["PRED"], "--", color=COLORS["pred"], label=f"PRED{suffix}", zorder=2)
        ax.set_title(f"ID {subject}")
        if log:
            ax.set_yscale("log")
    hide_unused(fig, len(ids))
    for ax in fig.axes[(nrows - 1) * ncols:]:
        ax.set_xlabel("TIME")
    for ax in fig.axes[::ncols]:
        ax.set_ylabel("DV")
    fig.axes[0].legend(loc="best")
    fig.suptitle(f"{result.model_name} ({result.method}): individual fits")
    return fig
