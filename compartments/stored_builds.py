"""Symbolic model builds kept on disk between processes.

Building a model (:func:`compartments.compiled.build_model`) is sympy work: the ODE
right-hand side with its Jacobian and sensitivity equations, simplification, the
one-compartment closed form and the generated source of every JAX function, about a
second for a two-compartment model. The result, a
:class:`~compartments.compiled.ModelBuild` (sympy objects and Python source text), is
pickled beside the stored programs (:func:`~compartments.stored_programs.stored_programs_dir`),
keyed by the model's ``repr`` and :func:`~compartments.stored_programs.code_version`
(popkin's source and the sympy and JAX versions), so that a later process with the same
model reads it instead of building again. Off with ``POPKIN_NO_STORED_PROGRAMS=1`` or
``POPKIN_NO_COMPILE_CACHE=1``, like the stored programs.

Examples
--------
>>> from compartments.graph import Model
>>> m = (Model("doc").compartment("central", volume="V").elimination("central", cl="CL")
...      .dose("central").output("Cc", "central/V"))
>>> path(m).suffix
'.pkl'
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

from compartments.stored_programs import code_version, store_enabled, stored_programs_dir, write_atomic

if TYPE_CHECKING:
    from compartments.compiled import ModelBuild
    from compartments.graph import Model

#: Bump when the stored layout of a ModelBuild changes.
_FORMAT = 1


def path(model: Model) -> Path:
    """File of the stored build of ``model``."""
    digest = hashlib.sha256(repr((_FORMAT, code_version(), repr(model))).encode()).hexdigest()[:40]
    return stored_programs_dir() / f"model-{digest}.pkl"


def load(model: Model) -> ModelBuild | None:
    """The stored build of ``model``, or None (store off, absent, unreadable or another model)."""
    if not store_enabled():
        return None
    try:
        stored_repr, build = pickle.loads(path(model).read_bytes())
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: build again
        return None
    return build if stored_repr == repr(model) else None


def store(model: Model, build: ModelBuild) -> None:
    """Keep ``build`` for later processes (nothing happens when the store is off or the
    build cannot be pickled)."""
    if not store_enabled():
        return
    try:
        payload = pickle.dumps((repr(model), build))
    except Exception:  # e.g. a user function in an expression that pickle cannot name
        return
    write_atomic(path(model), payload)
