"""When ``fit`` stops: the iteration limit and the gradient tolerance (Wang 2007, FOCE-I),
and a start where the objective is not finite.

- ``max_iter`` reached: not converged, and the message names the limit;
- ``gtol`` below ``GTOL_FLOOR`` acts as the floor (documented in ``fit``): searching
  further only spends evaluations;
- a non-finite OFV at the initial values stops FOCE-I and SAEM before they start, naming
  the records (estimation.start_check).
"""

from __future__ import annotations

import pandas as pd
import pytest
from estimation_helpers import wang_model

import estimation.fit
from estimation.error_models import Proportional
from estimation.fit import GTOL_FLOOR, fit
from estimation.methods import FOCEI, SAEM


def test_iteration_limit_is_not_convergence(wang: pd.DataFrame) -> None:
    result = fit(wang_model(Proportional(0.3)), wang, FOCEI(max_iter=2, covariance=None))
    assert not result.converged
    assert result.iterations == 2
    assert result.message.startswith("maximum number of iterations (2) reached; largest gradient ")
    assert "NOT CONVERGED" in result.summary().splitlines()[0]


def test_gtol_floor_only_saves_evaluations(wang: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """Searching below the floor lowers the OFV by less than 1e-8 and moves no estimate by
    more than 1e-3 of its standard error (measured: 2e-9 and 1.2e-5 SE, 11 objective
    evaluations with the floor, 19 without)."""
    model = wang_model(Proportional(0.3))
    floored = fit(model, wang, FOCEI(gtol=GTOL_FLOOR / 1000))
    monkeypatch.setattr(estimation.fit, "GTOL_FLOOR", 0.0)
    unfloored = fit(model, wang, FOCEI(gtol=GTOL_FLOOR / 1000, covariance=None))
    assert floored.converged and unfloored.converged
    assert floored.gradient_max <= GTOL_FLOOR
    assert unfloored.ofv == pytest.approx(floored.ofv, abs=1e-8)
    moved = {**unfloored.theta, **unfloored.omega, **unfloored.sigma}
    for name, value in {**floored.theta, **floored.omega, **floored.sigma}.items():
        assert abs(moved[name] - value) < 1e-3 * floored.se[name], name
    assert unfloored.evaluations > floored.evaluations


@pytest.mark.parametrize("method", [FOCEI(), SAEM()], ids=["focei", "saem"])
def test_a_start_with_zero_residual_variance_names_the_records(method) -> None:  # type: ignore[no-untyped-def]
    """Proportional error on theo_sd: the samples at the time of the oral dose are predicted
    as 0, so their residual SD is 0 and the OFV is not finite; the fit refuses to start and
    names those rows (the TIME 0 record of each of the 12 subjects)."""
    from estimation.data import example_path, read_nonmem
    from estimation.problem import ProblemError
    from model_library import get

    data = read_nonmem(example_path("theo_sd"))
    with pytest.raises(ProblemError, match=r"12 observation\(s\) have a residual variance of 0 .*"
                                           r"rows 2, 14, 26, 38, 50, \.\.\. \(at times 0\)"):
        fit(get("oral_1cmt", error=Proportional(0.2)), data, method)
