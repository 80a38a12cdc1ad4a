"""Linear pharmacokinetic models: 1- and 2-compartment, oral or intravenous.

Every model here is a complete population model:

- compartments numbered as NONMEM's ADVAN routines number them, so a NONMEM
  dataset runs unchanged (oral: CMT 1 ``depot``, 2 ``central``, 3
  ``peripheral1``; intravenous: CMT 1 ``central``, 2 ``peripheral1``);
- log-normal between-subject variability on every structural parameter,
  ``P = exp(tp + eta_p)`` with ``tp`` the log of the typical value and
  ``eta_p ~ N(0, omega_p^2)`` (diagonal Omega);
- output ``Cc = central / V`` (``central / V1`` for two compartments);
- a combined residual error by default, ``sd = sqrt(add_sd^2 + (prop_sd * Cc)^2)``.

Units are whatever the data use; the starting values assume doses in mg, time
in h and concentrations in mg/L (volumes in L, clearances in L/h, rate
constants in 1/h). Starting values only start the search: change them with
:meth:`~estimation.population.PopulationModel.with_initial`.

Examples
--------
>>> from model_library import get
>>> model = get("oral_2cmt")
>>> model.structure.compartment_names
('depot', 'central', 'peripheral1')
>>> model.parameters["Q"]
'exp(tq + eta_q)'
"""

from __future__ import annotations

import math

from compartments import Model
from estimation.error_models import Combined, ErrorModel
from estimation.population import PopulationModel
from model_library.registry import register

__all__ = ["infusion_1cmt", "iv_1cmt", "iv_2cmt", "oral_1cmt", "oral_2cmt"]


def _population(
    structure: Model,
    log_typical: dict[str, float],
    omega: dict[str, float],
    error: ErrorModel,
) -> PopulationModel:
    """Log-normal IIV on every structural parameter: ``P = exp(tp + eta_p)``.

    ``log_typical`` maps structural parameter ``P`` -> starting value of
    ``tp`` (log of the typical value); ``omega`` maps ``P`` -> variance of
    ``eta_p``.
    """
    parameters = {p: f"exp(t{p.lower()} + eta_{p.lower()})" for p in log_typical}
    thetas = {f"t{p.lower()}": float(v) for p, v in log_typical.items()}
    omegas = {f"eta_{p.lower()}": omega[p] for p in log_typical}
    return PopulationModel(structure, parameters=parameters, thetas=thetas, omega=omegas, error=error,
                           name=structure.name)


def _one_cmt_iv(name: str) -> Model:
    return (
        Model(name)
        .compartment("central", volume="V")
        .elimination("central", cl="CL")
        .dose("central")
        .output("Cc", "central / V")
    )


def _two_cmt_iv(name: str) -> Model:
    return (
        Model(name)
        .compartment("central", volume="V1")
        .compartment("peripheral1", volume="V2")
        .elimination("central", cl="CL")
        .flow("central", "peripheral1", cl="Q")
        .flow("peripheral1", "central", cl="Q")
        .dose("central")
        .output("Cc", "central / V1")
    )


