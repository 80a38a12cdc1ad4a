"""The ``popkin`` command line, end to end on theo_sd (one fit shared by the module).

Reference: nlmixr2 FOCEi on theo_sd, 1-compartment oral, log-normal IIV on ka, cl
and v, additive error (``../shared/data/README.md``, ``estimation/examples/PROVENANCE.md``):
OFV 116.8038; tka 0.4645, tcl 1.0120, tv 3.4600, add.sd 0.6938; omega^2 ka
0.4046, cl 0.0688, v 0.0192.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimation.data import example_path, read_nonmem
from estimation.error_models import Additive, Exponential
from estimation.fit import evaluate
from estimation.methods import FO
from model_library import get
from popkin.cli import OPTIONAL_COMMAND_MODULES, build_parser, main
from popkin.commands.inputs import carry_over, model_with_error
from popkin.commands.run_record import load_fit

NLMIXR2_FOCEI = {"ofv": 116.8038, "tka": 0.4645, "tcl": 1.0120, "tv": 3.4600, "add_sd": 0.6938,
                 "eta_ka": 0.4046, "eta_cl": 0.0688, "eta_v": 0.0192}
REQUIRED_KEYS = {"ofv", "method", "converged", "n_obs", "n_subjects", "theta", "omega", "sigma", "se",
                 "runtime_s"}
FOLDER = ["etas.csv", "fit.log", "parameters.csv", "plots", "report.html", "results.json", "run.json",
          "table.csv"]
PLOTS = ["eta_covariates.png", "eta_distributions.png", "gof.png", "individuals_1.png", "traces.png"]


@dataclass
class Run:
    code: int
    out: Path
    stdout: str
    stderr: str


def run(*argv: str) -> Run:
    """``main(argv)`` with stdout and stderr captured (usable in module-scoped fixtures)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(argv))
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else Path("out")
    return Run(code, out, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def theo_fit(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``popkin fit theo_sd.csv --model oral_1cmt --error add`` (FOCE-I), run once."""
    out = tmp_path_factory.mktemp("theo") / "out"
    return run("fit", str(example_path("theo_sd")), "--model", "oral_1cmt", "--error", "add",
               "--out", str(out))


@pytest.fixture
def copy_of_fit(theo_fit: Run, tmp_path: Path) -> Path:
    """A private copy of the module's results folder (for commands that change it)."""
    return Path(shutil.copytree(theo_fit.out, tmp_path / "out"))


@pytest.fixture
def theo_rows() -> list[str]:
    return example_path("theo_sd").read_text().splitlines()


# ----------------------------------------------------------------- a good fit
def test_fit_exits_zero_and_prints_table_and_ofv(theo_fit: Run) -> None:
    assert theo_fit.code == 0, theo_fit.stderr
    assert "by FOCE-I: converged" in theo_fit.stdout
    for name in ("tka", "tcl", "tv", "omega(eta_ka)", "add_sd", "rse_pct", "shrinkage_pct"):
        assert name in theo_fit.stdout
    assert "OFV 116.80" in theo_fit.stdout
    assert f"report: {(theo_fit.out / 'report.html').resolve()}" in theo_fit.stdout
    assert "12 subjects, 144 records" in theo_fit.stderr  # the data summary


def test_results_json_matches_nlmixr2_focei(theo_fit: Run) -> None:
    results = json.loads((theo_fit.out / "results.json").read_text())
    assert REQUIRED_KEYS <= set(results)
    assert results["ofv"] == pytest.approx(NLMIXR2_FOCEI["ofv"], abs=0.05)
    assert results["method"] == "FOCE-I"
    assert results["converged"] is True
    assert (results["n_obs"], results["n_subjects"]) == (132, 12)
    for name in ("tka", "tcl", "tv"):
        assert results["theta"][name] == pytest.approx(NLMIXR2_FOCEI[name], rel=0.01)
    assert results["sigma"] == {"add_sd": pytest.approx(NLMIXR2_FOCEI["add_sd"], rel=0.01)}
    for name in ("eta_ka", "eta_cl", "eta_v"):
        assert results["omega"][name] == pytest.approx(NLMIXR2_FOCEI[name], rel=0.03)
    assert set(results["se"]) == {"tka", "tcl", "tv", "eta_ka", "eta_cl", "eta_v", "add_sd"}
    assert all(0 < v < 1 for v in results["se"].values())
    assert results["runtime_s"] > 0


def test_results_folder_holds_every_output_and_nothing_else(theo_fit: Run) -> None:
    assert sorted(p.name for p in theo_fit.out.iterdir()) == FOLDER
    assert sorted(p.name for p in (theo_fit.out / "plots").iterdir()) == PLOTS
    assert sorted(p.name for p in theo_fit.out.parent.iterdir()) == ["out"]  # no temporary folders
    report = (theo_fit.out / "report.html").read_text()
    assert report.count("<img src='data:image/png;base64,") == len(PLOTS)


def test_tables_agree_with_results_json(theo_fit: Run) -> None:
    results = json.loads((theo_fit.out / "results.json").read_text())
    table = pd.read_csv(theo_fit.out / "table.csv")
    assert len(table) == 132
    assert {"ID", "TIME", "DV", "PRED", "IPRED", "WRES", "CWRES", "IWRES"} <= set(table.columns)
    assert table["IPRED"].notna().all()
    parameters = pd.read_csv(theo_fit.out / "parameters.csv").set_index("parameter")
    for name, value in results["theta"].items():
        assert parameters.loc[name, "estimate"] == pytest.approx(value, rel=1e-12)
    etas = pd.read_csv(theo_fit.out / "etas.csv")
    assert etas.shape[0] == 12 and list(etas.columns[:4]) == ["ID", "eta_ka", "eta_cl", "eta_v"]


def test_fo_fit_with_combined_error(tmp_path: Path) -> None:
    """``--method fo --error comb`` on theo_sd: results.json is complete and self-consistent.

    (Proportional error alone is degenerate on theo_sd: its observations at TIME 0 have the
    prediction 0, hence a residual SD of 0.)
    """
    out = tmp_path / "fo"
    result = run("fit", "theo_sd", "--model", "oral_1cmt", "--method", "fo", "--error", "comb",
                 "--no-plots", "--quiet", "--out", str(out))
    assert result.code == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert REQUIRED_KEYS <= set(results)
    assert results["method"] == "FO" and results["converged"] is True
    assert set(results["sigma"]) == {"add_sd", "prop_sd"}
    assert all(0 < value < 2 for value in results["sigma"].values())
    assert set(results["theta"]) == {"tka", "tcl", "tv"}
    assert set(results["omega"]) == {"eta_ka", "eta_cl", "eta_v"}
    n_obs, n_estimated = results["n_obs"], results["n_estimated"]
    assert (n_obs, results["n_subjects"], n_estimated) == (132, 12, 8)
    assert np.isfinite(results["ofv"])
    assert results["minus2loglik"] == pytest.approx(results["ofv"] + n_obs * np.log(2 * np.pi), rel=1e-12)
    assert results["aic"] == pytest.approx(results["minus2loglik"] + 2 * n_estimated, rel=1e-12)
    assert results["bic"] == pytest.approx(results["minus2loglik"] + n_estimated * np.log(n_obs), rel=1e-12)
    assert result.stdout.startswith(f"oral_1cmt FO: OFV {results['ofv']:.4f} (converged)")
    record = json.loads((out / "run.json").read_text())
    assert (record["method"], record["error"]) == ("fo", "comb")
    parameters = pd.read_csv(out / "parameters.csv").set_index("parameter")
    assert parameters.loc["prop_sd", "estimate"] == pytest.approx(results["sigma"]["prop_sd"], rel=1e-12)
    # the OFV is the FO objective of the model at the estimates it reports (Python API, MAXEVAL=0)
    at_estimates = model_with_error("oral_1cmt", "comb").with_initial(
        {**results["theta"], **results["omega"], **results["sigma"]})
    again = evaluate(at_estimates, read_nonmem(example_path("theo_sd")), FO())
    assert again.ofv == pytest.approx(results["ofv"], abs=1e-6)


def test_run_json_and_log_record_the_run(theo_fit: Run) -> None:
    record = json.loads((theo_fit.out / "run.json").read_text())
    assert record["data"] == str(example_path("theo_sd").resolve())
    assert (record["model"], record["error"], record["method"]) == ("oral_1cmt", "add", "focei")
    assert record["command"][:2] == ["popkin", "fit"]
    log = (theo_fit.out / "fit.log").read_text()
    assert "FOCE-I iteration    1" in log and "OFV 116.80" in log and "results written to" in log


# ------------------------------------------------------------ errors users see
def test_bad_dataset_names_row_and_column_and_writes_nothing(tmp_path: Path, theo_rows: list[str]) -> None:
    fields = theo_rows[5].split(",")
    fields[2] = "abc"  # DV of data row 5
    theo_rows[5] = ",".join(fields)
    data = tmp_path / "bad.csv"
    data.write_text("\n".join(theo_rows) + "\n")
    result = run("fit", str(data), "--model", "oral_1cmt", "--out", str(tmp_path / "out"))
    assert result.code == 2
    assert "row 5" in result.stderr and "DV" in result.stderr and "abc" in result.stderr
    assert not (tmp_path / "out").exists()
    check = run("check", str(data))
    assert check.code == 2 and "row 5" in check.stderr and "DV" in check.stderr


def test_dose_into_unknown_compartment_is_a_bad_dataset(tmp_path: Path, theo_rows: list[str]) -> None:
    fields = theo_rows[1].split(",")
    fields[6] = "3"  # CMT of the first dose; oral_1cmt has compartments 1 (depot) and 2 (central)
    theo_rows[1] = ",".join(fields)
    data = tmp_path / "bad_cmt.csv"
    data.write_text("\n".join(theo_rows) + "\n")
    result = run("fit", str(data), "--model", "oral_1cmt", "--out", str(tmp_path / "out"))
    assert result.code == 2
    assert "row 1" in result.stderr and "CMT" in result.stderr
    assert not (tmp_path / "out").exists()
    assert run("check", str(data)).code == 0  # valid on its own...
    assert run("check", str(data), "--model", "oral_1cmt").code == 2  # ...not for this model


LOG_DV_MESSAGE = (
    "popkin: error: invalid dataset: theo_sd.csv, row 14: column DV = 0: expected DV > 0 for a "
    "log-transformed (exponential) error model; set MDV=1 to exclude the record, or use an "
    "additive/proportional error model (DV <= 0 in rows 14, 26, 38, 50, 62, ... (9 in all))"
)


def test_exponential_error_on_theo_sd_names_the_first_zero_observation(tmp_path: Path) -> None:
    result = run("fit", "theo_sd", "--model", "oral_1cmt", "--error", "exp", "--out", str(tmp_path / "out"))
    assert result.code == 2
    assert result.stderr.strip() == LOG_DV_MESSAGE
    assert list(tmp_path.iterdir()) == []  # no results folder, no .failed folder


def test_exponential_error_needs_positive_dv_in_a_tiny_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = ["ID,TIME,DV,AMT,EVID,MDV,CMT", "1,0,.,100,1,1,1", "1,1,5.2,.,0,0,2", "1,2,0,.,0,0,2",
            "1,4,3.1,.,0,0,2"]
    data = tmp_path / "tiny.csv"
    data.write_text("\n".join(rows) + "\n")
    out = str(tmp_path / "out")
    bad = run("fit", str(data), "--model", "oral_1cmt", "--error", "exp", "--out", out)
    assert bad.code == 2
    assert "tiny.csv, row 3: column DV = 0: expected DV > 0 for a log-transformed" in bad.stderr
    assert "(DV <= 0" not in bad.stderr  # one offending row only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.csv"]

    def stop(*args: object, **kwargs: object) -> None:  # the estimation is not under test here
        raise FloatingPointError("stopped after validation")

    monkeypatch.setattr("estimation.fit.fit", stop)
    assert run("fit", str(data), "--model", "oral_1cmt", "--error", "prop", "--out", out).code == 1
    rows[3] = "1,2,0,.,0,1,2"  # MDV 1 excludes the record: valid for an exponential error
    data.write_text("\n".join(rows) + "\n")
    excluded = run("fit", str(data), "--model", "oral_1cmt", "--error", "exp", "--force", "--out", out)
    assert excluded.code == 1 and "stopped after validation" in excluded.stderr


def test_observation_in_an_unknown_compartment_is_a_bad_dataset(tmp_path: Path, theo_rows: list[str]) -> None:
    fields = theo_rows[2].split(",")
    fields[6] = "5"  # CMT of the observation in data row 2; oral_1cmt has compartments 1 and 2
    theo_rows[2] = ",".join(fields)
    data = tmp_path / "obs_cmt.csv"
    data.write_text("\n".join(theo_rows) + "\n")
    result = run("fit", str(data), "--model", "oral_1cmt", "--out", str(tmp_path / "out"))
    assert result.code == 2
    assert ("obs_cmt.csv, row 2: column CMT = 5: expected a compartment number 1..2 of model "
            "'oral_1cmt' (1 depot, 2 central), or 0 or missing") in result.stderr
    assert not (tmp_path / "out").exists()
    assert run("check", str(data)).code == 0  # valid on its own...
    checked = run("check", str(data), "--model", "oral_1cmt")  # ...not for this model
    assert checked.code == 2 and "row 2: column CMT = 5" in checked.stderr


WT_MODEL = """
from estimation.model_edits import add_covariate_effect
from model_library import get


def theo_wt(error=None):
    return add_covariate_effect(get("oral_1cmt", error=error), "CL", "WT", "power", reference=70)
"""


@pytest.fixture
def renamed_theo(tmp_path: Path, theo_rows: list[str]) -> tuple[Path, str]:
    """theo_sd with other column names (TAD, CONC, wt) and a model using WT."""
    assert theo_rows[0] == "ID,TIME,DV,AMT,EVID,MDV,CMT,WT"
    data = tmp_path / "renamed.csv"
    data.write_text("\n".join(["ID,TAD,CONC,AMT,EVID,MDV,CMT,wt", *theo_rows[1:]]) + "\n")
    models = tmp_path / "wt_models.py"
    models.write_text(WT_MODEL)
    return data, f"{models}:theo_wt"


def test_map_renames_columns_for_check(renamed_theo: tuple[Path, str]) -> None:
    data, model = renamed_theo
    unmapped = run("check", str(data), "--model", model, "--map", "TAD=TIME,CONC=DV")
    assert unmapped.code == 2
    assert ("uses covariates ['WT'] that are not columns of the data; the covariate columns are ['wt']; "
            "column 'wt' differs from 'WT' only in case (covariate names are case-sensitive): map it "
            "with --map wt=WT on the command line, or rename={'wt': 'WT'} in read_nonmem") in unmapped.stderr
    mapped = run("check", str(data), "--model", model, "--map", "TAD=TIME, CONC=DV ,wt=WT")
    assert mapped.code == 0, mapped.stderr
    assert "12 subjects, 144 records" in mapped.stdout and "covariates: WT" in mapped.stdout
    assert "observations used (EVID 0, MDV 0)            132" in mapped.stdout
    assert run("check", str(data), "--map", "tad=TIME,conc=DV").code == 0  # OLD matches any case


def test_map_is_used_and_recorded_by_fit(renamed_theo: tuple[Path, str], copy_of_fit: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data, model = renamed_theo
    saved = load_fit(copy_of_fit)  # the estimation is not under test here: reuse the module's fit
    seen = {}

    def fake_fit(model: object, data: object, *args: object, **kwargs: object) -> object:
        seen["data"] = data
        return saved

    monkeypatch.setattr("estimation.fit.fit", fake_fit)
    mapped = run("fit", str(data), "--model", model, "--map", "TAD=TIME,CONC=DV,wt=WT", "--no-plots",
                 "--quiet", "--force", "--out", str(copy_of_fit))
    assert mapped.code == 0, mapped.stderr
    assert seen["data"].covariates == ("WT",) and seen["data"].n_observations == 132
    record = json.loads((copy_of_fit / "run.json").read_text())
    assert record["rename"] == {"TAD": "TIME", "CONC": "DV", "wt": "WT"}
    rebuilt = load_fit(copy_of_fit)  # later commands (vpc) read the data with the same mapping
    assert rebuilt.data.covariates == ("WT",)
    np.testing.assert_array_equal(rebuilt.data.to_dataframe()["DV"], saved.data.to_dataframe()["DV"])


def test_bad_map_is_a_clear_error(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    malformed = run("fit", "theo_sd", "--model", "oral_1cmt", "--map", "TAD", "--out", out)
    assert malformed.code == 2
    assert malformed.stderr.strip() == ("popkin: error: --map 'TAD': expected OLD=NEW[,OLD=NEW...], "
                                        "e.g. --map TAD=TIME,CONC=DV")
    for bad in ("=DV", "TAD=", "A=B=C"):
        assert run("check", "theo_sd", "--map", bad).code == 2
    twice = run("check", "theo_sd", "--map", "WT=W1,wt=W2")
    assert twice.code == 2 and "column 'wt' is mapped twice" in twice.stderr
    unknown = run("fit", "theo_sd", "--model", "oral_1cmt", "--map", "CONC=DV", "--out", out)
    assert unknown.code == 2
    assert "theo_sd.csv: rename: no column 'CONC'; the columns are ['ID', 'TIME', 'DV'" in unknown.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    result = run("fit", str(example_path("theo_sd")), "--model", "oral_1cpt", "--out", str(tmp_path / "o"))
    assert result.code == 2
    assert "no model named 'oral_1cpt'" in result.stderr and "oral_1cmt" in result.stderr
    assert not (tmp_path / "o").exists()


def test_user_model_file_is_resolved_and_its_errors_reported(tmp_path: Path) -> None:
    models = tmp_path / "my_models.py"
    models.write_text(textwrap.dedent("""
        from model_library import get

        def theo(error=None):
            return get("oral_1cmt", error=error)
    """))
    missing = run("fit", str(example_path("theo_sd")), "--model", f"{models}:nope", "--out",
                  str(tmp_path / "o"))
    assert missing.code == 2 and "defines no 'nope'" in missing.stderr and "theo" in missing.stderr
    # the model resolves; the (bad) data is then rejected before any fitting
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,TIME,DV\n1,0,1\n1,x,2\n")
    found = run("fit", str(bad), "--model", f"{models}:theo", "--out", str(tmp_path / "o"))
    assert found.code == 2 and "row 2" in found.stderr and "TIME" in found.stderr
    assert not (tmp_path / "o").exists()


def test_missing_data_file_and_bad_arguments(tmp_path: Path) -> None:
    assert run("fit", str(tmp_path / "none.csv"), "--model", "oral_1cmt").code == 2
    unknown = run("fit", "theo_sd", "--model", "oral_1cmt", "--method", "nope", "--out", str(tmp_path / "o"))
    assert unknown.code == 2 and "unknown method 'nope'" in unknown.stderr
    assert not (tmp_path / "o").exists()
    assert run().code == 2


# ------------------------------------------------ never overwrite a good result
def test_existing_result_is_kept_without_force(theo_fit: Run) -> None:
    before = (theo_fit.out / "results.json").read_bytes()
    again = run("fit", "theo_sd", "--model", "oral_1cmt", "--error", "add", "--out", str(theo_fit.out))
    assert again.code == 2 and "holds a complete result" in again.stderr and "--force" in again.stderr
    assert (theo_fit.out / "results.json").read_bytes() == before


def test_force_replaces_the_result(copy_of_fit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = load_fit(copy_of_fit)  # the estimation is not under test here: reuse the module's fit
    monkeypatch.setattr("estimation.fit.fit", lambda *args, **kwargs: saved)
    forced = run("fit", "theo_sd", "--model", "oral_1cmt", "--error", "add", "--no-plots", "--force",
                 "--quiet", "--out", str(copy_of_fit))
    assert forced.code == 0, forced.stderr
    assert "--no-plots" in json.loads((copy_of_fit / "run.json").read_text())["command"]
    without_plots = [f for f in FOLDER if f not in ("plots", "report.html")]
    assert sorted(p.name for p in copy_of_fit.iterdir()) == without_plots
    assert forced.stdout.startswith("oral_1cmt FOCE-I: OFV ")  # --quiet: one line
    with_checks = run("fit", "theo_sd", "--model", "oral_1cmt", "--error", "add", "--vpc", "--force",
                      "--quiet", "--out", str(copy_of_fit))
    assert with_checks.code == 0, with_checks.stderr
    plots = sorted(p.name for p in (copy_of_fit / "plots").iterdir())
    assert plots == sorted([*PLOTS, "pcvpc.png", "vpc.png"])


def test_failed_fit_keeps_the_previous_result(copy_of_fit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise FloatingPointError("the objective is not finite")

    monkeypatch.setattr("estimation.fit.fit", explode)
    before = (copy_of_fit / "results.json").read_bytes()
    failed = run("fit", "theo_sd", "--model", "oral_1cmt", "--force", "--out", str(copy_of_fit))
    assert failed.code == 1
    assert "the fit failed: FloatingPointError: the objective is not finite" in failed.stderr
    assert (copy_of_fit / "results.json").read_bytes() == before
    log = (copy_of_fit.parent / "out.failed" / "fit.log").read_text()
    assert "Traceback" in log and "FloatingPointError" in log
    assert not (copy_of_fit.parent / "out.failed" / "results.json").exists()


def test_interrupted_fit_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("estimation.fit.fit", interrupt)
    result = run("fit", "theo_sd", "--model", "oral_1cmt", "--out", str(tmp_path / "out"))
    assert result.code == 130 and "interrupted" in result.stderr
    assert not (tmp_path / "out").exists()
    assert "interrupted by the user" in (tmp_path / "out.failed" / "fit.log").read_text()


# ------------------------------------------------------------------------ vpc
def test_vpc_adds_checks_to_the_folder_and_report(copy_of_fit: Path) -> None:
    result = run("vpc", str(copy_of_fit), "--n", "20", "--seed", "3", "--quiet")
    assert result.code == 0, result.stderr
    assert {"vpc.png", "pcvpc.png"} <= {p.name for p in (copy_of_fit / "plots").iterdir()}
    observed = pd.read_csv(copy_of_fit / "vpc_observed.csv")
    assert set(observed["percentile"]) == {5, 50, 95}
    table = pd.read_csv(copy_of_fit / "table.csv")
    first = observed[(observed["bin"] == observed["bin"].min()) & (observed["percentile"] == 50)].iloc[0]
    in_bin = table[(table["TIME"] >= first["bin_lo"]) & (table["TIME"] < first["bin_hi"])]["DV"]  # [lo, hi)
    assert first["value"] == pytest.approx(in_bin.median(), rel=1e-12)  # observed median of the first bin
    report = (copy_of_fit / "report.html").read_text()
    assert "alt='vpc'" in report and "alt='pcvpc'" in report
    assert report.index("alt='gof'") < report.index("alt='vpc'") < report.index("alt='pcvpc'")


def test_vpc_of_a_folder_without_results(tmp_path: Path) -> None:
    result = run("vpc", str(tmp_path))
    assert result.code == 2 and "no complete result" in result.stderr
    assert run("vpc", str(tmp_path), "--bins", "0,x").code == 2


# ------------------------------------------------------------------- simulate
def test_simulate_typical_predictions_match_the_bateman_function(tmp_path: Path) -> None:
    design = tmp_path / "regimen.csv"
    design.write_text("ID,TIME,AMT,DV,WT\n1,0,320,.,70\n1,1,.,.,70\n1,4,.,.,70\n1,12,.,.,70\n"
                      "2,0,100,.,90\n2,24,.,.,90\n")
    out = tmp_path / "pred.csv"
    result = run("simulate", str(design), "--model", "oral_1cmt", "--param", "tcl=1.2", "--out", str(out))
    assert result.code == 0, result.stderr
    table = pd.read_csv(out)
    assert len(table) == 6 and table["DV"].isna().all()
    ka, cl, v = np.exp([0.45, 1.2, 3.45])  # oral_1cmt typical values (tka, tcl, tv), tcl set to 1.2
    k = cl / v
    dose = np.where(table["ID"] == 1, 320.0, 100.0)
    t = table["TIME"].to_numpy()
    bateman = dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
    np.testing.assert_allclose(table["Cc"], bateman, rtol=1e-9, atol=1e-12)
    again = run("simulate", str(design), "--model", "oral_1cmt", "--out", str(out))
    assert again.code == 2 and "--force" in again.stderr


def test_simulate_maps_columns_as_fit_does(tmp_path: Path) -> None:
    """--map renames design columns (here the DV column too: its missing values stay missing)."""
    plain, mapped = tmp_path / "plain.csv", tmp_path / "mapped.csv"
    plain.write_text("ID,TIME,AMT,DV\n1,0,320,.\n1,1,.,.\n1,4,.,2.5\n")
    mapped.write_text("subject,tad,dose,conc\n1,0,320,.\n1,1,.,.\n1,4,.,2.5\n")
    out_plain, out_mapped = tmp_path / "p.csv", tmp_path / "m.csv"
    assert run("simulate", str(plain), "--model", "oral_1cmt", "--out", str(out_plain)).code == 0
    result = run("simulate", str(mapped), "--model", "oral_1cmt", "--out", str(out_mapped),
                 "--map", "subject=ID,TAD=TIME,dose=AMT,conc=DV")
    assert result.code == 0, result.stderr
    a, b = pd.read_csv(out_plain), pd.read_csv(out_mapped)
    np.testing.assert_allclose(a["Cc"], b["Cc"], rtol=1e-12)
    assert b["DV"].isna().tolist() == [True, True, False] and b["DV"].iloc[2] == 2.5
    unmapped = run("simulate", str(mapped), "--model", "oral_1cmt", "--out", str(tmp_path / "x.csv"))
    assert unmapped.code == 2 and not (tmp_path / "x.csv").exists()


def test_simulate_with_variability_is_the_population_simulator(tmp_path: Path) -> None:
    from estimation.data import read_nonmem
    from estimation.simulation import simulate_observations

    out = tmp_path / "sim.csv"
    result = run("simulate", "theo_sd", "--model", "oral_1cmt", "--variability", "full", "--n", "3",
                 "--seed", "11", "--out", str(out))
    assert result.code == 0, result.stderr
    table = pd.read_csv(out)
    assert list(table["REP"].unique()) == [1, 2, 3] and len(table) == 3 * 144
    first = table[table["REP"] == 1]
    truth = simulate_observations(get("oral_1cmt"), read_nonmem(example_path("theo_sd")), seed=11)
    observed = first["EVID"] == 0
    pd.testing.assert_series_equal(first.loc[observed, "DV"].reset_index(drop=True),
                                   truth.loc[truth["EVID"] == 0, "DV"].reset_index(drop=True), rtol=1e-10)
    iiv = tmp_path / "iiv.csv"
    assert run("simulate", "theo_sd", "--model", "oral_1cmt", "--variability", "iiv",
               "--out", str(iiv)).code == 0
    iiv_table = pd.read_csv(iiv)
    obs = iiv_table["EVID"] == 0
    pd.testing.assert_series_equal(iiv_table.loc[obs, "DV"], iiv_table.loc[obs, "Cc"], check_names=False)


def test_simulate_bad_parameter_names_the_known_ones(tmp_path: Path) -> None:
    bad = run("simulate", "theo_sd", "--model", "oral_1cmt", "--param", "tcx=1",
              "--out", str(tmp_path / "s.csv"))
    assert bad.code == 2 and "tcx" in bad.stderr and "'tcl'" in bad.stderr
    assert run("simulate", "theo_sd", "--model", "oral_1cmt", "--param", "tcl", "--out",
               str(tmp_path / "s.csv")).code == 2
    assert not (tmp_path / "s.csv").exists()


# ------------------------------------------------------------ other commands
def test_check_prints_the_summary() -> None:
    result = run("check", "theo_sd", "--model", "oral_1cmt")
    assert result.code == 0
    assert "12 subjects, 144 records" in result.stdout
    assert "observations used (EVID 0, MDV 0)            132" in result.stdout
    assert "valid dataset for model 'oral_1cmt'" in result.stdout


def test_models_command_lists_the_library() -> None:
    result = run("models")
    assert result.code == 0
    for name in ("oral_1cmt", "iv_1cmt", "infusion_1cmt", "oral_2cmt", "iv_2cmt"):
        assert name in result.stdout
    oral = run("models", "--tag", "oral")
    assert "oral_2cmt" in oral.stdout and "iv_1cmt" not in oral.stdout


def test_every_command_has_help_with_examples() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"fit", "vpc", "simulate", "check", "models"} <= set(commands)
    for name in ("fit", "vpc", "simulate", "check", "models"):
        result = run(name, "--help")
        assert result.code == 0 and "examples:" in result.stdout and f"popkin {name}" in result.stdout
    assert "popkin fit estimation/examples/theo_sd.csv --model oral_1cmt" in run("fit", "--help").stdout
    for module in OPTIONAL_COMMAND_MODULES:  # e.g. popkin.scaleout_cli: wired in when installed
        if importlib.util.find_spec(module) is not None:
            extra = argparse.ArgumentParser().add_subparsers()
            importlib.import_module(module).add_subcommands(extra)
            assert set(extra.choices) <= set(commands)


def test_error_option_keeps_the_models_starting_values() -> None:
    model = get("oral_1cmt")  # Combined(add=0.7, prop=0.1)
    assert carry_over(Additive(), model) == Additive(0.7)
    assert carry_over(Exponential(), model).initial == (0.1,)


def test_installed_entry_point() -> None:
    popkin = Path(sys.executable).parent / "popkin"  # the console script of `pip install -e .`
    done = subprocess.run([str(popkin), "check", "theo_sd"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Dataset theo_sd.csv: 12 subjects, 144 records" in done.stdout


def test_a_fit_that_cannot_start_fails_clearly_and_writes_no_results(tmp_path: Path) -> None:
    """Proportional error alone on theo_sd: the OFV is not finite at the initial values (the
    TIME 0 samples are predicted as 0); the command fails, names the rows and publishes nothing."""
    out = tmp_path / "prop"
    result = run("fit", "theo_sd", "--model", "oral_1cmt", "--method", "fo", "--error", "prop",
                 "--no-plots", "--quiet", "--out", str(out))
    assert result.code != 0
    assert "residual variance of 0" in result.stderr and "rows 2, 14, 26, 38, 50" in result.stderr
    assert not out.exists()
