"""Visual predictive check (VPC) and prediction-corrected VPC (pcVPC) figures.

The numbers come from :func:`estimation.vpc.vpc`; this module only draws them.

Examples
--------
>>> from estimation.vpc import vpc  # doctest: +SKIP
>>> vpc_plot(vpc(result, pred_corrected=True)).savefig("pcvpc.png")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from estimation.plots.style import COLORS, new_figure, styled

if TYPE_CHECKING:
    from estimation.vpc import VPC



@styled
def vpc_plot(check: VPC, *, log: bool = False, title: str | None = None) -> Figure:
    """Observed percentiles over the confidence intervals of the simulated percentiles.

    Each panel (one per stratum) shows the observations (points), the observed
    percentiles per bin (lines; the median solid, the others dashed) and, shaded, the
    ``ci`` interval of each simulated percentile across replicates (the median's in
    orange, the others in blue). With a ``lloq``, a second row shows the observed
    fraction below it against its simulated interval.

    Parameters
    ----------
    check
        The result of :func:`estimation.vpc.vpc` (a pcVPC when ``settings["pred_corrected"]``).
    log
        Logarithmic DV axis.
    title
        Figure title (default: "VPC" or "pcVPC" with the number of replicates).

    Returns
    -------
    Figure
        One column per stratum; one row, or two with BLQ fractions.

    Examples
    --------
    >>> vpc_plot(check).axes[0].get_ylabel()  # doctest: +SKIP
    'DV'
    """
    settings = dict(check.settings)
    corrected = bool(settings.get("pred_corrected", False))
    strata = _strata(check.observed)
    blq = check.blq if check.blq is not None and len(check.blq) else None
    nrows = 2 if blq is not None else 1
    fig = new_figure(nrows, len(strata), panel=(4.2, 3.2))
    for j, stratum in enumerate(strata):
        ax = fig.axes[j]
        _draw_percentiles(ax, check, stratum)
        ax.set_xlabel("TIME")
        ax.set_ylabel("prediction-corrected DV" if corrected else "DV")
        if log:
            ax.set_yscale("log")
        if len(strata) > 1:
            ax.set_title(f"{settings.get('stratify', 'stratum')} = {stratum}")
        if blq is not None:
            _draw_blq(fig.axes[len(strata) + j], blq, stratum, settings.get("lloq"))
    fig.axes[0].legend(loc="best")
    kind = "pcVPC" if corrected else "VPC"
    n = settings.get("n_replicates")
    ci = settings.get("ci")
    default = f"{kind}" + (f", {n} replicates" if n else "") + (f", {100 * ci:g}% intervals" if ci else "")
    fig.suptitle(title or default)
    return fig


def _strata(frame: pd.DataFrame) -> list[object]:
    """The strata of a VPC table, in order of appearance (a single ``None`` if not stratified)."""
    if "stratum" not in frame.columns:
        return [None]
    return list(dict.fromkeys(frame["stratum"].tolist())) or [None]


def _rows(frame: pd.DataFrame, stratum: object) -> pd.DataFrame:
    if "stratum" not in frame.columns:
        return frame
    if stratum is None or (isinstance(stratum, float) and np.isnan(stratum)):
        return frame[frame["stratum"].isna()]
    return frame[frame["stratum"] == stratum]


def _draw_percentiles(ax: Axes, check: VPC, stratum: object) -> None:
    observations = _rows(check.observations, stratum)
    ax.scatter(observations["TIME"], observations["DV"], s=8, color=COLORS["observed"], alpha=0.35, lw=0,
               zorder=2, label="observations")
    observed = _rows(check.observed, stratum)
    simulated = _rows(check.simulated, stratum)
    percentiles = sorted(simulated["percentile"].unique())
    middle = percentiles[len(percentiles) // 2]
    outer = " & ".join(f"{p:g}th" for p in percentiles if p != middle)
    labelled: set[bool] = set()
    for p in percentiles:
        sim = simulated[simulated["percentile"] == p].sort_values("bin_mid")
        is_middle = p == middle
        which = f"{p:g}th" if is_middle else outer
        first = is_middle not in labelled
        labelled.add(is_middle)
        color = COLORS["simulated_median"] if is_middle else COLORS["simulated"]
        ax.fill_between(sim["bin_mid"], sim["lo"], sim["hi"], color=color, alpha=0.3, lw=0, zorder=1,
                        label=f"simulated {which} (CI)" if first else None)
        obs = observed[observed["percentile"] == p].sort_values("bin_mid")
        ax.plot(obs["bin_mid"], obs["value"], "-" if is_middle else "--", color=COLORS["observed_percentile"],
                lw=1.4, zorder=3, label=f"observed {which}" if first else None)


def _draw_blq(ax: Axes, blq: pd.DataFrame, stratum: object, lloq: object) -> None:
    rows = _rows(blq, stratum).sort_values("bin_mid")
    ax.fill_between(rows["bin_mid"], rows["lo"], rows["hi"], color=COLORS["simulated"], alpha=0.3, lw=0,
                    label="simulated, CI")
    ax.plot(rows["bin_mid"], rows["median"], "-", color=COLORS["simulated"], lw=1.0, label="simulated median")
    ax.plot(rows["bin_mid"], rows["observed"], "-o", color=COLORS["observed_percentile"], ms=3,
            label="observed")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("TIME")
    ax.set_ylabel("fraction < LLOQ" + (f" ({lloq:g})" if isinstance(lloq, int | float) else ""))
    ax.legend(loc="best")
