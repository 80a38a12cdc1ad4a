"""Convergence: the OFV by iteration and, for SAEM, every parameter by iteration.

Examples
--------
>>> trace_plot(result).savefig("traces.png")  # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from estimation.plots.style import COLORS, hide_unused, new_figure, styled
from estimation.results import FitResult


def parameter_traces(result: FitResult) -> pd.DataFrame | None:
    """The SAEM parameter traces of ``result`` (``iteration``, ``phase``, one column per
    parameter), or ``None`` for methods that record none.

    Examples
    --------
    >>> parameter_traces(focei_result) is None  # doctest: +SKIP
    True
    """
    traces = getattr(result, "traces", None)
    return traces if isinstance(traces, pd.DataFrame) and len(traces) else None


@styled
def trace_plot(result: FitResult, *, ncols: int = 4) -> Figure:
    """The OFV at each outer iteration, then (SAEM) each parameter at each iteration.

    SAEM phases are shaded alternately and named at the top of each panel.

    Parameters
    ----------
    result
        A fit: its ``history`` (iteration, OFV) and, when present, its ``traces``.
    ncols
        Panels per row.

    Returns
    -------
    Figure
        First panel "OFV" (when the fit recorded a history), then one per parameter.

    Examples
    --------
    >>> [ax.get_title() for ax in trace_plot(result).axes][:1]  # doctest: +SKIP
    ['OFV']
    """
    traces = parameter_traces(result)
    history = pd.DataFrame(result.history, columns=["iteration", "ofv"]) if result.history else None
    parameters = [c for c in traces.columns if c not in ("iteration", "phase")] if traces is not None else []
    n_panels = (history is not None) + len(parameters)
    if n_panels == 0:
        raise ValueError(f"the {result.method} fit recorded no iterations (no history and no traces)")
    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = new_figure(nrows, ncols, panel=(2.8, 2.2))
    axes = iter(fig.axes)
    if history is not None:
        ax = next(axes)
        ax.plot(history["iteration"], history["ofv"], "-o" if len(history) <= 60 else "-", ms=2.5,
                color=COLORS["ipred"])
        # SAEM records its own iteration objective, not the final (importance-sampling) OFV
        ax.set_title("OFV" if traces is None else f"{result.method} objective")
        ax.set_xlabel("iteration")
    for name in parameters:
        ax = next(axes)
        assert traces is not None
        _shade_phases(ax, traces)
        ax.plot(traces["iteration"], traces[name], "-", lw=1.0, color=COLORS["ipred"])
        final = _final_estimate(result, name)
        if final is not None:
            ax.axhline(final, color=COLORS["pred"], lw=0.8, ls="--")
        ax.set_title(name)
        ax.set_xlabel("iteration")
    hide_unused(fig, n_panels)
    fig.suptitle(f"{result.model_name} ({result.method}): convergence")
    return fig


def _shade_phases(ax: Axes, traces: pd.DataFrame) -> None:
    """Alternate grey bands for the phases of ``traces`` (e.g. SAEM burn-in, then averaging)."""
    if "phase" not in traces.columns:
        return
    phase = traces["phase"].astype(str).to_numpy()
    iteration = traces["iteration"].to_numpy(float)
    starts = np.flatnonzero(np.r_[True, phase[1:] != phase[:-1]])
    ends = np.r_[starts[1:], len(phase)]
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if k % 2:
            ax.axvspan(iteration[s], iteration[e - 1], color="#F2F2F2", zorder=0, lw=0)
        ax.text(iteration[s], 1.0, f" {phase[s]}", transform=ax.get_xaxis_transform(), va="top",
                fontsize=7, color=COLORS["reference"])


def _final_estimate(result: FitResult, name: str) -> float | None:
    """The final estimate of a trace column (a theta, an omega ``eta_x`` or a sigma)."""
    for values in (result.theta, result.omega, result.sigma):
        key = name.removeprefix("omega(").removesuffix(")")
        if key in values:
            return float(values[key])
    return None
