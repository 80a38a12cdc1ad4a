"""Nonlinear elimination: Michaelis-Menten and mixed (linear + Michaelis-Menten).

Concentration-dependent elimination makes the model nonlinear, so these models are
solved by the ODE path (exact sensitivities from the sensitivity equations). Doses
in mg, time in h, concentrations in mg/L; VM in mg/h, KM in mg/L.

Examples
--------
>>> from model_library import get
>>> get("iv_1cmt_mm").structure.flows[0].rate
C*VM/(C + KM)
"""

from __future__ import annotations

from compartments import Model, set_elimination
from estimation.error_models import Combined, ErrorModel
from estimation.population import PopulationModel
from model_library.parameterisation import log_normal_model
from model_library.pk import disposition
from model_library.registry import register

__all__ = ["iv_1cmt_mixed", "iv_1cmt_mm", "oral_1cmt_mm"]

#: Typical values: V as ACOP 2016, VM and KM saturating at the concentrations of 100-1000 mg doses.
TYPICAL = {"KA": 1.0, "VM": 20.0, "KM": 2.0, "CL": 1.0, "V": 70.0}


def _mm(name: str, oral: bool, error: ErrorModel | None) -> PopulationModel:
    structure = set_elimination(disposition(name, 1, oral=oral), "michaelis-menten")
    typical = {p: TYPICAL[p] for p in ("KA", "VM", "KM", "V") if p in structure.parameter_names}
    return log_normal_model(structure, typical, dict.fromkeys(typical, 0.09),
                            error or Combined(add=0.05, prop=0.1))


@register("iv_1cmt_mm", tags=("pk", "iv", "bolus", "infusion", "1cmt", "michaelis-menten", "ode"))
def iv_1cmt_mm(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment intravenous model with Michaelis-Menten elimination.

    Equations::

        d central/dt = -VM * Cc / (KM + Cc) (+ infusion rate)
        Cc           =  central / V
        P = exp(tp + eta_p) for P in VM, KM, V

    Compartment (NONMEM CMT): 1 ``central``.

    ========  ====================================  =========  ================
    theta     parameter                             unit       starting value
    ========  ====================================  =========  ================
    tvm       log maximum elimination rate          log(mg/h)  log(20)
    tkm       log Michaelis constant                log(mg/L)  log(2)
    tv        log volume                            log(L)     log(70)
    ========  ====================================  =========  ================

    Omega 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``. Doses of
    100-1000 mg give concentrations around and above KM (saturation).

    References
    ----------
    Michaelis-Menten elimination as in the ACOP 2016 simulated datasets
    (Schoemaker et al., AAPS J 2019, "MM" models); NONMEM ADVAN6/13 coding.

    Examples
    --------
    >>> iv_1cmt_mm().space.theta_names
    ('tvm', 'tkm', 'tv')
    """
    return _mm("iv_1cmt_mm", False, error)


@register("oral_1cmt_mm", tags=("pk", "oral", "first-order-absorption", "1cmt", "michaelis-menten",
                                "ode"))
def oral_1cmt_mm(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment model with first-order absorption and Michaelis-Menten elimination.

    Equations::

        d depot/dt   = -KA * depot
        d central/dt =  KA * depot - VM * Cc / (KM + Cc)
        Cc           =  central / V
        P = exp(tp + eta_p) for P in KA, VM, KM, V

    Compartments (NONMEM CMT): 1 ``depot``, 2 ``central``.

    ========  ====================================  =========  ================
    theta     parameter                             unit       starting value
    ========  ====================================  =========  ================
    tka       log absorption rate constant          log(1/h)   log(1)
    tvm       log maximum elimination rate          log(mg/h)  log(20)
    tkm       log Michaelis constant                log(mg/L)  log(2)
    tv        log volume                            log(L)     log(70)
    ========  ====================================  =========  ================

    Omega 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``.

    References
    ----------
    ACOP 2016 "Oral_1CPTMM" structure (Schoemaker et al., AAPS J 2019).

    Examples
    --------
    >>> oral_1cmt_mm().structure.compartment_names
    ('depot', 'central')
    """
    return _mm("oral_1cmt_mm", True, error)


@register("iv_1cmt_mixed", tags=("pk", "iv", "bolus", "infusion", "1cmt", "michaelis-menten",
                                 "mixed-elimination", "ode"))
def iv_1cmt_mixed(error: ErrorModel | None = None) -> PopulationModel:
    """One-compartment intravenous model with parallel linear and Michaelis-Menten elimination.

    Equations::

        d central/dt = -CL * Cc - VM * Cc / (KM + Cc) (+ infusion rate)
        Cc           =  central / V
        P = exp(tp + eta_p) for P in CL, VM, KM, V

    Compartment (NONMEM CMT): 1 ``central``.

    ========  ====================================  =========  ================
    theta     parameter                             unit       starting value
    ========  ====================================  =========  ================
    tcl       log linear clearance                  log(L/h)   log(1)
    tvm       log maximum saturable rate            log(mg/h)  log(20)
    tkm       log Michaelis constant                log(mg/L)  log(2)
    tv        log volume                            log(L)     log(70)
    ========  ====================================  =========  ================

    Omega 0.09 on each eta; error ``Combined(add=0.05, prop=0.1)``.

    References
    ----------
    Mixed linear and Michaelis-Menten elimination (e.g. the ACOP 2016 "MM"
    structures with an added linear pathway; NONMEM ADVAN6/13 coding).

    Examples
    --------
    >>> iv_1cmt_mixed().space.theta_names
    ('tcl', 'tvm', 'tkm', 'tv')
    """
    structure = (
        Model("iv_1cmt_mixed")
        .compartment("central", volume="V")
        .elimination("central", cl="CL")
        .elimination("central", rate="VM * C / (KM + C)")
        .dose("central")
        .output("Cc", "central / V")
    )
    typical = {p: TYPICAL[p] for p in ("CL", "VM", "KM", "V")}
    return log_normal_model(structure, typical, dict.fromkeys(typical, 0.09),
                            error or Combined(add=0.05, prop=0.1))
