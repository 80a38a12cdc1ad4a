"""Stochastic simulation and estimation: the summary formulas, a small run on a 2-worker
LocalCluster (reproducible per replicate, resumable), the ``popkin sse`` command, and a slow
statistical check that FOCE-I recovers a known truth with about nominal coverage.

Model: one compartment IV, ``KE = theta * exp(eta)``, proportional error (Wang 2007's
model), on a design of Wang 2007's sampling times. The tests on the cluster are marked slow
(``make test-slow``, run by CI), as in ``test_bootstrap.py``: the summary formulas and input
checks stay in the fast suite.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from estimation_helpers import WANG_ERRORS, wang_data, wang_model

from estimation.cluster import dask_client
from estimation.methods import FO, FOCEI
from estimation.sse import SSEResult, sse, sse_frame, sse_replicate

SEED = 77
#: both without covariance step (coverage needs it: see the slow test); FO is cheap to compile
METHODS = (FOCEI(covariance=None), FO(covariance=None))


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2) as c:
        yield c


def truth_model():
    return wang_model(WANG_ERRORS["prop"]).with_initial({"theta": 0.5, "eta": 0.09, "prop_sd": 0.1})


def design(n_subjects: int) -> pd.DataFrame:
    """Wang 2007's sampling schedule repeated for ``n_subjects`` subjects."""
    one = wang_data()
    one = one[one["ID"] == one["ID"].iloc[0]]
    return pd.concat([one.assign(ID=i) for i in range(1, n_subjects + 1)], ignore_index=True)


# ------------------------------------------------------------------ the summary
def test_bias_rmse_and_coverage_formulas() -> None:
    records = [
        {"index": 0, "fits": {"FOCE-I": {"status": "ok", "converged": True, "ofv": 1.0,
                                         "estimates": {"a": 1.2}, "se": {"a": 0.1}}}},
        {"index": 1, "fits": {"FOCE-I": {"status": "ok", "converged": False, "ofv": 2.0,
                                         "estimates": {"a": 0.9}, "se": {"a": 0.2}}}},
        {"index": 2, "fits": {"FOCE-I": {"status": "ok", "converged": True, "ofv": 3.0,
                                         "estimates": {"a": 1.0}, "se": {"a": None}}}},
        {"index": 3, "fits": {"FOCE-I": {"status": "failed", "converged": False, "error": "boom"}}},
        {"index": 4, "status": "failed", "error": "simulation failed", "fits": {}},
    ]
    frame = sse_frame(records, {"a": 1.0}, ["FOCE-I"])
    result = SSEResult(truth={"a": 1.0}, methods=("FOCE-I",), replicates=frame, level=0.95, folder=Path("."))
    row = result.table().iloc[0]
    err = np.array([0.2, -0.1, 0.0])
    assert row["mean"] == pytest.approx(1.0 + err.mean(), rel=1e-14)
    assert row["bias"] == pytest.approx(err.mean(), rel=1e-14)
    assert row["rel_bias_pct"] == pytest.approx(100 * err.mean(), rel=1e-14)
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-14)
    # |0.2| > 1.96 * 0.1 (not covered), |-0.1| <= 1.96 * 0.2 (covered); no SE: not counted
    assert (row["coverage"], row["n"], row["n_se"]) == (0.5, 3, 2)
    assert result.table(converged_only=True).iloc[0]["n"] == 2
    counts = result.counts().iloc[0]
    assert (counts["replicates"], counts["converged"], counts["failed"]) == (5, 2, 2)
    assert frame.loc[4, "error"] == "simulation failed" and frame.loc[3, "error"] == "boom"


# ------------------------------------------------------------ runs on the cluster
@pytest.fixture(scope="module")
def run(client, tmp_path_factory):
    out = tmp_path_factory.mktemp("sse")
    return sse(truth_model(), design(12), 2, METHODS, seed=SEED, out=out, client=client, progress=None)


