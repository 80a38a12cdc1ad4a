"""Diagnostic figures of a fit, in one consistent style (matplotlib, Agg, no ``pyplot``).

Each function returns a :class:`matplotlib.figure.Figure`; save it with ``fig.savefig(path)``.

- :func:`gof_plot`: DV vs PRED and IPRED, CWRES vs TIME and PRED, with smoothers.
- :func:`individual_plot`: observations, IPRED and PRED per subject (pages: :func:`subject_pages`).
- :func:`eta_distribution_plot`, :func:`eta_covariate_plot`: random effects.
- :func:`trace_plot`: OFV by iteration; SAEM parameter traces.
- :func:`vpc_plot`: VPC and pcVPC from :func:`estimation.vpc.vpc`.
- :func:`diagnostic_figures`: all of them for one fit, by name (what ``popkin fit`` saves).

Examples
--------
>>> from estimation.plots import gof_plot  # doctest: +SKIP
>>> gof_plot(result).savefig("gof.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from estimation.plots.etas import eta_covariate_plot, eta_distribution_plot, eta_names
from estimation.plots.gof import gof_plot
from estimation.plots.individuals import individual_plot, subject_pages
from estimation.plots.traces import parameter_traces, trace_plot
from estimation.plots.vpc import vpc_plot
from estimation.results import FitResult

if TYPE_CHECKING:
    from estimation.vpc import VPC

__all__ = [
    "diagnostic_figures",
    "eta_covariate_plot",
    "eta_distribution_plot",
    "gof_plot",
    "individual_plot",
    "subject_pages",
    "trace_plot",
    "vpc_plot",
]


def diagnostic_figures(result: FitResult, *, checks: Sequence[VPC] = (),
                       max_individual_pages: int | None = None) -> dict[str, Figure]:
    """Every diagnostic figure that applies to ``result``, by file-friendly name.

    ``gof``; ``individuals_1``, ``individuals_2``... (16 subjects each); ``eta_distributions``
    and ``eta_covariates`` (with random effects, and covariates in the data); ``traces``
    (when the fit recorded iterations); ``vpc`` / ``pcvpc`` for each of ``checks``.

    Parameters
    ----------
    result
        A fit (with ``result.data`` for the covariate panels).
    checks
        VPCs of the fit (:func:`estimation.vpc.vpc`), drawn by :func:`vpc_plot`.
    max_individual_pages
        At most this many pages of individual fits (default: all).

    Examples
    --------
    >>> sorted(diagnostic_figures(result))  # theo_sd, FOCE-I  # doctest: +SKIP
    ['eta_covariates', 'eta_distributions', 'gof', 'individuals_1', 'traces']
    """
    figures = {"gof": gof_plot(result)}
    pages = subject_pages(result)[:max_individual_pages]
    for k, page in enumerate(pages, start=1):
        figures[f"individuals_{k}"] = individual_plot(result, page)
    if eta_names(result):
        figures["eta_distributions"] = eta_distribution_plot(result)
        if result.data is not None and result.data.covariates:
            figures["eta_covariates"] = eta_covariate_plot(result)
    if result.history or parameter_traces(result) is not None:
        figures["traces"] = trace_plot(result)
    for check in checks:
        name = "pcvpc" if check.settings.get("pred_corrected") else "vpc"
        figures[name] = vpc_plot(check)
    return figures
