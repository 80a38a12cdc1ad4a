"""JAX configuration applied when popkin is imported.

popkin computes in float64 (pharmacokinetic objective functions lose accuracy in
float32) and keeps JAX's persistent compilation cache under the user's cache
directory so that a second process does not recompile the same functions.

Set ``POPKIN_NO_COMPILE_CACHE=1`` to disable the persistent cache and
``POPKIN_CACHE_DIR`` to move it.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


def compile_cache_dir() -> Path:
    """Directory of JAX's persistent compilation cache used by popkin.

    Examples
    --------
    >>> compile_cache_dir().name
    'jax'
    """
    root = os.environ.get("POPKIN_CACHE_DIR")
    if root is None:
        import platformdirs

        root = platformdirs.user_cache_dir("popkin")
    return Path(root) / "jax"


def configure() -> None:
    """Enable float64 and the persistent compilation cache (idempotent)."""
    jax.config.update("jax_enable_x64", True)
    if os.environ.get("POPKIN_NO_COMPILE_CACHE"):
        return
    path = compile_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


configure()
