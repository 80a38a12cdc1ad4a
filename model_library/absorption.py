"""Absorption variants: lag time, zero-order, transit compartments, parallel absorption.

Each model is a complete population model (log-normal IIV, combined error) whose
disposition is the linear 1- or 2-compartment model of :mod:`model_library.pk`; the
typical disposition values are the ACOP 2016 ones (CL 4 L/h, V 70 L, Q 4 L/h,
V2 50 L). Doses in mg, time in h, concentrations in mg/L.

Examples
--------
>>> from model_library import get
>>> get("transit_1cmt").structure.compartment_names
('transit1', 'transit2', 'transit3', 'depot', 'central')
"""

from __future__ import annotations

import math

from compartments import Model, add_lag, add_transit
from estimation.error_models import Combined, ErrorModel
from estimation.population import PopulationModel
from model_library.parameterisation import individual_expression, log_normal_model
from model_library.pk import ACOP, disposition
from model_library.registry import register

__all__ = ["oral_1cmt_lag", "oral_2cmt_lag", "parallel_1cmt", "transit_1cmt", "transit_analytic_1cmt",
           "zero_order_1cmt", "zero_order_2cmt"]

#: Number of transit compartments of :func:`transit_1cmt`.
N_TRANSIT = 3


def _default_error(error: ErrorModel | None) -> ErrorModel:
    return error or Combined(add=0.05, prop=0.1)


def _typical(structure: Model, extra: dict[str, float]) -> dict[str, float]:
    order = ("KA", "MTT", "NTR", "ALAG1", "D1", "D2", "F1", "CL", "V", "V1", "Q", "V2")
    values = {**ACOP, **extra}
    return {p: values[p] for p in order if p in structure.parameter_names}


# --------------------------------------------------------------------- lag time
def _lagged(name: str, n: int, error: ErrorModel | None) -> PopulationModel:
    structure = add_lag(disposition(name, n, oral=True), "depot", "ALAG1")
    typical = _typical(structure, {"ALAG1": 0.5})
    return log_normal_model(structure, typical, dict.fromkeys(typical, 0.09), _default_error(error))


