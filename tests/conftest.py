"""Test-wide settings.

XLA's backend optimisation is lowered for the test run: compiling the fitting programs
dominates the suite's time, and tests check numbers, not speed (speed lives in
benchmarks/, which run with the default, fully optimised compilation).
"""

from __future__ import annotations

import os

os.environ.setdefault(
    "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
)
