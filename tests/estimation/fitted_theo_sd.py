"""One FOCE-I fit of theo_sd (oral_1cmt, additive error) per test session, shared by the
plot and report tests (the fit itself is validated in test_theo_sd.py)."""

from __future__ import annotations

from functools import cache

from estimation.data import example_path, read_nonmem
from estimation.error_models import Additive
from estimation.fit import fit
from estimation.results import FitResult
from model_library import get


@cache
def theo_sd_focei() -> FitResult:
    """The fit (computed on first use)."""
    return fit(get("oral_1cmt", error=Additive(0.7)), read_nonmem(example_path("theo_sd")))
