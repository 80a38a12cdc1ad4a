"""Results at fixed parameters shared by the simulation-diagnostics tests (VPC, NPDE, replicates).

Each result is built once per test process (the same model object then reuses compiled code).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from estimation_helpers import WANG_ERRORS, wang_data, wang_model

from estimation.error_models import Proportional
from estimation.fit import evaluate
from estimation.methods import FO, FOCEI
from estimation.population import PopulationModel
from estimation.results import FitResult
from estimation.simulation import simulate_observations

#: the "rich" model: Wang's structure, larger IIV (omega^2 0.3) and a 15% proportional error
RICH_OMEGA = 0.3
RICH_PROP_SD = 0.15


@cache
def wang_result() -> FitResult:
    """Wang 2007, proportional error, at the fixed published values (NONMEM's table run)."""
    return evaluate(wang_model(WANG_ERRORS["prop"]), wang_data(), FOCEI(covariance=None))


@cache
def rich_model() -> PopulationModel:
    """IPRED = AMT exp(-ke t), ke = 0.5 exp(eta), omega^2 0.3, proportional SD 0.15."""
    return wang_model(Proportional(RICH_PROP_SD)).with_initial({"eta": RICH_OMEGA})


def rich_design(n_subjects: int = 60, seed: int = 7) -> pd.DataFrame:
    """Per subject: a dose of 10 (GRP 0) or 20 (GRP 1) at 0, then 4 samples at random times in (0.1, 6)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(1, n_subjects + 1):
        grp = i % 2
        base = {"ID": i, "CMT": 1, "GRP": grp}
        rows.append({**base, "TIME": 0.0, "DV": np.nan, "AMT": 10.0 * (1 + grp), "EVID": 1, "MDV": 1})
        for t in np.sort(np.round(rng.uniform(0.1, 6.0, size=4), 3)):
            rows.append({**base, "TIME": float(t), "DV": 0.0, "AMT": 0.0, "EVID": 0, "MDV": 0})
    return pd.DataFrame(rows)


@cache
def rich_data() -> pd.DataFrame:
    """Observations simulated from :func:`rich_model` on :func:`rich_design` (seed 2024)."""
    sim = simulate_observations(rich_model(), rich_design(), seed=2024)
    return sim.drop(columns=["ETA_eta"])


@cache
def rich_result() -> FitResult:
    """The rich model evaluated (not fitted) on its own simulated data."""
    return evaluate(rich_model(), rich_data(), FO(covariance=None))