@pytest.mark.slow
def test_sse_run_is_persisted_per_replicate(run) -> None:
    files = sorted((run.folder / "replicates").glob("*.json"))
    assert [f.name for f in files] == ["000000.json", "000001.json"]
    assert run.n == 2 and run.methods == ("FOCE-I", "FO")
    counts = run.counts().set_index("method")
    assert counts["replicates"].tolist() == [2, 2] and counts["failed"].tolist() == [0, 0]
    table = run.table().set_index(["method", "parameter"])
    assert table.loc[("FOCE-I", "theta"), "true"] == 0.5
    reps = run.replicates[run.replicates["method"] == "FOCE-I"]
    assert table.loc[("FOCE-I", "theta"), "bias"] == pytest.approx(reps["theta"].mean() - 0.5, rel=1e-12)
    assert table.loc[("FOCE-I", "theta"), "n_se"] == 0  # no covariance step: no coverage
    assert np.isnan(table.loc[("FOCE-I", "theta"), "coverage"])
    saved = json.loads((run.folder / "summary.json").read_text())
    assert saved["n"] == 2 and len(saved["parameters"]) == 6


@pytest.mark.slow
def test_an_sse_replicate_does_not_depend_on_where_it_ran(run) -> None:
    stored = json.loads((run.folder / "replicates" / "000001.json").read_text())
    frame = design(12)
    local = sse_replicate(1, truth_model(), truth_model(), frame, [FOCEI(covariance=None)], SEED)
    assert local["replicate_seed"] == stored["replicate_seed"]
    for name, value in stored["fits"]["FOCE-I"]["estimates"].items():
        assert local["fits"]["FOCE-I"]["estimates"][name] == pytest.approx(value, rel=1e-5)


@pytest.mark.slow
def test_sse_resume_keeps_finished_replicates(run, client) -> None:
    before = {p.name: p.read_text() for p in (run.folder / "replicates").iterdir()}
    more = sse(truth_model(), design(12), 3, METHODS, seed=SEED, out=run.folder, client=client,
               progress=None, resume=True)
    after = {p.name: p.read_text() for p in (run.folder / "replicates").iterdir()}
    assert all(after[name] == text for name, text in before.items())
    assert sorted(after) == [f"{i:06d}.json" for i in range(3)] and more.n == 3


def _parser() -> argparse.ArgumentParser:
    from popkin.scaleout_cli import add_subcommands

    parser = argparse.ArgumentParser(prog="popkin")
    add_subcommands(parser.add_subparsers(dest="command"))
    return parser


def test_cli_sse_reports_bad_input(tmp_path: Path, capsys) -> None:
    parser = _parser()
    out = ["--out", str(tmp_path / "sse")]
    args = parser.parse_args(["sse", "theo_sd", "--model", "oral_1cmt", "--methods", "focei,nonsense", *out])
    assert args.handler(args) == 2
    assert "unknown method 'nonsense'" in capsys.readouterr().err
    args = parser.parse_args(["sse", str(tmp_path / "none.csv"), "--model", "oral_1cmt", *out])
    assert args.handler(args) == 2
    assert "invalid design: no data file" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_sse_and_known_truth_recovered_with_nominal_coverage(client, tmp_path: Path, capsys) -> None:
    """40 datasets of 30 subjects from a known truth, FOCE-I with the sandwich covariance
    step: theta is unbiased within 3 Monte-Carlo SEs, and the 95% Wald interval of theta
    covers the truth in 80-100% of the replicates (binomial 95% range for n=40: 85-100%)."""
    csv = tmp_path / "design.csv"
    design(30).to_csv(csv, index=False)
    model_file = tmp_path / "models.py"
    model_file.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from estimation_helpers import WANG_ERRORS, wang_model\n"
        "def truth():\n"
        "    m = wang_model(WANG_ERRORS['prop'])\n"
        "    return m.with_initial({'theta': 0.5, 'eta': 0.09, 'prop_sd': 0.1})\n")
    out = tmp_path / "sse"
    args = _parser().parse_args(["sse", str(csv), "--model", f"{model_file}:truth", "-n", "40", "--seed", "5",
                                 "--out", str(out), "--scheduler", client.scheduler.address, "--quiet"])
    assert args.handler(args) == 0
    assert "SSE: 40 simulated datasets" in capsys.readouterr().out
    table = pd.read_csv(out / "summary.csv").set_index("parameter")
    reps = pd.read_csv(out / "replicates.csv")
    assert (reps["status"] == "ok").all()
    theta = reps["theta"].to_numpy()
    mc_se = theta.std(ddof=1) / np.sqrt(len(theta))
    assert abs(table.loc["theta", "bias"]) < 3 * mc_se
    assert table.loc["theta", "n_se"] >= 36
    assert 0.8 <= table.loc["theta", "coverage"] <= 1.0
    assert table.loc["eta", "rel_bias_pct"] == pytest.approx(0.0, abs=30)
