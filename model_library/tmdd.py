"""Target-mediated drug disposition: the full model and its quasi-steady-state approximation.

Drug amounts in nmol, concentrations in nM (nmol/L), time in h. The target starts at
its baseline R0 = KSYN / KDEG; because popkin's states start at zero, the target
state is the *deviation* from baseline (``target = R - R0``), which changes nothing in
the equations. Both models are nonlinear and solved by the ODE path.

Both models have three outputs, as measured in TMDD studies of monoclonal antibodies.
Free drug alone leaves the binding and target parameters poorly identified: on the
simulate-then-estimate design of the tests (50 subjects, 10-1000 nmol, 13 samples) the
expected SE of log KSS, KDEG and R0 is 0.07-0.11 from free drug, 0.016-0.027 from all
three outputs.

====  ========  ===============================  ==========================================
DVID  output    quantity                         residual error (default)
====  ========  ===============================  ==========================================
1     ``Cc``    free drug (nM)                   ``Combined(add=0.05, prop=0.1)``
2     ``Rtot``  total target, free + bound (nM)  ``Proportional(0.1)`` (``prop_sd_rtot``)
3     ``Ctot``  total drug, free + bound (nM)    ``Combined(add=0.05, prop=0.1)``
                                                 (``add_sd_ctot``, ``prop_sd_ctot``)
====  ========  ===============================  ==========================================

Joint data tell them apart by a DVID column, fitted with ``fit(model, data,
output_column="DVID")``; data without one are all free drug (``Cc``, the first output).

Examples
--------
>>> from model_library import get
>>> get("iv_1cmt_tmdd").structure.compartment_names
('central', 'target', 'complex')
>>> get("iv_1cmt_tmdd_qss").structure.output_names
('Cc', 'Rtot', 'Ctot')
"""

from __future__ import annotations

from collections.abc import Mapping

from compartments import Model
from estimation.error_models import Combined, ErrorModel, Proportional
from estimation.population import PopulationModel
from model_library.parameterisation import log_normal_model
from model_library.registry import register

__all__ = ["OUTPUTS", "iv_1cmt_tmdd", "iv_1cmt_tmdd_qss"]

#: Typical values (a monoclonal-antibody-like drug against a soluble target, hourly time
#: scale; KD = KOFF / KON = 1 nM). KINT = 0.02/h: the complex is cleared at about the free
#: antibody's linear rate (CL / V = 0.017/h), as for a soluble target, and more slowly than
#: the free target (KDEG 0.05/h, half-life 14 h), so total target accumulates while drug is
#: bound (2.2-fold after 1000 nmol), the signature of such targets. With KINT = 0.1/h (twice
#: KOFF, the former default) the off-rate is identified only through the small difference
#: (KOFF + KINT) - KINT: expected SE of log KOFF 0.081 with 50 subjects on the design of
#: ``tests/model_library/designs.py`` (0.057 with 100), against 0.036 at KINT = 0.02/h.
TYPICAL = {"CL": 0.05, "V": 3.0, "KON": 0.05, "KOFF": 0.05, "KINT": 0.02, "KDEG": 0.05, "R0": 10.0}
#: The QSS constant of these binding rates, KSS = (KOFF + KINT) / KON = 1.4 nM.
TYPICAL["KSS"] = (TYPICAL["KOFF"] + TYPICAL["KINT"]) / TYPICAL["KON"]
#: Parameters with between-subject variability.
IIV = ("CL", "V", "R0")
#: The outputs in DVID order (free drug, total target, total drug).
OUTPUTS = ("Cc", "Rtot", "Ctot")


def _errors(error: ErrorModel | Mapping[str, ErrorModel] | None) -> dict[str, ErrorModel]:
    """One error model per output: the defaults, with ``error`` for Cc or by output.

    Free and total drug share the assay characteristics of ligand-binding assays (a
    0.05 nM floor near the quantification limit, 10% CV); total target stays near or
    above its baseline R0 = 10 nM, so a proportional error suffices.
    """
    errors: dict[str, ErrorModel] = {
        "Cc": Combined(add=0.05, prop=0.1),
        "Rtot": Proportional(0.1, name="prop_sd_rtot"),
        "Ctot": Combined(add=0.05, prop=0.1, add_name="add_sd_ctot", prop_name="prop_sd_ctot"),
    }
    if isinstance(error, ErrorModel):
        return errors | {"Cc": error}
    return errors | dict(error or {})