# ------------------------------------------------------------------ 1 compartment
@register("oral_1cmt", tags=("pk", "oral", "first-order-absorption", "1cmt", "linear"))
def oral_1cmt(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with first-order absorption (NONMEM ADVAN2 TRANS2).

    Equations::

        d depot/dt   = -KA * depot
        d central/dt =  KA * depot - CL / V * central
        Cc           =  central / V
        KA = exp(tka + eta_ka), CL = exp(tcl + eta_cl), V = exp(tv + eta_v)

    Compartments (NONMEM CMT): 1 ``depot`` (oral doses), 2 ``central``
    (intravenous doses also accepted).

    ========  ============================  =========  ================
    theta     parameter                     unit       starting value
    ========  ============================  =========  ================
    tka       log absorption rate constant  log(1/h)   0.45 (KA 1.57)
    tcl       log clearance                 log(L/h)   1.0 (CL 2.72)
    tv        log volume of distribution    log(L)     3.45 (V 31.5)
    ========  ============================  =========  ================

    Omega (variances) eta_ka 0.6, eta_cl 0.3, eta_v 0.1; error
    ``Combined(add=0.7 mg/L, prop=0.1)``. The starting values are those of
    nlmixr2's theophylline example (Boeckmann, Sheiner and Beal, NONMEM Users
    Guide; ``estimation/examples/theo_sd.csv``).

    Parameters
    ----------
    error
        Residual error model (default combined).

    Returns
    -------
    PopulationModel

    References
    ----------
    NONMEM Users Guide VIII, PREDPP ADVAN2 (one compartment, first-order
    absorption).

    Examples
    --------
    >>> oral_1cmt().space.theta_names
    ('tka', 'tcl', 'tv')
    """
    structure = (
        Model("oral_1cmt")
        .compartment("depot")
        .compartment("central", volume="V")
        .flow("depot", "central", k="KA")
        .elimination("central", cl="CL")
        .dose("depot")
        .dose("central")
        .output("Cc", "central / V")
    )
    log_typical = {"KA": 0.45, "CL": 1.0, "V": 3.45}
    omega = {"KA": 0.6, "CL": 0.3, "V": 0.1}
    return _population(structure, log_typical, omega, error or Combined(add=0.7, prop=0.1))


def _iv_1cmt(name: str, error: ErrorModel | None) -> PopulationModel:
    log_typical = {"CL": math.log(4.0), "V": math.log(70.0)}
    omega = {"CL": 0.09, "V": 0.09}
    return _population(_one_cmt_iv(name), log_typical, omega, error or Combined(add=1.0, prop=0.2))


@register("iv_1cmt", tags=("pk", "iv", "bolus", "infusion", "1cmt", "linear"))
def iv_1cmt(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with intravenous bolus or infusion (NONMEM ADVAN1 TRANS2).

    Equations::

        d central/dt = -CL / V * central (+ infusion rate)
        Cc           =  central / V
        CL = exp(tcl + eta_cl), V = exp(tv + eta_v)

    Compartment (NONMEM CMT): 1 ``central``. Bolus doses (RATE 0) and
    zero-order infusions (RATE > 0: rate RATE, duration AMT / RATE) are both
    accepted.

    ========  ============================  =========  ================
    theta     parameter                     unit       starting value
    ========  ============================  =========  ================
    tcl       log clearance                 log(L/h)   log(4)
    tv        log volume of distribution    log(L)     log(70)
    ========  ============================  =========  ================

    Omega (variances) 0.09 on each eta (about 30% CV); error
    ``Combined(add=1, prop=0.2)``. Starting values are the true values of
    the ACOP 2016 simulated datasets (Schoemaker et al., AAPS J 2019).

    Parameters
    ----------
    error
        Residual error model (default combined).

    Returns
    -------
    PopulationModel

    References
    ----------
    NONMEM Users Guide VIII, PREDPP ADVAN1 TRANS2 (one compartment, intravenous).

    Examples
    --------
    >>> iv_1cmt().structure.compartment_names
    ('central',)
    """
    return _iv_1cmt("iv_1cmt", error)


