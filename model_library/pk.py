"""Linear pharmacokinetic models: 1-, 2- and 3-compartment, oral or intravenous.

Every model here is a complete population model:

- compartments numbered as NONMEM's ADVAN routines number them, so a NONMEM
  dataset runs unchanged (oral: CMT 1 ``depot``, 2 ``central``, 3 ``peripheral1``,
  4 ``peripheral2``; intravenous: CMT 1 ``central``, 2 ``peripheral1``, 3 ``peripheral2``);
- log-normal between-subject variability on every structural parameter,
  ``P = exp(tp + eta_p)`` with ``tp`` the log of the typical value and
  ``eta_p ~ N(0, omega_p^2)`` (diagonal Omega);
- output ``Cc = central / V`` (``central / V1`` for two and three compartments);
- a combined residual error by default, ``sd = sqrt(add_sd^2 + (prop_sd * Cc)^2)``.

They are solved in closed form (sums of exponentials, exact derivatives; see
:mod:`compartments.linear_spectrum`). Units are whatever the data use; the starting
values assume doses in mg, time in h and concentrations in mg/L (volumes in L,
clearances in L/h, rate constants in 1/h). Starting values only start the search:
change them with :meth:`~estimation.population.PopulationModel.with_initial`.

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
from model_library.parameterisation import log_normal_model
from model_library.registry import register

__all__ = ["disposition", "infusion_1cmt", "iv_1cmt", "iv_2cmt", "iv_3cmt", "oral_1cmt", "oral_2cmt",
           "oral_3cmt"]

#: ACOP 2016 typical values (Schoemaker et al., AAPS J 2019), shared by the IV and oral models.
ACOP = {"CL": 4.0, "V": 70.0, "V1": 70.0, "Q": 4.0, "V2": 50.0, "KA": 1.0}
#: Three-compartment typical values with well separated phases (half-lives ~1 h, ~12 h, ~5 d).
THREE_CMT = {"CL": 4.0, "V1": 20.0, "Q": 10.0, "V2": 40.0, "Q3": 1.5, "V3": 150.0, "KA": 1.0}


def disposition(name: str, n_compartments: int, *, oral: bool) -> Model:
    """The linear 1-, 2- or 3-compartment structure, with a depot when ``oral``.

    Parameters: ``CL, V`` (one compartment); ``CL, V1, Q, V2`` (two); ``CL, V1, Q, V2,
    Q3, V3`` (three); ``KA`` with the depot. Oral models accept doses into ``depot``
    and ``central`` (NONMEM ADVAN2/4/12), intravenous ones into ``central``.

    Examples
    --------
    >>> disposition("m", 3, oral=True).compartment_names
    ('depot', 'central', 'peripheral1', 'peripheral2')
    """
    if n_compartments not in (1, 2, 3):
        raise ValueError(f"n_compartments must be 1, 2 or 3, got {n_compartments!r}")
    volume = "V" if n_compartments == 1 else "V1"
    m = Model(name)
    if oral:
        m = m.compartment("depot")
    m = m.compartment("central", volume=volume)
    if n_compartments >= 2:
        m = m.compartment("peripheral1", volume="V2")
    if n_compartments == 3:
        m = m.compartment("peripheral2", volume="V3")
    if oral:
        m = m.flow("depot", "central", k="KA")
    m = m.elimination("central", cl="CL")
    if n_compartments >= 2:
        m = m.flow("central", "peripheral1", cl="Q").flow("peripheral1", "central", cl="Q")
    if n_compartments == 3:
        m = m.flow("central", "peripheral2", cl="Q3").flow("peripheral2", "central", cl="Q3")
    if oral:
        m = m.dose("depot")
    return m.dose("central").output("Cc", f"central / {volume}")


def _linear(name: str, n: int, oral: bool, typical: dict[str, float], omega: dict[str, float],
            error: ErrorModel) -> PopulationModel:
    structure = disposition(name, n, oral=oral)
    order = ("KA", "CL", "V", "V1", "Q", "V2", "Q3", "V3")
    values = {p: typical[p] for p in order if p in structure.parameter_names}
    return log_normal_model(structure, values, {p: omega.get(p, 0.09) for p in values}, error)


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
    typical = {"KA": math.exp(0.45), "CL": math.exp(1.0), "V": math.exp(3.45)}
    omega = {"KA": 0.6, "CL": 0.3, "V": 0.1}
    return _linear("oral_1cmt", 1, True, typical, omega, error or Combined(add=0.7, prop=0.1))


def _iv_1cmt(name: str, error: ErrorModel | None) -> PopulationModel:
    return _linear(name, 1, False, ACOP, {}, error or Combined(add=1.0, prop=0.2))


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
    return _linear("iv_2cmt", 2, False, ACOP, {}, error or Combined(add=1.0, prop=0.2))


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
    return _linear("oral_2cmt", 2, True, ACOP, {}, error or Combined(add=1.0, prop=0.2))


# ------------------------------------------------------------------ 3 compartments
@register("iv_3cmt", tags=("pk", "iv", "bolus", "infusion", "3cmt", "linear"))
def iv_3cmt(error: ErrorModel | None = None) -> PopulationModel:
    """Three-compartment model with intravenous bolus or infusion (NONMEM ADVAN11 TRANS4).

    Equations::

        d central/dt     = -(CL + Q + Q3) / V1 * central + Q / V2 * peripheral1
                           + Q3 / V3 * peripheral2 (+ infusion rate)
        d peripheral1/dt =  Q / V1 * central - Q / V2 * peripheral1
        d peripheral2/dt =  Q3 / V1 * central - Q3 / V3 * peripheral2
        Cc               =  central / V1
        P = exp(tp + eta_p) for P in CL, V1, Q, V2, Q3, V3

    Compartments (NONMEM CMT): 1 ``central`` (bolus and infusion doses),
    2 ``peripheral1`` (shallow), 3 ``peripheral2`` (deep).

    ========  ======================================  =========  ================
    theta     parameter                               unit       starting value
    ========  ======================================  =========  ================
    tcl       log clearance                           log(L/h)   log(4)
    tv1       log central volume                      log(L)     log(20)
    tq        log clearance to peripheral1            log(L/h)   log(10)
    tv2       log volume of peripheral1               log(L)     log(40)
    tq3       log clearance to peripheral2            log(L/h)   log(1.5)
    tv3       log volume of peripheral2               log(L)     log(150)
    ========  ======================================  =========  ================

    Omega (variances) 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``.
    Sensible defaults with well separated phases (half-lives of about 0.6 h,
    5 h and 4 days), not a particular drug. Solved in closed form: the
    eigenvalues by the trigonometric solution of the cubic, as ADVAN11.

    Parameters
    ----------
    error
        Residual error model (default combined).

    Returns
    -------
    PopulationModel

    References
    ----------
    NONMEM Users Guide VIII, PREDPP ADVAN11 TRANS4 (three compartments,
    intravenous; CL, V1, Q2, V2, Q3, V3, here Q for Q2).

    Examples
    --------
    >>> iv_3cmt().structure.compartment_names
    ('central', 'peripheral1', 'peripheral2')
    """
    return _linear("iv_3cmt", 3, False, THREE_CMT, {}, error or Combined(add=0.05, prop=0.1))


@register("oral_3cmt", tags=("pk", "oral", "first-order-absorption", "3cmt", "linear"))
def oral_3cmt(error: ErrorModel | None = None) -> PopulationModel:
    """Three-compartment model with first-order absorption (NONMEM ADVAN12 TRANS4).

    Equations::

        d depot/dt       = -KA * depot
        d central/dt     =  KA * depot - (CL + Q + Q3) / V1 * central + Q / V2 * peripheral1
                            + Q3 / V3 * peripheral2
        d peripheral1/dt =  Q / V1 * central - Q / V2 * peripheral1
        d peripheral2/dt =  Q3 / V1 * central - Q3 / V3 * peripheral2
        Cc               =  central / V1
        P = exp(tp + eta_p) for P in KA, CL, V1, Q, V2, Q3, V3

    Compartments (NONMEM CMT): 1 ``depot`` (oral doses), 2 ``central``
    (intravenous doses also accepted), 3 ``peripheral1``, 4 ``peripheral2``.

    ========  ======================================  =========  ================
    theta     parameter                               unit       starting value
    ========  ======================================  =========  ================
    tka       log absorption rate constant            log(1/h)   log(1)
    tcl       log clearance                           log(L/h)   log(4)
    tv1       log central volume                      log(L)     log(20)
    tq        log clearance to peripheral1            log(L/h)   log(10)
    tv2       log volume of peripheral1               log(L)     log(40)
    tq3       log clearance to peripheral2            log(L/h)   log(1.5)
    tv3       log volume of peripheral2               log(L)     log(150)
    ========  ======================================  =========  ================

    Omega (variances) 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``.
    Sensible defaults (see :func:`iv_3cmt`). Solved in closed form: the depot
    and the three-compartment disposition are separate blocks of the system
    matrix, the latter solved by the trigonometric cubic.

    Parameters
    ----------
    error
        Residual error model (default combined).

    Returns
    -------
    PopulationModel

    References
    ----------
    NONMEM Users Guide VIII, PREDPP ADVAN12 TRANS4 (three compartments,
    first-order absorption).

    Examples
    --------
    >>> oral_3cmt().structure.compartment_names
    ('depot', 'central', 'peripheral1', 'peripheral2')
    """
    return _linear("oral_3cmt", 3, True, THREE_CMT, {}, error or Combined(add=0.05, prop=0.1))
