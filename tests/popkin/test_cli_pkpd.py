"""Joint PK/PD data on the command line: ``--output-column DVID`` in ``popkin simulate``,
``popkin fit`` and (through results.json) ``popkin vpc``.

The data are simulated with popkin from the library model ``iv_1cmt_emax`` (truth: its
initial values) on a design of 30 subjects, three dose levels, PK and PD samples at the
same times; the fit must recover the typical values within 15% (sampling error of 30
subjects at 30% CV is about 5-6%).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import run

from estimation.vpc import vpc
from model_library import get
from popkin.commands.run_record import load_fit

#: validation fits (minutes with a cold compile cache): run by `make test-slow` in CI
pytestmark = pytest.mark.slow

TIMES = (0.25, 0.5, 1, 2, 4, 8, 12, 24)


def _design(path: Path) -> None:
    rows = []
    for i in range(1, 31):
        dose = (10.0, 100.0, 1000.0)[i % 3]
        rows.append({"ID": i, "TIME": 0.0, "DV": ".", "AMT": dose, "EVID": 1, "MDV": 1, "CMT": 1, "DVID": 1})
        for t in TIMES:
            for dvid in (1, 2):
                rows.append({"ID": i, "TIME": t, "DV": ".", "AMT": 0, "EVID": 0, "MDV": 0, "CMT": 1,
                             "DVID": dvid})
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.fixture(scope="module")
def pkpd_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("pkpd")
    design = root / "design.csv"
    _design(design)
    sim = root / "sim.csv"
    simulated = run("simulate", str(design), "--model", "iv_1cmt_emax", "--variability", "full",
                    "--output-column", "DVID", "--seed", "3", "--out", str(sim))
    fitted = run("fit", str(sim), "--model", "iv_1cmt_emax", "--output-column", "DVID", "--no-plots",
                 "--quiet", "--out", str(root / "fit"))
    return {"root": root, "simulated": simulated, "sim": sim, "fitted": fitted}


def test_simulate_draws_each_observation_from_its_own_output(pkpd_runs: dict) -> None:
    assert pkpd_runs["simulated"].code == 0, pkpd_runs["simulated"].stderr
    table = pd.read_csv(pkpd_runs["sim"])
    obs = table[table["EVID"] == 0]
    # DV of a PK record scatters around Cc (proportional error), of a PD record around E
    # (additive error, SD 0.5): the other output is far away on most records
    pk, pd_ = obs[obs["DVID"] == 1], obs[obs["DVID"] == 2]
    assert np.median(np.abs(np.log(pk["DV"] / pk["Cc"]))) < 0.15
    assert np.median(np.abs(pd_["DV"] - pd_["E"])) < 0.5
    assert np.median(np.abs(pd_["DV"] - pd_["Cc"])) > 1.0


def test_fit_uses_the_output_column_and_recovers_the_truth(pkpd_runs: dict) -> None:
    fitted = pkpd_runs["fitted"]
    assert fitted.code == 0, fitted.stderr
    results = json.loads((fitted.out / "results.json").read_text())
    assert results["output_column"] == "DVID"
    assert results["converged"], results["message"]
    truth = get("iv_1cmt_emax").space
    natural = dict(zip(truth.natural_names, truth.natural_init(), strict=True))
    for name in ("tcl", "tv", "te0", "temax"):
        # log-scale thetas: exp(estimate) within 15% of exp(truth)
        assert np.exp(results["theta"][name] - natural[name]) == pytest.approx(1.0, abs=0.15), name
    run_json = json.loads((fitted.out / "run.json").read_text())
    assert run_json["options"]["output_column"] == "DVID"


def test_vpc_of_a_pkpd_fit_has_one_panel_per_output(pkpd_runs: dict) -> None:
    folder = pkpd_runs["fitted"].out
    checked = run("vpc", str(folder), "--n", "20", "--kind", "vpc", "--quiet")
    assert checked.code == 0, checked.stderr
    assert (folder / "plots" / "vpc.png").is_file()
    check = vpc(load_fit(folder), n_replicates=20, seed=1)
    assert check.settings["stratify"] == "DVID"
    assert sorted(check.observed["stratum"].unique().tolist()) == [1, 2]


def test_a_missing_output_column_is_a_clear_input_error(pkpd_runs: dict) -> None:
    bad = run("fit", str(pkpd_runs["sim"]), "--model", "iv_1cmt_emax", "--output-column", "YTYPE",
              "--quiet", "--out", str(pkpd_runs["root"] / "bad"))
    assert bad.code == 2
    assert "YTYPE" in bad.stderr and "DVID" in bad.stderr
    assert not (pkpd_runs["root"] / "bad").exists()
