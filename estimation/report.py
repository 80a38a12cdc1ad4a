"""A self-contained HTML report of a fit: one file, no external assets, opens in any browser.

It holds the run description, convergence status and messages, OFV / -2LL / AIC / BIC,
the parameter table (estimate, SE, RSE%, back-transformed value with 95% CI, BSV,
shrinkage), epsilon shrinkage, the correlation matrix of the estimates and every figure,
embedded as base64 PNG.

Examples
--------
>>> from estimation.plots import diagnostic_figures  # doctest: +SKIP
>>> images = {name: png_bytes(fig) for name, fig in diagnostic_figures(result).items()}  # doctest: +SKIP
>>> write_report(result, "out/report.html", images)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from estimation.atomic_file import write_atomic
from estimation.results import FitResult

#: captions of the figures of :func:`estimation.plots.diagnostic_figures`, by name
CAPTIONS = {
    "gof": "Goodness of fit: DV against PRED and IPRED (identity line), CWRES against TIME and PRED "
           "(lines at 0 and +/-2); LOESS smoothers.",
    "individuals": "Individual fits: observations (points), IPRED (solid) and PRED (dashed)",
    "eta_distributions": "Empirical Bayes estimates of the random effects with the fitted N(0, omega^2) "
                         "density; shrinkage in the titles.",
    "eta_covariates": "Random effects against baseline covariates (LOESS smoothers; box plots for "
                      "categorical covariates).",
    "traces": "Objective function value by iteration (and, for SAEM, each parameter by iteration).",
    "vpc": "Visual predictive check: observed percentiles (lines) over the confidence intervals of the "
           "simulated percentiles (shaded).",
    "pcvpc": "Prediction-corrected visual predictive check (observations and simulations normalised by "
             "the typical prediction of their bin).",
}

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd;
     padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e5e5e5; text-align: right; }
th { background: #f5f5f5; } td.text, th.text { text-align: left; }
.status { display: inline-block; padding: 0.15em 0.6em; border-radius: 0.3em; font-weight: bold; }
.ok { background: #e3f4e8; color: #1b6e35; } .bad { background: #fbe3e3; color: #a11; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto;
font-size: 0.85em; } ul.messages li { margin: 0.2em 0; } .muted { color: #777; font-size: 0.9em; }
"""


def png_bytes(figure: Figure, *, dpi: int = 150) -> bytes:
    """The figure rendered as PNG.

    Examples
    --------
    >>> from estimation.plots.style import new_figure
    >>> png_bytes(new_figure(1, 1))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def report_html(
    result: FitResult,
    images: Mapping[str, bytes] | None = None,
    *,
    title: str | None = None,
    run: Mapping[str, object] | None = None,
    messages: Sequence[str] = (),
) -> str:
    """The report of ``result`` as one HTML document (figures embedded, no external assets).

    Parameters
    ----------
    result
        The fit.
    images
        ``name -> PNG bytes`` (see :func:`png_bytes`), shown in this order; names of
        :data:`CAPTIONS` (and ``individuals_<k>``) get their caption.
    title
        Page title (default: ``popkin fit of <model> by <method>``).
    run
        How the run was made (data file, model, options, command, version...), shown as a table.
    messages
        Further messages (warnings) listed with the convergence message.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = report_html(result, {"gof": png_bytes(gof_plot(result))})  # doctest: +SKIP
    >>> page.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
    """
    title = title or f"popkin fit of {result.model_name} by {result.method}"
    status = ("<span class='status ok'>converged</span>" if result.converged
              else "<span class='status bad'>NOT converged</span>")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'>",
        "<head>",
        "<meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{status} <span class='muted'>report written {stamp}</span></p>",
    ]
    parts += _section("Convergence", _messages(result, messages))
    parts += _section("Objective function", _key_values(_criteria(result)))
    if run:
        parts += _section("Run", _key_values({k: v for k, v in run.items()}))
    parts += _section("Parameters", _table(result.parameters, _PARAMETER_LABELS))
    shrinkage = _shrinkage(result)
    if shrinkage is not None:
        parts += _section("Shrinkage", _table(shrinkage, {}))
    correlation = result.correlation()
    if correlation is not None:
        parts += _section("Correlation of the estimates", _table(correlation.reset_index(names=""), {}))
    if images:
        figures = [_figure(name, png) for name, png in images.items()]
        parts += _section("Figures", "\n".join(figures))
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(result: FitResult, path: str | os.PathLike[str], images: Mapping[str, bytes] | None = None,
                 **options: object) -> Path:
    """Write :func:`report_html` to ``path`` atomically (temporary file, then rename).

    ``options`` are those of :func:`report_html`.

    Examples
    --------
    >>> write_report(result, "out/report.html", images)  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    text = report_html(result, images, **options)  # type: ignore[arg-type]
    return write_atomic(path, text)


