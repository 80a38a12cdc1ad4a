"""Compiled functions whose traced programs are kept on disk between processes.

JAX's persistent compilation cache saves the compile step, but every new process
still traces and lowers each function before it can look the compiled program up:
for a FOCE-I objective with its exact gradient that is several seconds (the
nested ``vmap``/``jacfwd``/``custom_root`` transformations of the solver), against
well under a second to compile from the cache. :class:`StoredJit` also keeps the
lowered program (a serialized :mod:`jax.export` module) under the cache directory,
keyed by everything that determines it:

- the source of popkin's packages and the versions of jax, jaxlib, diffrax,
  equinox, sympy and numpy;
- a name and a ``key`` given by the caller: the model, method, solver options and
  data layout the function was built from (their ``repr``);
- the tree structure, shapes and dtypes of the arguments.

A later process with the same key deserializes the program (milliseconds) and
compiles it from the persistent cache, never tracing the Python function. Where a
program cannot be exported or a stored file cannot be read, the function is traced
and compiled as by :func:`jax.jit` (same results). ``POPKIN_NO_STORED_PROGRAMS=1``
turns the store off (``POPKIN_NO_COMPILE_CACHE=1`` turns it off along with the compile
cache).

Examples
--------
>>> import jax.numpy as jnp
>>> square = StoredJit(lambda x: x ** 2, name="doctest.square", key=())
>>> float(square(jnp.asarray(3.0)))
9.0
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import pickle
import tempfile
from collections.abc import Callable, Hashable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jax
from jax import export

from compartments.jax_config import compile_cache_dir

#: popkin packages whose source determines the traced programs.
_PACKAGES = ("compartments", "estimation", "model_library")
_DEPENDENCIES = ("jax", "jaxlib", "diffrax", "equinox", "sympy", "numpy")
#: Bump when the file format below changes.
_FORMAT = 1


def stored_programs_dir() -> Path:
    """Directory of the stored programs (beside JAX's compilation cache).

    Examples
    --------
    >>> stored_programs_dir().name
    'programs'
    """
    return compile_cache_dir().parent / "programs"


def store_enabled() -> bool:
    """Whether programs are stored (off with ``POPKIN_NO_STORED_PROGRAMS=1`` or
    ``POPKIN_NO_COMPILE_CACHE=1``).

    Examples
    --------
    >>> isinstance(store_enabled(), bool)
    True
    """
    return not (os.environ.get("POPKIN_NO_STORED_PROGRAMS") or os.environ.get("POPKIN_NO_COMPILE_CACHE"))


@lru_cache(maxsize=1)
def code_version() -> str:
    """Digest of popkin's source files and its numerical dependencies' versions.

    Examples
    --------
    >>> len(code_version())
    64
    """
    digest = hashlib.sha256(f"format {_FORMAT}".encode())
    root = Path(__file__).resolve().parent.parent
    for package in _PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    for dist in _DEPENDENCIES:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{dist}=={version}".encode())
    digest.update(f"x64={jax.config.jax_enable_x64} backend={jax.default_backend()}".encode())
    return digest.hexdigest()


class StoredJit:
    """``jax.jit(fn)`` whose lowered programs persist across processes.

    Parameters
    ----------
    fn
        The function (pure, jit-able; arguments are pytrees of arrays, no static
        arguments).
    name
        A label for the function (e.g. ``"focei.value_and_grad"``); part of the key.
    key
        What ``fn`` was built from, as an object with a deterministic ``repr``
        (model, method, options, layout...). Two functions with the same name and key
        must compute the same thing.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> add = StoredJit(lambda a, b: {"sum": a + b}, name="doctest.add", key=("v1",))
    >>> add(jnp.ones(2), jnp.ones(2))["sum"].tolist()
    [2.0, 2.0]
    """

    def __init__(self, fn: Callable[..., Any], *, name: str, key: Hashable) -> None:
        self.fn = fn
        self.name = name
        self.key = key
        self._jitted = jax.jit(fn)
        self._programs: dict[tuple, tuple[Callable[..., Any], Any] | None] = {}

    def __call__(self, *args: Any) -> Any:
        if not store_enabled():
            return self._jitted(*args)
        leaves, in_tree = jax.tree_util.tree_flatten(args)
        # device_put, not jnp.asarray: in JAX 0.10 asarray compiles a staging program for
        # every new host-array shape (10-20 ms each); device_put gives the same dtypes
        arrays = [x if isinstance(x, jax.Array) else jax.device_put(x) for x in leaves]
        signature = (in_tree, tuple((a.shape, str(a.dtype), bool(a.weak_type)) for a in arrays))
        if signature not in self._programs:
            self._programs[signature] = self._program(signature, arrays, in_tree)
        program = self._programs[signature]
        if program is None:
            return self._jitted(*args)
        call, out_tree = program
        return jax.tree_util.tree_unflatten(out_tree, call(*arrays))

    def path(self, signature: tuple) -> Path:
        """File of the stored program for an argument signature."""
        text = repr((code_version(), self.name, self.key, str(signature[0]), signature[1]))
        digest = hashlib.sha256(text.encode()).hexdigest()[:40]
        return stored_programs_dir() / f"{self.name}-{digest}.bin"

    def _program(self, signature: tuple, arrays: list[jax.Array], in_tree: Any
                 ) -> tuple[Callable[..., Any], Any] | None:
        path = self.path(signature)
        loaded = _load(path)
        if loaded is not None:
            exported, out_tree = loaded
            return jax.jit(exported.call), out_tree
        out_trees: list[Any] = []

        def flat(*flat_args: Any) -> tuple[Any, ...]:
            out = self.fn(*jax.tree_util.tree_unflatten(in_tree, flat_args))
            out_leaves, out_tree = jax.tree_util.tree_flatten(out)
            out_trees.append(out_tree)
            return tuple(out_leaves)

        try:
            exported = export.export(jax.jit(flat))(*arrays)
            payload = pickle.dumps((_FORMAT, exported.serialize(), out_trees[-1]))
        except Exception:  # an export limitation (e.g. a host callback): plain jit instead
            return None
        write_atomic(path, payload)
        return jax.jit(exported.call), out_trees[-1]


def _load(path: Path) -> tuple[Any, Any] | None:
    """The stored ``(Exported, output tree)`` at ``path``, or None (absent or unreadable)."""
    try:
        version, blob, out_tree = pickle.loads(path.read_bytes())
        if version != _FORMAT:
            return None
        return export.deserialize(bytearray(blob)), out_tree
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: export again
        return None


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` atomically (readers never see half a file); a read-only or full
    cache directory leaves the file unwritten.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.bin"
    >>> write_atomic(target, b"x"); target.read_bytes()
    b'x'
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".program-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)

