"""Compile a :class:`~compartments.symbolic.SymbolicSystem` into JAX functions.

Every sympy expression is turned into a JAX function once (``lambdify`` with
common-subexpression elimination) and cached per model, so no sympy object is
ever touched inside a numerical loop. The sympy side of the build (the symbolic
system and the generated source of every function, a :class:`ModelBuild`) is also
kept on disk between processes (:mod:`compartments.stored_builds`): a later process
reads it instead of differentiating and simplifying again.
"""

from __future__ import annotations

import builtins
import importlib
import linecache
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType, ModuleType
from typing import Any

import jax.numpy as jnp
import sympy as sp

from compartments import stored_builds
from compartments.graph import TIME, Model
from compartments.linear_spectrum import eigenvalue_function, spectral_blocks
from compartments.symbolic import (
    ClosedForm,
    SymbolicSystem,
    build_system,
    one_compartment_closed_form,
)

Array = jnp.ndarray


@dataclass(frozen=True)
class GeneratedFunction:
    """Python source of one lambdified function and the globals it needs.

    ``globals_`` maps each global name of the source to a module name (``("module",
    name)``), an attribute of a module (``("attribute", module, attribute)``) or the
    object itself (``("value", value)``: constants; anything else that has no module
    path, which makes the build unpicklable and so unstored, never wrong).
    """

    source: str
    globals_: tuple[tuple[str, tuple[Any, ...]], ...]
    shape: tuple[int, ...]


def _global_entry(value: Any) -> tuple[Any, ...]:
    if isinstance(value, ModuleType):
        return ("module", value.__name__)
    module, attribute = getattr(value, "__module__", None), getattr(value, "__name__", None)
    if isinstance(module, str) and isinstance(attribute, str):
        try:
            if getattr(importlib.import_module(module), attribute, None) is value:
                return ("attribute", module, attribute)
        except ImportError:
            pass
    return ("value", value)


