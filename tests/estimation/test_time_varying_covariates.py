"""Time-varying covariates: individual parameters evaluated record by record (NONMEM $PK).

Checked against the piecewise closed form of a one-compartment bolus model whose
clearance follows body weight, and against the baseline path when the covariate does
not change (identical OFV). NONMEM advances the system to a record with the
parameters computed from that record, so a weight recorded at t = 8 already governs
the interval (6, 8].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from compartments import Model
from estimation.data import read_nonmem
from estimation.error_models import Additive
from estimation.evaluator import Evaluator
from estimation.methods import FOCEI
from estimation.objectives import subject_data
from estimation.population import PopulationModel
from estimation.problem import build_problem

V, TCL = 10.0, 2.0


def model() -> PopulationModel:
    structure = (Model("tv_cov").compartment("central", volume="V").elimination("central", cl="CL")
                 .dose("central").output("Cc", "central / V"))
    return PopulationModel(
        structure, parameters={"CL": "tcl * (WT / 70) ** 0.75 * exp(eta_cl)", "V": "tv"},
        thetas={"tcl": TCL, "tv": V}, omega={"eta_cl": 0.1}, error=Additive(0.1))


def data(weights_after: float = 100.0) -> pd.DataFrame:
    times = [0, 2, 4, 6, 8, 10, 12]
    wt = [70, 70, 70, 70, weights_after, weights_after, weights_after]
    rows = [{"ID": 1, "TIME": t, "DV": 0.0 if t else np.nan, "AMT": 100.0 if t == 0 else 0.0,
             "EVID": 1 if t == 0 else 0, "MDV": 1 if t == 0 else 0, "CMT": 1, "WT": w}
            for t, w in zip(times, wt, strict=True)]
    # an ADDL dose at 9 h: it is advanced through with the parameters of the record at 10 h
    rows.append({"ID": 1, "TIME": 9.0, "DV": np.nan, "AMT": 50.0, "EVID": 1, "MDV": 1, "CMT": 1,
                 "WT": 70.0, "II": 0.5, "ADDL": 1})
    frame = pd.DataFrame(rows).sort_values("TIME", kind="stable").reset_index(drop=True)
    frame["II"] = frame["II"].fillna(0.0)
    frame["ADDL"] = frame["ADDL"].fillna(0).astype(int)
    return frame


def expected_concentrations(obs_times: np.ndarray, wt_after: float) -> np.ndarray:
    k70 = TCL / V
    k_after = TCL * (wt_after / 70) ** 0.75 / V
    # rate constant of each interval, from the record the system is advanced to:
    # (0, 6] records with WT 70; (6, 8] the record at 8 (WT after); (8, 9] the dose record at
    # 9 h (WT 70); (9, 9.5] the implied dose -> next actual record, 10 h (WT after); then WT after
    pieces = [(0.0, 6.0, k70), (6.0, 8.0, k_after), (8.0, 9.0, k70), (9.0, np.inf, k_after)]
    doses = [(0.0, 100.0), (9.0, 50.0), (9.5, 50.0)]
    out = []
    for t in obs_times:
        a = 0.0
        for td, amount in doses:
            if t >= td:
                exponent = sum(k * max(0.0, min(t, hi) - max(td, lo)) for lo, hi, k in pieces)
                a += amount * np.exp(-exponent)
        out.append(a / V)
    return np.asarray(out)


def test_time_varying_weight_follows_nonmem_record_semantics() -> None:
    m = model()
    problem = build_problem(m, read_nonmem(data()))
    assert problem.time_varying
    assert problem.covariates.shape[:2] == (1, problem.layout.n_records)
    ev = Evaluator(problem, FOCEI())
    subj = subject_data(problem)
    one = jax.tree_util.tree_map(lambda a: a[0], subj)
    theta_natural = jnp.asarray(m.space.natural_init())
    f = np.asarray(ev.subject_model.predict(theta_natural, jnp.zeros(1), one))
    obs = problem.obs_mask[0]
    np.testing.assert_allclose(f[obs], expected_concentrations(problem.obs_time[0][obs], 100.0), rtol=1e-10)


def test_constant_covariate_gives_the_baseline_objective() -> None:
    m = model()
    constant = data(weights_after=70.0)
    varying = data(weights_after=70.0)
    varying.loc[varying["TIME"] == 12, "WT"] = 70.0 + 1e-300   # numerically the same weight
    p_const = build_problem(m, read_nonmem(constant))
    p_var = build_problem(m, read_nonmem(varying))
    assert not p_const.time_varying
    # 70 + 1e-300 == 70 in float64: the problem stays on the baseline path
    assert not p_var.time_varying
    frame = data(weights_after=80.0)
    frame["DV"] = np.where(frame["EVID"] == 0, 5.0, np.nan)
    p_tv = build_problem(m, read_nonmem(frame))
    assert p_tv.time_varying
    frame_base = frame.assign(WT=70.0)
    p_base = build_problem(m, read_nonmem(frame_base))
    u = m.space.to_unconstrained(m.space.natural_init())
    ofv_tv, _, _ = Evaluator(p_tv, FOCEI()).value_and_grad(u, np.zeros((1, 1)))
    ofv_base, _, _ = Evaluator(p_base, FOCEI()).value_and_grad(u, np.zeros((1, 1)))
    assert ofv_tv != pytest.approx(ofv_base, abs=1e-3)


def test_time_varying_gradient_matches_finite_differences() -> None:
    m = model()
    frame = data()
    frame["DV"] = np.where(frame["EVID"] == 0, expected_concentrations(frame["TIME"].to_numpy(), 100.0) * 1.1,
                           np.nan)
    problem = build_problem(m, read_nonmem(frame))
    ev = Evaluator(problem, FOCEI())
    u = m.space.to_unconstrained(m.space.natural_init())
    etas = np.zeros((1, 1))
    _, grad, _ = ev.value_and_grad(u, etas)
    h = 1e-5
    for k in range(len(u)):
        up, down = u.copy(), u.copy()
        up[k] += h
        down[k] -= h
        fd = (ev.value_and_grad(up, etas)[0] - ev.value_and_grad(down, etas)[0]) / (2 * h)
        assert grad[k] == pytest.approx(fd, rel=1e-5, abs=1e-6)
