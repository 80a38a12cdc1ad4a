"""Pharmacodynamic models, each driven by a plasma concentration ``Cp``.

A :class:`PDModel` adds its states, flows and the response output ``E`` to any
pharmacokinetic structure, given the expression of the driving concentration (the PK
model's ``Cc`` output); :func:`model_library.pkpd.link` joins it to a PK population
model. Responses that start at a baseline (turnover and myelosuppression models) are
written as deviations from it (states start at zero in popkin), so ``E = E0 + response``.

============================  ==============================================================
name                          response
============================  ==============================================================
``emax``                      E = E0 + EMAX * Cp / (EC50 + Cp)
``sigmoid_emax``              E = E0 + EMAX * Cp^HILL / (EC50^HILL + Cp^HILL)
``linear_effect``             E = E0 + SLOPE * Cp
``effect_cmt_emax``           dCe/dt = KE0 (Cp - Ce);  E = E0 + EMAX * Ce / (EC50 + Ce)
``idr1`` ... ``idr4``         indirect response (turnover) models I-IV
``friberg``                   semi-mechanistic myelosuppression model
============================  ==============================================================

Examples
--------
>>> sorted(PD_MODELS)[:3]
['effect_cmt_emax', 'emax', 'friberg']
>>> get_pd("emax").typical["EC50"]
1.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sympy as sp

from compartments import Model
from compartments.expressions import parse_expression, symbol
from estimation.error_models import Additive, ErrorModel

__all__ = ["PD_MODELS", "PDModel", "get_pd"]

#: The placeholder for the driving concentration in the expressions below.
CP = "CP"


@dataclass(frozen=True)
class PDModel:
    """A pharmacodynamic model: states and flows in ``CP``, an output ``E``, defaults.

    Attributes
    ----------
    name
        Short name (``emax``, ``idr1``...).
    title
        One line for listings.
    equations
        The equations as text (for docstrings and the catalogue).
    compartments
        New states (no volume; their amounts are in response units).
    flows
        ``(source, target or None, rate expression)`` in ``CP``, states and parameters.
    output
        The expression of ``E``.
    typical
        ``parameter -> typical value`` (natural scale), in table order.
    iiv
        ``parameter -> eta variance`` for the parameters with IIV.
    fractions
        Parameters on the logit scale (in (0, 1)).
    error
        Residual error of ``E`` (its parameter names end in ``_e``).
    reference
        The literature reference.
    """

    name: str
    title: str
    equations: str
    compartments: tuple[str, ...]
    flows: tuple[tuple[str, str | None, str], ...]
    output: str
    typical: Mapping[str, float]
    iiv: Mapping[str, float]
    reference: str
    fractions: tuple[str, ...] = ()
    error: ErrorModel = field(default_factory=lambda: Additive(0.5, name="add_sd_e"))

    def attach(self, structure: Model, concentration: sp.Expr) -> Model:
        """``structure`` with this model's states, flows and output ``E`` added.

        Examples
        --------
        >>> from compartments import Model
        >>> pk = (Model("pk").compartment("central", volume="V").elimination("central", cl="CL")
        ...       .dose("central").output("Cc", "central / V"))
        >>> get_pd("emax").attach(pk, pk.outputs[0].expression).outputs[1].expression
        E0 + EMAX*central/(V*(EC50 + central/V))
        """
        clash = set(self.compartments) & set(structure.compartment_names)
        if clash:
            raise ValueError(
                f"PD model {self.name!r} adds compartments {sorted(clash)} that the PK model "
                f"{structure.name!r} already has"
            )
        params = set(structure.parameter_names) & set(self.typical)
        if params:
            raise ValueError(
                f"PD model {self.name!r} and PK model {structure.name!r} both use the parameters "
                f"{sorted(params)}; rename them in one of the models"
            )
        subs = {symbol(CP): concentration}

        def expr(text: str, where: str) -> sp.Expr:
            return parse_expression(text, context=f"PD model {self.name}: {where}").xreplace(subs)

        m = structure
        for name in self.compartments:
            m = m.compartment(name)
        for source, target, rate in self.flows:
            m = m.flow(source, target, rate=expr(rate, f"flow {source} -> {target}"))
        return m.parameters(*self.typical).output("E", expr(self.output, "output E"))


def _hyperbolic(cp: str, top: str, half: str) -> str:
    return f"{top} * {cp} / ({half} + {cp})"


def emax() -> PDModel:
    """Direct Emax model."""
    return PDModel(
        name="emax", title="direct Emax model",
        equations="E = E0 + EMAX * Cp / (EC50 + Cp)",
        compartments=(), flows=(), output=f"E0 + {_hyperbolic(CP, 'EMAX', 'EC50')}",
        typical={"E0": 10.0, "EMAX": 50.0, "EC50": 1.0}, iiv={"E0": 0.09, "EMAX": 0.09, "EC50": 0.09},
        reference="Holford NHG, Sheiner LB. Understanding the dose-effect relationship. "
                  "Clin Pharmacokinet 1981;6:429-453.",
    )


def sigmoid_emax() -> PDModel:
    """Sigmoid Emax (Hill) model."""
    return PDModel(
        name="sigmoid_emax", title="sigmoid Emax (Hill) model",
        equations="E = E0 + EMAX * Cp^HILL / (EC50^HILL + Cp^HILL)",
        compartments=(), flows=(), output=f"E0 + EMAX * {CP}**HILL / (EC50**HILL + {CP}**HILL)",
        typical={"E0": 10.0, "EMAX": 50.0, "EC50": 1.0, "HILL": 2.0},
        iiv={"E0": 0.09, "EMAX": 0.09, "EC50": 0.09},
        reference="Holford NHG, Sheiner LB. Clin Pharmacokinet 1981;6:429-453 (sigmoid Emax); "
                  "Hill AV. J Physiol 1910;40:iv-vii.",
    )


def linear_effect() -> PDModel:
    """Linear concentration-effect model."""
    return PDModel(
        name="linear_effect", title="linear model",
        equations="E = E0 + SLOPE * Cp",
        compartments=(), flows=(), output=f"E0 + SLOPE * {CP}",
        typical={"E0": 10.0, "SLOPE": 20.0}, iiv={"E0": 0.09, "SLOPE": 0.09},
        reference="Holford NHG, Sheiner LB. Clin Pharmacokinet 1981;6:429-453 (linear model).",
    )


def effect_cmt_emax() -> PDModel:
    """Effect compartment (biophase) with an Emax model."""
    return PDModel(
        name="effect_cmt_emax", title="effect compartment with Emax",
        equations="dCe/dt = KE0 * (Cp - Ce);  E = E0 + EMAX * Ce / (EC50 + Ce)",
        compartments=("effect",), flows=(("effect", None, f"KE0 * (effect - {CP})"),),
        output=f"E0 + {_hyperbolic('effect', 'EMAX', 'EC50')}",
        typical={"KE0": 0.5, "E0": 10.0, "EMAX": 50.0, "EC50": 1.0},
        iiv={"KE0": 0.09, "E0": 0.09, "EMAX": 0.09, "EC50": 0.09},
        reference="Sheiner LB, Stanski DR, Vozeh S, Miller RD, Ham J. Simultaneous modeling of "
                  "pharmacokinetics and pharmacodynamics: application to d-tubocurarine. "
                  "Clin Pharmacol Ther 1979;25:358-371.",
    )


#: Indirect response models I-IV: (title, rate of d response/dt with the sign flipped, parameters).
_IDR = {
    1: ("inhibition of production (kin)",
        f"KOUT * response + KOUT * E0 * {_hyperbolic(CP, 'IMAX', 'IC50')}",
        "dR/dt = KIN * (1 - IMAX * Cp / (IC50 + Cp)) - KOUT * R"),
    2: ("inhibition of loss (kout)",
        f"KOUT * response - KOUT * (E0 + response) * {_hyperbolic(CP, 'IMAX', 'IC50')}",
        "dR/dt = KIN - KOUT * (1 - IMAX * Cp / (IC50 + Cp)) * R"),
    3: ("stimulation of production (kin)",
        f"KOUT * response - KOUT * E0 * {_hyperbolic(CP, 'EMAX', 'EC50')}",
        "dR/dt = KIN * (1 + EMAX * Cp / (EC50 + Cp)) - KOUT * R"),
    4: ("stimulation of loss (kout)",
        f"KOUT * response + KOUT * (E0 + response) * {_hyperbolic(CP, 'EMAX', 'EC50')}",
        "dR/dt = KIN - KOUT * (1 + EMAX * Cp / (EC50 + Cp)) * R"),
}


def indirect_response(kind: int) -> PDModel:
    """Indirect response (turnover) model ``kind`` = 1, 2, 3 or 4 (Dayneka et al. 1993)."""
    if kind not in _IDR:
        raise ValueError(f"indirect response model kind must be 1, 2, 3 or 4, got {kind!r}")
    title, rate, equation = _IDR[kind]
    inhibition = kind in (1, 2)
    drug = {"IMAX": 0.8, "IC50": 1.0} if inhibition else {"EMAX": 2.0, "EC50": 1.0}
    half = "IC50" if inhibition else "EC50"
    return PDModel(
        name=f"idr{kind}", title=f"indirect response model {'I' * kind if kind < 4 else 'IV'}: {title}",
        equations=(f"{equation};  R = E0 + response, KIN = KOUT * E0 (baseline E0);  E = R"),
        compartments=("response",), flows=(("response", None, rate),), output="E0 + response",
        typical={"E0": 10.0, "KOUT": 0.2, **drug}, iiv={"E0": 0.09, "KOUT": 0.09, half: 0.09},
        fractions=("IMAX",) if inhibition else (),
        reference="Dayneka NL, Garg V, Jusko WJ. Comparison of four basic models of indirect "
                  "pharmacodynamic responses. J Pharmacokinet Biopharm 1993;21:457-478.",
    )


def friberg() -> PDModel:
    """Friberg semi-mechanistic model of drug-induced myelosuppression."""
    feedback = "((CIRC0 / (CIRC0 + circ))**GAMMA)"
    ktr = "(4 / MTTPD)"
    production = f"{ktr} * CIRC0 - {ktr} * (CIRC0 + prol) * (1 - SLOPE * {CP}) * {feedback}"
    chain = ("prol", "maturation1", "maturation2", "maturation3", "circ")
    flows = tuple((a, b, f"{ktr} * {a}") for a, b in zip(chain[:-1], chain[1:], strict=True))
    return PDModel(
        name="friberg", title="Friberg myelosuppression model",
        equations=("KTR = 4 / MTTPD (Friberg's MTT), EDRUG = SLOPE * Cp, states as deviations from CIRC0:\n"
                   "dProl/dt = KTR * Prol * (1 - EDRUG) * (CIRC0 / Circ)^GAMMA - KTR * Prol\n"
                   "dMaturation1/dt = KTR * (Prol - Maturation1); Maturation2, 3 likewise\n"
                   "dCirc/dt = KTR * (Maturation3 - Circ);  E = Circ"),
        compartments=chain,
        flows=(("prol", None, production),) + flows + (("circ", None, f"{ktr} * circ"),),
        output="CIRC0 + circ",
        typical={"CIRC0": 5.0, "MTTPD": 90.0, "GAMMA": 0.16, "SLOPE": 0.3},
        iiv={"CIRC0": 0.09, "MTTPD": 0.04, "SLOPE": 0.09},
        error=Additive(0.3, name="add_sd_e"),
        reference="Friberg LE, Henningsson A, Maas H, Nguyen L, Karlsson MO. Model of "
                  "chemotherapy-induced myelosuppression with parameter consistency across drugs. "
                  "J Clin Oncol 2002;20:4713-4721.",
    )


#: PD models by name.
PD_MODELS: dict[str, Callable[[], PDModel]] = {
    "emax": emax,
    "sigmoid_emax": sigmoid_emax,
    "linear_effect": linear_effect,
    "effect_cmt_emax": effect_cmt_emax,
    "idr1": lambda: indirect_response(1),
    "idr2": lambda: indirect_response(2),
    "idr3": lambda: indirect_response(3),
    "idr4": lambda: indirect_response(4),
    "friberg": friberg,
}


def get_pd(name: str) -> PDModel:
    """The PD model called ``name`` (see :data:`PD_MODELS`).

    Examples
    --------
    >>> get_pd("idr3").compartments
    ('response',)
    """
    if name not in PD_MODELS:
        raise KeyError(f"no PD model named {name!r}; available: {', '.join(sorted(PD_MODELS))}")
    return PD_MODELS[name]()
