"""SAEM benchmarks: theo_sd with default settings (next to pynlme's SAEM) and ACOP Oral_1CPTMM
full (Michaelis-Menten, ODE path).

Usage::

    python benchmarks/saem_bench.py [--quick]

``--quick`` skips the ACOP fit. pynlme's ``nlmefitsa`` runs when pynlme is importable
(``pip install pynlme``) and is skipped with a message otherwise. "Warm" is the best of 3 fits
after a first one in the same process (the compiled programs are reused).
Targets: theo_sd <= 3 s warm; ACOP Oral_1CPTMM full <= 60 s.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
THEO = ROOT / "estimation" / "examples" / "theo_sd.csv"
MM = ROOT / "tests" / "data" / "Oral_1CPTMM.csv"
LOG2PI = math.log(2 * math.pi)


def theo_model():  # type: ignore[no-untyped-def]
    from estimation.error_models import Additive
    from model_library import get

    return get("oral_1cmt", error=Additive(0.7)).with_initial(
        {"tka": 0.45, "tcl": 1.0, "tv": 3.45, "eta_ka": 0.6, "eta_cl": 0.3, "eta_v": 0.1})


def popkin_theo() -> list[tuple[str, float, str]]:
    from estimation.data import read_nonmem
    from estimation.fit import fit
    from estimation.methods import SAEM

    model, data = theo_model(), read_nonmem(THEO)
    t = time.perf_counter()
    first = fit(model, data, SAEM())
    cold = time.perf_counter() - t
    warm = []
    for _ in range(3):
        t = time.perf_counter()
        result = fit(model, data, SAEM())
        warm.append(time.perf_counter() - t)
    note = (f"OFV(IS) {result.ofv:.2f} +- {result.ofv_mc_se:.2f}, linearised {result.ofv_linearised:.3f}; "
            f"tka {result.theta['tka']:.4f} tcl {result.theta['tcl']:.4f} tv {result.theta['tv']:.4f}")
    assert first.ofv == result.ofv
    return [("popkin SAEM theo_sd, first fit in process (compile, cache as found)", cold, note),
            ("popkin SAEM theo_sd, default settings, warm (best of 3)", min(warm), note)]


def pynlme_theo() -> list[tuple[str, float, str]]:
    try:
        import pynlme
    except ImportError:
        print("pynlme: skipped (pip install pynlme)")
        return []
    d = pd.read_csv(THEO)
    obs = d[d.EVID == 0]
    dose = d[d.EVID == 1].set_index("ID")["AMT"]
    X = np.column_stack([obs.TIME.to_numpy(), dose.loc[obs.ID].to_numpy()])

    def model(phi, x, v=None):  # type: ignore[no-untyped-def]
        phi = np.atleast_2d(phi)
        ka, cl, vol = np.exp(phi[:, 0]), np.exp(phi[:, 1]), np.exp(phi[:, 2])
        k = cl / vol
        t, amt = x[:, 0], x[:, 1]
        return amt * ka / (vol * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))

    args = (X, obs.DV.to_numpy(), obs.ID.to_numpy(), None, model, np.array([0.45, 1.0, 3.45]))
    try:
        beta, _, stats, _ = pynlme.nlmefitsa(*args)
    except Exception as exc:  # the peer failed: report, do not fail the benchmark
        print(f"pynlme nlmefitsa failed: {type(exc).__name__}: {exc}")
        return []
    times = []
    for _ in range(3):
        t = time.perf_counter()
        pynlme.nlmefitsa(*args)
        times.append(time.perf_counter() - t)
    logl = getattr(stats, "logl", None)
    ofv = f"OFV {-2 * float(logl) - len(obs) * LOG2PI:.2f}" if logl is not None else "OFV n/a"
    return [("pynlme nlmefitsa (SAEM), theo_sd (best of 3)", min(times),
             f"{ofv}; beta {np.round(np.asarray(beta), 4).tolist()}")]


def popkin_mm() -> list[tuple[str, float, str]]:
    import sys

    from compartments.propagators import OdeOptions
    from estimation.data import read_nonmem
    from estimation.fit import fit
    from estimation.methods import SAEM

    sys.path.insert(0, str(ROOT / "tests" / "estimation"))
    from estimation_helpers import acop_model  # the ACOP reference model (NONMEM's initial values)

    name = "Oral_1CPTMM"
    data = read_nonmem(MM)   # no SS or II columns in this file
    model = acop_model(name)
    options = OdeOptions(rtol=1e-6, atol=1e-9)
    method = SAEM()   # default settings, as validated in tests/estimation/test_saem_validation.py
    t = time.perf_counter()
    fit(model, data, method, ode_options=options)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    result = fit(model, data, method, ode_options=options)
    warm = time.perf_counter() - t
    km = math.exp(result.theta["tkm"])
    note = (f"OFV(IS) {result.ofv:.1f} +- {result.ofv_mc_se:.1f} (NONMEM FOCE-I 72361.45), "
            f"{method.n_burn}+{method.n_smooth} iterations; KM {km:.1f} (NONMEM 243.6)")
    return [(f"popkin SAEM ACOP {name} full (ODE, rtol 1e-6), default settings, first fit", cold, note),
            (f"popkin SAEM ACOP {name} full (ODE, rtol 1e-6), default settings, warm", warm, note)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the ACOP fit")
    args = parser.parse_args(argv)
    rows = popkin_theo() + pynlme_theo()
    if not args.quick:
        rows += popkin_mm()
    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':<{width}}  {'seconds':>9}  result")
    for name, seconds, note in rows:
        print(f"{name:<{width}}  {seconds:9.3f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
