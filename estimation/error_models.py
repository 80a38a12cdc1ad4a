"""Residual error models g(f, sigma): y = f + g * eps, eps ~ N(0, 1).

Every parameter is a standard deviation (nlmixr2 convention: ``add_sd``,
``prop_sd``); NONMEM's SIGMA is its square. A parameter can be fixed at its value, as
NONMEM's ``$SIGMA 0.1 FIX`` or nlmixr2's ``fix(add.sd)``, like a fixed theta or Omega
block: ``Additive(0.5, fixed=True)``; :class:`Combined` fixes each of its two SDs
(``add_fixed``, ``prop_fixed``).

Examples
--------
>>> Combined(add=0.5, prop=0.1).parameter_names
('add_sd', 'prop_sd')
>>> Combined(add=0.5, prop=0.1, add_fixed=True).parameter_fixed
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax.numpy as jnp

Array = jnp.ndarray


class ErrorModel:
    """Base class: subclasses give parameter names, initial values and ``sd``."""

    parameter_names: tuple[str, ...] = ()
    log_transform: bool = False

    @property
    def initial(self) -> tuple[float, ...]:
        """Initial values of the parameters (standard deviations)."""
        raise NotImplementedError

    @property
    def parameter_fixed(self) -> tuple[bool, ...]:
        """Whether each parameter is fixed at its initial value (not estimated)."""
        return tuple(bool(getattr(self, f)) for f in self._fixed_fields)

    def sd(self, f: Array, sigma: Array) -> Array:
        """Residual standard deviation at prediction ``f`` (on the modelled scale)."""
        raise NotImplementedError

    def transform(self, value: Array) -> Array:
        """Scale on which the residual is normal (identity, or log for :class:`Exponential`)."""
        return value

    def with_parameter(self, name: str, value: float) -> ErrorModel:
        """The same error model with parameter ``name`` set to ``value`` (if it has it)."""
        fields = dict(zip(self.parameter_names, self._value_fields, strict=True))
        if name not in fields:
            return self
        return replace(self, **{fields[name]: float(value)})  # type: ignore[type-var]

    _value_fields: tuple[str, ...] = ()
    _fixed_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Additive(ErrorModel):
    """sd = a; ``fixed=True`` holds a at its value."""

    add: float = 1.0
    name: str = "add_sd"
    fixed: bool = False
    _value_fields = ("add",)
    _fixed_fields = ("fixed",)

    @property
    def parameter_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.name,)

    @property
    def initial(self) -> tuple[float, ...]:
        return (float(self.add),)

    def sd(self, f: Array, sigma: Array) -> Array:
        return sigma[0] * jnp.ones_like(f)


@dataclass(frozen=True)
class Proportional(ErrorModel):
    """sd = b * |f|; ``fixed=True`` holds b at its value."""

    prop: float = 0.1
    name: str = "prop_sd"
    fixed: bool = False
    _value_fields = ("prop",)
    _fixed_fields = ("fixed",)

    @property
    def parameter_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.name,)

    @property
    def initial(self) -> tuple[float, ...]:
        return (float(self.prop),)

    def sd(self, f: Array, sigma: Array) -> Array:
        return sigma[0] * jnp.abs(f)


@dataclass(frozen=True)
class Combined(ErrorModel):
    """Additive plus proportional error.

    ``form="variance"`` (NONMEM's ``Y = F + F*EPS(1) + EPS(2)`` and nlmixr2's
    ``combined2``, the default): sd = sqrt(a^2 + (b f)^2). ``form="sd"``
    (nlmixr2's ``combined1``): sd = a + b |f|. ``add_fixed`` / ``prop_fixed`` hold a / b
    at their values.
    """

    add: float = 1.0
    prop: float = 0.1
    form: str = "variance"
    add_name: str = "add_sd"
    prop_name: str = "prop_sd"
    add_fixed: bool = False
    prop_fixed: bool = False
    _value_fields = ("add", "prop")
    _fixed_fields = ("add_fixed", "prop_fixed")

    def __post_init__(self) -> None:
        if self.form not in ("variance", "sd"):
            raise ValueError(f"Combined error form must be 'variance' or 'sd', got {self.form!r}")

    @property
    def parameter_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.add_name, self.prop_name)

    @property
    def initial(self) -> tuple[float, ...]:
        return (float(self.add), float(self.prop))

    def sd(self, f: Array, sigma: Array) -> Array:
        if self.form == "sd":
            return sigma[0] + sigma[1] * jnp.abs(f)
        return jnp.sqrt(sigma[0] ** 2 + (sigma[1] * f) ** 2)


@dataclass(frozen=True)
class Exponential(ErrorModel):
    """Exponential error, fitted as log-transform-both-sides: log y = log f + a eps;
    ``fixed=True`` holds a at its value."""

    sd_value: float = 0.1
    name: str = "exp_sd"
    log_transform: bool = True
    fixed: bool = False
    _value_fields = ("sd_value",)
    _fixed_fields = ("fixed",)

    @property
    def parameter_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.name,)

    @property
    def initial(self) -> tuple[float, ...]:
        return (float(self.sd_value),)

    def sd(self, f: Array, sigma: Array) -> Array:
        return sigma[0] * jnp.ones_like(f)

    def transform(self, value: Array) -> Array:
        return jnp.log(jnp.maximum(value, 1e-300))


def error_model_from_name(name: str) -> ErrorModel:
    """Error model from a short name: ``add``, ``prop``, ``comb`` or ``exp``."""
    table = {"add": Additive(), "prop": Proportional(), "comb": Combined(), "exp": Exponential()}
    if name not in table:
        raise ValueError(f"unknown error model {name!r}; choose one of {sorted(table)}")
    return table[name]