def _code_names(code: CodeType) -> set[str]:
    """Global names a code object and the code objects nested in it refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


def _generate(args: list, expr: sp.Matrix, shape: tuple[int, ...]) -> GeneratedFunction:
    raw = sp.lambdify(args, expr, modules="jax", cse=True)
    source = "".join(linecache.getlines(raw.__code__.co_filename))
    names = _code_names(raw.__code__)
    entries = tuple((n, _global_entry(raw.__globals__[n])) for n in sorted(names)
                    if n in raw.__globals__)
    return GeneratedFunction(source, entries, shape)


def _function(generated: GeneratedFunction) -> Callable[..., Array]:
    """The JAX function of generated source (float64, reshaped to ``generated.shape``)."""
    namespace: dict[str, Any] = {"builtins": builtins, "range": range}
    for name, entry in generated.globals_:
        if entry[0] == "module":
            namespace[name] = importlib.import_module(entry[1])
        elif entry[0] == "attribute":
            namespace[name] = getattr(importlib.import_module(entry[1]), entry[2])
        else:
            namespace[name] = entry[1]
    scope: dict[str, Any] = {}
    exec(compile(generated.source, "<popkin generated>", "exec"), namespace, scope)  # noqa: S102
    (raw,) = scope.values()
    shape = generated.shape

    def func(*values: Array) -> Array:
        out = jnp.asarray(raw(*values), dtype=jnp.float64)
        return out.reshape(shape)

    return func


@dataclass(frozen=True)
class ModelBuild:
    """The sympy side of a compiled model: what :func:`compile_model` keeps on disk.

    Attributes
    ----------
    system
        The symbolic ODE system.
    kind
        ``"closed_form"``, ``"linear"`` or ``"ode"`` (see :class:`CompiledModel`).
    blocks
        Diagonal blocks of the linear system matrix with closed-form eigenvalues, or None.
    functions
        Function name -> generated source (``rhs``, ``jacobian``, ``sensitivity_rhs``,
        ``outputs``, ``dose_parameters`` and, where they exist, ``linear_matrix``,
        ``closed_form``, ``closed_form_derivative``).
    """

    system: SymbolicSystem
    kind: str
    blocks: tuple[tuple[int, ...], ...] | None
    functions: dict[str, GeneratedFunction]


def build_model(model: Model) -> ModelBuild:
    """The sympy work of :func:`compile_model`: symbolic system, kind, generated sources.

    Examples
    --------
    >>> from compartments.graph import Model
    >>> m = (Model().compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central/V"))
    >>> sorted(build_model(m).functions)[:3]
    ['closed_form', 'closed_form_derivative', 'dose_parameters']
    """
    system = build_system(model)
    n, m = len(system.states), len(system.params)
    A, p = list(system.states), list(system.params)
    S = list(system.sensitivity_symbols)
    dose = sp.Matrix.hstack(system.bioavailability, system.lag, system.rate, system.duration)
    closed: ClosedForm | None = one_compartment_closed_form(system)
    K = system.linear_matrix
    if closed is not None:
        kind = "closed_form"
    elif K is not None:
        kind = "linear"
    else:
        kind = "ode"
    functions = {
        "rhs": _generate([A, p, TIME], system.rhs, (n,)),
        "jacobian": _generate([A, p, TIME], system.jacobian, (n, n)),
        "sensitivity_rhs": _generate([A, S, p, TIME], system.sensitivity_rhs, (n, m)),
        "outputs": _generate([A, p, TIME], system.outputs, (len(model.outputs),)),
        "dose_parameters": _generate([p], dose, (n, 4)),
    }
    if K is not None:
        functions["linear_matrix"] = _generate([p], K, (n, n))
    if closed is not None:
        cargs = [list(closed.a0), list(closed.r), closed.dt, p]
        functions["closed_form"] = _generate(cargs, closed.solution, (n,))
        functions["closed_form_derivative"] = _generate(cargs, closed.derivative, (n, 2 * n + 1 + m))
    blocks = spectral_blocks(K) if kind == "linear" else None
    return ModelBuild(system, kind, blocks, functions)


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """JAX functions of one model. Obtain with :func:`compile_model` (cached).

    All functions take ``A`` (amounts, shape ``(n_states,)``), ``p`` (parameters,
    shape ``(n_params,)``) and, where relevant, the time ``t``.

    Attributes
    ----------
    kind
        ``"closed_form"`` (one-compartment linear, exact), ``"linear"`` (other
        linear graphs: sum of exponentials when ``linear_eigenvalues`` is set, see
        :mod:`compartments.linear_spectrum`, else the matrix exponential) or ``"ode"``
        (diffrax integration).
    linear_eigenvalues
        Closed-form eigenvalues ``p -> (n,)`` of the linear system matrix, or ``None``.
    """

    model: Model
    system: SymbolicSystem
    kind: str
    rhs: Callable[[Array, Array, Array], Array]
    jacobian: Callable[[Array, Array, Array], Array]
    sensitivity_rhs: Callable[[Array, Array, Array, Array], Array]
    outputs: Callable[[Array, Array, Array], Array]
    dose_parameters: Callable[[Array], Array]
    linear_matrix: Callable[[Array], Array] | None
    closed_form: Callable[[Array, Array, Array, Array], Array] | None
    closed_form_derivative: Callable[[Array, Array, Array, Array], Array] | None
    linear_eigenvalues: Callable[[Array], Array] | None = None

    @property
    def n_states(self) -> int:
        """Number of amount states."""
        return len(self.system.states)

    @property
    def n_params(self) -> int:
        """Number of structural parameters."""
        return len(self.system.params)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in the order of the parameter vector."""
        return tuple(p.name for p in self.system.params)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Compartment names in state order."""
        return tuple(s.name for s in self.system.states)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names."""
        return self.model.output_names

    def param_vector(self, values: dict[str, float]) -> Array:
        """Parameter vector from a ``name -> value`` mapping (all names required).

        Examples
        --------
        >>> from model_library import get  # doctest: +SKIP
        """
        missing = [n for n in self.param_names if n not in values]
        if missing:
            raise KeyError(
                f"missing parameter values {missing} for model {self.model.name!r} "
                f"(parameters: {list(self.param_names)})"
            )
        return jnp.asarray([float(values[n]) for n in self.param_names], dtype=jnp.float64)


@lru_cache(maxsize=128)
def compile_model(model: Model) -> CompiledModel:
    """Build and compile ``model`` (cached per model, and its build on disk).

    Examples
    --------
    >>> from compartments.graph import Model
    >>> m = (Model().compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central/V"))
    >>> compile_model(m).kind
    'closed_form'
    """
    build = stored_builds.load(model)
    if build is None:
        build = build_model(model)
        stored_builds.store(model, build)
    fn = {name: _function(generated) for name, generated in build.functions.items()}
    linear_fn = fn.get("linear_matrix")
    return CompiledModel(
        model=model,
        system=build.system,
        kind=build.kind,
        rhs=fn["rhs"],
        jacobian=fn["jacobian"],
        sensitivity_rhs=fn["sensitivity_rhs"],
        outputs=fn["outputs"],
        dose_parameters=fn["dose_parameters"],
        linear_matrix=linear_fn,
        linear_eigenvalues=None if build.blocks is None else eigenvalue_function(build.blocks, linear_fn),
        closed_form=fn.get("closed_form"),
        closed_form_derivative=fn.get("closed_form_derivative"),
    )
