"""Library models against the textbook equations, solved independently by SciPy.

The nonlinear library models are written for popkin's graph language (states start at
zero, so baselines become deviation states; TMDD binding as flows; Savic's input as a
time-dependent flow). Each is simulated by popkin at its typical values and compared to
``scipy.integrate.solve_ivp`` (LSODA, rtol 1e-11) of the equations *as published*
(absolute states with their baselines as initial conditions), to 1e-6 relative.
Direct PD models are compared to their closed formulas. PK/PD models are PK -> PD.
The ODE models' checks compile one ODE program each and are marked slow.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import expit

from compartments.events import bolus, infusion
from compartments.simulate import simulate
from estimation.population import PopulationModel
from model_library import get, link
from model_library.pd import PD_MODELS, get_pd

TIMES = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 48.0, 96.0, 168.0])
DOSE = 100.0


def typical(model: PopulationModel, covariates: dict[str, float] | None = None) -> dict[str, float]:
    """Structural parameters at the typical values (eta = 0)."""
    space = model.space
    theta = jnp.asarray([float(model.thetas[n]) for n in space.theta_names])
    cov = jnp.asarray([(covariates or {})[n] for n in model.covariate_names])
    values = np.asarray(model.individual_function(theta, jnp.zeros(len(space.eta_names)), cov))
    return dict(zip(model.compiled.param_names, values.tolist(), strict=True))


def reference(rhs: Callable[[float, np.ndarray], np.ndarray], y0: list[float]) -> np.ndarray:
    sol = solve_ivp(rhs, (0.0, TIMES[-1]), y0, method="LSODA", t_eval=TIMES, rtol=1e-11, atol=1e-12)
    assert sol.success
    return sol.y


def popkin(model: PopulationModel, output: str, p: dict[str, float], dose: float = DOSE,
           cmt: str = "central") -> np.ndarray:
    df = simulate(model.structure, p, bolus(dose, cmt=cmt), times=TIMES.tolist(), output=output)
    return df.loc[df["EVID"] == 0, output].to_numpy()


def pk_iv(p: dict[str, float], c: float) -> float:
    """d C / dt of the one-compartment IV model."""
    return -p["CL"] / p["V"] * c


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * np.abs(want).max())


@pytest.mark.slow
# --------------------------------------------------------------------- PD models
@pytest.mark.slow
@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_indirect_response_models_match_dayneka(kind: int) -> None:
    model = get(f"iv_1cmt_idr{kind}")
    p = typical(model)
    kin, kout = p["KOUT"] * p["E0"], p["KOUT"]

    def effect(c: float) -> float:
        return p["IMAX"] * c / (p["IC50"] + c) if kind <= 2 else p["EMAX"] * c / (p["EC50"] + c)

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        c, r = y
        e = effect(c)
        dr = {1: kin * (1 - e) - kout * r, 2: kin - kout * (1 - e) * r,
              3: kin * (1 + e) - kout * r, 4: kin - kout * (1 + e) * r}[kind]
        return np.array([pk_iv(p, c), dr])

    want = reference(rhs, [DOSE / p["V"], p["E0"]])
    assert_close(popkin(model, "Cc", p), want[0])
    response = popkin(model, "E", p)
    assert_close(response, want[1])
    assert abs(response - p["E0"]).max() > 0.1 * p["E0"]   # the drug moves the response


@pytest.mark.slow
def test_friberg_model_matches_the_published_equations() -> None:
    model = get("iv_1cmt_friberg")
    p = typical(model)
    ktr = 4 / p["MTTPD"]

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        c, prol, m1, m2, m3, circ = y
        edrug = p["SLOPE"] * c
        return np.array([
            pk_iv(p, c),
            ktr * prol * (1 - edrug) * (p["CIRC0"] / circ) ** p["GAMMA"] - ktr * prol,
            ktr * (prol - m1), ktr * (m1 - m2), ktr * (m2 - m3), ktr * (m3 - circ),
        ])

    base = p["CIRC0"]
    want = reference(rhs, [150.0 / p["V"], base, base, base, base, base])
    got = popkin(model, "E", p, dose=150.0)
    assert_close(got, want[5])
    assert got.min() < 0.8 * base   # a nadir


def test_effect_compartment_and_direct_models_match_their_formulas() -> None:
    model = get("iv_1cmt_effect_cmt_emax")
    p = typical(model)
    k, ke0 = p["CL"] / p["V"], p["KE0"]
    c0 = DOSE / p["V"]
    ce = c0 * ke0 / (ke0 - k) * (np.exp(-k * TIMES) - np.exp(-ke0 * TIMES))
    assert_close(popkin(model, "E", p), p["E0"] + p["EMAX"] * ce / (p["EC50"] + ce))
    cc = c0 * np.exp(-k * TIMES)
    formulas = {
        "emax": lambda q: q["E0"] + q["EMAX"] * cc / (q["EC50"] + cc),
        "sigmoid_emax": lambda q: q["E0"] + q["EMAX"] * cc ** q["HILL"] / (q["EC50"] ** q["HILL"]
                                                                         + cc ** q["HILL"]),
        "linear_effect": lambda q: q["E0"] + q["SLOPE"] * cc,
    }
    for name, formula in formulas.items():
        direct = get(f"iv_1cmt_{name}")
        q = typical(direct)
        assert_close(popkin(direct, "E", q), formula(q))


def test_any_pk_model_links_to_any_pd_model() -> None:
    for pk_name in ("transit_1cmt", "iv_1cmt_tmdd_qss"):   # MTT and R0 do not clash with PD names
        pk = get(pk_name)
        for pd_name in PD_MODELS:
            joint = link(pk, get_pd(pd_name))
            assert joint.title == f"{pk_name}_{pd_name}"
            assert joint.structure.output_names == ("Cc", "E")
            assert joint.structure.compartment_names[:len(pk.structure.compartment_names)] == \
                pk.structure.compartment_names
            assert set(pk.space.theta_names) < set(joint.space.theta_names)
            assert joint.space.sigma_names[-1] == "add_sd_e"
    with pytest.raises(ValueError, match="both use the parameters"):
        link(get("iv_1cmt_emax"), get_pd("emax"))
    with pytest.raises(ValueError, match="already has"):
        link(get("iv_1cmt_idr1"), get_pd("idr2"))
    linked = link(get("oral_1cmt"), get_pd("idr3"))
    # oral PK -> IDR III: the E output uses the oral model's concentration central / V
    assert "depot" in linked.structure.compartment_names
    assert str(linked.structure.outputs[0].expression) == "central/V"


# -------------------------------------------------------------------- PK models
@pytest.mark.slow
def test_full_tmdd_matches_mager_and_jusko() -> None:
    model = get("iv_1cmt_tmdd")
    p = typical(model)

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        c, r, rc = y
        binding = p["KON"] * c * r - p["KOFF"] * rc
        return np.array([-p["CL"] / p["V"] * c - binding, p["KDEG"] * p["R0"] - p["KDEG"] * r - binding,
                         binding - p["KINT"] * rc])

    for dose in (30.0, 300.0):
        want = reference(rhs, [dose / p["V"], p["R0"], 0.0])
        assert_close(popkin(model, "Cc", p, dose=dose), want[0])
        assert_close(popkin(model, "Rtot", p, dose=dose), want[1] + want[2])   # free + bound target
        assert_close(popkin(model, "Ctot", p, dose=dose), want[0] + want[2])   # free + bound drug


@pytest.mark.slow
def test_qss_tmdd_matches_gibiansky_and_the_full_model_in_its_limit() -> None:
    model = get("iv_1cmt_tmdd_qss")
    p = typical(model)

    def free(ctot: float, rtot: float) -> float:
        d = ctot - rtot - p["KSS"]
        return 0.5 * (d + math.sqrt(d * d + 4 * p["KSS"] * ctot))

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        ctot, rtot = y
        c = free(ctot, rtot)
        return np.array([-p["CL"] / p["V"] * c - p["KINT"] * (ctot - c),
                         p["KDEG"] * p["R0"] - p["KDEG"] * rtot - (p["KINT"] - p["KDEG"]) * (ctot - c)])

    want = reference(rhs, [300.0 / p["V"], p["R0"]])
    assert_close(popkin(model, "Cc", p, dose=300.0), [free(a, b) for a, b in want.T])
    assert_close(popkin(model, "Rtot", p, dose=300.0), want[1])
    assert_close(popkin(model, "Ctot", p, dose=300.0), want[0])
    # KSS = (KOFF + KINT) / KON of the full model's defaults
    full = typical(get("iv_1cmt_tmdd"))
    assert p["KSS"] == pytest.approx((full["KOFF"] + full["KINT"]) / full["KON"], rel=1e-12)


@pytest.mark.slow
def test_savic_analytic_transit_input() -> None:
    model = get("transit_analytic_1cmt")
    p = typical(model, {"DOSE": DOSE})
    assert p["DOSE"] == DOSE
    n, ktr = p["NTR"], (p["NTR"] + 1) / p["MTT"]
    log_factorial = 0.5 * math.log(2 * math.pi) + (n + 0.5) * math.log(n) - n   # Stirling

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        depot, central = y
        rate = DOSE * ktr * (ktr * t) ** n * math.exp(-ktr * t - log_factorial)
        return np.array([rate - p["KA"] * depot, p["KA"] * depot - p["CL"] / p["V"] * central])

    want = reference(rhs, [0.0, 0.0])
    assert_close(popkin(model, "Cc", p, cmt="transit"), want[1] / p["V"])
    # mass balance: what leaves `transit` is the gamma input, whose integral is DOSE * n! / Stirling(n)
    df = simulate(model.structure, p, bolus(DOSE, cmt="transit"), times=[500.0], amounts=True)
    absorbed = DOSE - float(df["A_transit"].iloc[-1])
    assert absorbed == pytest.approx(DOSE * math.exp(math.lgamma(n + 1) - log_factorial), rel=1e-6)


def test_parallel_absorption_splits_the_dose() -> None:
    model = get("parallel_1cmt")
    p = typical(model)
    assert p["F1"] == pytest.approx(expit(model.thetas["tf1"]), rel=1e-12)
    k = p["CL"] / p["V"]
    rows = bolus(DOSE, cmt="depot") + infusion(DOSE, cmt="central", modelled="duration")
    df = simulate(model.structure, p, rows, times=TIMES.tolist())
    got = df.loc[df["EVID"] == 0, "Cc"].to_numpy()
    first = (p["F1"] * DOSE * p["KA"] / (p["V"] * (p["KA"] - k))
             * (np.exp(-k * TIMES) - np.exp(-p["KA"] * TIMES)))
    rate, d2 = (1 - p["F1"]) * DOSE / p["D2"], p["D2"]
    zero = np.where(TIMES <= d2, rate / p["CL"] * (1 - np.exp(-k * TIMES)),
                    rate / p["CL"] * (1 - np.exp(-k * d2)) * np.exp(-k * (TIMES - d2)))
    assert_close(got, first + zero)
