"""Benchmarks of the compartments engine (see BENCHMARKS.md for recorded figures).

Three designs, each a population sharing one dosing design (14 oral doses of
100 mg every 12 h, 50 observation times from 0.5 h to 168 h), with log-normal
between-subject variability in every parameter:

(a) 100,000 subjects, one-compartment oral model, analytic (closed-form) path;
(b) 10,000 subjects, one-compartment oral model with Michaelis-Menten
    elimination, ODE path (diffrax Tsit5, rtol 1e-9 / atol 1e-12 by default);
(c) the cost of sensitivities relative to the plain solve for the
    3-parameter oral model (KA, CL, V) on the analytic and on the ODE path.

The solve is timed with :func:`compartments.simulate.batch_solver` on arrays
from :func:`compartments.solve.records_from_tables` (building a DataFrame is not
the solve): "first call" includes tracing and XLA compilation, "warm" is the
best of ``--repeat`` calls. ``simulate()`` end-to-end (event tables, expansion,
solve, DataFrame) is reported separately. The JAX persistent compilation cache
is disabled unless ``--cache`` is given, so "first call" is a true cold compile.

Usage::

    python benchmarks/compartments_bench.py            # full sizes
    python benchmarks/compartments_bench.py --quick    # 1/10 of the sizes
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

N_DOSES, II, DOSE = 14, 12.0, 100.0
OBS_TIMES = np.linspace(0.5, 168.0, 50)
TYPICAL = {"KA": 1.0, "CL": 3.0, "V": 30.0, "VM": 20.0, "KM": 2.0}
BSV = {"KA": 0.3, "CL": 0.3, "V": 0.2, "VM": 0.3, "KM": 0.2}


@dataclass
class Row:
    """One line of the results table."""

    case: str
    subjects: int
    first_s: float
    warm_s: float
    target: str = ""
    note: str = ""

    @property
    def compile_s(self) -> float:
        return max(self.first_s - self.warm_s, 0.0)


def oral_model(elimination: str = "linear"):  # type: ignore[no-untyped-def]
    """One-compartment oral model, linear or Michaelis-Menten elimination."""
    from compartments import Model, set_elimination

    model = (Model("oral_1cmt").compartment("depot").compartment("central", volume="V")
             .flow("depot", "central", k="KA").elimination("central", cl="CL")
             .dose("depot").output("Cc", "central / V"))
    return model if elimination == "linear" else set_elimination(model, "michaelis-menten")


def population(model, n: int, seed: int = 1):  # type: ignore[no-untyped-def]
    """Records (one design tiled over ``n`` subjects), layout and parameter matrix."""
    import jax.numpy as jnp

    from compartments import compile_model
    from compartments.events import bolus
    from compartments.solve import RecordArrays, records_from_tables

    table = bolus(DOSE, cmt="depot", ii=II, n=N_DOSES).event_table(model, OBS_TIMES)
    one, layout, _ = records_from_tables([table])
    records = RecordArrays(*(jnp.asarray(np.repeat(np.asarray(f), n, axis=0)) for f in one))
    cm = compile_model(model)
    rng = np.random.default_rng(seed)
    P = np.column_stack([TYPICAL[p] * np.exp(BSV[p] * rng.standard_normal(n))
                         for p in cm.param_names])
    return cm, layout, records, jnp.asarray(P)


def time_solver(model, n: int, *, sensitivities: bool = False, use_ode: bool = False,
                repeat: int = 3, rtol: float | None = None,
                atol: float | None = None) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(first call, best warm call) in seconds for the jitted batch solver."""
    import jax

    from compartments.propagators import OdeOptions
    from compartments.simulate import batch_solver

    options = OdeOptions()
    if rtol is not None:
        options = OdeOptions(rtol=rtol, atol=atol if atol is not None else rtol * 1e-3)
    cm, layout, records, P = population(model, n)
    solver = batch_solver(cm, layout, options, use_ode, sensitivities)
    start = time.perf_counter()
    jax.block_until_ready(solver(P, records))
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(solver(P, records))
        warm.append(time.perf_counter() - start)
    return first, min(warm)


