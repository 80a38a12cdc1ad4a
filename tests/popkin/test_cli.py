"""The ``popkin`` command line, end to end on theo_sd (one fit shared by the module).

Reference: nlmixr2 FOCEi on theo_sd, 1-compartment oral, log-normal IIV on ka, cl
and v, additive error (``../shared/data/README.md``, ``estimation/examples/PROVENANCE.md``):
OFV 116.8038; tka 0.4645, tcl 1.0120, tv 3.4600, add.sd 0.6938; omega^2 ka
0.4046, cl 0.0688, v 0.0192.
"""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from estimation.data import example_path
from estimation.error_models import Additive, Exponential
from model_library import get
from popkin.cli import _carry_over, main

NLMIXR2_FOCEI = {"ofv": 116.8038, "tka": 0.4645, "tcl": 1.0120, "tv": 3.4600, "add_sd": 0.6938,
                 "eta_ka": 0.4046, "eta_cl": 0.0688, "eta_v": 0.0192}
REQUIRED_KEYS = {"ofv", "method", "converged", "n_obs", "n_subjects", "theta", "omega", "sigma", "se",
                 "runtime_s"}


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
def theo_rows() -> list[str]:
    return example_path("theo_sd").read_text().splitlines()


# ----------------------------------------------------------------- a good fit
def test_fit_exits_zero_and_prints_table_and_ofv(theo_fit: Run) -> None:
    assert theo_fit.code == 0, theo_fit.stderr
    assert "by FOCE-I: converged" in theo_fit.stdout
    for name in ("tka", "tcl", "tv", "omega(eta_ka)", "add_sd", "rse_pct", "shrinkage_pct"):
        assert name in theo_fit.stdout
    assert "OFV 116.80" in theo_fit.stdout
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


def test_table_csv_has_one_row_per_observation(theo_fit: Run) -> None:
    table = pd.read_csv(theo_fit.out / "table.csv")
    assert len(table) == 132
    assert {"ID", "TIME", "DV", "PRED", "IPRED", "WRES", "CWRES", "IWRES"} <= set(table.columns)
    assert table["IPRED"].notna().all()
    assert sorted(p.name for p in theo_fit.out.iterdir()) == ["results.json", "table.csv"]  # no temp files


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
    assert run("fit", "x.csv", "--model", "oral_1cmt", "--method", "saem").code == 2
    assert run().code == 2


# ------------------------------------------------------------ other commands
def test_models_command_lists_the_library() -> None:
    result = run("models")
    assert result.code == 0
    for name in ("oral_1cmt", "iv_1cmt", "infusion_1cmt", "oral_2cmt", "iv_2cmt"):
        assert name in result.stdout
    oral = run("models", "--tag", "oral")
    assert "oral_2cmt" in oral.stdout and "iv_1cmt" not in oral.stdout


def test_help_shows_examples() -> None:
    result = run("fit", "--help")
    assert result.code == 0
    assert "popkin fit estimation/examples/theo_sd.csv --model oral_1cmt" in result.stdout


def test_error_option_keeps_the_models_starting_values() -> None:
    model = get("oral_1cmt")  # Combined(add=0.7, prop=0.1)
    assert _carry_over(Additive(), model) == Additive(0.7)
    assert _carry_over(Exponential(), model) == Exponential(0.1)