# ---------------------------------------------------------------- sections
_PARAMETER_LABELS = {
    "parameter": "parameter", "type": "type", "fixed": "fixed", "estimate": "estimate", "se": "SE",
    "rse_pct": "RSE %",
    "back_transformed": "back-transformed", "ci_low": "95% CI low", "ci_high": "95% CI high",
    "bsv": "BSV", "bsv_kind": "BSV as", "shrinkage_pct": "shrinkage %",
}


def _section(heading: str, body: str) -> list[str]:
    return [f"<h2>{_e(heading)}</h2>", body]


def _messages(result: FitResult, extra: Sequence[str]) -> str:
    items = [f"{'converged' if result.converged else 'NOT converged'}: {result.message}",
             f"covariance step ({result.covariance_kind}): {result.covariance_status}"]
    if result.data is not None:
        items += [f"data: {w}" for w in result.data.warnings]
    items += list(extra)
    return "<ul class='messages'>" + "".join(f"<li>{_e(m)}</li>" for m in items) + "</ul>"


def _criteria(result: FitResult) -> dict[str, object]:
    saem: dict[str, object] = {}
    mc_se = getattr(result, "ofv_mc_se", None)
    linearised = getattr(result, "ofv_linearised", None)
    if mc_se is not None:
        saem["Monte Carlo SE of the OFV (importance sampling)"] = f"{mc_se:.4f}"
    if linearised is not None:
        saem["linearised OFV (FOCE-I at the estimates)"] = f"{linearised:.4f}"
    return {
        "OFV (NONMEM, without N log 2 pi)": f"{result.ofv:.4f}",
        **saem,
        "-2 log-likelihood": f"{result.minus2loglik:.4f}",
        "AIC": f"{result.aic:.4f}",
        "BIC": f"{result.bic:.4f}",
        "subjects": result.n_subjects,
        "observations": result.n_obs,
        "estimated parameters": result.n_estimated,
        "iterations / objective evaluations": f"{result.iterations} / {result.evaluations}",
        "largest |gradient|": f"{result.gradient_max:.3g}",
        "condition number": (f"{result.condition_number:.4g}" if math.isfinite(result.condition_number)
                             else ""),
        "run time": f"{result.runtime_s:.1f} s",
    }


def _shrinkage(result: FitResult) -> pd.DataFrame | None:
    rows = [{"random effect": k, "kind": "eta", "shrinkage %": v} for k, v in result.eta_shrinkage.items()]
    rows += [{"random effect": k, "kind": "epsilon (IWRES)", "shrinkage %": v}
             for k, v in result.eps_shrinkage.items()]
    return pd.DataFrame(rows) if rows else None


def _key_values(values: Mapping[str, object]) -> str:
    rows = "".join(f"<tr><th class='text'>{_e(k)}</th><td class='text'>{_e(_format(v))}</td></tr>"
                   for k, v in values.items())
    return f"<table>{rows}</table>"


def _table(frame: pd.DataFrame, labels: Mapping[str, str]) -> str:
    text_columns = {c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])}
    head = "".join(f"<th class='{'text' if c in text_columns else 'num'}'>{_e(labels.get(c, str(c)))}</th>"
                   for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(
            f"<td class='{'text' if c in text_columns else 'num'}'>{_e(_format(row[c]))}</td>"
            for c in frame.columns
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(name: str, png: bytes) -> str:
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"figure {name!r} is not PNG data (use png_bytes(figure))")
    page = re.fullmatch(r"individuals_(\d+)", name)
    caption = f"{CAPTIONS['individuals']} (page {page.group(1)})." if page else CAPTIONS.get(name, name)
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure id='{_e(name)}'><img src='data:image/png;base64,{data}' alt='{_e(name)}'>"
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return "" if not np.isfinite(value) else f"{value:.4g}"
    return str(value)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
