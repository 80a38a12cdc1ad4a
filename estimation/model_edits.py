"""Edits of population models: functions that take a model and return a new one.

Models are immutable; every edit returns a new :class:`~estimation.population.PopulationModel`
and works on any model (library or hand-written):

- covariates: :func:`add_covariate_effect` (power, linear, exponential, categorical);
- random effects: :func:`add_iiv`, :func:`remove_iiv`, :func:`set_omega_block`;
- residual error: :func:`set_error_model`;
- structure, lifted from :mod:`compartments.edits` so that the new structural
  parameters get thetas and IIV and the ones no longer used are dropped:
  :func:`add_peripheral`, :func:`add_lag`, :func:`add_transit`, :func:`set_elimination`.

New structural parameters follow the library's parameterisation ``P = exp(tp + eta_p)``
(:func:`individual_expression`); covariate-effect thetas are ``e_<covariate>_<parameter>``.

Examples
--------
>>> from compartments import Model
>>> from estimation.error_models import Proportional
>>> structure = (Model("oral_1cmt").compartment("depot").compartment("central", volume="V")
...              .flow("depot", "central", k="KA").elimination("central", cl="CL")
...              .dose("depot").output("Cc", "central / V"))
>>> base = PopulationModel(structure,
...     parameters={"KA": "exp(tka + eta_ka)", "CL": "exp(tcl + eta_cl)", "V": "exp(tv + eta_v)"},
...     thetas={"tka": 0.0, "tcl": 1.0, "tv": 3.0}, omega={"eta_ka": 0.1, "eta_cl": 0.1, "eta_v": 0.1},
...     error=Proportional(0.1))
>>> m = add_covariate_effect(base, "CL", "WT", "power", reference=70, init=0.75)
>>> m.parameters["CL"]
'exp(tcl + eta_cl) * (WT / 70) ** e_wt_cl'
>>> add_peripheral(m).structure.compartment_names
('depot', 'central', 'peripheral1')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import sympy as sp

from compartments import edits as structural
from compartments.expressions import parse_expression
from estimation.error_models import ErrorModel
from estimation.parameters import OmegaBlock
from estimation.population import PopulationModel, PopulationModelError

__all__ = [
    "COVARIATE_FORMS",
    "add_covariate_effect",
    "add_iiv",
    "add_lag",
    "add_peripheral",
    "add_transit",
    "individual_expression",
    "remove_iiv",
    "set_elimination",
    "set_error_model",
    "set_omega_block",
]

#: Forms of :func:`add_covariate_effect`.
COVARIATE_FORMS = ("power", "linear", "exponential", "categorical")
#: Forms of :func:`add_iiv`.
IIV_FORMS = ("exponential", "additive", "proportional")


def individual_expression(parameter: str, *, iiv: bool, fraction: bool = False) -> str:
    """The library parameterisation: ``exp(tp + eta_p)``, ``exp(tp)``, or ``expit(...)``.

    Examples
    --------
    >>> individual_expression("CL", iiv=True)
    'exp(tcl + eta_cl)'
    """
    low = parameter.lower()
    inner = f"t{low} + eta_{low}" if iiv else f"t{low}"
    return f"{'expit' if fraction else 'exp'}({inner})"


# --------------------------------------------------------------------- covariates
def add_covariate_effect(
    model: PopulationModel,
    parameter: str,
    covariate: str,
    form: str,
    *,
    reference: float | None = None,
    levels: Sequence[int] | None = None,
    init: float = 0.0,
) -> PopulationModel:
    """Multiply the individual ``parameter`` by a covariate effect.

    ============  ==========================================  =============================
    form          factor                                      new theta(s)
    ============  ==========================================  =============================
    power         ``(COV / reference) ** e_cov_p``            ``e_cov_p``
    linear        ``1 + e_cov_p * (COV - reference)``         ``e_cov_p``
    exponential   ``exp(e_cov_p * (COV - reference))``        ``e_cov_p``
    categorical   ``exp(sum_k e_cov_p_k * [COV == k])``       ``e_cov_p_<k>`` per level k
                                                              other than the first
    ============  ==========================================  =============================

    Parameters
    ----------
    model
        Any population model.
    parameter
        A structural parameter (e.g. ``"CL"``).
    covariate
        The data column (e.g. ``"WT"``); a baseline covariate.
    form
        One of :data:`COVARIATE_FORMS`.
    reference
        Centring value of a continuous covariate (required for power, linear and
        exponential; e.g. 70 for weight in kg).
    levels
        Integer codes of a categorical covariate, reference level first (e.g.
        ``(0, 1)`` for SEX); the indicator of level k is ``1 - min(|COV - k|, 1)``.
    init
        Initial value of the new theta(s) (0: no effect).

    Returns
    -------
    PopulationModel

    Raises
    ------
    PopulationModelError
        On an unknown parameter or form, a missing ``reference``/``levels``, or a
        covariate effect that already exists.

    Examples
    --------
    >>> from estimation.error_models import Additive
    >>> from compartments import Model
    >>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"CL": "exp(tcl + eta_cl)", "V": "exp(tv)"},
    ...                     thetas={"tcl": 1.0, "tv": 3.0}, omega={"eta_cl": 0.1}, error=Additive(1.0))
    >>> add_covariate_effect(m, "CL", "SEX", "categorical", levels=(0, 1)).parameters["CL"]
    'exp(tcl + eta_cl) * exp(e_sex_cl_1 * (1 - min(abs(SEX - 1), 1)))'
    """
    where = f"add_covariate_effect({parameter!r}, {covariate!r}, {form!r})"
    current = _expression_text(model, parameter, where)
    cov, low = covariate.lower(), parameter.lower()
    if form not in COVARIATE_FORMS:
        raise PopulationModelError(f"{where}: unknown form; use one of {', '.join(COVARIATE_FORMS)}")
    if form == "categorical":
        if not levels or len(levels) < 2:
            raise PopulationModelError(f"{where}: give levels=(reference, other, ...) with two or more codes")
        names = [f"e_{cov}_{low}_{int(level)}" for level in levels[1:]]
        terms = " + ".join(f"{n} * (1 - min(abs({covariate} - {int(level)}), 1))"
                           for n, level in zip(names, levels[1:], strict=True))
        factor = f"exp({terms})"
    else:
        if reference is None:
            raise PopulationModelError(f"{where}: a continuous covariate needs reference= (e.g. 70 for WT)")
        names = [f"e_{cov}_{low}"]
        ref = _number(reference)
        factor = {
            "power": f"({covariate} / {ref}) ** {names[0]}",
            "linear": f"(1 + {names[0]} * ({covariate} - {ref}))",
            "exponential": f"exp({names[0]} * ({covariate} - {ref}))",
        }[form]
    taken = [n for n in names if n in model.thetas]
    if taken:
        raise PopulationModelError(f"{where}: the model already has the covariate effect(s) {taken}")
    thetas = {**model.thetas, **dict.fromkeys(names, float(init))}
    parameters = {**model.parameters, parameter: f"{current} * {factor}"}
    return replace(model, parameters=parameters, thetas=thetas)


# ----------------------------------------------------------------- random effects
def add_iiv(model: PopulationModel, parameter: str, variance: float = 0.09, *,
            form: str = "exponential", eta: str | None = None) -> PopulationModel:
    """Give ``parameter`` between-subject variability with a new eta.

    ``exponential``: ``P * exp(eta)`` (written ``exp(tp + eta_p)`` when P is ``exp(tp)``);
    ``additive``: ``P + eta``; ``proportional``: ``P * (1 + eta)``.

    Examples
    --------
    >>> from estimation.error_models import Additive
    >>> from compartments import Model
    >>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"CL": "exp(tcl)", "V": "exp(tv)"},
    ...                     thetas={"tcl": 1.0, "tv": 3.0}, error=Additive(1.0))
    >>> add_iiv(m, "CL").parameters["CL"]
    'exp(tcl + eta_cl)'
    """
    where = f"add_iiv({parameter!r})"
    current = _expression_text(model, parameter, where)
    name = eta or f"eta_{parameter.lower()}"
    if name in model.space.eta_names:
        raise PopulationModelError(f"{where}: the model already has an eta named {name!r}")
    if form not in IIV_FORMS:
        raise PopulationModelError(f"{where}: unknown form {form!r}; use one of {', '.join(IIV_FORMS)}")
    if not variance > 0:
        raise PopulationModelError(f"{where}: the variance must be positive, got {variance}")
    expr = parse_expression(current, context=where)
    if form == "exponential" and isinstance(expr, sp.exp):
        new = f"exp({_text(expr.args[0])} + {name})"
    else:
        new = {"exponential": f"{current} * exp({name})", "additive": f"{current} + {name}",
               "proportional": f"{current} * (1 + {name})"}[form]
    blocks = tuple(model.space.blocks) + (OmegaBlock((name,), ((float(variance),),)),)
    return replace(model, parameters={**model.parameters, parameter: new}, omega=blocks)


def remove_iiv(model: PopulationModel, eta: str) -> PopulationModel:
    """Remove the random effect ``eta`` (given as ``eta_cl`` or as the parameter ``CL``).

    Every parameter expression gets ``eta = 0``; the eta leaves Omega (and its block).

    Examples
    --------
    >>> from estimation.error_models import Additive
    >>> from compartments import Model
    >>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"CL": "exp(tcl + eta_cl)", "V": "exp(tv + eta_v)"},
    ...                     thetas={"tcl": 1.0, "tv": 3.0}, omega={"eta_cl": 0.1, "eta_v": 0.1},
    ...                     error=Additive(1.0))
    >>> remove_iiv(m, "CL").parameters["CL"]
    'exp(tcl)'
    """
    names = model.space.eta_names
    name = eta if eta in names else f"eta_{eta.lower()}"
    if name not in names:
        raise PopulationModelError(f"remove_iiv({eta!r}): no such eta; the model's etas are {list(names)}")
    symbol = sp.Symbol(name, real=True)
    parameters = {}
    for p, text in model.parameters.items():
        expr = parse_expression(text, context=f"parameter {p}")
        parameters[p] = _text(expr.xreplace({symbol: 0})) if symbol in expr.free_symbols else text
    keep = [n for n in names if n != name]
    return replace(model, parameters=parameters, omega=_partition(model, [], keep))


def set_omega_block(model: PopulationModel, etas: Sequence[str],
                    covariances: Mapping[tuple[str, str], float] | None = None) -> PopulationModel:
    """Put ``etas`` in one correlated block of Omega.

    Variances are kept; covariances are taken from ``covariances`` (``{(a, b): value}``),
    else from the current Omega (0 between etas of different blocks). Other etas keep
    their blocks (without the moved etas).

    Examples
    --------
    >>> from estimation.error_models import Additive
    >>> from compartments import Model
    >>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"CL": "exp(tcl + eta_cl)", "V": "exp(tv + eta_v)"},
    ...                     thetas={"tcl": 1.0, "tv": 3.0}, omega={"eta_cl": 0.1, "eta_v": 0.2},
    ...                     error=Additive(1.0))
    >>> set_omega_block(m, ["eta_cl", "eta_v"], {("eta_cl", "eta_v"): 0.05}).space.blocks[0].matrix
    ((0.1, 0.05), (0.05, 0.2))
    """
    names = model.space.eta_names
    unknown = [e for e in etas if e not in names]
    if unknown or len(set(etas)) != len(etas) or len(etas) < 2:
        raise PopulationModelError(
            f"set_omega_block({list(etas)}): give two or more distinct etas of the model {list(names)}"
            + (f"; unknown {unknown}" if unknown else ""))
    full = _omega_matrix(model)
    index = {n: i for i, n in enumerate(names)}
    for (a, b), value in (covariances or {}).items():
        if a not in etas or b not in etas:
            raise PopulationModelError(
                f"set_omega_block: covariance ({a}, {b}) is not within the block {list(etas)}")
        full[index[a], index[b]] = full[index[b], index[a]] = float(value)
    rest = [n for n in names if n not in etas]
    try:
        blocks = _partition(model, list(etas), rest, full)
    except ValueError as err:
        raise PopulationModelError(f"set_omega_block({list(etas)}): {err}") from None
    return replace(model, omega=blocks)


# ------------------------------------------------------------------ residual error
def set_error_model(model: PopulationModel, error: ErrorModel, output: str | None = None) -> PopulationModel:
    """Replace the residual error model (of every output, or of ``output`` only).

    Examples
    --------
    >>> from estimation.error_models import Additive, Proportional
    >>> from compartments import Model
    >>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"CL": "exp(tcl)", "V": "exp(tv)"},
    ...                     thetas={"tcl": 1.0, "tv": 3.0}, error=Additive(1.0))
    >>> set_error_model(m, Proportional(0.2)).space.sigma_names
    ('prop_sd',)
    """
    outputs = model.structure.output_names
    if output is None:
        return replace(model, error=error)
    if output not in outputs:
        raise PopulationModelError(f"set_error_model: no output {output!r}; outputs: {list(outputs)}")
    errors = dict(zip(outputs, model.error_models, strict=True))
    errors[output] = error
    return replace(model, error=errors)


# ---------------------------------------------------------------- structural edits
def add_peripheral(model: PopulationModel, central: str = "central", *, q: str | None = None,
                   volume: str | None = None, typical_q: float = 4.0, typical_volume: float = 50.0,
                   variance: float | None = 0.09) -> PopulationModel:
    """Add a peripheral compartment (see :func:`compartments.edits.add_peripheral`).

    Default names: ``Q`` and ``V2`` for the first peripheral, then ``Q3``/``V3``...
    Each new parameter is ``exp(tp + eta_p)`` (``exp(tp)`` when ``variance`` is None).

    Examples
    --------
    >>> from estimation.error_models import Additive
    >>> from compartments import Model
    >>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"CL": "exp(tcl)", "V": "exp(tv)"},
    ...                     thetas={"tcl": 1.0, "tv": 3.0}, error=Additive(1.0))
    >>> add_peripheral(add_peripheral(m)).structure.parameter_names
    ('V', 'V2', 'V3', 'CL', 'Q', 'Q3')
    """
    taken = set(model.structure.parameter_names)
    k = 2
    while (q is None and ("Q" if k == 2 else f"Q{k}") in taken) or (volume is None and f"V{k}" in taken):
        k += 1
    q = q or ("Q" if k == 2 else f"Q{k}")
    volume = volume or f"V{k}"
    structure = structural.add_peripheral(model.structure, central, q=q, volume=volume)
    return _with_structure(model, structure, {q: typical_q, volume: typical_volume}, variance)


def add_lag(model: PopulationModel, compartment: str = "depot", *, lag: str = "ALAG1",
            typical: float = 0.5, variance: float | None = 0.09) -> PopulationModel:
    """Give doses into ``compartment`` a lag time ``lag`` = ``exp(tlag + eta_lag)``.

    Examples
    --------
    >>> from estimation.error_models import Additive
    >>> from compartments import Model
    >>> s = (Model("o").compartment("depot").compartment("central", volume="V")
    ...      .flow("depot", "central", k="KA").elimination("central", cl="CL")
    ...      .dose("depot").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"KA": "exp(tka)", "CL": "exp(tcl)", "V": "exp(tv)"},
    ...                     thetas={"tka": 0.0, "tcl": 1.0, "tv": 3.0}, error=Additive(1.0))
    >>> add_lag(m).parameters["ALAG1"]
    'exp(talag1 + eta_alag1)'
    """
    structure = structural.add_lag(model.structure, compartment, lag)
    return _with_structure(model, structure, {lag: typical}, variance)


def add_transit(model: PopulationModel, n: int, into: str = "depot", *, mtt: str = "MTT",
                typical: float = 2.0, variance: float | None = 0.09) -> PopulationModel:
    """Insert ``n`` transit compartments before ``into``; KTR = (n + 1) / MTT (Savic 2007).

    Examples
    --------
    >>> from estimation.error_models import Additive
    >>> from compartments import Model
    >>> s = (Model("o").compartment("depot").compartment("central", volume="V")
    ...      .flow("depot", "central", k="KA").elimination("central", cl="CL")
    ...      .dose("depot").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"KA": "exp(tka)", "CL": "exp(tcl)", "V": "exp(tv)"},
    ...                     thetas={"tka": 0.0, "tcl": 1.0, "tv": 3.0}, error=Additive(1.0))
    >>> add_transit(m, 2).space.theta_names
    ('tka', 'tcl', 'tv', 'tmtt')
    """
    structure = structural.add_transit(model.structure, n, into=into, ktr=f"{n + 1} / {mtt}")
    return _with_structure(model, structure, {mtt: typical}, variance)


def set_elimination(model: PopulationModel, kind: str, compartment: str = "central", *,
                    typical: Mapping[str, float] | None = None,
                    variance: float | None = 0.09) -> PopulationModel:
    """Switch elimination between linear (``CL``) and Michaelis-Menten (``VM``, ``KM``).

    Parameters the structure no longer uses (e.g. ``CL``) leave the model with their
    thetas and etas; new ones get ``typical`` values (default VM 20, KM 2, CL 4).

    Examples
    --------
    >>> from estimation.error_models import Additive
    >>> from compartments import Model
    >>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central / V"))
    >>> m = PopulationModel(s, parameters={"CL": "exp(tcl + eta_cl)", "V": "exp(tv)"},
    ...                     thetas={"tcl": 1.0, "tv": 3.0}, omega={"eta_cl": 0.1}, error=Additive(1.0))
    >>> mm = set_elimination(m, "mm")
    >>> mm.space.theta_names, mm.space.eta_names
    (('tv', 'tkm', 'tvm'), ('eta_km', 'eta_vm'))
    """
    structure = structural.set_elimination(model.structure, kind, compartment)
    values = {"VM": 20.0, "KM": 2.0, "CL": 4.0, **(typical or {})}
    return _with_structure(model, structure, values, variance)


# -------------------------------------------------------------------- internals
def _expression_text(model: PopulationModel, parameter: str, where: str) -> str:
    if parameter not in model.compiled.param_names:
        raise PopulationModelError(
            f"{where}: {parameter!r} is not a structural parameter of {model.title!r} "
            f"(parameters: {list(model.compiled.param_names)})")
    return model.parameters.get(parameter, parameter)


def _text(expr: sp.Expr) -> str:
    """sympy's text of ``expr`` in the spelling :func:`parse_expression` reads back."""
    text = str(expr)
    for name in ("Min", "Max", "Abs"):
        text = text.replace(f"{name}(", f"{name.lower()}(")
    return text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _omega_matrix(model: PopulationModel) -> np.ndarray:
    names = model.space.eta_names
    full = np.zeros((len(names), len(names)))
    offset = 0
    for block in model.space.blocks:
        full[offset:offset + block.size, offset:offset + block.size] = np.asarray(block.matrix)
        offset += block.size
    return full


