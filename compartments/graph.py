"""Compartment graphs: the user's modelling language.

A :class:`Model` is an immutable description of compartments (amount states,
optionally with a volume), flows between them, elimination, dosing targets and
named outputs. Every method returns a new model.

Names inside flow and output expressions:

- a compartment name (``central``) is the amount in that compartment;
- ``C`` is the concentration of a flow's source compartment, ``C_<name>`` the
  concentration of compartment ``<name>``;
- ``t`` is time;
- every other name is a parameter.

Examples
--------
>>> m = (Model("oral_1cmt")
...      .compartment("depot")
...      .compartment("central", volume="V")
...      .flow("depot", "central", k="KA")
...      .elimination("central", cl="CL")
...      .dose("depot")
...      .output("Cc", "central / V"))
>>> m.parameter_names
('V', 'KA', 'CL')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import sympy as sp

from compartments.expressions import parse_expression, symbol

TIME = symbol("t")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED = {"t", "C"}


class ModelError(ValueError):
    """A compartment graph is inconsistent (unknown compartment, undefined symbol...)."""


@dataclass(frozen=True)
class Compartment:
    """An amount state, with an optional volume expression for concentrations."""

    name: str
    volume: sp.Expr | None = None


@dataclass(frozen=True)
class Flow:
    """Mass flow out of ``source`` into ``target`` (``None``: out of the system).

    ``rate`` is an amount per unit time expressed in amounts, concentrations,
    parameters and time. ``kind`` records how it was declared
    (``"k"``, ``"cl"`` or ``"rate"``) so that edits can rewrite it.
    """

    source: str
    target: str | None
    rate: sp.Expr
    kind: str = "rate"


@dataclass(frozen=True)
class Dosing:
    """A compartment that receives doses, with its dose-event parameters.

    ``bioavailability`` scales the amount (NONMEM's F), ``lag`` delays the dose
    (ALAG), ``rate`` and ``duration`` are the modelled infusion rate (RATE=-1)
    and duration (RATE=-2).
    """

    compartment: str
    bioavailability: sp.Expr = sp.Integer(1)
    lag: sp.Expr = sp.Integer(0)
    rate: sp.Expr | None = None
    duration: sp.Expr | None = None


@dataclass(frozen=True)
class Output:
    """A named observable, e.g. ``Cc = central / V``."""

    name: str
    expression: sp.Expr


@dataclass(frozen=True)
class Model:
    """An immutable compartment graph; see the module docstring for the language."""

    name: str = "model"
    compartments: tuple[Compartment, ...] = ()
    flows: tuple[Flow, ...] = ()
    dosing: tuple[Dosing, ...] = ()
    outputs: tuple[Output, ...] = ()
    declared: tuple[str, ...] = field(default=())

    # ----------------------------------------------------------------- building
    def compartment(self, name: str, volume: str | float | sp.Expr | None = None) -> Model:
        """Add a compartment (an amount state) with an optional volume."""
        _check_name(name, "compartment")
        if name in self.compartment_names:
            raise ModelError(f"compartment {name!r} is already defined in model {self.name!r}")
        vol = None if volume is None else parse_expression(volume, context=f"volume of {name}")
        return replace(self, compartments=self.compartments + (Compartment(name, vol),))

    def flow(
        self,
        source: str,
        target: str | None,
        *,
        k: str | float | sp.Expr | None = None,
        cl: str | float | sp.Expr | None = None,
        rate: str | float | sp.Expr | None = None,
    ) -> Model:
        """Add a flow from ``source`` to ``target`` (``None`` for elimination).

        Give exactly one of: ``k`` (first-order rate constant: ``k * source``),
        ``cl`` (clearance: ``cl * C``, needs a source volume) or ``rate`` (any
        expression, amount per time, e.g. ``"VM*C/(KM + C)"``).
        """
        options = {"k": k, "cl": cl, "rate": rate}
        given = {key: val for key, val in options.items() if val is not None}
        where = f"flow {source} -> {target or 'elimination'}"
        if len(given) != 1:
            raise ModelError(f"{where}: give exactly one of k=, cl=, rate= (got {sorted(given)})")
        self._require_compartment(source, where)
        if target is not None:
            self._require_compartment(target, where)
            if target == source:
                raise ModelError(f"{where}: source and target are the same compartment")
        kind, value = next(iter(given.items()))
        expr = parse_expression(value, context=where)
        amount = symbol(source)
        if kind == "k":
            flux = expr * amount
        elif kind == "cl":
            if self.get_compartment(source).volume is None:
                raise ModelError(f"{where}: cl= needs a volume on compartment {source!r}")
            flux = expr * symbol("C")
        else:
            flux = expr
        return replace(self, flows=self.flows + (Flow(source, target, flux, kind),))

    def elimination(
        self,
        source: str,
        *,
        k: str | float | sp.Expr | None = None,
        cl: str | float | sp.Expr | None = None,
        rate: str | float | sp.Expr | None = None,
    ) -> Model:
        """Add elimination out of ``source`` (see :meth:`flow`)."""
        return self.flow(source, None, k=k, cl=cl, rate=rate)

    def dose(
        self,
        compartment: str,
        *,
        f: str | float | sp.Expr = 1,
        lag: str | float | sp.Expr = 0,
        rate: str | float | sp.Expr | None = None,
        duration: str | float | sp.Expr | None = None,
    ) -> Model:
        """Declare ``compartment`` as a dosing target with F, lag and modelled rate/duration."""
        where = f"dosing of {compartment}"
        self._require_compartment(compartment, where)
        dosing = Dosing(
            compartment,
            parse_expression(f, context=f"{where} (F)"),
            parse_expression(lag, context=f"{where} (lag)"),
            None if rate is None else parse_expression(rate, context=f"{where} (rate)"),
            None if duration is None else parse_expression(duration, context=f"{where} (duration)"),
        )
        others = tuple(d for d in self.dosing if d.compartment != compartment)
        return replace(self, dosing=others + (dosing,))

    def output(self, name: str, expression: str | float | sp.Expr) -> Model:
        """Add a named output such as ``Cc = central / V``."""
        _check_name(name, "output")
        if name in self.output_names:
            raise ModelError(f"output {name!r} is already defined in model {self.name!r}")
        expr = parse_expression(expression, context=f"output {name}")
        return replace(self, outputs=self.outputs + (Output(name, expr),))

    def parameters(self, *names: str) -> Model:
        """Declare parameters that appear only in outputs (e.g. PD parameters)."""
        for name in names:
            _check_name(name, "parameter")
        new = tuple(n for n in names if n not in self.declared)
        return replace(self, declared=self.declared + new)

    def renamed(self, name: str) -> Model:
        """The same model under another name."""
        return replace(self, name=name)

    # ------------------------------------------------------------------ queries
    @property
    def compartment_names(self) -> tuple[str, ...]:
        """Compartment names in state order."""
        return tuple(c.name for c in self.compartments)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names in order."""
        return tuple(o.name for o in self.outputs)

    def get_compartment(self, name: str) -> Compartment:
        """The compartment called ``name``."""
        for comp in self.compartments:
            if comp.name == name:
                return comp
        raise ModelError(
            f"model {self.name!r} has no compartment {name!r}; compartments: "
            f"{', '.join(self.compartment_names) or '(none)'}"
        )

    def get_dosing(self, compartment: str) -> Dosing | None:
        """Dose-event parameters of ``compartment`` (``None`` if not a dosing target)."""
        for dosing in self.dosing:
            if dosing.compartment == compartment:
                return dosing
        return None

    def concentration(self, name: str) -> sp.Expr:
        """Concentration of compartment ``name`` (amount / volume)."""
        comp = self.get_compartment(name)
        if comp.volume is None:
            raise ModelError(f"compartment {name!r} has no volume, so C_{name} is undefined")
        return symbol(name) / comp.volume

    def resolve(self, expr: sp.Expr, *, source: str | None, where: str) -> sp.Expr:
        """Replace ``C`` and ``C_<name>`` in ``expr`` by amount / volume."""
        subs: dict[sp.Symbol, sp.Expr] = {}
        for sym in expr.free_symbols:
            if sym.name == "C":
                if source is None:
                    raise ModelError(f"{where}: 'C' is only defined inside a flow (its source)")
                subs[sym] = self.concentration(source)
            elif sym.name.startswith("C_") and sym.name[2:] in self.compartment_names:
                subs[sym] = self.concentration(sym.name[2:])
        return expr.xreplace(subs) if subs else expr

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Parameters (free symbols that are not states or time), in order of appearance."""
        states = set(self.compartment_names)
        names: list[str] = []

        def collect(expr: sp.Expr | None) -> None:
            if expr is None:
                return
            for sym in sorted(expr.free_symbols, key=lambda s: s.name):
                if sym.name not in states and sym.name not in _RESERVED and sym.name not in names:
                    if not (sym.name.startswith("C_") and sym.name[2:] in states):
                        names.append(sym.name)

        for comp in self.compartments:
            collect(comp.volume)
        for flow in self.flows:
            collect(flow.rate)
        for dosing in self.dosing:
            for expr in (dosing.bioavailability, dosing.lag, dosing.rate, dosing.duration):
                collect(expr)
        for name in self.declared:
            if name not in names:
                names.append(name)
        for out in self.outputs:
            collect(out.expression)
        return tuple(names)

    def validate(self) -> None:
        """Check the whole graph; raise :class:`ModelError` with what is wrong."""
        if not self.compartments:
            raise ModelError(f"model {self.name!r} has no compartments")
        if not self.outputs:
            raise ModelError(f"model {self.name!r} has no outputs; add one with .output('Cc', ...)")
        states = set(self.compartment_names)
        dynamic: set[str] = set(self.declared)
        for comp in self.compartments:
            if comp.volume is not None:
                dynamic |= {s.name for s in comp.volume.free_symbols}
                bad = {s.name for s in comp.volume.free_symbols} & (states | _RESERVED)
                if bad:
                    raise ModelError(
                        f"volume of {comp.name!r} uses {sorted(bad)}: volumes are parameters"
                    )
        for flow in self.flows:
            where = f"flow {flow.source} -> {flow.target or 'elimination'}"
            self._check_concentrations(flow.rate, where)
            dynamic |= {s.name for s in flow.rate.free_symbols}
        for dosing in self.dosing:
            for label, expr in (("F", dosing.bioavailability), ("lag", dosing.lag),
                                ("rate", dosing.rate), ("duration", dosing.duration)):
                if expr is None:
                    continue
                bad = {s.name for s in expr.free_symbols} & (states | _RESERVED)
                if bad:
                    raise ModelError(
                        f"dosing of {dosing.compartment!r}: {label} uses {sorted(bad)}; "
                        "dose-event parameters may not depend on amounts or time"
                    )
                dynamic |= {s.name for s in expr.free_symbols}
        for out in self.outputs:
            where = f"output {out.name!r}"
            self._check_concentrations(out.expression, where)
            for sym in sorted(out.expression.free_symbols, key=lambda s: s.name):
                name = sym.name
                concentration = name.startswith("C_") and name[2:] in states
                if name in states or name == "t" or concentration or name in dynamic:
                    continue
                if name in self.output_names:
                    other = self.outputs[self.output_names.index(name)].expression
                    raise ModelError(
                        f"{where} uses output {name!r}; outputs cannot refer to other outputs, "
                        f"write its expression ({other}) instead"
                    )
                raise ModelError(
                    f"{where} uses undefined symbol {name!r}; known: compartments "
                    f"{sorted(states)}, parameters {sorted(dynamic - states - _RESERVED)}. "
                    "Declare output-only parameters with Model.parameters(...)"
                )
        if name_clash := set(self.output_names) & (states | set(self.parameter_names)):
            raise ModelError(
                f"output names {sorted(name_clash)} clash with states or parameters"
            )

    # ---------------------------------------------------------------- internals
    def _require_compartment(self, name: str, where: str) -> None:
        if name not in self.compartment_names:
            raise ModelError(
                f"{where}: no compartment {name!r} in model {self.name!r} "
                f"(compartments: {', '.join(self.compartment_names) or 'none'})"
            )

    def _check_concentrations(self, expr: sp.Expr, where: str) -> None:
        states = set(self.compartment_names)
        for sym in sorted(expr.free_symbols, key=lambda s: s.name):
            if sym.name.startswith("C_") and sym.name[2:] not in states:
                raise ModelError(
                    f"{where}: {sym.name!r} refers to unknown compartment {sym.name[2:]!r}"
                )
            if sym.name.startswith("C_") and self.get_compartment(sym.name[2:]).volume is None:
                raise ModelError(
                    f"{where}: compartment {sym.name[2:]!r} has no volume for {sym.name}"
                )


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name) or name in _RESERVED:
        raise ModelError(f"invalid {what} name {name!r}: use letters, digits and _, not 't' or 'C'")
