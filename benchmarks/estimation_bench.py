"""Estimation benchmarks: theo_sd FOCE-I (in process and whole process) next to R nlme and
pynlme, theo_sd AGQ, and ACOP Oral_1CPT full FOCE-I; population simulation, VPC and NPDE.

Usage::

    python benchmarks/estimation_bench.py [--quick]

R nlme runs through ``Rscript`` when it is installed (``apt-get install r-base-core
r-cran-nlme``), pynlme when it is importable (``pip install pynlme``); each is skipped
with a message otherwise. Times are wall-clock seconds on this machine.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from estimation.data import Dataset
    from estimation.methods import Method
    from estimation.population import PopulationModel

ROOT = Path(__file__).resolve().parents[1]
THEO = ROOT / "estimation" / "examples" / "theo_sd.csv"
ACOP = ROOT / "tests" / "data" / "Oral_1CPT.csv"
LOG2PI = math.log(2 * math.pi)

R_SCRIPT = r"""
suppressMessages(library(nlme))
d <- read.csv("{path}")
dose <- d[d$EVID == 1, c("ID", "AMT")]
obs <- d[d$EVID == 0, c("ID", "TIME", "DV")]
obs$Dose <- dose$AMT[match(obs$ID, dose$ID)]
m <- function(Dose, TIME, lKa, lCl, lV) {{
  ka <- exp(lKa); cl <- exp(lCl); v <- exp(lV); k <- cl / v
  Dose * ka / (v * (ka - k)) * (exp(-k * TIME) - exp(-ka * TIME))
}}
fitit <- function() nlme(DV ~ m(Dose, TIME, lKa, lCl, lV), data = obs,
  fixed = lKa + lCl + lV ~ 1, random = pdDiag(lKa + lCl + lV ~ 1), groups = ~ID,
  start = c(lKa = 0.45, lCl = 1.0, lV = 3.45), method = "ML")
