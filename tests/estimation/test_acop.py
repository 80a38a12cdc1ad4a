"""ACOP 2016 datasets, proportional error, FOCE-I, against NONMEM 7.4.3
(tests/data/acop_nonmem743_focei.csv, ODE runs).

Tolerances from the issue: OFV within 0.5 of NONMEM, typical values (exp(theta))
within 2%, omegas within 10%, standard errors within 15%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from estimation_helpers import DATA, acop_model

from estimation.data import read_nonmem
from estimation.fit import fit
from estimation.methods import FOCEI
from estimation.results import FitResult

REFERENCE = pd.read_csv(DATA / "acop_nonmem743_focei.csv")
# Oral_1CPTMM SD (ODE path) is not listed yet: its FOCE-I fit did not finish within 30 min on
# the 2-core machine (about 7 min to compile the second-order ODE program, then slow
# evaluations); see the open estimation issue.
CASES = [("Bolus_1CPT", "full"), ("Oral_1CPT", "full"), ("Bolus_2CPT", "full")]
THETA_OF = {"CL": "tcl", "V": "tv", "KA": "tka", "Q": "tq", "V2": "tv2", "VM": "tvm", "KM": "tkm"}

pytestmark = pytest.mark.slow

_FITS: dict[tuple[str, str], FitResult] = {}


def fitted(name: str, subset: str) -> FitResult:
    if (name, subset) not in _FITS:
        path = DATA / f"{name}.csv"
        columns = pd.read_csv(path, nrows=0).columns
        data = read_nonmem(path, drop=[c for c in ("SS", "II") if c in columns])
        if subset == "SD":
            frame = data.to_dataframe()
            data = read_nonmem(frame[frame["SD"] == 1].reset_index(drop=True))
        _FITS[(name, subset)] = fit(acop_model(name), data, FOCEI())
    return _FITS[(name, subset)]


def reference(name: str, subset: str) -> pd.DataFrame:
    rows = REFERENCE[(REFERENCE["dataset"] == name) & (REFERENCE["subset"] == subset)
                     & REFERENCE["run"].str.startswith("runODE")]
    assert len(rows) > 0
    return rows


@pytest.mark.parametrize(("name", "subset"), CASES)
def test_acop_focei_matches_nonmem(name: str, subset: str) -> None:
    result = fitted(name, subset)
    ref = reference(name, subset)
    assert result.converged, result.message
    assert result.n_obs == int(ref["n_obs"].iloc[0])
    assert result.ofv == pytest.approx(float(ref["ofv"].iloc[0]), abs=0.5)
    for _, row in ref.iterrows():
        if row["parameter"] == "prop.err":
            assert result.sigma["prop_sd"] == pytest.approx(row["theta"], rel=0.02)
            assert result.se["prop_sd"] == pytest.approx(row["theta_se"], rel=0.15)
            continue
        theta = THETA_OF[row["parameter"]]
        eta = "eta_" + theta[1:]
        assert np.exp(result.theta[theta]) == pytest.approx(row["estimate"], rel=0.02), theta
        assert result.omega[eta] == pytest.approx(row["omega_var"], rel=0.10), eta
        assert result.se[theta] == pytest.approx(row["theta_se"], rel=0.15), theta
        assert result.se[eta] == pytest.approx(row["omega_var_se"], rel=0.15), eta
