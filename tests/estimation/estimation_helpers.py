"""Data and models shared by the estimation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from compartments import Model
from estimation.error_models import Additive, Combined, ErrorModel, Proportional
from estimation.population import PopulationModel

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


WANG_ERRORS: dict[str, ErrorModel] = {
    "prop": Proportional(float(np.sqrt(0.1))),
    "add": Additive(float(np.sqrt(0.1))),
    "combined2": Combined(float(np.sqrt(0.1)), float(np.sqrt(0.1)), form="variance"),
    "combined1": Combined(float(np.sqrt(0.1)), float(np.sqrt(0.1)), form="sd"),
}


