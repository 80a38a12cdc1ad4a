"""Time the diagnostic figures and the HTML report of a fit (what ``popkin fit`` adds to a fit).

Cases: theo_sd (12 subjects, FOCE-I fit) and a simulated 192-subject dataset (theo_sd's design
repeated, parameters evaluated at the truth with ``estimation.fit.evaluate``: 12 pages of
individual fits). For each: building every figure (``diagnostic_figures``), rendering them to
PNG at 150 dpi (``png_bytes``), and writing the self-contained report (``report_html``).

Usage::

    python benchmarks/report_bench.py [--quick]   # --quick: theo_sd only
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from estimation.data import example_path, read_nonmem
from estimation.error_models import Additive
from estimation.fit import evaluate, fit
from estimation.plots import diagnostic_figures
from estimation.report import png_bytes, report_html
from estimation.results import FitResult
from estimation.simulation import simulate_observations
from model_library import get


def theo_sd() -> FitResult:
    return fit(get("oral_1cmt", error=Additive(0.7)), read_nonmem(example_path("theo_sd")))


def large(copies: int = 16) -> FitResult:
    model = get("oral_1cmt", error=Additive(0.7))
    design = read_nonmem(example_path("theo_sd")).to_dataframe().reset_index(drop=True)
    frames = [design.assign(ID=design["ID"] + 100 * k) for k in range(copies)]
    data = simulate_observations(model, pd.concat(frames, ignore_index=True), seed=1)
    return evaluate(model, read_nonmem(data.drop(columns=[c for c in data if c.startswith("ETA_")])))


def measure(name: str, result: FitResult) -> dict[str, object]:
    start = time.perf_counter()
    figures = diagnostic_figures(result)
    built = time.perf_counter()
    images = {key: png_bytes(fig) for key, fig in figures.items()}
    rendered = time.perf_counter()
    page = report_html(result, images)
    done = time.perf_counter()
    return {"case": name, "subjects": result.n_subjects, "figures": len(figures),
            "build (s)": round(built - start, 2), "PNG 150 dpi (s)": round(rendered - built, 2),
            "report (s)": round(done - rendered, 3), "report size (MB)": round(len(page) / 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="theo_sd only")
    args = parser.parse_args()
    cases = [("theo_sd FOCE-I", theo_sd)] + ([] if args.quick else [("theo_sd design x16", large)])
    rows = []
    for name, make in cases:
        result = make()
        measure(name, result)  # warm-up: matplotlib's font cache and first-draw costs
        rows.append(measure(name, result))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
