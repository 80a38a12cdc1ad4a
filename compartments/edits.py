"""Model edits: functions that take a :class:`~compartments.graph.Model` and return a new one.

Models are immutable, so every edit leaves its argument untouched. The edits
cover the structural changes a pharmacometrician makes while building a model:

- :func:`add_peripheral`: a peripheral compartment exchanging with the central
  one through an inter-compartmental clearance;
- :func:`add_transit`: a chain of transit compartments in front of a dosing
  compartment (delayed absorption);
- :func:`add_lag`: an absorption lag time on a dosing compartment;
- :func:`set_elimination`: switch elimination between linear (``CL*C``) and
  Michaelis-Menten (``VM*C/(KM + C)``).

Examples
--------
>>> from compartments.graph import Model
>>> base = (Model("oral_1cmt")
...         .compartment("depot")
...         .compartment("central", volume="V")
...         .flow("depot", "central", k="KA")
...         .elimination("central", cl="CL")
...         .dose("depot")
...         .output("Cc", "central / V"))
>>> m = set_elimination(add_lag(add_peripheral(base), "depot"), "michaelis-menten")
>>> m.compartment_names
('depot', 'central', 'peripheral1')
>>> m.parameter_names
('V', 'V2', 'KA', 'KM', 'VM', 'Q', 'ALAG1')
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from compartments.expressions import parse_expression, symbol
from compartments.graph import Dosing, Flow, Model, ModelError

Expression = str | float | sp.Expr

#: Accepted spellings of the elimination kinds of :func:`set_elimination`.
LINEAR_KINDS = ("linear", "first-order", "cl")
MICHAELIS_MENTEN_KINDS = ("michaelis-menten", "michaelis_menten", "mm", "saturable")


def add_peripheral(
    model: Model,
    central: str = "central",
    q: Expression = "Q",
    volume: Expression = "V2",
    name: str | None = None,
) -> Model:
    """Add a peripheral compartment exchanging with ``central``.

    The peripheral compartment gets the volume ``volume`` and two flows in
    clearance form: ``q * C_central`` from ``central`` to the peripheral and
    ``q * C_peripheral`` back.

    Parameters
    ----------
    model
        The model to extend.
    central
        The compartment the peripheral exchanges with; it needs a volume.
    q
        Inter-compartmental clearance (a parameter name or an expression).
    volume
        Volume of the peripheral compartment.
    name
        Name of the new compartment; default ``peripheral1``, ``peripheral2``...
        (the first not yet used).

    Returns
    -------
    Model
        A new model with the peripheral compartment appended to the states.

    Raises
    ------
    ModelError
        If ``central`` is missing or has no volume, ``name`` is taken, or
        ``volume`` is already the volume of another compartment (a second
        peripheral needs its own ``q=`` and ``volume=``).
    ExpressionError
        If an expression argument cannot be parsed safely.

    Examples
    --------
    >>> from compartments.graph import Model
    >>> m = (Model().compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central/V"))
    >>> m2 = add_peripheral(m)
    >>> m2.compartment_names
    ('central', 'peripheral1')
    >>> add_peripheral(m2, q="Q3", volume="V3").compartment_names
    ('central', 'peripheral1', 'peripheral2')
    """
    where = "add_peripheral"
    _require(model, central, where)
    if model.get_compartment(central).volume is None:
        raise ModelError(
            f"{where}: compartment {central!r} has no volume; the peripheral exchanges through "
            f"q * C_{central}, so give {central!r} a volume"
        )
    if name is None:
        k = 1
        while f"peripheral{k}" in model.compartment_names:
            k += 1
        name = f"peripheral{k}"
    elif name in model.compartment_names:
        raise ModelError(f"{where}: model {model.name!r} already has a compartment {name!r}")
    vol = _parse(volume, f"{where}: volume of {name}")
    for comp in model.compartments:
        if comp.volume is not None and comp.volume == vol:
            raise ModelError(
                f"{where}: volume {str(vol)!r} is already the volume of compartment "
                f"{comp.name!r}; give the new peripheral its own volume= and q= "
                "(e.g. volume='V3', q='Q3')"
            )
    clearance = _parse(q, f"{where}: q of {name}")
    return (
        model.compartment(name, volume=vol)
        .flow(central, name, cl=clearance)
        .flow(name, central, cl=clearance)
    )


def add_transit(model: Model, n: int, into: str = "depot", ktr: Expression = "KTR") -> Model:
    """Put a chain of ``n`` transit compartments in front of the dosing compartment ``into``.

    The compartments ``transit1`` ... ``transit<n>`` are inserted just before
    ``into`` in state order. Doses that went to ``into`` now go to
    ``transit1`` (with the same F, lag and modelled rate/duration), and each
    transit compartment passes its amount on at rate ``ktr * amount``, the
    last one into ``into``. Because the chain takes ``into``'s place in the
    state order, a NONMEM dataset's dose CMT number for ``into`` now doses
    ``transit1``.

    Parameters
    ----------
    model
        The model to extend.
    n
        Number of transit compartments (a positive integer).
    into
        The dosing compartment the chain empties into (usually ``depot``).
    ktr
        Transit rate constant (a parameter name or an expression such as
        ``"(N + 1)/MTT"``).

    Returns
    -------
    Model
        A new model with the transit chain.

    Raises
    ------
    ModelError
        If ``n`` is not a positive integer, ``into`` is missing or not a dosing
        target, or the model already has transit compartments.
    ExpressionError
        If an expression argument cannot be parsed safely.

    Examples
    --------
    >>> from compartments.graph import Model
    >>> m = (Model().compartment("depot").compartment("central", volume="V")
    ...      .flow("depot", "central", k="KA").elimination("central", cl="CL")
    ...      .dose("depot").output("Cc", "central/V"))
    >>> m3 = add_transit(m, 3)
    >>> m3.compartment_names
    ('transit1', 'transit2', 'transit3', 'depot', 'central')
    >>> [d.compartment for d in m3.dosing]
    ['transit1']
    """
    where = f"add_transit(n={n!r}, into={into!r})"
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ModelError(f"{where}: n must be a positive integer number of transit compartments")
    _require(model, into, where)
    dosing = model.get_dosing(into)
    if dosing is None:
        raise ModelError(
            f"{where}: compartment {into!r} is not a dosing target, so there are no doses to "
            f"delay; declare it with .dose({into!r}) first"
        )
    existing = [c for c in model.compartment_names if c.startswith("transit")]
    names = [f"transit{k}" for k in range(1, n + 1)]
    if existing:
        raise ModelError(
            f"{where}: model {model.name!r} already has transit compartments {existing}; "
            "build the chain in one call with the total n"
        )
    rate = _parse(ktr, f"{where}: ktr")
    comps = []
    for comp in model.compartments:
        if comp.name == into:
            comps.extend(replace(comp, name=t, volume=None) for t in names)
        comps.append(comp)
    chain = names + [into]
    flows = tuple(
        Flow(src, dst, rate * symbol(src), "k")
        for src, dst in zip(chain[:-1], chain[1:], strict=True)
    )
    moved = tuple(replace(d, compartment=names[0]) if d.compartment == into else d
                  for d in model.dosing)
    return replace(model, compartments=tuple(comps), flows=model.flows + flows, dosing=moved)


def add_lag(model: Model, compartment: str, lag: Expression = "ALAG1") -> Model:
    """Give the doses into ``compartment`` a lag time (NONMEM's ALAG).

    Parameters
    ----------
    model
        The model to edit.
    compartment
        A dosing compartment of ``model``.
    lag
        The lag time (a parameter name or an expression); it replaces any
        lag the compartment already had.

    Returns
    -------
    Model
        A new model whose doses into ``compartment`` are delayed by ``lag``.

    Raises
    ------
    ModelError
        If ``compartment`` is missing or not a dosing target, or ``lag``
        depends on amounts or time.
    ExpressionError
        If an expression argument cannot be parsed safely.

    Examples
    --------
    >>> from compartments.graph import Model
    >>> m = (Model().compartment("depot").compartment("central", volume="V")
    ...      .flow("depot", "central", k="KA").elimination("central", cl="CL")
    ...      .dose("depot").output("Cc", "central/V"))
    >>> add_lag(m, "depot").get_dosing("depot").lag
    ALAG1
    """
    where = f"add_lag({compartment!r})"
    _require(model, compartment, where)
    dosing = model.get_dosing(compartment)
    if dosing is None:
        dosed = [d.compartment for d in model.dosing]
        raise ModelError(
            f"{where}: compartment {compartment!r} is not a dosing target of model "
            f"{model.name!r} (dosing targets: {dosed or 'none'}); a lag applies to doses"
        )
    expr = _parse(lag, f"{where}: lag")
    bad = sorted(s.name for s in expr.free_symbols
                 if s.name in model.compartment_names or s.name in ("t", "C"))
    if bad:
        raise ModelError(f"{where}: lag {str(expr)!r} uses {bad}; a lag time is a parameter "
                         "expression, not a function of amounts or time")
    new = replace(dosing, lag=expr)
    return replace(model, dosing=_replace_dosing(model.dosing, new))


def set_elimination(
    model: Model,
    kind: str,
    compartment: str = "central",
    cl: Expression = "CL",
    vm: Expression = "VM",
    km: Expression = "KM",
) -> Model:
    """Switch the elimination of ``compartment`` between linear and Michaelis-Menten.

    All elimination flows out of ``compartment`` are replaced by one flow:
    ``cl * C`` (``kind="linear"``) or ``vm * C / (km + C)``
    (``kind="michaelis-menten"``, also ``"mm"``), where ``C`` is the
    concentration in ``compartment``.

    Parameters
    ----------
    model
        The model to edit.
    kind
        ``"linear"`` or ``"michaelis-menten"`` (``"mm"``).
    compartment
        The compartment whose elimination is switched; it needs a volume.
    cl
        Clearance of linear elimination.
    vm, km
        Maximum elimination rate (amount per time) and Michaelis constant
        (a concentration) of Michaelis-Menten elimination.

    Returns
    -------
    Model
        A new model; the elimination flow keeps its place among the flows.

    Raises
    ------
    ModelError
        If ``kind`` is unknown, ``compartment`` is missing, has no volume or
        has no elimination to switch.
    ExpressionError
        If an expression argument cannot be parsed safely.

    Examples
    --------
    >>> from compartments.graph import Model
    >>> m = (Model().compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central/V"))
    >>> mm = set_elimination(m, "mm")
    >>> mm.flows[0].rate
    C*VM/(C + KM)
    >>> set_elimination(mm, "linear") == m
    True
    """
    label = kind.lower().strip() if isinstance(kind, str) else kind
    where = f"set_elimination({kind!r}, compartment={compartment!r})"
    if label not in LINEAR_KINDS + MICHAELIS_MENTEN_KINDS:
        raise ModelError(
            f"{where}: unknown elimination kind {kind!r}; use 'linear' or 'michaelis-menten' ('mm')"
        )
    _require(model, compartment, where)
    if model.get_compartment(compartment).volume is None:
        raise ModelError(
            f"{where}: compartment {compartment!r} has no volume; both linear (CL*C) and "
            "Michaelis-Menten (VM*C/(KM + C)) elimination need its concentration"
        )
    positions = [i for i, f in enumerate(model.flows)
                 if f.source == compartment and f.target is None]
    if not positions:
        raise ModelError(
            f"{where}: compartment {compartment!r} has no elimination to switch; add one with "
            f".elimination({compartment!r}, cl=...)"
        )
    conc = symbol("C")
    if label in LINEAR_KINDS:
        flow = Flow(compartment, None, _parse(cl, f"{where}: cl") * conc, "cl")
    else:
        vmax = _parse(vm, f"{where}: vm")
        kmich = _parse(km, f"{where}: km")
        flow = Flow(compartment, None, vmax * conc / (kmich + conc), "rate")
    flows = list(model.flows)
    flows[positions[0]] = flow
    for i in reversed(positions[1:]):
        del flows[i]
    return replace(model, flows=tuple(flows))


def _require(model: Model, name: str, where: str) -> None:
    if name not in model.compartment_names:
        raise ModelError(
            f"{where}: no compartment {name!r} in model {model.name!r} "
            f"(compartments: {', '.join(model.compartment_names) or 'none'})"
        )


def _parse(value: Expression, context: str) -> sp.Expr:
    return parse_expression(value, context=context)


def _replace_dosing(dosing: tuple[Dosing, ...], new: Dosing) -> tuple[Dosing, ...]:
    return tuple(new if d.compartment == new.compartment else d for d in dosing)
