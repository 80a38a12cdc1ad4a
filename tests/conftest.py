"""Test-wide settings.

XLA's backend optimisation is lowered for the fast test run: compiling the fitting
programs dominates its time, and tests check numbers, not speed (speed lives in
benchmarks/, which run with the default, fully optimised compilation). The slow
validation tests (`make test-slow`, POPKIN_TEST_FULL_OPT=1) keep full optimisation:
their long ODE fits are dominated by run time, not compile time.
"""

from __future__ import annotations

import os

if os.environ.get("POPKIN_TEST_FULL_OPT") != "1":
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    )


import pytest  # noqa: E402  (XLA_FLAGS must be set before anything imports jax)


@pytest.fixture(autouse=True)
def _mapping_headroom() -> None:
    """One process runs the whole suite: keep it below the kernel's limit on memory mappings
    (XLA:CPU maps every compiled program; see compartments.jax_config)."""
    from compartments.jax_config import release_compiled_programs

    release_compiled_programs()