@register("infusion_1cmt", tags=("pk", "iv", "infusion", "bolus", "1cmt", "linear"))
def infusion_1cmt(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with zero-order intravenous infusion (NONMEM ADVAN1 TRANS2).

    The same model as :func:`iv_1cmt`, registered under the name users look
    for infusions by.

    Equations::

        d central/dt = -CL / V * central (+ infusion rate)
        Cc           =  central / V
        CL = exp(tcl + eta_cl), V = exp(tv + eta_v)

    Compartment (NONMEM CMT): 1 ``central``. Bolus doses (RATE 0) and
    zero-order infusions (RATE > 0: rate RATE, duration AMT / RATE) are both
    accepted.

    ========  ============================  =========  ================
    theta     parameter                     unit       starting value
    ========  ============================  =========  ================
    tcl       log clearance                 log(L/h)   log(4)
    tv        log volume of distribution    log(L)     log(70)
    ========  ============================  =========  ================

    Omega (variances) 0.09 on each eta (about 30% CV); error
    ``Combined(add=1, prop=0.2)``. Starting values are the true values of
    the ACOP 2016 simulated datasets (Schoemaker et al., AAPS J 2019).

    Parameters
    ----------
    error
        Residual error model (default combined).

    Returns
    -------
    PopulationModel

    References
    ----------
    NONMEM Users Guide VIII, PREDPP ADVAN1 TRANS2 (one compartment, intravenous).

    Examples
    --------
    >>> infusion_1cmt().title
    'infusion_1cmt'
    """
    return _iv_1cmt("infusion_1cmt", error)


# ------------------------------------------------------------------ 2 compartments
@register("iv_2cmt", tags=("pk", "iv", "bolus", "infusion", "2cmt", "linear"))
def iv_2cmt(error: ErrorModel | None = None) -> PopulationModel:
    """Two-compartment model with intravenous bolus or infusion (NONMEM ADVAN3 TRANS4).

    Equations::

        d central/dt     = -(CL + Q) / V1 * central + Q / V2 * peripheral1 (+ infusion rate)
        d peripheral1/dt =  Q / V1 * central - Q / V2 * peripheral1
        Cc               =  central / V1
        CL = exp(tcl + eta_cl), V1 = exp(tv1 + eta_v1), Q = exp(tq + eta_q), V2 = exp(tv2 + eta_v2)

    Compartments (NONMEM CMT): 1 ``central`` (bolus and infusion doses),
    2 ``peripheral1``.

    ========  ======================================  =========  ================
    theta     parameter                               unit       starting value
    ========  ======================================  =========  ================
    tcl       log clearance                           log(L/h)   log(4)
    tv1       log central volume                      log(L)     log(70)
    tq        log inter-compartmental clearance       log(L/h)   log(4)
    tv2       log peripheral volume                   log(L)     log(50)
    ========  ======================================  =========  ================

    Omega (variances) 0.09 on each eta; error ``Combined(add=1, prop=0.2)``.
    Starting values are the true values of the ACOP 2016 simulated datasets
    (Schoemaker et al., AAPS J 2019).

    Parameters
    ----------
    error
        Residual error model (default combined).

    Returns
    -------
    PopulationModel

    References
    ----------
    NONMEM Users Guide VIII, PREDPP ADVAN3 TRANS4 (two compartments,
    intravenous; CL, V1, Q, V2).

    Examples
    --------
    >>> iv_2cmt().structure.compartment_names
    ('central', 'peripheral1')
    """
    log_typical = {"CL": math.log(4.0), "V1": math.log(70.0), "Q": math.log(4.0), "V2": math.log(50.0)}
    omega = dict.fromkeys(log_typical, 0.09)
    return _population(_two_cmt_iv("iv_2cmt"), log_typical, omega, error or Combined(add=1.0, prop=0.2))


@register("oral_2cmt", tags=("pk", "oral", "first-order-absorption", "2cmt", "linear"))
def oral_2cmt(error: ErrorModel | None = None) -> PopulationModel:
    """Two-compartment model with first-order absorption (NONMEM ADVAN4 TRANS4).

    Equations::

        d depot/dt       = -KA * depot
        d central/dt     =  KA * depot - (CL + Q) / V1 * central + Q / V2 * peripheral1
        d peripheral1/dt =  Q / V1 * central - Q / V2 * peripheral1
        Cc               =  central / V1
        KA = exp(tka + eta_ka), CL = exp(tcl + eta_cl), V1 = exp(tv1 + eta_v1),
        Q = exp(tq + eta_q), V2 = exp(tv2 + eta_v2)

    Compartments (NONMEM CMT): 1 ``depot`` (oral doses), 2 ``central``
    (intravenous doses also accepted), 3 ``peripheral1``.

    ========  ======================================  =========  ================
    theta     parameter                               unit       starting value
    ========  ======================================  =========  ================
    tka       log absorption rate constant            log(1/h)   log(1)
    tcl       log clearance                           log(L/h)   log(4)
    tv1       log central volume                      log(L)     log(70)
    tq        log inter-compartmental clearance       log(L/h)   log(4)
    tv2       log peripheral volume                   log(L)     log(50)
    ========  ======================================  =========  ================

    Omega (variances) 0.09 on each eta; error ``Combined(add=1, prop=0.2)``.
    Starting values are the true values of the ACOP 2016 simulated datasets
    (Schoemaker et al., AAPS J 2019).

    Parameters
    ----------
    error
        Residual error model (default combined).

    Returns
    -------
    PopulationModel

    References
    ----------
    NONMEM Users Guide VIII, PREDPP ADVAN4 TRANS4 (two compartments,
    first-order absorption; KA, CL, V2 (central), Q, V3 in NONMEM's numbering,
    named KA, CL, V1, Q, V2 here).

    Examples
    --------
    >>> oral_2cmt().space.theta_names
    ('tka', 'tcl', 'tv1', 'tq', 'tv2')
    """
    structure = (
        Model("oral_2cmt")
        .compartment("depot")
        .compartment("central", volume="V1")
        .compartment("peripheral1", volume="V2")
        .flow("depot", "central", k="KA")
        .elimination("central", cl="CL")
        .flow("central", "peripheral1", cl="Q")
        .flow("peripheral1", "central", cl="Q")
        .dose("depot")
        .dose("central")
        .output("Cc", "central / V1")
    )
    log_typical = {"KA": 0.0, "CL": math.log(4.0), "V1": math.log(70.0), "Q": math.log(4.0),
                   "V2": math.log(50.0)}
    omega = dict.fromkeys(log_typical, 0.09)
    return _population(structure, log_typical, omega, error or Combined(add=1.0, prop=0.2))
