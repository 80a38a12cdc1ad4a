"""The model registry: find library models by name or tag, add your own.

A registered model is a *factory*: a callable returning a
:class:`~estimation.population.PopulationModel` (library factories take an
optional ``error=`` error model). :func:`get` calls it; keyword options are
passed through. Users extend the library with :func:`register` (a call or a
decorator) or keep models in their own files and load them with
:func:`load_user_model` (what ``popkin fit --model my_models.py:NAME`` does).

Examples
--------
>>> from model_library import get, search
>>> get("oral_1cmt").structure.compartment_names
('depot', 'central')
>>> [info.name for info in search("2cmt", "first-order-absorption")]
['oral_2cmt', 'oral_2cmt_lag']
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, overload

from estimation.population import PopulationModel

Factory = Callable[..., PopulationModel]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ModelLibraryError(LookupError):
    """A model cannot be found, loaded or built (unknown name, missing file, wrong type)."""


class ModelInfo(NamedTuple):
    """One registry entry as listed by :func:`list_models` and :func:`search`."""

    name: str
    tags: tuple[str, ...]
    description: str


class _Entry(NamedTuple):
    factory: Factory
    info: ModelInfo


_REGISTRY: dict[str, _Entry] = {}


# ------------------------------------------------------------------ registering
@overload
def register(
    name: str, factory: None = None, *, tags: tuple[str, ...] | list[str] = (), description: str = "",
    replace: bool = False,
) -> Callable[[Factory], Factory]: ...


@overload
def register(
    name: str, factory: Factory, *, tags: tuple[str, ...] | list[str] = (), description: str = "",
    replace: bool = False,
) -> Factory: ...


def register(
    name: str,
    factory: Factory | None = None,
    *,
    tags: tuple[str, ...] | list[str] = (),
    description: str = "",
    replace: bool = False,
) -> Factory | Callable[[Factory], Factory]:
    """Add a model factory to the registry (a plain call or a decorator).

    Parameters
    ----------
    name
        Registry name (letters, digits and ``_``, starting with a letter).
    factory
        Callable returning a :class:`~estimation.population.PopulationModel`;
        omit it to use ``register`` as a decorator.
    tags
        Search keywords (e.g. ``("pk", "oral", "1cmt")``); stored lower case.
    description
        One line for :func:`list_models`; default: the first line of the
        factory's docstring.
    replace
        Allow replacing another factory registered under ``name``. Re-running
        the same definition (same module and qualified name, e.g. loading a
        user file twice) replaces it without this flag.

    Returns
    -------
    callable
        ``factory`` unchanged (so the decorator leaves the function usable).

    Raises
    ------
    ValueError
        On an invalid name, or a name already used by another factory.

    Examples
    --------
    >>> from model_library import get
    >>> @register("my_oral", tags=("pk", "mine"), replace=True)
    ... def my_oral(error=None):
    ...     '''Theophylline model with my starting values.'''
    ...     return get("oral_1cmt", error=error).with_initial({"tcl": 1.1})
    >>> get("my_oral").thetas["tcl"].init
    1.1
    >>> unregister("my_oral")
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid model name {name!r}: use letters, digits and _, starting with a letter")

    def add(fn: Factory) -> Factory:
        if not callable(fn):
            raise TypeError(f"register({name!r}): the factory must be callable, got {type(fn).__name__}")
        old = _REGISTRY.get(name)
        if old is not None and not replace and not _same_definition(old.factory, fn):
            raise ValueError(
                f"a model named {name!r} is already registered ({_where(old.factory)}); "
                "choose another name or pass replace=True"
            )
        text = description or _first_line(fn.__doc__)
        info = ModelInfo(name, tuple(str(t).lower() for t in tags), text)
        _REGISTRY[name] = _Entry(fn, info)
        return fn

    if factory is None:
        return add
    return add(factory)


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (no error if it is absent).

    Examples
    --------
    >>> unregister("no_such_model")
    """
    _REGISTRY.pop(name, None)


# --------------------------------------------------------------------- queries
def get(name: str, **options: Any) -> PopulationModel:
    """Build the registered model ``name``.

    Parameters
    ----------
    name
        A registry name (see :func:`list_models`).
    **options
        Passed to the factory; library models accept ``error=`` (an
        :class:`~estimation.error_models.ErrorModel`).

    Returns
    -------
    PopulationModel

    Raises
    ------
    ModelLibraryError
        If no model has that name (the message lists the available ones) or
        the factory does not return a ``PopulationModel``.

    Examples
    --------
    >>> from estimation.error_models import Proportional
    >>> get("iv_1cmt", error=Proportional(0.2)).space.sigma_names
    ('prop_sd',)
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        close = [n for n in sorted(_REGISTRY) if name.lower() in n.lower() or n.lower() in name.lower()]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ModelLibraryError(
            f"no model named {name!r} in the model library{hint}; available: {', '.join(sorted(_REGISTRY))}. "
            "A model in your own file is given as path/to/file.py:NAME"
        )
    model = entry.factory(**options)
    if not isinstance(model, PopulationModel):
        raise ModelLibraryError(
            f"the factory of model {name!r} ({_where(entry.factory)}) returned "
            f"{type(model).__name__}, expected a PopulationModel"
        )
    return model


