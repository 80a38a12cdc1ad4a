"""Population models: structure + individual parameters + random effects + error.

Examples
--------
>>> from compartments import Model
>>> from estimation.error_models import Additive
>>> structure = (Model("oral_1cmt").compartment("depot").compartment("central", volume="V")
...              .flow("depot", "central", k="KA").elimination("central", cl="CL")
...              .dose("depot").output("Cc", "central / V"))
>>> pop = PopulationModel(
...     structure,
...     parameters={"KA": "exp(tka + eta_ka)", "CL": "exp(tcl + eta_cl)", "V": "exp(tv + eta_v)"},
...     thetas={"tka": 0.45, "tcl": 1.0, "tv": 3.45},
...     omega={"eta_ka": 0.6, "eta_cl": 0.3, "eta_v": 0.1},
...     error=Additive(0.7),
... )
>>> pop.space.natural_names[:3]
('tka', 'tcl', 'tv')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property

import jax.numpy as jnp
import sympy as sp

from compartments import Model, compile_model
from compartments.compiled import CompiledModel
from compartments.expressions import parse_expression
from estimation.error_models import ErrorModel
from estimation.parameters import OmegaBlock, ParameterSpace, Theta, as_theta, omega_blocks

Array = jnp.ndarray


class PopulationModelError(ValueError):
    """A population model is inconsistent (undefined theta, eta without omega...)."""


@dataclass(frozen=True, eq=False)
class PopulationModel:
    """A complete NLME model: y = f(t, h(theta, eta, cov)) + g(f, sigma) eps.

    Parameters
    ----------
    structure
        The compartment model f.
    parameters
        ``structural parameter -> expression`` in thetas, etas and covariates
        (e.g. ``"tv_cl * (WT/70)**e_wt_cl * exp(eta_cl)"`` or
        ``"th_cl + th_wt*WT + eta_cl"``). A structural parameter without an
        entry uses the theta of the same name.
    thetas
        ``name -> initial value`` or :class:`~estimation.parameters.Theta`.
    omega
        ``eta -> variance`` (diagonal) or a sequence of
        :class:`~estimation.parameters.OmegaBlock`.
    error
        One :class:`~estimation.error_models.ErrorModel`, or ``output -> model``; its SDs
        can be fixed (``Additive(0.5, fixed=True)``), as thetas (``Theta(..., fixed=True)``)
        and Omega blocks (``OmegaBlock(..., fixed=True)``).
    """

    structure: Model
    parameters: Mapping[str, str] = field(default_factory=dict)
    thetas: Mapping[str, float | Theta] = field(default_factory=dict)
    omega: Mapping[str, float] | Sequence[OmegaBlock] | None = None
    error: ErrorModel | Mapping[str, ErrorModel] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.error is None:
            raise PopulationModelError("a population model needs an error model (error=...)")
        _ = self.space  # validate eagerly
        _ = self.individual_expressions

    def __getstate__(self) -> dict[str, object]:
        """Pickle the definition only (for Dask workers): the compiled functions cached on the
        instance are not picklable and are rebuilt where the model is unpickled."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # --------------------------------------------------------------- structure
    @property
    def title(self) -> str:
        """The model's name."""
        return self.name or self.structure.name

    @cached_property
    def compiled(self) -> CompiledModel:
        """The compiled structural model."""
        return compile_model(self.structure)

    @cached_property
    def error_models(self) -> tuple[ErrorModel, ...]:
        """One error model per structural output (in output order)."""
        outputs = self.structure.output_names
        if isinstance(self.error, ErrorModel):
            if len(outputs) > 1:
                return (self.error,) + tuple(self.error for _ in outputs[1:])
            return (self.error,)
        missing = [o for o in outputs if o not in self.error]
        unknown = [o for o in self.error if o not in outputs]
        if unknown:
            raise PopulationModelError(
                f"error models for unknown outputs {unknown}; outputs: {list(outputs)}"
            )
        if missing:
            raise PopulationModelError(f"no error model for outputs {missing}")
        return tuple(self.error[o] for o in outputs)

    @cached_property
    def space(self) -> ParameterSpace:
        """Names, initial values and transforms of all population parameters."""
        thetas = {k: as_theta(v) for k, v in self.thetas.items()}
        blocks = omega_blocks(self.omega)
        etas = tuple(n for b in blocks for n in b.names)
        if len(set(etas)) != len(etas):
            raise PopulationModelError(f"an eta appears in two Omega blocks: {etas}")
        sigma_names: list[str] = []
        sigma_init: list[float] = []
        sigma_fixed: list[bool] = []
        seen: set[int] = set()
        for em in self.error_models:
            if id(em) in seen:
                continue
            seen.add(id(em))
            for n, v, fixed in zip(em.parameter_names, em.initial, em.parameter_fixed, strict=True):
                if n in sigma_names:
                    raise PopulationModelError(
                        f"residual-error parameter {n!r} is used by two error models; give distinct names"
                    )
                sigma_names.append(n)
                sigma_init.append(v)
                sigma_fixed.append(fixed)
        clash = set(thetas) & (set(etas) | set(sigma_names))
        if clash:
            raise PopulationModelError(f"names used twice (theta and eta/sigma): {sorted(clash)}")
        return ParameterSpace(
            theta_names=tuple(thetas), thetas=tuple(thetas.values()), eta_names=etas,
            blocks=blocks, sigma_names=tuple(sigma_names), sigma_init=tuple(sigma_init),
            sigma_fixed=tuple(sigma_fixed),
        )

    @cached_property
    def individual_expressions(self) -> dict[str, sp.Expr]:
        """Structural parameter -> sympy expression in thetas, etas and covariates."""
        structural = self.compiled.param_names
        unknown = [k for k in self.parameters if k not in structural]
        if unknown:
            raise PopulationModelError(
                f"parameters {unknown} are not parameters of the structural model "
                f"{self.structure.name!r} (which has {list(structural)})"
            )
        exprs: dict[str, sp.Expr] = {}
        for name in structural:
            if name in self.parameters:
                exprs[name] = parse_expression(self.parameters[name], context=f"parameter {name}")
            elif name in self.thetas:
                exprs[name] = sp.Symbol(name, real=True)
            else:
                raise PopulationModelError(
                    f"structural parameter {name!r} has no expression and no theta of that name; "
                    f"add parameters={{'{name}': ...}}"
                )
        used_etas = {s.name for e in exprs.values() for s in e.free_symbols} & set(self.space.eta_names)
        unused = [e for e in self.space.eta_names if e not in used_etas]
        if unused:
            raise PopulationModelError(f"etas {unused} have an Omega entry but appear in no parameter")
        for name, expr in exprs.items():
            for s in expr.free_symbols:
                if s.name.startswith("eta") and s.name not in self.space.eta_names:
                    raise PopulationModelError(
                        f"parameter {name}: {s.name!r} looks like an eta but has no Omega entry"
                    )
        return exprs

    @cached_property
    def covariate_names(self) -> tuple[str, ...]:
        """Symbols of the individual parameter expressions that are data covariates."""
        known = set(self.space.theta_names) | set(self.space.eta_names)
        names = sorted({s.name for e in self.individual_expressions.values() for s in e.free_symbols} - known)
        return tuple(names)

    @cached_property
    def individual_function(self) -> Callable[[Array, Array, Array], Array]:
        """Compiled h: ``(theta, eta, covariates) -> structural parameter vector``."""
        th = [sp.Symbol(n, real=True) for n in self.space.theta_names]
        et = [sp.Symbol(n, real=True) for n in self.space.eta_names]
        cv = [sp.Symbol(n, real=True) for n in self.covariate_names]
        exprs = [self.individual_expressions[n] for n in self.compiled.param_names]
        raw = sp.lambdify([th, et, cv], exprs, modules="jax", cse=True)
        n = len(exprs)

        def h(theta: Array, eta: Array, cov: Array) -> Array:
            return jnp.asarray(raw(theta, eta, cov), dtype=jnp.float64).reshape(n)

        return h

    # ------------------------------------------------------------------- edits
    def with_error(self, error: ErrorModel | Mapping[str, ErrorModel]) -> PopulationModel:
        """The same model with another residual error model."""
        return replace(self, error=error)

    def with_initial(self, values: Mapping[str, float]) -> PopulationModel:
        """The same model with new initial values.

        Names are thetas, eta names (variances), ``"eta_a,eta_b"`` (covariances within a
        block) and residual error parameters. Bounds and fixed flags are kept (a fixed
        parameter takes the new value and stays fixed).
        """
        thetas = dict(self.thetas)
        omega = list(self.space.blocks)
        error = self.error
        for name, value in values.items():
            if name in thetas:
                t = as_theta(thetas[name])
                thetas[name] = Theta(float(value), t.lower, t.upper, t.fixed)
            elif name in self.space.omega_element_names:
                pair = set(name.split(",")) if "," in name else {name}
                omega = [
                    OmegaBlock(b.names, tuple(
                        tuple(float(value) if {b.names[i], b.names[j]} == pair else b.matrix[i][j]
                              for j in range(b.size)) for i in range(b.size)), b.fixed)
                    for b in omega
                ]
            elif name in self.space.sigma_names:
                error = _with_error_value(error, name, float(value))
            else:
                raise PopulationModelError(f"with_initial: unknown parameter {name!r}")
        return replace(self, thetas=thetas, omega=tuple(omega), error=error)


def _with_error_value(
    error: ErrorModel | Mapping[str, ErrorModel], name: str, value: float
) -> ErrorModel | Mapping[str, ErrorModel]:
    if isinstance(error, ErrorModel):
        return error.with_parameter(name, value)
    return {k: v.with_parameter(name, value) for k, v in error.items()}