@register("oral_1cmt_lag", tags=("pk", "oral", "first-order-absorption", "lag", "1cmt", "linear"))
def oral_1cmt_lag(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with first-order absorption after a lag time (ADVAN2 with ALAG1).

    Equations::

        dose into depot at time + ALAG1
        d depot/dt   = -KA * depot
        d central/dt =  KA * depot - CL / V * central
        Cc           =  central / V
        P = exp(tp + eta_p) for P in KA, ALAG1, CL, V

    Compartments (NONMEM CMT): 1 ``depot`` (oral doses, delayed by ALAG1), 2 ``central``.

    ========  ============================  =========  ================
    theta     parameter                     unit       starting value
    ========  ============================  =========  ================
    tka       log absorption rate constant  log(1/h)   log(1)
    talag1    log lag time                  log(h)     log(0.5)
    tcl       log clearance                 log(L/h)   log(4)
    tv        log volume                    log(L)     log(70)
    ========  ============================  =========  ================

    Omega 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``.

    References
    ----------
    NONMEM Users Guide VIII (ALAG1); disposition values from ACOP 2016
    (Schoemaker et al., AAPS J 2019).

    Examples
    --------
    >>> oral_1cmt_lag().structure.get_dosing("depot").lag
    ALAG1
    """
    return _lagged("oral_1cmt_lag", 1, error)


@register("oral_2cmt_lag", tags=("pk", "oral", "first-order-absorption", "lag", "2cmt", "linear"))
def oral_2cmt_lag(error: ErrorModel | None = None) -> PopulationModel:
    """Two-compartment model with first-order absorption after a lag time (ADVAN4 with ALAG1).

    Equations::

        dose into depot at time + ALAG1
        d depot/dt       = -KA * depot
        d central/dt     =  KA * depot - (CL + Q) / V1 * central + Q / V2 * peripheral1
        d peripheral1/dt =  Q / V1 * central - Q / V2 * peripheral1
        Cc               =  central / V1
        P = exp(tp + eta_p) for P in KA, ALAG1, CL, V1, Q, V2

    Compartments (NONMEM CMT): 1 ``depot``, 2 ``central``, 3 ``peripheral1``.

    ========  ======================================  =========  ================
    theta     parameter                               unit       starting value
    ========  ======================================  =========  ================
    tka       log absorption rate constant            log(1/h)   log(1)
    talag1    log lag time                            log(h)     log(0.5)
    tcl       log clearance                           log(L/h)   log(4)
    tv1       log central volume                      log(L)     log(70)
    tq        log inter-compartmental clearance       log(L/h)   log(4)
    tv2       log peripheral volume                   log(L)     log(50)
    ========  ======================================  =========  ================

    Omega 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``.

    References
    ----------
    NONMEM Users Guide VIII (ADVAN4, ALAG1); ACOP 2016 values.

    Examples
    --------
    >>> oral_2cmt_lag().structure.compartment_names
    ('depot', 'central', 'peripheral1')
    """
    return _lagged("oral_2cmt_lag", 2, error)


# ---------------------------------------------------------- zero-order absorption
def _zero_order(name: str, n: int, error: ErrorModel | None) -> PopulationModel:
    base = disposition(name, n, oral=False)
    structure = base.dose("central", duration="D1")
    typical = _typical(structure, {"D1": 2.0})
    return log_normal_model(structure, typical, dict.fromkeys(typical, 0.09), _default_error(error))


@register("zero_order_1cmt", tags=("pk", "oral", "zero-order-absorption", "1cmt", "linear"))
def zero_order_1cmt(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with zero-order absorption of modelled duration D1.

    Doses enter ``central`` at the constant rate AMT / D1 for D1 hours (NONMEM:
    dose records with RATE = -2 and ``D1`` in $PK).

    Equations::

        d central/dt = AMT / D1 (while absorbing) - CL / V * central
        Cc           = central / V
        P = exp(tp + eta_p) for P in D1, CL, V

    Compartment (NONMEM CMT): 1 ``central`` (doses with RATE = -2).

    ========  ============================  =========  ================
    theta     parameter                     unit       starting value
    ========  ============================  =========  ================
    td1       log absorption duration       log(h)     log(2)
    tcl       log clearance                 log(L/h)   log(4)
    tv        log volume                    log(L)     log(70)
    ========  ============================  =========  ================

    Omega 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``.

    References
    ----------
    NONMEM Users Guide VIII (modelled duration, RATE = -2); ACOP 2016 values.

    Examples
    --------
    >>> zero_order_1cmt().structure.get_dosing("central").duration
    D1
    """
    return _zero_order("zero_order_1cmt", 1, error)


@register("zero_order_2cmt", tags=("pk", "oral", "zero-order-absorption", "2cmt", "linear"))
def zero_order_2cmt(error: ErrorModel | None = None) -> PopulationModel:
    """Two-compartment model with zero-order absorption of modelled duration D1.

    Equations::

        d central/dt     = AMT / D1 (while absorbing) - (CL + Q) / V1 * central
                           + Q / V2 * peripheral1
        d peripheral1/dt = Q / V1 * central - Q / V2 * peripheral1
        Cc               = central / V1
        P = exp(tp + eta_p) for P in D1, CL, V1, Q, V2

    Compartments (NONMEM CMT): 1 ``central`` (doses with RATE = -2), 2 ``peripheral1``.

    ========  ======================================  =========  ================
    theta     parameter                               unit       starting value
    ========  ======================================  =========  ================
    td1       log absorption duration                 log(h)     log(2)
    tcl       log clearance                           log(L/h)   log(4)
    tv1       log central volume                      log(L)     log(70)
    tq        log inter-compartmental clearance       log(L/h)   log(4)
    tv2       log peripheral volume                   log(L)     log(50)
    ========  ======================================  =========  ================

    Omega 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``.

    References
    ----------
    NONMEM Users Guide VIII (ADVAN3, RATE = -2); ACOP 2016 values.

    Examples
    --------
    >>> zero_order_2cmt().structure.compartment_names
    ('central', 'peripheral1')
    """
    return _zero_order("zero_order_2cmt", 2, error)


# ------------------------------------------------------------ transit compartments
@register("transit_1cmt", tags=("pk", "oral", "transit", "1cmt", "linear"))
def transit_1cmt(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with absorption through a chain of 3 transit compartments.

    Savic et al. (2007) transit model with a fixed integer number of compartments
    ``N = 3``, written as ODE states; the mean transit time MTT is estimated and
    KTR = (N + 1) / MTT.

    Equations::

        d transit1/dt = -KTR * transit1
        d transitk/dt =  KTR * transit(k-1) - KTR * transitk      (k = 2, 3)
        d depot/dt    =  KTR * transit3 - KA * depot
        d central/dt  =  KA * depot - CL / V * central
        Cc            =  central / V,   KTR = 4 / MTT
        P = exp(tp + eta_p) for P in KA, MTT, CL, V

    Compartments (NONMEM CMT): 1 ``transit1`` (oral doses), 2-3 ``transit2-3``,
    4 ``depot``, 5 ``central``.

    ========  ============================  =========  ================
    theta     parameter                     unit       starting value
    ========  ============================  =========  ================
    tka       log absorption rate constant  log(1/h)   log(1)
    tmtt      log mean transit time         log(h)     log(2)
    tcl       log clearance                 log(L/h)   log(4)
    tv        log volume                    log(L)     log(70)
    ========  ============================  =========  ================

    Omega 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``. The
    transit compartments share one rate constant (a repeated eigenvalue), so the
    model is solved by the matrix exponential (exact, not the spectral form).
    :func:`transit_analytic_1cmt` is the variant with a continuous N.

    References
    ----------
    Savic RM, Jonker DM, Kerbusch T, Karlsson MO. Implementation of a transit
    compartment model for describing drug absorption in pharmacokinetic studies.
    J Pharmacokinet Pharmacodyn 2007;34:711-726.

    Examples
    --------
    >>> transit_1cmt().parameters["MTT"]
    'exp(tmtt + eta_mtt)'
    """
    base = disposition("transit_1cmt", 1, oral=True)
    structure = add_transit(base, N_TRANSIT, into="depot", ktr=f"{N_TRANSIT + 1} / MTT")
    typical = _typical(structure, {"MTT": 2.0})
    return log_normal_model(structure, typical, dict.fromkeys(typical, 0.09), _default_error(error))


#: Savic's input rate with Stirling's approximation of NTR!, as a flow expression. The log of
#: KTR * (KTR t)^NTR is split as (NTR + 1) log(KTR) + NTR log(t): the parameters then stay out of
#: the guard against log(0) at t = 0, whose second derivative in KTR (-t^2 / (KTR t + 1e-300)^2)
#: was 0 / 0 = NaN there and made every FOCE-I gradient NaN.
SAVIC_INPUT = ("DOSE * exp((NTR + 1) * log(KTR) + NTR * log(t + 1e-300) - KTR * t"
               " - (0.9189385332046727 + (NTR + 0.5) * log(NTR) - NTR))")


@register("transit_analytic_1cmt", tags=("pk", "oral", "transit", "1cmt", "ode", "single-dose"))
def transit_analytic_1cmt(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with Savic's analytic transit absorption (continuous N).

    The chain of NTR transit compartments is replaced by its analytic output, the
    input rate into the absorption compartment, with NTR! approximated by
    Stirling's formula so that NTR is a continuous parameter (Savic et al. 2007).

    Equations::

        input(t) = DOSE * KTR * (KTR t)^NTR * exp(-KTR t) / NTR!
        ln NTR!  ~ 0.5 ln(2 pi) + (NTR + 1/2) ln NTR - NTR,     KTR = (NTR + 1) / MTT
        d transit/dt = -input(t)                 (the dose not yet absorbed)
        d depot/dt   =  input(t) - KA * depot
        d central/dt =  KA * depot - CL / V * central
        Cc           =  central / V
        P = exp(tp + eta_p) for P in KA, MTT, NTR, CL, V;  DOSE from the data

    Compartments (NONMEM CMT): 1 ``transit`` (the dose record), 2 ``depot``,
    3 ``central``. As in NONMEM and nlmixr2 implementations of the analytic form,
    the input is that of one dose: this model is for single-dose data with the
    dose at TIME 0, and the data need a ``DOSE`` column (the dose amount, a
    covariate) equal to AMT.

    ========  ============================  =========  ================
    theta     parameter                     unit       starting value
    ========  ============================  =========  ================
    tka       log absorption rate constant  log(1/h)   log(0.3)
    tmtt      log mean transit time         log(h)     log(2)
    tntr      log number of transit cmts    log(1)     log(3)
    tcl       log clearance                 log(L/h)   log(4)
    tv        log volume                    log(L)     log(70)
    ========  ============================  =========  ================

    Omega 0.09 on KA, MTT, CL and V; NTR without IIV; error
    ``Combined(add=0.05, prop=0.1)``. Solved by the ODE path (time-dependent input).

    The default KA = 0.3/h (absorption half-life 2.3 h, a common oral value) is well
    below KTR = (NTR + 1) / MTT = 2/h. At KA = KTR a small change of KA and one of MTT
    move the profile alike (in the Laplace domain dF/dKTR = (NTR + 1) dF/dKA: the Fisher
    information is singular), and near it they are barely told apart: with KA = 1/h the
    expected SE of log KA (FO Fisher information) is 0.12 with 100 subjects sampled 17
    times (0.11 with 19 samples, 0.08 with 200 subjects). KA well above KTR hides the
    last step behind the chain (SE 0.6-0.7 at KA = 3-5/h). With KA a seventh of KTR the
    last step shapes the absorption tail and the chain the delayed rise (Tmax 8 h): SE
    of log KA 0.037, of log MTT 0.024 and of log NTR 0.032 with 100 subjects.

    References
    ----------
    Savic RM, Jonker DM, Kerbusch T, Karlsson MO. J Pharmacokinet Pharmacodyn
    2007;34:711-726 (equation 5 and Stirling's approximation).

    Examples
    --------
    >>> transit_analytic_1cmt().covariate_names
    ('DOSE',)
    """
    structure = (
        Model("transit_analytic_1cmt")
        .compartment("transit")
        .compartment("depot")
        .compartment("central", volume="V")
        .flow("transit", "depot", rate=SAVIC_INPUT.replace("KTR", "((NTR + 1) / MTT)"))
        .flow("depot", "central", k="KA")
        .elimination("central", cl="CL")
        .dose("transit")
        .output("Cc", "central / V")
    )
    typical = {"KA": 0.3, "MTT": 2.0, "NTR": 3.0, "CL": ACOP["CL"], "V": ACOP["V"]}   # KA: see above
    iiv = ("KA", "MTT", "CL", "V")
    parameters = {p: individual_expression(p, iiv=p in iiv) for p in typical} | {"DOSE": "DOSE"}
    return PopulationModel(
        structure, parameters=parameters, thetas={f"t{p.lower()}": math.log(v) for p, v in typical.items()},
        omega={f"eta_{p.lower()}": 0.09 for p in iiv}, error=_default_error(error),
        name="transit_analytic_1cmt",
    )


# ------------------------------------------------------------ parallel absorption
@register("parallel_1cmt", tags=("pk", "oral", "first-order-absorption", "zero-order-absorption",
                                 "parallel", "1cmt", "linear"))
def parallel_1cmt(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with parallel first-order and zero-order absorption.

    A fraction F1 of the dose is absorbed first-order from the depot, the rest
    (1 - F1) enters the central compartment at a constant rate for D2 hours.
    In NONMEM terms each dose is two records at the same time: CMT 1 (depot,
    bioavailability F1) and CMT 2 with RATE = -2 (bioavailability 1 - F1,
    duration D2).

    Equations::

        d depot/dt   = -KA * depot                                 (F1 * AMT at the dose)
        d central/dt =  KA * depot + (1 - F1) * AMT / D2 (for D2 h) - CL / V * central
        Cc           =  central / V
        F1 = expit(tf1 + eta_f1); P = exp(tp + eta_p) for P in KA, D2, CL, V

    Compartments (NONMEM CMT): 1 ``depot``, 2 ``central``.

    ========  ============================  =========  ================
    theta     parameter                     unit       starting value
    ========  ============================  =========  ================
    tka       log absorption rate constant  log(1/h)   log(2)
    td2       log zero-order duration       log(h)     log(6)
    tf1       logit first-order fraction    logit      logit(0.6)
    tcl       log clearance                 log(L/h)   log(4)
    tv        log volume                    log(L)     log(70)
    ========  ============================  =========  ================

    Omega 0.09 on each eta (F1's on the logit scale); error
    ``Combined(add=0.05, prop=0.1)``.

    References
    ----------
    NONMEM Users Guide VIII (bioavailabilities F1 and F2, modelled duration D2 with
    RATE = -2), the usual NONMEM coding of mixed absorption; ACOP 2016 disposition.

    Examples
    --------
    >>> parallel_1cmt().parameters["F1"]
    'expit(tf1 + eta_f1)'
    """
    structure = (
        disposition("parallel_1cmt", 1, oral=True)
        .dose("depot", f="F1")
        .dose("central", f="1 - F1", duration="D2")
    )
    typical = _typical(structure, {"KA": 2.0, "D2": 6.0, "F1": 0.6})
    return log_normal_model(structure, typical, dict.fromkeys(typical, 0.09), _default_error(error),
                            fractions=("F1",))
