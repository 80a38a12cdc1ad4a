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


def map_count_fraction() -> float:
    """Memory mappings of this process as a fraction of the kernel's limit (0 where unknown).

    Linux allows a process ``vm.max_map_count`` mappings (65530 by default); XLA:CPU maps
    every compiled program in several pieces, so a long session that compiles hundreds of
    programs approaches the limit, and LLVM aborts the process when a mapping is refused.

    Examples
    --------
    >>> 0.0 <= map_count_fraction() < 1.0
    True
    """
    try:
        limit = int(Path("/proc/sys/vm/max_map_count").read_text())
        with open("/proc/self/maps", "rb") as maps:
            count = sum(1 for _ in maps)
    except (OSError, ValueError):
        return 0.0
    return count / limit if limit > 0 else 0.0


def release_compiled_programs(threshold: float = 0.5) -> bool:
    """Drop JAX's in-memory compiled programs when the process nears its mapping limit.

    Called before a new fit or simulation program is built. The programs are compiled again
    (or read from the persistent cache) when next used; results do not change.

    Parameters
    ----------
    threshold
        Fraction of ``vm.max_map_count`` (see :func:`map_count_fraction`) above which the
        programs are dropped; 0 drops them always.

    Returns
    -------
    bool
        Whether the programs were dropped.

    Examples
    --------
    >>> release_compiled_programs(threshold=1.0)
    False
    """
    if map_count_fraction() < threshold:
        return False
    jax.clear_caches()
    return True


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
