"""Bootstrap: case resampling identities, a small run on a 2-worker LocalCluster, resume,
recorded failures, and the ``popkin bootstrap`` command through a small argparse parser.

Model: Wang 2007 (one compartment, one eta, proportional error; 10 subjects), FOCE-I
without covariance step, 4 replicates. The tests on the cluster are marked slow (``make
test-slow``, run by CI): starting two worker processes that import JAX and load the compiled
programs took 100 s of a cold fast suite on 2 cores; the resampling identities and input
checks stay in the fast suite.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from estimation_helpers import WANG_ERRORS, wang_data, wang_model

from estimation.bootstrap import bootstrap, bootstrap_replicate, resample_subjects
from estimation.cluster import dask_client, replicate_seed
from estimation.data import DataError, read_nonmem
from estimation.fit import fit
from estimation.methods import FOCEI
from estimation.replicate_store import ReplicateStoreError

SEED = 20261125


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    return read_nonmem(wang_data())


@pytest.fixture(scope="module")
def original(data):
    return fit(wang_model(WANG_ERRORS["prop"]), data, FOCEI(covariance=None))


@pytest.fixture(scope="module")
def run(original, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("boot")
    return bootstrap(original, 4, seed=SEED, out=out, client=client, progress=None)


# --------------------------------------------------------------------- resampling
def test_resampled_subjects_are_renumbered_copies(data) -> None:
    frame, drawn = resample_subjects(data, np.random.default_rng(3))
    original = data.to_dataframe().reset_index(drop=True)
    assert len(drawn) == data.n_subjects
    assert frame["ID"].unique().tolist() == list(range(1, data.n_subjects + 1))
    assert len(set(drawn)) < len(drawn)  # with replacement: this draw repeats a subject
    for new, old in enumerate(drawn, start=1):
        copy = frame[frame["ID"] == new].drop(columns="ID").reset_index(drop=True)
        source = original[original["ID"] == old].drop(columns="ID").reset_index(drop=True)
        pd.testing.assert_frame_equal(copy, source)
    again, drawn_again = resample_subjects(data, np.random.default_rng(3))
    assert drawn_again == drawn
    pd.testing.assert_frame_equal(again, frame)


def test_stratified_resampling_keeps_each_stratum_size() -> None:
    raw = wang_data()
    raw["STUDY"] = np.where(raw["ID"] <= 3, 1, 2)
    data = read_nonmem(raw)
    study = data.baseline_covariates()["STUDY"]
    for seed in range(20):
        _, drawn = resample_subjects(data, np.random.default_rng(seed), strata="STUDY")
        assert all(study[i] == 1 for i in drawn[:3]) and all(study[i] == 2 for i in drawn[3:])
    with pytest.raises(DataError, match="'SITE' is not a covariate.*STUDY"):
        resample_subjects(data, np.random.default_rng(0), strata="SITE")


# ------------------------------------------------------------- runs on the cluster
@pytest.mark.slow
def test_every_replicate_is_persisted_and_summarised(run) -> None:
    files = sorted((run.folder / "replicates").glob("*.json"))
    assert [f.name for f in files] == [f"{i:06d}.json" for i in range(4)]
    assert run.n == 4 and run.n_failed == 0
    assert run.replicates["converged"].all() and run.fraction_converged == 1.0
    table = run.table().set_index("parameter")
    for name in ("theta", "eta", "prop_sd"):
        x = run.replicates[name].to_numpy()
        assert table.loc[name, "median"] == pytest.approx(np.median(x), rel=1e-14)
        assert table.loc[name, "ci_lower"] == pytest.approx(np.percentile(x, 2.5), rel=1e-14)
        assert table.loc[name, "ci_upper"] == pytest.approx(np.percentile(x, 97.5), rel=1e-14)
        assert table.loc[name, "sd"] == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    summary = json.loads((run.folder / "summary.json").read_text())
    assert summary["n"] == 4 and summary["n_failed"] == 0 and summary["fraction_converged"] == 1.0
    assert pd.read_csv(run.folder / "summary.csv")["parameter"].tolist() == ["theta", "eta", "prop_sd"]


@pytest.mark.slow
def test_a_replicate_does_not_depend_on_where_it_ran(run, original, data) -> None:
    """Replicate 2 rerun in this process (no worker) draws the same subjects and gives the
    same fit as on the cluster."""
    stored = json.loads((run.folder / "replicates" / "000002.json").read_text())
    _, drawn = resample_subjects(data, np.random.default_rng(replicate_seed(SEED, 2)))
    assert stored["subjects"] == drawn
    start = original.final_model()
    local = bootstrap_replicate(2, start, data, FOCEI(covariance=None), SEED, None)
    assert local["subjects"] == stored["subjects"]
    assert local["ofv"] == pytest.approx(stored["ofv"], abs=1e-6)
    for name, value in stored["estimates"].items():
        assert local["estimates"][name] == pytest.approx(value, rel=1e-5)


@pytest.mark.slow
def test_resume_runs_only_the_missing_replicates(run, original, client) -> None:
    with pytest.raises(ReplicateStoreError, match="resume"):
        bootstrap(original, 4, seed=SEED, out=run.folder, client=client, progress=None)
    with pytest.raises(ReplicateStoreError, match="seed"):
        bootstrap(original, 4, seed=SEED + 1, out=run.folder, client=client, progress=None, resume=True)
    before = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in (run.folder / "replicates").iterdir()}
    os.remove(run.folder / "replicates" / "000001.json")  # as if the run had stopped before it
    more = bootstrap(original, 5, seed=SEED, out=run.folder, client=client, progress=None, resume=True)
    after = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in (run.folder / "replicates").iterdir()}
    assert sorted(after) == [f"{i:06d}.json" for i in range(5)]
    for name in ("000000.json", "000002.json", "000003.json"):
        assert after[name] == before[name]  # not run again
    redone = json.loads(after["000001.json"][1])
    assert redone["subjects"] == json.loads(before["000001.json"][1])["subjects"]
    assert more.n == 5 and more.n_failed == 0


@pytest.mark.slow
def test_failed_replicates_are_recorded_and_counted(original, data, client, tmp_path: Path) -> None:
    """A model whose covariate is not in the data: every refit fails, and says why."""
    from compartments import Model
    from estimation.population import PopulationModel

    structure = (Model("wang_wt").compartment("central").elimination("central", k="KE")
                 .dose("central").output("IPRED", "central"))
    needs_wt = PopulationModel(structure, parameters={"KE": "theta * (WT / 70) * exp(eta)"},
                               thetas={"theta": 0.5}, omega={"eta": 0.04}, error=WANG_ERRORS["prop"])
    boot = bootstrap(original, 3, model=needs_wt, data=data, seed=1, out=tmp_path, client=client,
                     progress=None)
    assert boot.n == 3 and boot.n_failed == 3 and boot.fraction_converged == 0.0
    assert all("WT" in e for e in boot.replicates["error"])
    assert len(list((tmp_path / "replicates").glob("*.json"))) == 3
    assert boot.table()["n"].tolist() == [0, 0, 0]


# --------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    from popkin.scaleout_cli import add_subcommands

    parser = argparse.ArgumentParser(prog="popkin")
    add_subcommands(parser.add_subparsers(dest="command"))
    return parser


@pytest.mark.slow
def test_cli_bootstrap_from_a_results_folder(run, original, data, client, tmp_path: Path, capsys) -> None:
    """``popkin bootstrap RESULTS_DIR --data DATA`` through the scheduler of the test cluster
    reproduces the Python run replicate for replicate."""
    results = tmp_path / "fit"
    original.save(results / "results.json")
    csv = tmp_path / "wang.csv"
    wang_data().to_csv(csv, index=False)
    model_file = tmp_path / "models.py"
    model_file.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from estimation_helpers import WANG_ERRORS, wang_model\n"
        "def wang():\n    return wang_model(WANG_ERRORS['prop'])\n")
    out = tmp_path / "boot"
    args = _parser().parse_args([
        "bootstrap", str(results), "--data", str(csv), "--model", f"{model_file}:wang", "-n", "2",
        "--seed", str(SEED), "--out", str(out), "--scheduler", client.scheduler.address, "--quiet"])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "bootstrap: 2 replicates, 2 converged (100%), 0 failed" in printed
    for i in range(2):
        cli = json.loads((out / "replicates" / f"{i:06d}.json").read_text())
        py = json.loads((run.folder / "replicates" / f"{i:06d}.json").read_text())
        assert cli["subjects"] == py["subjects"]
        for name, value in py["estimates"].items():
            assert cli["estimates"][name] == pytest.approx(value, rel=1e-5)


def test_cli_bootstrap_reports_bad_input(tmp_path: Path, capsys) -> None:
    parser = _parser()
    out = ["--out", str(tmp_path / "boot")]
    args = parser.parse_args(["bootstrap", str(tmp_path / "none.csv"), "--model", "iv_1cmt", "-n", "2", *out])
    assert args.handler(args) == 2
    assert "no data file" in capsys.readouterr().err
    args = parser.parse_args(["bootstrap", "theo_sd", "--model", "no_such_model", "-n", "2", *out])
    assert args.handler(args) == 2
    assert "no_such_model" in capsys.readouterr().err
    (tmp_path / "results.json").write_text("{}")
    args = parser.parse_args(["bootstrap", str(tmp_path), "--model", "oral_1cmt", "-n", "2", *out])
    assert args.handler(args) == 2
    assert "--data" in capsys.readouterr().err
    args = parser.parse_args(["bootstrap", "theo_sd", "--model", "oral_1cmt", "--method", "nonsense", *out])
    assert args.handler(args) == 2
    assert "unknown method 'nonsense'" in capsys.readouterr().err
    assert not (tmp_path / "boot").exists()  # nothing run, nothing written
