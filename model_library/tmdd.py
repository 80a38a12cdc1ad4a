"""Target-mediated drug disposition: the full model and its quasi-steady-state approximation.

Drug amounts in nmol, concentrations in nM (nmol/L), time in h. The target starts at
its baseline R0 = KSYN / KDEG; because popkin's states start at zero, the target
state is the *deviation* from baseline (``target = R - R0``), which changes nothing in
the equations. Both models are nonlinear and solved by the ODE path.

Examples
--------
>>> from model_library import get
>>> get("iv_1cmt_tmdd").structure.compartment_names
('central', 'target', 'complex')
"""

from __future__ import annotations

from compartments import Model
from estimation.error_models import Combined, ErrorModel
from estimation.population import PopulationModel
from model_library.parameterisation import log_normal_model
from model_library.registry import register

__all__ = ["iv_1cmt_tmdd", "iv_1cmt_tmdd_qss"]

#: Typical values (a monoclonal-antibody-like drug on an hourly time scale).
TYPICAL = {"CL": 0.05, "V": 3.0, "KON": 0.05, "KOFF": 0.05, "KSS": 3.0, "KINT": 0.1, "KDEG": 0.05,
           "R0": 10.0}
#: Parameters with between-subject variability.
IIV = ("CL", "V", "R0")


@register("iv_1cmt_tmdd", tags=("pk", "iv", "bolus", "infusion", "1cmt", "tmdd", "ode"))
def iv_1cmt_tmdd(error: ErrorModel | None = None) -> PopulationModel:
    """Full target-mediated drug disposition model (Mager and Jusko 2001).

    Free drug C binds free target R to form the complex P.

    Equations::

        C = central / V,  R = R0 + target,  P = complex
        d central/dt = -CL * C - V * (KON * C * R - KOFF * P)      (+ doses, nmol)
        d target/dt  = -KDEG * target - KON * C * R + KOFF * P     (KSYN = KDEG * R0)
        d complex/dt =  KON * C * R - (KOFF + KINT) * P
        Cc = C (free drug, nM)
        P = exp(tp + eta_p) for P in CL, V, R0; exp(tp) for KON, KOFF, KINT, KDEG

    Compartments (NONMEM CMT): 1 ``central`` (doses), 2 ``target``, 3 ``complex``.

    ========  =======================================  ============  ===============
    theta     parameter                                unit          starting value
    ========  =======================================  ============  ===============
    tcl       log linear clearance                     log(L/h)      log(0.05)
    tv        log central volume                       log(L)        log(3)
    tkon      log association rate constant            log(1/nM/h)   log(0.05)
    tkoff     log dissociation rate constant           log(1/h)      log(0.05)
    tkint     log internalisation rate of the complex  log(1/h)      log(0.1)
    tkdeg     log target degradation rate constant     log(1/h)      log(0.05)
    tr0       log baseline target concentration        log(nM)       log(10)
    ========  =======================================  ============  ===============

    Omega 0.09 on CL, V and R0; error ``Combined(add=0.05 nM, prop=0.1)``.
    Sensible defaults (KD = KOFF / KON = 1 nM), not a particular drug.

    References
    ----------
    Mager DE, Jusko WJ. General pharmacokinetic model for drugs exhibiting
    target-mediated drug disposition. J Pharmacokinet Pharmacodyn 2001;28:507-532.

    Examples
    --------
    >>> iv_1cmt_tmdd().space.eta_names
    ('eta_cl', 'eta_v', 'eta_r0')
    """
    structure = (
        Model("iv_1cmt_tmdd")
        .compartment("central", volume="V")
        .compartment("target")
        .compartment("complex")
        .elimination("central", cl="CL")
        .elimination("central", rate="V * (KON * C * (R0 + target) - KOFF * complex)")
        .elimination("target", rate="KDEG * target + KON * C_central * (R0 + target) - KOFF * complex")
        .elimination("complex", rate="(KOFF + KINT) * complex - KON * C_central * (R0 + target)")
        .dose("central")
        .output("Cc", "central / V")
    )
    typical = {p: TYPICAL[p] for p in ("CL", "V", "KON", "KOFF", "KINT", "KDEG", "R0")}
    return log_normal_model(structure, typical, dict.fromkeys(IIV, 0.09),
                            error or Combined(add=0.05, prop=0.1))


#: Free drug of the QSS model from total drug (central / V) and total target (R0 + target).
QSS_FREE = ("0.5 * ((central / V - R0 - target - KSS)"
            " + sqrt((central / V - R0 - target - KSS)**2 + 4 * KSS * central / V))")


@register("iv_1cmt_tmdd_qss", tags=("pk", "iv", "bolus", "infusion", "1cmt", "tmdd", "qss", "ode"))
def iv_1cmt_tmdd_qss(error: ErrorModel | None = None) -> PopulationModel:
    """Quasi-steady-state approximation of target-mediated drug disposition (Gibiansky 2008).

    Binding is at quasi-equilibrium with constant KSS = (KOFF + KINT) / KON; the
    states are the total drug and the total target.

    Equations::

        Ctot = central / V,  Rtot = R0 + target
        C    = ((Ctot - Rtot - KSS) + sqrt((Ctot - Rtot - KSS)^2 + 4 KSS Ctot)) / 2
        d central/dt = -CL * C - KINT * V * (Ctot - C)              (+ doses, nmol)
        d target/dt  = -KDEG * target - (KINT - KDEG) * (Ctot - C)
        Cc = C (free drug, nM)
        P = exp(tp + eta_p) for P in CL, V, R0; exp(tp) for KSS, KINT, KDEG

    Compartments (NONMEM CMT): 1 ``central`` (doses: total drug), 2 ``target``
    (total target minus baseline).

    ========  =======================================  ============  ===============
    theta     parameter                                unit          starting value
    ========  =======================================  ============  ===============
    tcl       log linear clearance                     log(L/h)      log(0.05)
    tv        log central volume                       log(L)        log(3)
    tkss      log steady-state constant                log(nM)       log(3)
    tkint     log internalisation rate of the complex  log(1/h)      log(0.1)
    tkdeg     log target degradation rate constant     log(1/h)      log(0.05)
    tr0       log baseline target concentration        log(nM)       log(10)
    ========  =======================================  ============  ===============

    Omega 0.09 on CL, V and R0; error ``Combined(add=0.05 nM, prop=0.1)``. The
    defaults are the QSS limit of :func:`iv_1cmt_tmdd` (KSS = (0.05 + 0.1) / 0.05).

    References
    ----------
    Gibiansky L, Gibiansky E, Kakkar T, Ma P. Approximations of the target-mediated
    drug disposition model and identifiability of model parameters. J Pharmacokinet
    Pharmacodyn 2008;35:573-591.

    Examples
    --------
    >>> iv_1cmt_tmdd_qss().structure.compartment_names
    ('central', 'target')
    """
    free = QSS_FREE
    structure = (
        Model("iv_1cmt_tmdd_qss")
        .compartment("central", volume="V")
        .compartment("target")
        .elimination("central", rate=f"CL * {free} + KINT * V * (central / V - {free})")
        .elimination("target", rate=f"KDEG * target + (KINT - KDEG) * (central / V - {free})")
        .dose("central")
        .output("Cc", free)
    )
    typical = {p: TYPICAL[p] for p in ("CL", "V", "KSS", "KINT", "KDEG", "R0")}
    return log_normal_model(structure, typical, dict.fromkeys(IIV, 0.09),
                            error or Combined(add=0.05, prop=0.1))
