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