def time_simulate(model, n: int, **kwargs: object) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(first, second) wall time of ``simulate()`` end-to-end for ``n`` subjects."""
    from compartments import compile_model
    from compartments.events import bolus
    from compartments.simulate import simulate

    rng = np.random.default_rng(2)
    params = {p: TYPICAL[p] * np.exp(BSV[p] * rng.standard_normal(n))
              for p in compile_model(model).param_names}
    regimen = bolus(DOSE, cmt="depot", ii=II, n=N_DOSES)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        df = simulate(model, params, regimen, OBS_TIMES, **kwargs)
        times.append(time.perf_counter() - start)
    assert len(df) == n * len(OBS_TIMES)
    return times[0], times[1]


def run(scale: float = 1.0, repeat: int = 3, cases: str = "abce",
        log: Callable[[str], None] = print) -> list[Row]:
    """Run the ``cases`` (letters a, b, c; e = simulate() end-to-end); ``scale``
    shrinks the population sizes (``--quick``: 0.1)."""
    rows: list[Row] = []
    n_a, n_b, n_c = int(100_000 * scale), int(10_000 * scale), int(10_000 * scale)
    linear, mm = oral_model("linear"), oral_model("mm")

    if "a" in cases:
        log(f"(a) analytic, {n_a} subjects ...")
        first, warm = time_solver(linear, n_a, repeat=repeat)
        rows.append(Row("(a) 1-cmt oral, closed form", n_a, first, warm, "warm <= 1 s"))

    if "b" in cases:
        log(f"(b) Michaelis-Menten ODE, {n_b} subjects ...")
        first, warm = time_solver(mm, n_b, repeat=repeat)
        rows.append(Row("(b) 1-cmt oral MM, ODE (Tsit5)", n_b, first, warm, "warm <= 5 s",
                        "rtol 1e-9, atol 1e-12 (default)"))
        first, warm = time_solver(mm, n_b, repeat=repeat, rtol=1e-6, atol=1e-9)
        rows.append(Row("(b') same, looser tolerances", n_b, first, warm, "",
                        "rtol 1e-6, atol 1e-9"))

    if "c" not in cases:
        return rows + (_end_to_end(linear, mm, n_a, n_b, log) if "e" in cases else [])
    log(f"(c) sensitivities, {n_c} subjects ...")
    plain = time_solver(linear, n_c, repeat=repeat)
    sens = time_solver(linear, n_c, sensitivities=True, repeat=repeat)
    rows.append(Row("(c) closed form, plain", n_c, *plain))
    rows.append(Row("(c) closed form + d/d(KA,CL,V)", n_c, *sens, "<= 3x plain",
                    f"{sens[1] / plain[1]:.2f}x plain"))
    n_ode = max(n_c // 10, 1)
    plain = time_solver(linear, n_ode, use_ode=True, repeat=repeat)
    sens = time_solver(linear, n_ode, use_ode=True, sensitivities=True, repeat=repeat)
    rows.append(Row("(c) same model on ODE path, plain", n_ode, *plain))
    rows.append(Row("(c) ODE path + d/d(KA,CL,V)", n_ode, *sens, "<= 3x plain",
                    f"{sens[1] / plain[1]:.2f}x plain"))

    return rows + (_end_to_end(linear, mm, n_a, n_b, log) if "e" in cases else [])


def _end_to_end(linear, mm, n_a: int, n_b: int,  # type: ignore[no-untyped-def]
                log: Callable[[str], None]) -> list[Row]:
    log("simulate() end-to-end ...")
    rows = []
    first, second = time_simulate(linear, n_a)
    rows.append(Row("simulate() (a) end-to-end", n_a, first, second, note="2nd call as 'warm'"))
    first, second = time_simulate(mm, n_b)
    rows.append(Row("simulate() (b) end-to-end", n_b, first, second, note="2nd call as 'warm'"))
    return rows


def table(rows: list[Row]) -> str:
    """Markdown table of the results."""
    head = ("| case | subjects | first call (s) | compile ≈ first - warm (s) | warm (s) "
            "| target | note |")
    lines = [head, "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r.case} | {r.subjects:,} | {r.first_s:.2f} | {r.compile_s:.2f} "
                     f"| {r.warm_s:.3f} | {r.target} | {r.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/10 of the population sizes")
    parser.add_argument("--repeat", type=int, default=3, help="warm calls (best is reported)")
    parser.add_argument("--cases", default="abce",
                        help="letters of the cases to run: a, b, c and e (simulate() end-to-end)")
    parser.add_argument("--cache", action="store_true",
                        help="keep JAX's persistent compilation cache enabled")
    args = parser.parse_args(argv)
    if not args.cache:
        os.environ["POPKIN_NO_COMPILE_CACHE"] = "1"
    import jax

    import compartments  # noqa: F401  (float64, cache configuration)

    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} cpus, "
          f"{time.strftime('%Y-%m-%d')}")
    rows = run(0.1 if args.quick else 1.0, args.repeat, args.cases,
               log=lambda s: print(s, file=sys.stderr, flush=True))
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
