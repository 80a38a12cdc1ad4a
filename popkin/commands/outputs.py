"""Files of a results folder: CSV tables, figures (``plots/*.png``), the report (``report.html``).

Every file is written through a temporary file and a rename, so a reader never sees half a file.

Examples
--------
>>> failures = save_figures(result, Path("out"))  # doctest: +SKIP
>>> write_folder_report(result, Path("out"), record)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from estimation.atomic_file import write_atomic

if TYPE_CHECKING:
    import pandas as pd

    from estimation.results import FitResult
    from estimation.vpc import VPC
    from popkin.commands.run_record import RunRecord

PLOTS = "plots"
REPORT = "report.html"
#: order of the figures in the report (then any others, by name)
FIGURE_ORDER = ("gof", "individuals", "eta_distributions", "eta_covariates", "traces", "vpc", "pcvpc")


def save_figures(result: FitResult, folder: Path, *, checks: Sequence[VPC] = (),
                 only_checks: bool = False, max_individual_pages: int | None = None) -> list[str]:
    """Draw the diagnostic figures of ``result`` into ``folder/plots/<name>.png`` (each atomically).

    A figure that cannot be drawn is skipped: the fit's results matter more than one plot.

    Parameters
    ----------
    result
        The fit, with its data.
    folder
        The results folder.
    checks
        VPCs to draw (``vpc.png`` / ``pcvpc.png``).
    only_checks
        Draw only the VPCs (``popkin vpc`` on an existing folder).
    max_individual_pages
        At most this many pages of individual fits (default: all).

    Returns
    -------
    list[str]
        One message per figure that failed.

    Examples
    --------
    >>> save_figures(result, Path("out"))  # doctest: +SKIP
    []
    """
    from estimation.plots import diagnostic_figures, vpc_plot
    from estimation.report import png_bytes

    plots = folder / PLOTS
    plots.mkdir(exist_ok=True)
    failures: list[str] = []
    try:
        if only_checks:
            figures = {("pcvpc" if c.settings.get("pred_corrected") else "vpc"): vpc_plot(c) for c in checks}
        else:
            figures = diagnostic_figures(result, checks=checks, max_individual_pages=max_individual_pages)
    except Exception as exc:  # a plotting problem must not lose the fit
        return [f"the figures could not be drawn: {type(exc).__name__}: {exc}"]
    for name, figure in figures.items():
        try:
            write_bytes_atomic(png_bytes(figure), plots / f"{name}.png")
        except Exception as exc:  # idem
            failures.append(f"figure {name} could not be saved: {type(exc).__name__}: {exc}")
    return failures


def write_folder_report(result: FitResult, folder: Path, record: RunRecord | None,
                        messages: Sequence[str] = ()) -> Path:
    """Write ``folder/report.html`` with every ``plots/*.png`` of the folder embedded.

    Examples
    --------
    >>> write_folder_report(result, Path("out"), RunRecord.load("out"))  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    from estimation.report import write_report

    pngs = sorted((folder / PLOTS).glob("*.png"), key=_figure_rank)
    images = {p.stem: p.read_bytes() for p in pngs}
    return write_report(result, folder / REPORT, images, run=record.model_summary() if record else None,
                        messages=list(messages))


def write_bytes_atomic(content: bytes, path: Path) -> Path:
    """Write ``content`` to ``path`` through a temporary file and a rename.

    Examples
    --------
    >>> import tempfile
    >>> write_bytes_atomic(b"x", Path(tempfile.mkdtemp()) / "a.bin").read_bytes()
    b'x'
    """
    return write_atomic(path, content)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV (no index) atomically.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> write_csv(pd.DataFrame({"a": [1]}), Path(tempfile.mkdtemp()) / "t.csv").read_text()
    'a\\n1\\n'
    """
    return write_bytes_atomic(frame.to_csv(index=False).encode(), path)


def _figure_rank(path: Path) -> tuple[int, int, str]:
    name = path.stem
    page = re.fullmatch(r"individuals_(\d+)", name)
    base = "individuals" if page else name
    rank = FIGURE_ORDER.index(base) if base in FIGURE_ORDER else len(FIGURE_ORDER)
    return rank, int(page.group(1)) if page else 0, name
