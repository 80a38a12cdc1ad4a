"""Naming conventions of library models, and the check every library model must pass.

The conventions (DESIGN.md "Names and shapes worth keeping", made precise):

- registry name ``<absorption>_<n>cmt[_<feature>]``: absorption ``iv``, ``infusion``,
  ``oral``, ``zero_order``, ``transit``, ``transit_analytic`` or ``parallel``; ``n`` the
  number of disposition compartments (1-3); features such as ``lag``, ``mm``, ``mixed``,
  ``tmdd``, ``tmdd_qss`` or a PD model name (``emax``, ``idr1``, ``friberg``);
- compartments ``depot``, ``central``, ``peripheral<k>``, ``transit<k>`` (``transit``
  for the lumped analytic chain), ``effect``, ``response``, ``target``, ``complex``,
  ``prol``, ``maturation<k>``, ``circ``; ``central`` always present;
- outputs: ``Cc`` (drug concentration in ``central``; free drug in TMDD models) first,
  then ``E`` (the PD response), ``Rtot`` and ``Ctot`` (total target and total drug of
  TMDD models);
- structural parameters in capitals (``CL``, ``V1``, ``KA``, ``EC50``);
- each parameter ``P`` is ``exp(tp + eta_p)``, ``exp(tp)`` (no IIV), ``expit(tp + eta_p)``
  or ``expit(tp)`` (a fraction), with ``tp`` = ``t`` + lower-case ``P`` and
  ``eta_p`` = ``eta_`` + lower-case ``P``; or a data column of the same name (``DOSE``);
- covariate effects (from :func:`estimation.model_edits.add_covariate_effect`)
  ``e_<covariate>_<p>``; residual error ``add_sd``, ``prop_sd``, ``exp_sd``, with a
  lower-case ``_<output>`` suffix for outputs other than ``Cc`` (``add_sd_e``,
  ``prop_sd_rtot``);
- the factory's docstring has the sections ``Equations::`` and ``References``.

Examples
--------
>>> from model_library import get
>>> check_model("oral_1cmt", get("oral_1cmt"))
[]
"""

from __future__ import annotations

import re

import sympy as sp

from estimation.population import PopulationModel

__all__ = ["COMPARTMENT", "MODEL_NAME", "check_model"]

MODEL_NAME = re.compile(
    r"^(iv|infusion|oral|zero_order|transit|transit_analytic|parallel)_[123]cmt(_[a-z0-9]+)*$")
COMPARTMENT = re.compile(
    r"^(depot|central|peripheral\d+|transit\d*|effect|response|target|complex|prol|maturation\d+|circ)$")
PARAMETER = re.compile(r"^[A-Z][A-Z0-9]*$")
SIGMA = re.compile(r"^(add|prop|exp)_sd(_[a-z0-9]+)?$")
OUTPUTS = ("Cc", "E", "Rtot", "Ctot")


def _expected_forms(parameter: str) -> dict[str, sp.Expr]:
    low = parameter.lower()
    theta, eta = sp.Symbol(f"t{low}", real=True), sp.Symbol(f"eta_{low}", real=True)

    def expit(x: sp.Expr) -> sp.Expr:
        return 1 / (1 + sp.exp(-x))

    return {"log-normal": sp.exp(theta + eta), "log, no IIV": sp.exp(theta),
            "logit-normal": expit(theta + eta), "logit, no IIV": expit(theta)}


def check_model(name: str, model: PopulationModel, doc: str | None = None) -> list[str]:
    """Every way ``model`` (registered as ``name``) breaks the conventions; empty if none.

    Parameters
    ----------
    name
        The registry name.
    model
        The population model the factory returns.
    doc
        The factory's docstring (checked for its sections when given).

    Returns
    -------
    list of str
        One message per violation.

    Examples
    --------
    >>> from model_library import get
    >>> check_model("my model", get("iv_1cmt"))[0]
    "registry name 'my model' is not <absorption>_<n>cmt[_<feature>]"
    """
    problems: list[str] = []
    if not MODEL_NAME.match(name):
        problems.append(f"registry name {name!r} is not <absorption>_<n>cmt[_<feature>]")
    if model.title != name:
        problems.append(f"model title {model.title!r} differs from its registry name {name!r}")
    structure = model.structure
    for comp in structure.compartment_names:
        if not COMPARTMENT.match(comp):
            problems.append(f"compartment {comp!r} is not a conventional name")
    if "central" not in structure.compartment_names:
        problems.append("no 'central' compartment")
    outputs = structure.output_names
    if not outputs or outputs[0] != "Cc" or any(o not in OUTPUTS for o in outputs):
        problems.append(f"outputs {list(outputs)}: expected Cc first, then E, Rtot or Ctot")
    elif sp.Symbol("central", real=True) not in structure.outputs[0].expression.free_symbols:
        problems.append(f"Cc = {structure.outputs[0].expression} does not use the central amount")
    covariates = set(model.covariate_names)
    for p in model.compiled.param_names:
        if not PARAMETER.match(p):
            problems.append(f"structural parameter {p!r} is not in capitals")
        expr = model.individual_expressions[p]
        if p in covariates and expr == sp.Symbol(p, real=True):
            continue  # a data column passed through (e.g. DOSE)
        if not any(sp.simplify(expr - form) == 0 for form in _expected_forms(p).values()):
            problems.append(f"{p} = {expr}: expected exp(t{p.lower()} [+ eta_{p.lower()}]) or "
                            f"expit(t{p.lower()} [+ eta_{p.lower()}])")
    for theta in model.space.theta_names:
        if not re.match(r"^(t[a-z0-9]+|e_[a-z0-9]+_[a-z0-9]+)$", theta):
            problems.append(f"theta {theta!r} is neither t<parameter> nor e_<covariate>_<parameter>")
    for eta in model.space.eta_names:
        if not re.match(r"^eta_[a-z0-9]+$", eta):
            problems.append(f"eta {eta!r} is not eta_<parameter>")
    for sigma in model.space.sigma_names:
        if not SIGMA.match(sigma):
            problems.append(f"residual-error parameter {sigma!r} is not add_sd/prop_sd/exp_sd[_<output>]")
    if doc is not None:
        for section in ("Equations::", "References"):
            if section not in doc:
                problems.append(f"docstring has no {section.rstrip(':')!r} section")
    return problems
