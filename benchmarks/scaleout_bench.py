"""Scale-out benchmarks on Dask: bootstrap speed-up with 1 and 2 workers, and the throughput
of a chunked population simulation.

(a) 100-replicate case bootstrap of theo_sd (oral_1cmt, additive error) by FOCE-I, no
    covariance step in the replicates, on an embedded LocalCluster of 1 and then 2
    single-threaded workers. On each cluster a short run first warms the workers (its
    time, the cold start, is reported), then the 100 replicates are timed.
(b) 1,000,000 virtual subjects of oral_2cmt, 100 mg every 12 h for 7 days (ADDL=13), 24
    sampling times, simulated in chunks of 20,000 on 2 workers (warmed by 2 chunks first)
    and reduced to per-time percentiles.

Usage::

    python benchmarks/scaleout_bench.py [--quick] [--cases a,b]

``--quick`` runs 20 replicates and 100,000 subjects. Times are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
THEO = ROOT / "estimation" / "examples" / "theo_sd.csv"


def bootstrap_case(n: int) -> list[tuple[str, str]]:
    """Bootstrap theo_sd on 1 and then 2 workers; rows of (what, figure).

    On each cluster a 2-replicate run comes first: its time is the cold start (cluster
    start-up, JAX import and model tracing on fresh workers); the n-replicate run after it
    finds the workers warm.
    """
    from estimation.bootstrap import bootstrap
    from estimation.cluster import dask_client
    from estimation.data import read_nonmem
    from estimation.error_models import Additive
    from estimation.fit import fit
    from estimation.methods import FOCEI
    from model_library import get

    data = read_nonmem(THEO)
    original = fit(get("oral_1cmt", error=Additive(0.7)), data, FOCEI())
    work = Path(tempfile.mkdtemp(prefix="popkin-scaleout-"))
    rows = [("original fit", f"OFV {original.ofv:.4f}, converged {original.converged}")]
    warm = {}
    try:
        for workers in (1, 2):
            t = time.perf_counter()
            with dask_client(workers=workers) as client:
                bootstrap(original, 2 * workers, seed=99, out=work / f"warmup{workers}", client=client,
                          progress=None)
                cold = time.perf_counter() - t
                t = time.perf_counter()
                boot = bootstrap(original, n, seed=1, out=work / f"w{workers}", client=client, progress=None)
                warm[workers] = time.perf_counter() - t
            reps = boot.replicates
            rows += [
                (f"{workers} worker(s): cold start ({2 * workers} replicates)", f"{cold:.1f} s"),
                (f"{workers} worker(s): {n} replicates, warm workers",
                 f"{warm[workers]:.1f} s ({n / warm[workers]:.2f} replicates/s)"),
                (f"{workers} worker(s): replicate time median / max", f"{reps['runtime_s'].median():.2f} s / "
                                                                    f"{reps['runtime_s'].max():.2f} s"),
                (f"{workers} worker(s): converged, failed", f"{boot.n_converged}/{boot.n}, {boot.n_failed}"),
            ]
        rows.append(("speed-up, 2 workers vs 1 (warm)", f"{warm[1] / warm[2]:.2f}x"))
        table = boot.table().set_index("parameter")
        for name in ("tka", "tcl", "tv"):
            r = table.loc[name]
            ci = f"[{r['ci_lower']:.4f}, {r['ci_upper']:.4f}]"
            rows.append((f"{name}: estimate, median [95% percentile CI]",
                         f"{r['estimate']:.4f}, {r['median']:.4f} {ci}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def regimen_design() -> pd.DataFrame:
    """One template subject: 100 mg orally every 12 h for 7 days, 24 samples."""
    times = np.r_[0.5, 1, 2, 3, 4, 6, 8, 12, 24, 36, 48, 60, 72, 84, 96, 108, 120, 132, 144, 145, 146, 148,
                  156, 168]
    rows = [{"ID": 1, "TIME": 0.0, "DV": 0.0, "AMT": 100.0, "EVID": 1, "MDV": 1, "CMT": 1, "II": 12.0,
             "ADDL": 13}]
    rows += [{"ID": 1, "TIME": float(t), "DV": 0.0, "AMT": 0.0, "EVID": 0, "MDV": 0, "CMT": 2, "II": 0.0,
              "ADDL": 0} for t in times]
    return pd.DataFrame(rows)


def population_case(n: int, chunk: int) -> list[tuple[str, str]]:
    """Simulate ``n`` subjects in chunks on 2 workers; rows of (what, figure)."""
    from estimation.cluster import dask_client
    from estimation.population_chunks import simulate_population
    from model_library import get

    model = get("oral_2cmt")
    t = time.perf_counter()
    with dask_client(workers=2) as client:
        simulate_population(model, regimen_design(), 2 * chunk, chunk_size=chunk, seed=5, client=client,
                            progress=None)
        cold = time.perf_counter() - t
        summary = simulate_population(model, regimen_design(), n, chunk_size=chunk, seed=1, client=client,
                                      progress=None)
    table = summary.table([5, 50, 95]).set_index("time")
    rows = [
        (f"cold start: {2 * chunk:,} subjects on 2 fresh workers", f"{cold:.1f} s"),
        (f"{n:,} subjects in chunks of {chunk:,}, 2 warm workers",
         f"{summary.seconds:.1f} s ({summary.subjects_per_second:,.0f} subjects/s)"),
        ("subjects simulated, failed chunks", f"{summary.n_subjects:,}, {len(summary.failed_chunks)}"),
    ]
    for t in (2.0, 144.0, 168.0):
        r = table.loc[t]
        rows.append((f"Cc at {t:g} h: median [5th, 95th percentile]",
                     f"{r['p50']:.4g} [{r['p5']:.4g}, {r['p95']:.4g}]"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 replicates, 100,000 subjects")
    parser.add_argument("--cases", default="a,b", help="which cases to run (a: bootstrap, b: population)")
    args = parser.parse_args(argv)
    cases = set(args.cases.split(","))
    rows: list[tuple[str, str]] = []
    if "a" in cases:
        rows += bootstrap_case(20 if args.quick else 100)
    if "b" in cases:
        rows += population_case(100_000 if args.quick else 1_000_000, 20_000)
    width = max(len(r[0]) for r in rows)
    print(f"| {'case':<{width}} | result |\n|{'-' * (width + 2)}|---|")
    for what, figure in rows:
        print(f"| {what:<{width}} | {figure} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