def _partition(model: PopulationModel, joined: list[str], rest: list[str],
               full: np.ndarray | None = None) -> tuple[OmegaBlock, ...]:
    """Blocks: ``joined`` as one block (if any), the others in their old blocks."""
    names = model.space.eta_names
    full = _omega_matrix(model) if full is None else full
    index = {n: i for i, n in enumerate(names)}

    def block(members: list[str], fixed: bool) -> OmegaBlock:
        idx = [index[m] for m in members]
        return OmegaBlock(tuple(members), tuple(tuple(float(full[i, j]) for j in idx) for i in idx), fixed)

    out = [block(joined, False)] if joined else []
    for old in model.space.blocks:
        members = [n for n in old.names if n in rest]
        if members:
            out.append(block(members, old.fixed))
    return tuple(out)


def _with_structure(model: PopulationModel, structure, typical: Mapping[str, float],  # type: ignore[no-untyped-def]
                    variance: float | None) -> PopulationModel:
    """``model`` on a new structure: new parameters log-normal, unused ones (and their
    thetas and etas) dropped."""
    params = structure.parameter_names
    parameters = {p: v for p, v in model.parameters.items() if p in params}
    thetas = dict(model.thetas)
    new_blocks: list[OmegaBlock] = []
    for p in params:
        if p in parameters or p in model.thetas:
            continue
        if p not in typical:
            raise PopulationModelError(f"new structural parameter {p!r} needs a typical value")
        value = float(typical[p])
        if value <= 0:
            raise PopulationModelError(f"typical {p} must be positive, got {value}")
        parameters[p] = individual_expression(p, iiv=variance is not None)
        thetas[f"t{p.lower()}"] = math.log(value)
        if variance is not None:
            new_blocks.append(OmegaBlock((f"eta_{p.lower()}",), ((float(variance),),)))
    used = {s.name for p, v in parameters.items() for s in parse_expression(v, context=p).free_symbols}
    used |= {p for p in params if p not in parameters}  # a structural parameter that is its own theta
    kept = _partition(model, [], [n for n in model.space.eta_names if n in used])
    return replace(model, structure=structure, parameters=parameters,
                   thetas={k: v for k, v in thetas.items() if k in used}, omega=kept + tuple(new_blocks))
