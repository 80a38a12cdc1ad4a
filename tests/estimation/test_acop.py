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

from compartments.propagators import OdeOptions
from estimation.data import read_nonmem
from estimation.fit import evaluate, fit
from estimation.methods import FOCEI
from estimation.results import FitResult

REFERENCE = pd.read_csv(DATA / "acop_nonmem743_focei.csv")
# Oral_1CPTMM (Michaelis-Menten elimination) runs on the ODE path, at the tolerance of the
# NONMEM reference (ADVAN13 TOL=6): relative 1e-6, absolute 1e-9 (amounts in mg). Its fit needs
# the modes searched from eta = 0 as well (FOCEI(zero_eta_start=True), the default): with warm
# starts only, it stopped 132 OFV units above NONMEM's optimum, its modes trapped.
CASES = [("Bolus_1CPT", "full"), ("Oral_1CPT", "full"), ("Bolus_2CPT", "full"), ("Oral_1CPTMM", "SD")]
ODE_OPTIONS = OdeOptions(rtol=1e-6, atol=1e-9)
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
        _FITS[(name, subset)] = fit(acop_model(name), data, FOCEI(), ode_options=ODE_OPTIONS)
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


def test_acop_michaelis_menten_ode_objective_at_nonmem_estimates() -> None:
    """FOCE-I objective of the ODE model at NONMEM's final estimates equals NONMEM's OFV."""
    frame = read_nonmem(DATA / "Oral_1CPTMM.csv").to_dataframe()
    data = read_nonmem(frame[frame["SD"] == 1].reset_index(drop=True))
    ref = reference("Oral_1CPTMM", "SD")
    values = {}
    for _, row in ref.iterrows():
        if row["parameter"] == "prop.err":
            values["prop_sd"] = float(row["theta"])
            continue
        theta = THETA_OF[row["parameter"]]
        values[theta] = float(row["theta"])
        values["eta_" + theta[1:]] = float(row["omega_var"])
    result = evaluate(acop_model("Oral_1CPTMM").with_initial(values), data, FOCEI(covariance=None),
                      ode_options=ODE_OPTIONS)
    assert result.n_obs == int(ref["n_obs"].iloc[0])
    # measured: 19889.7813 against NONMEM's 19889.7811
    assert result.ofv == pytest.approx(float(ref["ofv"].iloc[0]), abs=0.05)