def documentation(name: str) -> str:
    """The documentation of model ``name``: its factory's docstring, dedented.

    Examples
    --------
    >>> documentation("iv_1cmt").splitlines()[0]
    'One-compartment model with intravenous bolus or infusion (NONMEM ADVAN1 TRANS2).'
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        get(name)  # raises with the list of names
    return inspect.cleandoc(entry.factory.__doc__ or "") if entry else ""


def list_models() -> list[ModelInfo]:
    """All registered models as ``(name, tags, description)``, sorted by name.

    Examples
    --------
    >>> [m.name for m in list_models()][:3]
    ['infusion_1cmt', 'iv_1cmt', 'iv_1cmt_effect_cmt_emax']
    """
    return [_REGISTRY[n].info for n in sorted(_REGISTRY)]


def search(*tags: str) -> list[ModelInfo]:
    """Registered models carrying every one of ``tags`` (case-insensitive).

    Examples
    --------
    >>> [m.name for m in search("oral", "linear", "2cmt")]
    ['oral_2cmt', 'oral_2cmt_lag', 'zero_order_2cmt']
    >>> [m.name for m in search("iv", "1cmt", "linear", "pk")][:3]
    ['infusion_1cmt', 'iv_1cmt', 'iv_1cmt_effect_cmt_emax']
    """
    wanted = {t.lower() for t in tags}
    return [info for info in list_models() if wanted <= set(info.tags)]


# ------------------------------------------------------------------ user files
def load_user_model(spec: str, **options: Any) -> PopulationModel:
    """Load a model from a Python file: ``"path/to/file.py:NAME"``.

    The file is imported by path (it need not be on ``sys.path``). ``NAME`` is
    looked up as

    1. an attribute of the file: a :class:`~estimation.population.PopulationModel`
       is returned as it is; a callable is called with ``**options`` and must
       return a ``PopulationModel``;
    2. otherwise a model the file registered with :func:`register` under that
       name.

    Parameters
    ----------
    spec
        ``path/to/file.py:NAME`` (the last ``:`` separates the name).
    **options
        Passed to a factory (an error for a ready model object).

    Returns
    -------
    PopulationModel

    Raises
    ------
    ModelLibraryError
        If the spec has no ``:NAME``, the file does not exist or fails to
        import, ``NAME`` is not defined there, or it is not a model or factory.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "my_models.py"
    >>> _ = path.write_text("from model_library import get\\nmodel = get('iv_2cmt')\\n")
    >>> load_user_model(f"{path}:model").structure.name
    'iv_2cmt'
    """
    if ":" not in spec:
        raise ModelLibraryError(
            f"model {spec!r}: give a library name (see `popkin models`) or path/to/file.py:NAME"
        )
    path_text, name = spec.rsplit(":", 1)
    if not name or not path_text:
        raise ModelLibraryError(f"model {spec!r}: expected path/to/file.py:NAME")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ModelLibraryError(f"model {spec!r}: no file {str(path)!r}")
    before = {n: e.factory for n, e in _REGISTRY.items()}
    module = _import_file(path)
    if hasattr(module, name):
        obj = getattr(module, name)
        where = f"{path}:{name}"
    elif name in _REGISTRY and _REGISTRY[name].factory is not before.get(name):
        obj = _REGISTRY[name].factory
        where = f"{path}: registered model {name}"
    else:
        defined = sorted(k for k, v in vars(module).items() if _is_candidate(k, v, module))
        raise ModelLibraryError(
            f"model {spec!r}: {path.name} defines no {name!r}; models and functions defined there: "
            f"{', '.join(defined) or '(none)'}"
        )
    if isinstance(obj, PopulationModel):
        if options:
            raise ModelLibraryError(
                f"model {where} is a ready PopulationModel, it takes no options ({sorted(options)})"
            )
        return obj
    if callable(obj) and not isinstance(obj, type):
        try:
            model = obj(**options)
        except TypeError as err:
            raise ModelLibraryError(f"model {where}: calling it failed: {err}") from err
        if isinstance(model, PopulationModel):
            return model
        raise ModelLibraryError(
            f"model {where}: the function returned {type(model).__name__}, expected a PopulationModel"
        )
    raise ModelLibraryError(
        f"model {where} is a {type(obj).__name__}; expected a PopulationModel or a function returning one"
    )


def _import_file(path: Path) -> Any:
    """Import the Python file at ``path`` under a name derived from its absolute path."""
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"popkin_user_model_{re.sub(r'[^A-Za-z0-9_]', '_', resolved.stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise ModelLibraryError(f"cannot import {str(path)!r} as a Python module (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(module_name, None)
        raise ModelLibraryError(f"importing {str(path)!r} failed: {type(err).__name__}: {err}") from err
    return module


# -------------------------------------------------------------------- helpers
def _is_candidate(name: str, value: Any, module: Any) -> bool:
    """A public model, or a function defined in ``module`` (listed when NAME is missing)."""
    if name.startswith("_"):
        return False
    if isinstance(value, PopulationModel):
        return True
    return callable(value) and getattr(value, "__module__", None) == module.__name__


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


def _where(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _same_definition(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    return a is b or (
        getattr(a, "__module__", None) is not None
        and getattr(a, "__module__", None) == getattr(b, "__module__", None)
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
    )
