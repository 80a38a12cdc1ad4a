"""The parameter table: back-transforms and BSV by the scale of each individual parameter.

A fraction ``F1 = expit(tf1 + eta_f1)`` (logit-normal, as model_library's ``parallel_1cmt``)
is reported as expit of the estimate and of the logit-scale CI bounds, with its BSV as the
SD on the logit scale; a log-normal ``CL = exp(tcl + eta_cl)`` as exp and CV%
sqrt(exp(omega^2) - 1). Reference values from scipy.special.expit and numpy, at fixed
parameters and standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from compartments import Model
from estimation.error_models import Additive
from estimation.fit import evaluate
from estimation.methods import FOCEI
from estimation.parameters import Theta
from estimation.population import PopulationModel
from estimation.results import parameter_table

TF1, OMEGA_F1, OMEGA_CL = float(logit(0.3)), 0.16, 0.09


def fraction_model() -> PopulationModel:
    """IV bolus with bioavailable fraction F1 (logit-normal), log-normal CL, fixed V and SD."""
    structure = (Model("fraction").compartment("central", volume="V").elimination("central", cl="CL")
                 .dose("central", f="F1").output("Cc", "central / V"))
    return PopulationModel(
        structure,
        parameters={"F1": "expit(tf1 + eta_f1)", "CL": "exp(tcl + eta_cl)", "V": "exp(tv)"},
        thetas={"tf1": TF1, "tcl": math.log(2.0), "tv": Theta(math.log(10.0), fixed=True)},
        omega={"eta_f1": OMEGA_F1, "eta_cl": OMEGA_CL},
        error=Additive(0.5, fixed=True),
    )


def test_logit_theta_is_back_transformed_by_expit_with_its_ci() -> None:
    model = fraction_model()
    se = {"tf1": 0.25, "tcl": 0.1, "omega(eta_f1)": 0.05, "omega(eta_cl)": 0.02}
    table = parameter_table(model, model.space.natural_init(), se, {"eta_f1": 12.0}).set_index("parameter")
    f1 = table.loc["tf1"]
    assert f1["back_transformed"] == pytest.approx(0.3, rel=1e-12)
    assert f1["ci_low"] == pytest.approx(expit(TF1 - 1.96 * 0.25), rel=1e-12)
    assert f1["ci_high"] == pytest.approx(expit(TF1 + 1.96 * 0.25), rel=1e-12)
    assert f1["bsv"] == pytest.approx(math.sqrt(OMEGA_F1), rel=1e-12)
    assert f1["bsv_kind"] == "SD (logit)"
    assert f1["shrinkage_pct"] == 12.0
    cl = table.loc["tcl"]
    assert cl["back_transformed"] == pytest.approx(2.0, rel=1e-12)
    assert cl["ci_low"] == pytest.approx(math.exp(math.log(2.0) - 1.96 * 0.1), rel=1e-12)
    assert cl["bsv"] == pytest.approx(100 * math.sqrt(math.exp(OMEGA_CL) - 1), rel=1e-12)
    assert cl["bsv_kind"] == "CV%"
    # a variance is reported as it is
    assert table.loc["omega(eta_f1)", "back_transformed"] == OMEGA_F1
    assert table.loc["omega(eta_f1)", "ci_low"] == pytest.approx(OMEGA_F1 - 1.96 * 0.05)


def test_fixed_parameters_are_marked_and_have_no_standard_error() -> None:
    model = fraction_model()
    table = parameter_table(model, model.space.natural_init(), {"tf1": 0.25}, {}).set_index("parameter")
    assert table["fixed"].to_dict() == {
        "tf1": False, "tcl": False, "tv": True, "omega(eta_f1)": False, "omega(eta_cl)": False,
        "add_sd": True,
    }
    for name in ("tv", "add_sd"):
        assert np.isnan(table.loc[name, ["se", "rse_pct", "ci_low", "ci_high"]].astype(float)).all()
    assert table.loc["tv", "back_transformed"] == pytest.approx(10.0, rel=1e-12)
    assert table.loc["add_sd", "estimate"] == 0.5


def test_summary_prints_logit_bsv_and_fixed_parameters() -> None:
    """evaluate() on two subjects: its table is parameter_table's, and the summary shows the
    BSV kind and NONMEM's FIX."""
    times = [0.5, 1, 2, 4, 8]
    rows = []
    for subject, scale in ((1, 1.0), (2, 1.3)):
        rows.append({"ID": subject, "TIME": 0.0, "DV": np.nan, "AMT": 100.0, "EVID": 1, "MDV": 1, "CMT": 1})
        rows += [{"ID": subject, "TIME": t, "DV": scale * 3.0 * math.exp(-0.2 * t), "AMT": 0.0, "EVID": 0,
                  "MDV": 0, "CMT": 1} for t in times]
    result = evaluate(fraction_model(), pd.DataFrame(rows), FOCEI(covariance=None))
    assert result.n_estimated == 4
    expected = parameter_table(result.model, result.model.space.natural_init(),
                               {}, result.eta_shrinkage)
    pd.testing.assert_frame_equal(result.parameters, expected)
    lines = {line.split()[0]: line for line in result.summary().splitlines()[6:] if line.strip()}
    assert "SD (logit)" in lines["tf1"] and "CV%" in lines["tcl"]
    assert "FIX" in lines["tv"] and "FIX" in lines["add_sd"] and "FIX" not in lines["tcl"]