@register("iv_1cmt_tmdd", tags=("pk", "iv", "bolus", "infusion", "1cmt", "tmdd", "ode"))
def iv_1cmt_tmdd(error: ErrorModel | Mapping[str, ErrorModel] | None = None) -> PopulationModel:
    """Full target-mediated drug disposition model (Mager and Jusko 2001).

    Free drug C binds free target R to form the complex P.

    Equations::

        C = central / V,  R = R0 + target,  P = complex
        d central/dt = -CL * C - V * (KON * C * R - KOFF * P)      (+ doses, nmol)
        d target/dt  = -KDEG * target - KON * C * R + KOFF * P     (KSYN = KDEG * R0)
        d complex/dt =  KON * C * R - (KOFF + KINT) * P
        Cc   = C           (free drug, nM; DVID 1)
        Rtot = R + P       (total target, nM; DVID 2)
        Ctot = C + P       (total drug, nM; DVID 3)
        P = exp(tp + eta_p) for P in CL, V, R0; exp(tp) for KON, KOFF, KINT, KDEG

    Compartments (NONMEM CMT): 1 ``central`` (doses), 2 ``target``, 3 ``complex``.
    Outputs: DVID 1 ``Cc``, 2 ``Rtot``, 3 ``Ctot``; fit joint data with
    ``fit(model, data, output_column="DVID")``.

    ========  =======================================  ============  ===============
    theta     parameter                                unit          starting value
    ========  =======================================  ============  ===============
    tcl       log linear clearance                     log(L/h)      log(0.05)
    tv        log central volume                       log(L)        log(3)
    tkon      log association rate constant            log(1/nM/h)   log(0.05)
    tkoff     log dissociation rate constant           log(1/h)      log(0.05)
    tkint     log elimination rate of the complex      log(1/h)      log(0.02)
    tkdeg     log target degradation rate constant     log(1/h)      log(0.05)
    tr0       log baseline target concentration        log(nM)       log(10)
    ========  =======================================  ============  ===============

    Omega 0.09 on CL, V and R0. Residual errors: ``Combined(add=0.05 nM, prop=0.1)``
    on Cc, ``Proportional(0.1)`` (``prop_sd_rtot``) on Rtot, ``Combined(add=0.05 nM,
    prop=0.1)`` (``add_sd_ctot``, ``prop_sd_ctot``) on Ctot. Sensible defaults (KD =
    KOFF / KON = 1 nM; a soluble target, whose complex is cleared about as slowly as the
    free drug, KINT < KDEG), not a particular drug. For free-drug data alone, fit
    ``model.with_error(...)`` (one error model shared by the outputs), so that no
    residual-error parameter is left without data.

    Parameters
    ----------
    error
        The error model of Cc, or error models by output (``{"Cc": ..., "Rtot": ...,
        "Ctot": ...}``; outputs not given keep the defaults above).

    Returns
    -------
    PopulationModel

    References
    ----------
    Mager DE, Jusko WJ. General pharmacokinetic model for drugs exhibiting
    target-mediated drug disposition. J Pharmacokinet Pharmacodyn 2001;28:507-532.

    Examples
    --------
    >>> iv_1cmt_tmdd().space.eta_names
    ('eta_cl', 'eta_v', 'eta_r0')
    >>> iv_1cmt_tmdd().space.sigma_names
    ('add_sd', 'prop_sd', 'prop_sd_rtot', 'add_sd_ctot', 'prop_sd_ctot')
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
        .output("Rtot", "R0 + target + complex")
        .output("Ctot", "central / V + complex")
    )
    typical = {p: TYPICAL[p] for p in ("CL", "V", "KON", "KOFF", "KINT", "KDEG", "R0")}
    return log_normal_model(structure, typical, dict.fromkeys(IIV, 0.09), _errors(error))


#: Free drug of the QSS model from total drug (central / V) and total target (R0 + target).
QSS_FREE = ("0.5 * ((central / V - R0 - target - KSS)"
            " + sqrt((central / V - R0 - target - KSS)**2 + 4 * KSS * central / V))")


@register("iv_1cmt_tmdd_qss", tags=("pk", "iv", "bolus", "infusion", "1cmt", "tmdd", "qss", "ode"))
def iv_1cmt_tmdd_qss(error: ErrorModel | Mapping[str, ErrorModel] | None = None) -> PopulationModel:
    """Quasi-steady-state approximation of target-mediated drug disposition (Gibiansky 2008).

    Binding is at quasi-equilibrium with constant KSS = (KOFF + KINT) / KON; the
    states are the total drug and the total target.

    Equations::

        Ctot = central / V,  Rtot = R0 + target
        C    = ((Ctot - Rtot - KSS) + sqrt((Ctot - Rtot - KSS)^2 + 4 KSS Ctot)) / 2
        d central/dt = -CL * C - KINT * V * (Ctot - C)              (+ doses, nmol)
        d target/dt  = -KDEG * target - (KINT - KDEG) * (Ctot - C)
        Cc   = C           (free drug, nM; DVID 1)
        Rtot = R0 + target (total target, nM; DVID 2)
        Ctot = central / V (total drug, nM; DVID 3)
        P = exp(tp + eta_p) for P in CL, V, R0; exp(tp) for KSS, KINT, KDEG

    Compartments (NONMEM CMT): 1 ``central`` (doses: total drug), 2 ``target``
    (total target minus baseline). Outputs: DVID 1 ``Cc``, 2 ``Rtot``, 3 ``Ctot``;
    fit joint data with ``fit(model, data, output_column="DVID")``.

    ========  =======================================  ============  ===============
    theta     parameter                                unit          starting value
    ========  =======================================  ============  ===============
    tcl       log linear clearance                     log(L/h)      log(0.05)
    tv        log central volume                       log(L)        log(3)
    tkss      log steady-state constant                log(nM)       log(1.4)
    tkint     log elimination rate of the complex      log(1/h)      log(0.02)
    tkdeg     log target degradation rate constant     log(1/h)      log(0.05)
    tr0       log baseline target concentration        log(nM)       log(10)
    ========  =======================================  ============  ===============

    Omega 0.09 on CL, V and R0; residual errors as :func:`iv_1cmt_tmdd` (``add_sd``,
    ``prop_sd`` on Cc, ``prop_sd_rtot`` on Rtot, ``add_sd_ctot``, ``prop_sd_ctot`` on
    Ctot). The defaults are the QSS limit of :func:`iv_1cmt_tmdd`
    (KSS = (0.05 + 0.02) / 0.05).

    Parameters
    ----------
    error
        The error model of Cc, or error models by output (outputs not given keep the
        defaults).

    Returns
    -------
    PopulationModel

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
        .output("Rtot", "R0 + target")
        .output("Ctot", "central / V")
    )
    typical = {p: TYPICAL[p] for p in ("CL", "V", "KSS", "KINT", "KDEG", "R0")}
    return log_normal_model(structure, typical, dict.fromkeys(IIV, 0.09), _errors(error))
