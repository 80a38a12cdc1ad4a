"""Data and models shared by the estimation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from compartments import Model
from estimation.data import Dataset
from estimation.error_models import Additive, Combined, ErrorModel, Proportional
from estimation.evaluator import Evaluator
from estimation.methods import Method
from estimation.population import PopulationModel
from estimation.problem import build_problem

DATA = Path(__file__).resolve().parents[1] / "data"


def wang_data() -> pd.DataFrame:
    """Wang 2007 in NONMEM form: a dose of 10 into a unit-volume compartment, then the samples."""
    raw = pd.read_csv(DATA / "Wang2007.csv")
    rows = []
    for subject, group in raw.groupby("ID", sort=False):
        rows.append({"ID": subject, "TIME": 0.0, "DV": np.nan, "AMT": 10.0, "EVID": 1, "MDV": 1, "CMT": 1})
        for _, r in group.iterrows():
            rows.append({"ID": subject, "TIME": r.Time, "DV": r.Y, "AMT": 0.0, "EVID": 0, "MDV": 0, "CMT": 1})
    return pd.DataFrame(rows)


def wang_model(error: ErrorModel) -> PopulationModel:
    """IPRED = 10 exp(-ke t), ke = theta exp(eta), at Wang's fixed values."""
    structure = (Model("wang2007").compartment("central").elimination("central", k="KE")
                 .dose("central").output("IPRED", "central"))
    return PopulationModel(structure, parameters={"KE": "theta * exp(eta)"}, thetas={"theta": 0.5},
                           omega={"eta": 0.04}, error=error)


def ofv_at_initial(model: PopulationModel, data: Dataset | pd.DataFrame, method: Method) -> float:
    """The OFV of ``method`` at the model's initial values: the objective alone (no gradient
    program, no covariance step or diagnostics)."""
    ev = Evaluator(build_problem(model, data), method)
    return float(np.sum(ev.per_subject(model.space.natural_init(), ev.initial_etas()).ofv))


WANG_ERRORS: dict[str, ErrorModel] = {
    "prop": Proportional(float(np.sqrt(0.1))),
    "add": Additive(float(np.sqrt(0.1))),
    "combined2": Combined(float(np.sqrt(0.1)), float(np.sqrt(0.1)), form="variance"),
    "combined1": Combined(float(np.sqrt(0.1)), float(np.sqrt(0.1)), form="sd"),
}




def acop_model(name: str) -> PopulationModel:
    """The ACOP reference model of dataset ``name``: exp(theta + eta) on every parameter,
    proportional error, NONMEM's initial values (nlmixr2test control streams)."""
    from estimation.error_models import Proportional

    oral = name.startswith("Oral")
    s = Model(name)
    if oral:
        s = s.compartment("depot")
    s = s.compartment("central", volume="V")
    if oral:
        s = s.flow("depot", "central", k="KA")
    if "MM" in name:
        s = s.elimination("central", rate="VM * C / (KM + C)")
        params = {"VM": "exp(tvm + eta_vm)", "KM": "exp(tkm + eta_km)", "V": "exp(tv + eta_v)"}
        thetas = {"tvm": 7.0, "tkm": 5.7, "tv": 4.5}
    else:
        s = s.elimination("central", cl="CL")
        params = {"CL": "exp(tcl + eta_cl)", "V": "exp(tv + eta_v)"}
        thetas = {"tcl": 1.6, "tv": 4.5}
    if "2CPT" in name:
        s = (s.compartment("peripheral1", volume="V2")
             .flow("central", "peripheral1", cl="Q").flow("peripheral1", "central", cl="Q"))
        params.update(Q="exp(tq + eta_q)", V2="exp(tv2 + eta_v2)")
        thetas.update(tq=1.6, tv2=4.0)
    if oral:
        params["KA"] = "exp(tka + eta_ka)"
        thetas["tka"] = 0.2
    s = s.dose("depot" if oral else "central").output("Cc", "central / V")
    omega = {"eta_" + k[1:]: 0.1 for k in thetas}
    return PopulationModel(s, parameters=params, thetas=thetas, omega=omega, error=Proportional(0.3))