f <- fitit()
times <- replicate(20, system.time(fitit())[["elapsed"]])
cat(sprintf("%.6f %.6f\n", -2 * logLik(f) - nrow(obs) * log(2 * pi), median(times)))
"""


def _best_warm_fits(model: PopulationModel, data: Dataset, method: Method,
                    repeats: int) -> tuple[float, float]:
    """Best of ``repeats`` warm fits with ``method`` as given, and without its covariance step."""
    from dataclasses import replace

    from estimation.fit import fit

    with_cov, without = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        fit(model, data, method)
        with_cov.append(time.perf_counter() - t)
        t = time.perf_counter()
        fit(model, data, replace(method, covariance=None))
        without.append(time.perf_counter() - t)
    return min(with_cov), min(without)


def popkin_in_process() -> list[tuple[str, float, str]]:
    from estimation.data import read_nonmem
    from estimation.error_models import Additive
    from estimation.fit import fit
    from estimation.methods import AGQ, FOCEI
    from model_library import get

    model = get("oral_1cmt", error=Additive(0.7))
    data = read_nonmem(THEO)
    t = time.perf_counter()
    first = fit(model, data, FOCEI())
    cold = time.perf_counter() - t
    warm, warm_nocov = _best_warm_fits(model, data, FOCEI(), 5)
    ofv = f"OFV {first.ofv:.4f}"
    agq = fit(model, data, AGQ())   # compiles (cache as found)
    agq_warm, agq_nocov = _best_warm_fits(model, data, AGQ(), 3)
    agq_note = f"OFV {agq.ofv:.4f} (nlmixr2 agq 118.4826), {agq.iterations} iterations"
    return [
        ("popkin FOCE-I, first fit in process (compile, cache as found)", cold, ofv),
        ("popkin FOCE-I, warm, with covariance step (best of 5)", warm, ofv),
        ("popkin FOCE-I, warm, no covariance step (best of 5)", warm_nocov, ofv),
        ("popkin AGQ (2 nodes per eta), warm, with covariance step (best of 3)", agq_warm, agq_note),
        ("popkin AGQ (2 nodes per eta), warm, no covariance step (best of 3)", agq_nocov, agq_note),
    ]


def popkin_whole_process() -> list[tuple[str, float, str]]:
    """``popkin fit`` in a new process: caches cold, then warm (with figures, and the median
    of 3 runs without)."""
    exe = Path(sys.executable).with_name("popkin")
    rows = []
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "POPKIN_CACHE_DIR": cache}
        runs = (("caches cold", [], 1), ("caches warm", [], 1),
                ("caches warm, --no-plots", ["--no-plots"], 3))
        for label, extra, repeats in runs:
            times, codes = [], []
            for _ in range(repeats):
                target = Path(out) / f"{len(rows)}-{len(times)}"
                t = time.perf_counter()
                proc = subprocess.run(
                    [str(exe), "fit", str(THEO), "--model", "oral_1cmt", "--error", "add", "--out",
                     str(target), "--quiet", *extra], env=env, capture_output=True, text=True)
                times.append(time.perf_counter() - t)
                codes.append(proc.returncode)
            name = f"popkin fit (whole process, {label})"
            if repeats > 1:
                name += f", median of {repeats}"
            note = "ok" if not any(codes) else f"exit codes {codes}"
            if repeats > 1:
                note += f" (runs {', '.join(f'{x:.2f}' for x in times)} s)"
            rows.append((name, float(np.median(times)), note))
    return rows


def r_nlme() -> list[tuple[str, float, str]]:
    if shutil.which("Rscript") is None:
        print("R nlme: skipped (Rscript not found; apt-get install r-base-core r-cran-nlme)")
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as handle:
        handle.write(R_SCRIPT.format(path=THEO))
    proc = subprocess.run(["Rscript", handle.name], capture_output=True, text=True)
    if proc.returncode != 0:
        print("R nlme failed:", proc.stderr[-500:])
        return []
    ofv, seconds = (float(v) for v in proc.stdout.split())
    return [("R nlme ML (Lindstrom-Bates), median of 20 in R", seconds, f"OFV {ofv:.4f}")]


def pynlme_foce() -> list[tuple[str, float, str]]:
    try:
        import pynlme
    except ImportError:
        print("pynlme: skipped (pip install pynlme)")
        return []
    d = pd.read_csv(THEO)
    obs = d[d.EVID == 0]
    dose = d[d.EVID == 1].set_index("ID")["AMT"]
    X = np.column_stack([obs.TIME.to_numpy(), dose.loc[obs.ID].to_numpy()])

    def model(phi, x):  # type: ignore[no-untyped-def]
        ka, cl, v = np.exp(phi)
        k = cl / v
        t, amt = x[:, 0], x[:, 1]
        return amt * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))

    args = (X, obs.DV.to_numpy(), obs.ID.to_numpy(), None, model, np.array([0.45, 1.0, 3.45]))
    _, _, stats, _ = pynlme.nlmefit(*args, ApproximationType="FOCE")
    times = []
    for _ in range(5):
        t = time.perf_counter()
        pynlme.nlmefit(*args, ApproximationType="FOCE")
        times.append(time.perf_counter() - t)
    ofv = -2 * float(stats.logl) - len(obs) * LOG2PI
    return [("pynlme nlmefit FOCE (best of 5)", min(times), f"OFV {ofv:.4f}")]


def acop() -> list[tuple[str, float, str]]:
    from estimation.data import read_nonmem
    from estimation.fit import fit
    from estimation.methods import FOCEI
    from model_library import get

    model = get("oral_1cmt")
    from estimation.error_models import Proportional

    model = model.with_error(Proportional(0.3)).with_initial(
        {"tcl": 1.6, "tv": 4.5, "tka": 0.2, "eta_cl": 0.1, "eta_v": 0.1, "eta_ka": 0.1})
    data = read_nonmem(ACOP, drop=["SS", "II"])
    fit(model, data, FOCEI())   # compiles the objective, its gradient and the covariance step
    t = time.perf_counter()
    result = fit(model, data, FOCEI())
    with_cov = time.perf_counter() - t
    t = time.perf_counter()
    fit(model, data, FOCEI(covariance=None))
    no_cov = time.perf_counter() - t
    ofv = f"OFV {result.ofv:.4f} (NONMEM 62205.8780)"
    return [("popkin FOCE-I ACOP Oral_1CPT full (120 subjects, 6947 obs), warm", with_cov, ofv),
            ("popkin FOCE-I ACOP Oral_1CPT full, warm, no covariance step", no_cov, ofv)]


def simulation_diagnostics(quick: bool) -> list[tuple[str, float, str]]:
    """Population simulation from a theo_sd FOCE-I fit (1000 replicates), VPC and NPDE; without
    ``quick`` also 200 replicates of the ACOP Oral_1CPT design (120 subjects, 6947 observations)."""
    from estimation.data import read_nonmem
    from estimation.error_models import Additive, Proportional
    from estimation.fit import fit
    from estimation.methods import FOCEI
    from estimation.npde import npde
    from estimation.problem import build_problem
    from estimation.simulation import simulate_arrays, simulate_replicates
    from estimation.vpc import vpc
    from model_library import get

    result = fit(get("oral_1cmt", error=Additive(0.7)), read_nonmem(THEO), FOCEI(covariance=None))
    t = time.perf_counter()
    simulate_replicates(result, 1000, seed=1)
    cold = time.perf_counter() - t
    warm = []
    for seed in range(3):
        t = time.perf_counter()
        sims = simulate_replicates(result, 1000, seed=seed)
        warm.append(time.perf_counter() - t)
    t = time.perf_counter()
    vpc(result, n_replicates=200, bins="quantile", n_bins=8)
    t_vpc_cold = time.perf_counter() - t
    t = time.perf_counter()
    vpc(result, n_replicates=200, seed=1, bins="quantile", n_bins=8)
    t_vpc = time.perf_counter() - t
    npde(result, n_replicates=1000)
    t = time.perf_counter()
    npde(result, n_replicates=1000, seed=1)
    t_npde = time.perf_counter() - t
    rows = [
        ("simulate_replicates theo_sd x 1000 (first call: compile)", cold, f"{len(sims)} rows"),
        ("simulate_replicates theo_sd x 1000, warm (best of 3)", min(warm), f"{len(sims)} rows"),
        ("vpc theo_sd, 200 replicates, 8 quantile bins (first call: compile)", t_vpc_cold, ""),
        ("vpc theo_sd, 200 replicates, 8 quantile bins, warm", t_vpc, ""),
        ("npde theo_sd, 1000 replicates, warm", t_npde, "132 observations"),
    ]
    if not quick:
        model = get("oral_1cmt").with_error(Proportional(0.3)).with_initial(
            {"tcl": 1.6, "tv": 4.5, "tka": 0.2, "eta_cl": 0.1, "eta_v": 0.1, "eta_ka": 0.1})
        problem = build_problem(model, read_nonmem(ACOP, drop=["SS", "II"]))
        natural = model.space.natural_init()
        simulate_arrays(model, problem, natural, 200)
        t = time.perf_counter()
        simulate_arrays(model, problem, natural, 200, seed=1)
        rows.append(("simulate_arrays ACOP Oral_1CPT x 200 (120 subjects), warm", time.perf_counter() - t,
                     f"{200 * problem.n_observations} simulated observations"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the ACOP fit")
    args = parser.parse_args(argv)
    rows = popkin_in_process() + popkin_whole_process() + r_nlme() + pynlme_foce()
    rows += simulation_diagnostics(args.quick)
    if not args.quick:
        rows += acop()
    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':<{width}}  {'seconds':>9}  result")
    for name, seconds, note in rows:
        print(f"{name:<{width}}  {seconds:9.3f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
