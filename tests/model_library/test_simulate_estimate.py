"""Simulate-then-estimate: library models recover their typical values within 10%.

For each registered model: data are simulated from the model at its default typical
values and residual errors (the truth), with between-subject variances of 0.04 (20% CV)
on every eta, on a realistic design (50 subjects, 100 where a parameter is weakly informed;
9-20 samples each, several dose levels for nonlinear models, joint Cc and E observations
told apart by DVID for PK/PD models, and free drug, total target and total drug for TMDD
models; see ``designs.py``) with a fixed seed. The model is
then fitted by FOCE-I from its default starting values with every theta moved by +-0.1
(about 10%) and Omega at the library defaults. Every typical value (exp(theta), or
expit(theta) for fractions) must be within 10% of the truth: with 50 subjects and 20% CV
the sampling SD of a log typical value is about 0.03, so 10% is over 3 SD (about 2 SD for
the weakest ones, Q of the 2-cmt models and KA of transit absorption, even with 100
subjects). Fit times are printed (``-s``); speed is not asserted.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from designs import design, typical_values

from compartments.propagators import OdeOptions
from estimation.fit import fit
from estimation.methods import FOCEI
from estimation.simulation import simulate_observations
from model_library import get, list_models

#: Models whose simulate-then-estimate run met the 10% criterion (measured). The 2-cmt,
#: parallel, transit and zero-order models pass on the richer designs of ``designs.py`` (dense
#: distribution / absorption sampling, 100 subjects); the Michaelis-Menten, mixed, IDR and Friberg
#: models on designs whose doses span saturation / IC50 and whose sampling covers the response
#: (100 subjects for MM and IDR); transit_analytic_1cmt with KA = 0.3/h, well below KTR = 2/h (at
#: KA = 1/h the expected SE of log KA is 0.12 with 100 subjects whatever the sampling); the TMDD
#: models with free drug, total target and total drug observed (DVID 1-3) after 10, 100 and 1000
#: nmol (from free drug alone, expected SEs of log KSS, KDEG and R0 of 0.07-0.11).
VALIDATED = ("iv_1cmt", "infusion_1cmt", "oral_1cmt", "oral_1cmt_lag", "iv_3cmt", "oral_3cmt",
             "iv_1cmt_emax", "iv_1cmt_sigmoid_emax", "iv_1cmt_linear_effect", "iv_1cmt_effect_cmt_emax",
             "iv_2cmt", "oral_2cmt", "oral_2cmt_lag", "parallel_1cmt", "transit_1cmt",
             "zero_order_1cmt", "zero_order_2cmt", "iv_1cmt_mm", "iv_1cmt_idr1", "iv_1cmt_idr2",
             "iv_1cmt_idr3", "iv_1cmt_idr4", "iv_1cmt_friberg", "iv_1cmt_mixed", "oral_1cmt_mm",
             "transit_analytic_1cmt", "iv_1cmt_tmdd", "iv_1cmt_tmdd_qss")
#: Validated, but too long for CI's 90 minutes next to the other validation fits: run by
#: `make test-long` (transit_1cmt: 801 s, equal transit rates take the matrix-exponential path;
#: iv_1cmt_friberg: 859 s, of which about 500 s after convergence, the search from eta = 0;
#: iv_1cmt_mixed: 449 s, of which 199 s the first compile and evaluation; oral_1cmt_mm 399 s;
#: iv_1cmt_idr2-4, 235-287 s each, the same structure as iv_1cmt_idr1, which CI runs;
#: iv_1cmt_tmdd: 1345 s, 48 iterations at about 15 s (3 s for the QSS model, which has no fast
#: binding: KON * C reaches 17/h here) and 311 s to the first one; iv_1cmt_tmdd_qss: 400 s, 44
#: iterations, 172 s to the first; transit_analytic_1cmt: 447 s, 18 iterations, 100 subjects;
#: these three timed on a shared 2-core machine, load 2-4, CPU time within 3% of these).
LONG = ("transit_1cmt", "iv_1cmt_friberg", "iv_1cmt_mixed", "oral_1cmt_mm", "iv_1cmt_idr2",
        "iv_1cmt_idr3", "iv_1cmt_idr4", "iv_1cmt_tmdd", "iv_1cmt_tmdd_qss", "transit_analytic_1cmt")
MODELS = [pytest.param(m.name, marks=pytest.mark.long) if m.name in LONG else m.name
          for m in list_models() if m.name in VALIDATED]
#: ODE models are fitted with looser (still accurate) tolerances to keep the suite's time in bounds.
ODE_OPTIONS = OdeOptions(rtol=1e-7, atol=1e-9)
SEED = 20261125
N_SUBJECTS = 50
#: Larger (still realistic) studies where a weakly informed typical value needs them (expected
#: SE of its log with 50 subjects, FO Fisher information, on the rich design): Q with 2-cmt
#: disposition (0.06-0.09), KA next to MTT in transit absorption (0.07; 0.052 next to MTT and
#: NTR in the analytic form), KA next to the zero-order part in parallel absorption (0.05), KM of
#: Michaelis-Menten elimination (0.045; mixed elimination 0.065), IC50 / EC50 of the indirect
#: response models (0.045-0.06). 100 subjects divide these by 1.4.
LARGER_STUDIES = dict.fromkeys(("iv_2cmt", "oral_2cmt", "oral_2cmt_lag", "zero_order_2cmt",
                                "transit_1cmt", "transit_analytic_1cmt", "parallel_1cmt", "iv_1cmt_mm",
                                "oral_1cmt_mm", "iv_1cmt_mixed", "iv_1cmt_idr1", "iv_1cmt_idr2",
                                "iv_1cmt_idr3", "iv_1cmt_idr4"), 100)
TRUE_VARIANCE = 0.04


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_simulate_then_estimate_recovers_typical_values(name: str) -> None:
    library = get(name)
    truth = library.with_initial(dict.fromkeys(library.space.eta_names, TRUE_VARIANCE))
    options = ODE_OPTIONS if truth.compiled.kind == "ode" else None
    spec = design(name, LARGER_STUDIES.get(name, N_SUBJECTS))
    simulated = simulate_observations(truth, spec.data, seed=SEED, ode_options=options,
                                      output_column=spec.output_column)
    data = simulated.drop(columns=[c for c in simulated.columns if c.startswith("ETA_")])
    start = {n: float(truth.thetas[n]) + (0.1 if i % 2 == 0 else -0.1)
             for i, n in enumerate(truth.space.theta_names)}
    began = time.perf_counter()
    result = fit(library.with_initial(start), data, FOCEI(covariance=None), ode_options=options,
                 output_column=spec.output_column)
    elapsed = time.perf_counter() - began
    print(f"\n{name}: fit {elapsed:.1f} s, {result.iterations} iterations, OFV {result.ofv:.3f}")
    true_values = typical_values(truth, {n: float(truth.thetas[n]) for n in truth.space.theta_names})
    estimated = typical_values(truth, {n: float(result.theta[n]) for n in truth.space.theta_names})
    errors = {n: estimated[n] / true_values[n] - 1 for n in true_values}
    print("  relative errors: " + ", ".join(f"{n} {e:+.3f}" for n, e in errors.items()))
    assert np.isfinite(result.ofv), result.message
    bad = {n: round(e, 3) for n, e in errors.items() if abs(e) > 0.10}
    assert not bad, f"{name}: typical values off by more than 10%: {bad} ({result.message})"
