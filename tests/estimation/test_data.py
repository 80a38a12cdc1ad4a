"""Reading, validating and summarising NONMEM-format data (estimation.data)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compartments.graph import Model
from estimation.data import (
    DataError,
    DataWarning,
    example_names,
    example_path,
    read_nonmem,
)
from estimation.error_models import Additive, Exponential, Proportional
from estimation.fit import evaluate, fit
from estimation.population import PopulationModel
from estimation.problem import build_problem

DATA = Path(__file__).resolve().parents[1] / "data"

HEADER = "ID,TIME,DV,AMT,EVID,MDV,CMT"
GOOD = [
    "1,0,.,100,1,1,1",
    "1,1,5.2,.,0,0,2",
    "1,2,4.1,.,0,0,2",
    "2,0,.,100,1,1,1",
    "2,1,6.0,.,0,0,2",
]


def write(tmp_path: Path, lines: list[str], header: str = HEADER, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def read_quiet(data, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return read_nonmem(data, **kwargs)


def oral_model() -> Model:
    return (
        Model("oral_1cmt")
        .compartment("depot")
        .compartment("central", volume="V")
        .flow("depot", "central", k="KA")
        .elimination("central", cl="CL")
        .dose("depot")
        .output("Cc", "central / V")
    )


def oral_population(error, structure: Model | None = None, *, wt: bool = False) -> PopulationModel:
    """``oral_model()`` with log-normal CL (times (WT/70)^0.75 with ``wt``) and ``error``."""
    cl = "exp(tcl + eta_cl) * (WT / 70) ** 0.75" if wt else "exp(tcl + eta_cl)"
    return PopulationModel(
        structure or oral_model(), parameters={"KA": "exp(tka)", "CL": cl, "V": "exp(tv)"},
        thetas={"tka": 0.4, "tcl": 1.0, "tv": 3.4}, omega={"eta_cl": 0.1}, error=error,
    )


def assert_data_error(exc: pytest.ExceptionInfo, row: int, column: str, *words: str) -> None:
    err = exc.value
    assert err.row == row
    assert err.column == column
    message = str(err)
    assert f"row {row}" in message
    assert f"column {column}" in message
    for word in words:
        assert word in message, message


# ------------------------------------------------------------------ reading
def test_theo_sd_counts() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # a clean dataset warns about nothing
        ds = read_nonmem(example_path("theo_sd"))
    assert ds.n_subjects == 12
    assert ds.n_observations == 132
    assert ds.n_records == 144
    assert ds.covariates == ("WT",)
    assert ds.time_varying == ()
    assert ds.ids == tuple(range(1, 13))
    s = ds.subjects[0]
    assert s.id == 1
    assert s.n_observations == 11
    np.testing.assert_allclose(s.obs_time[:3], [0.0, 0.25, 0.57])
    np.testing.assert_allclose(s.obs_dv[:3], [0.74, 2.84, 6.57])
    assert list(s.rows) == list(range(1, 13))
    assert list(s.obs_rows) == list(range(2, 13))
    assert s.mask.tolist() == [False] + [True] * 11
    summary = ds.summary()
    assert (summary.n_dose_records, summary.n_implied_doses, summary.n_doses) == (12, 0, 12)
    assert summary.observations_per_subject == {i: 11 for i in range(1, 13)}


def test_acop_oral_evid2_counted_as_ignored() -> None:
    ds = read_nonmem(DATA / "Oral_1CPT.csv", drop=["SS", "II"])
    summary = ds.summary()
    assert summary.n_subjects == 120
    assert summary.n_records == 7920
    assert summary.n_observations == 6947
    assert summary.n_ignored_evid2 == 13
    assert summary.n_ignored_mdv == 0
    assert summary.n_dose_records == 960
    assert summary.dropped_columns == ("SS", "II")
    assert summary.n_records == (summary.n_observations + summary.n_dose_records
                                 + summary.n_ignored_evid2)
    text = str(summary)
    assert "ignored: other records (EVID 2)" in text and "13" in text
    assert "dropped columns: SS, II" in text
    assert ds.covariates == ("LNDV", "DOSE", "V", "CL", "KA", "SD")
    assert sum(summary.observations_per_subject.values()) == 6947


def test_acop_ss_marker_is_an_error_with_a_hint() -> None:
    with pytest.raises(DataError) as exc:
        read_nonmem(DATA / "Oral_1CPT.csv")
    assert_data_error(exc, 1, "SS", "= 99", "expected 0", "drop=['SS']", "Oral_1CPT.csv")


def test_rename_maps_other_names() -> None:
    ds = read_nonmem(example_path("Wang2007"), rename={"Y": "DV"})
    assert ds.n_subjects == 10 and ds.n_observations == 20
    assert ds.summary().n_doses == 0
    assert list(ds.to_dataframe().columns[:3]) == ["ID", "TIME", "DV"]


def test_rename_unknown_column_is_an_error() -> None:
    with pytest.raises(DataError, match=r"rename: no column 'CONC'"):
        read_nonmem(example_path("Wang2007"), rename={"CONC": "DV"})


def test_rename_to_covariate_name(tmp_path: Path) -> None:
    path = write(tmp_path, [line + ",70" for line in GOOD], header=HEADER + ",weight")
    ds = read_nonmem(path, rename={"weight": "WT"})
    assert ds.covariates == ("WT",)


def test_column_names_are_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, header="id,Time,dv,Amt,evid,Mdv,cmt")
    ds = read_nonmem(path)
    assert ds.n_observations == 3
    assert list(ds.to_dataframe().columns[:7]) == ["ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT"]
    assert ds.covariates == ()


def test_columns_that_clash_by_case_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, [line + ",0" for line in GOOD], header=HEADER + ",time")
    with pytest.raises(DataError, match=r"columns 'TIME' and 'time' both name TIME"):
        read_nonmem(path)


def test_dot_and_empty_are_missing(tmp_path: Path) -> None:
    path = write(tmp_path, ["1,0,,100,1,1,1", "1,1,5.2,.,0,0,2", "1,2,NA,,0,1,2"])
    ds = read_nonmem(path)
    frame = ds.to_dataframe()
    assert np.isnan(frame["DV"].iloc[0]) and np.isnan(frame["DV"].iloc[2])
    assert frame["AMT"].tolist() == [100.0, 0.0, 0.0]
    assert ds.n_observations == 1
    assert ds.summary().n_ignored_mdv == 1


def test_nonmem_defaults_for_absent_evid_mdv_cmt(tmp_path: Path) -> None:
    path = write(tmp_path, ["1,0,.,100", "1,1,5.2,.", "1,2,4.1,0"], header="ID,TIME,DV,AMT")
    ds = read_nonmem(path)
    frame = ds.to_dataframe()
    assert frame["EVID"].tolist() == [1, 0, 0]
    assert frame["MDV"].tolist() == [1, 0, 0]
    assert frame["CMT"].isna().all()
    for name in ("RATE", "II", "ADDL", "SS"):
        assert (frame[name] == 0).all()
    # the dose goes to the model's first dosing compartment
    table = ds.events_for(oral_model())[0]
    assert table.cmt[0] == 1


def test_evid_from_amt_and_mdv(tmp_path: Path) -> None:
    path = write(tmp_path, ["1,0,.,100,1", "1,1,5.2,.,0", "1,2,.,.,1"], header="ID,TIME,DV,AMT,MDV")
    frame = read_nonmem(path).to_dataframe()
    assert frame["EVID"].tolist() == [1, 0, 0]
    assert frame["MDV"].tolist() == [1, 0, 1]


def test_dataframe_input_rows_are_positions() -> None:
    df = pd.DataFrame({"ID": [1, 1, 1], "TIME": [0.0, 1.0, 0.5], "DV": [0.0, 1.0, 2.0],
                       "AMT": [10.0, 0.0, 0.0], "EVID": [1, 0, 0], "MDV": [1, 0, 0]})
    with pytest.raises(DataError) as exc:
        read_nonmem(df)
    assert_data_error(exc, 3, "TIME", "time decreases")


def test_blank_and_comment_lines_are_skipped_and_rows_stay_file_rows(tmp_path: Path) -> None:
    lines = ["# first subject", *GOOD[:3], "", *GOOD[3:]]
    ds = read_nonmem(write(tmp_path, lines))
    assert ds.summary().n_skipped_lines == 2
    assert list(ds.rows) == [2, 3, 4, 6, 7]
    assert list(ds.subjects[1].rows) == [6, 7]
    tables = ds.events_for(oral_model())
    assert list(tables[0].rows) == [2, 3, 4]
    assert list(tables[1].rows) == [6, 7]
    assert "skipped lines" in str(ds.summary())


def test_to_dataframe_keeps_input_rows_and_normalised_columns() -> None:
    frame = read_nonmem(example_path("theo_sd")).to_dataframe()
    assert frame.index.name == "ROW"
    assert list(frame.index[:3]) == [1, 2, 3]
    assert list(frame.columns) == ["ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "RATE", "II",
                                   "ADDL", "SS", "WT"]
    raw = pd.read_csv(example_path("theo_sd"))
    np.testing.assert_allclose(frame["DV"].to_numpy(), raw["DV"].to_numpy())


def test_example_names_and_paths() -> None:
    for name in example_names():
        assert example_path(name).is_file()
    assert example_path("theo_sd.csv") == example_path("theo_sd")
    with pytest.raises(KeyError, match="available"):
        example_path("nope")


# --------------------------------------------------------- validation errors
@pytest.mark.parametrize("column", ["ID", "TIME", "DV"])
def test_missing_required_column(tmp_path: Path, column: str) -> None:
    names = HEADER.split(",")
    keep = [i for i, n in enumerate(names) if n != column]
    header = ",".join(names[i] for i in keep)
    lines = [",".join(line.split(",")[i] for i in keep) for line in GOOD]
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines, header=header))
    assert exc.value.column == column
    assert f"missing required column {column}" in str(exc.value)
    assert "rename=" in str(exc.value)


def test_non_numeric_value(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[2] = "1,2,4,1,.,0,0,2".replace("4,1", "4.1x")
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 3, "DV", "'4.1x'", "expected a number")


def test_non_numeric_covariate(tmp_path: Path) -> None:
    lines = [line + ",M" for line in GOOD]
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines, header=HEADER + ",SEX"))
    assert_data_error(exc, 1, "SEX", "'M'", "expected a number", "covariates must be numeric")


def test_missing_id(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[1] = ",1,5.2,.,0,0,2"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 2, "ID", "is missing", "subject identifier")


def test_missing_time(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[1] = "1,.,5.2,.,0,0,2"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 2, "TIME", "is missing", "expected the time")


def test_time_decreasing_without_reset(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[2] = "1,0.5,4.1,.,0,0,2"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 3, "TIME", "= 0.5", "time decreases within subject 1",
                      "row 2 has TIME 1", "EVID 3 or 4")


def test_time_may_restart_after_a_reset(tmp_path: Path) -> None:
    lines = [*GOOD[:3], "1,0,.,.,3,1,.", "1,0,.,50,1,1,1", "1,1,2.0,.,0,0,2",
             "1,0,.,100,4,1,1", "1,1,3.0,.,0,0,2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # times repeat across resets: no warning
        ds = read_nonmem(write(tmp_path, lines))
    summary = ds.summary()
    assert summary.n_resets == 2
    assert summary.n_dose_records == 3
    assert ds.n_observations == 4


def test_dose_without_amt(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[3] = "2,0,.,.,1,1,1"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 4, "AMT", "is missing", "dose record (EVID 1 or 4) needs")


def test_dose_with_zero_amt(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[0] = "1,0,.,0,1,1,1"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 1, "AMT", "= 0", "needs AMT > 0")


def test_observation_without_dv(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[4] = "2,1,.,.,0,0,2"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 5, "DV", "is missing", "needs a DV value", "set MDV = 1")


def test_negative_amt(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[3] = "2,0,.,-100,1,1,1"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 4, "AMT", "= -100", "non-negative dose amount")


def test_duplicated_id_blocks(tmp_path: Path) -> None:
    lines = [*GOOD, "1,3,2.0,.,0,0,2"]
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 6, "ID", "= 1", "already had records in rows 1-3", "contiguous")


def test_bad_evid(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[1] = "1,1,5.2,.,5,0,2"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 2, "EVID", "= 5", "expected 0 (observation), 1 (dose)")


def test_fractional_evid(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[1] = "1,1,5.2,.,0.5,0,2"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 2, "EVID", "= 0.5", "whole number")


def test_bad_ss(tmp_path: Path) -> None:
    lines = [line + ",0,0" for line in GOOD]
    lines[3] = "2,0,.,100,1,1,1,3,24"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines, header=HEADER + ",SS,II"))
    assert_data_error(exc, 4, "SS", "= 3", "expected 0 (no steady state), 1")


def test_steady_state_needs_ii(tmp_path: Path) -> None:
    lines = [line + ",0,0" for line in GOOD]
    lines[3] = "2,0,.,100,1,1,1,1,0"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines, header=HEADER + ",SS,II"))
    assert_data_error(exc, 4, "II", "= 0", "needs II > 0")


def test_addl_needs_ii(tmp_path: Path) -> None:
    lines = [line + ",0,0" for line in GOOD]
    lines[0] = "1,0,.,100,1,1,1,3,0"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines, header=HEADER + ",ADDL,II"))
    assert_data_error(exc, 1, "II", "ADDL > 0 needs")


def test_mdv_zero_on_a_dose(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[0] = "1,0,.,100,1,0,1"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines))
    assert_data_error(exc, 1, "MDV", "EVID 1", "expected MDV 1")


def test_bad_rate(tmp_path: Path) -> None:
    lines = [line + ",0" for line in GOOD]
    lines[0] = "1,0,.,100,1,1,1,-3"
    with pytest.raises(DataError) as exc:
        read_nonmem(write(tmp_path, lines, header=HEADER + ",RATE"))
    assert_data_error(exc, 1, "RATE", "= -3", "-1 (modelled rate)")


def test_error_names_the_file(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[3] = "2,0,.,-100,1,1,1"
    with pytest.raises(DataError, match=r"^bad\.csv, row 4: column AMT = -100"):
        read_nonmem(write(tmp_path, lines, name="bad.csv"))


# --------------------------------------------------------- checks against a model
def test_check_model_unknown_cmt(tmp_path: Path) -> None:
    lines = ["# comment line: rows keep the file numbering", *GOOD]
    lines[4] = "2,0,.,100,1,1,3"
    ds = read_nonmem(write(tmp_path, lines))
    with pytest.raises(DataError) as exc:
        ds.check_model(oral_model())
    assert_data_error(exc, 5, "CMT", "= 3", "compartment number 1..2", "subject 2")


def test_check_model_dose_into_non_dosing_compartment(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[0] = "1,0,.,100,1,1,2"
    ds = read_nonmem(write(tmp_path, lines))
    with pytest.raises(DataError) as exc:
        ds.events_for(oral_model())
    assert_data_error(exc, 1, "CMT", "= 2", "'central' is not a dosing target")
    with pytest.raises(DataError) as exc:
        ds.subjects[0].events_for(oral_model())
    assert exc.value.row == 1


def test_check_model_output_column(tmp_path: Path) -> None:
    lines = [line + ",1" for line in GOOD]
    lines[4] = "2,1,6.0,.,0,0,2,2"
    ds = read_nonmem(write(tmp_path, lines, header=HEADER + ",DVID"))
    with pytest.raises(DataError) as exc:
        ds.check_model(oral_model(), output_column="DVID")
    assert_data_error(exc, 5, "DVID", "= 2", "output number 1..1", "Cc")
    with pytest.raises(DataError, match="output column 'YTYPE' is not in the data"):
        ds.check_model(oral_model(), output_column="YTYPE")


@pytest.mark.parametrize("cmt", ["3", "-2", "9"])
def test_check_model_observation_cmt_outside_the_model(tmp_path: Path, cmt: str) -> None:
    lines = [*GOOD]
    lines[2] = f"1,2,4.1,.,0,0,{cmt}"
    ds = read_nonmem(write(tmp_path, lines))
    with pytest.raises(DataError) as exc:
        ds.check_model(oral_model())
    assert_data_error(exc, 3, "CMT", f"= {cmt}", "compartment number 1..2 of model 'oral_1cmt'",
                      "(1 depot, 2 central), or 0 or missing",
                      "an observation reads the model output Cc, not CMT")
    assert exc.value.value == float(cmt)


def test_check_model_evid2_cmt_outside_the_model(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines.insert(2, "1,1.5,.,.,2,1,5")
    ds = read_quiet(write(tmp_path, lines))
    with pytest.raises(DataError) as exc:
        ds.check_model(oral_model())
    assert_data_error(exc, 3, "CMT", "= 5", "compartment number 1..2 of model 'oral_1cmt'",
                      "an EVID 2 record doses nothing")
    lines[2] = "1,1.5,.,.,2,1,2"
    read_quiet(write(tmp_path, lines)).check_model(oral_model())


def test_check_model_observation_cmt_zero_missing_or_a_compartment_is_accepted(
    tmp_path: Path,
) -> None:
    lines = [*GOOD]
    lines[1], lines[2], lines[4] = "1,1,5.2,.,0,0,0", "1,2,4.1,.,0,0,.", "2,1,6.0,.,0,0,1"
    read_nonmem(write(tmp_path, lines)).check_model(oral_model())
    no_cmt = [",".join(line.split(",")[:-1]) for line in GOOD]
    read_nonmem(write(tmp_path, no_cmt, header="ID,TIME,DV,AMT,EVID,MDV")).check_model(oral_model())


def test_check_model_observation_cmt_with_mdv_1_and_output_column(tmp_path: Path) -> None:
    lines = [line + ",1" for line in GOOD]
    lines[4] = "2,1,6.0,.,0,1,4,1"  # MDV 1: not used in a fit, but still a record of the model
    ds = read_quiet(write(tmp_path, lines, header=HEADER + ",DVID"))
    with pytest.raises(DataError) as exc:
        ds.check_model(oral_model(), output_column="DVID")
    assert_data_error(exc, 5, "CMT", "= 4", "reads the output numbered by column DVID, not CMT")


# ------------------------------------------------ checks against a population model
LOG_DV = ("expected DV > 0 for a log-transformed (exponential) error model; set MDV=1 to exclude "
          "the record, or use an additive/proportional error model")


def test_exponential_error_needs_positive_observations(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[2], lines[4] = "1,2,0,.,0,0,2", "2,1,-0.5,.,0,0,2"
    ds = read_quiet(write(tmp_path, lines, name="zero.csv"))
    with pytest.raises(DataError) as exc:
        ds.check_model(oral_population(Exponential()))
    assert_data_error(exc, 3, "DV", "= 0")
    assert str(exc.value) == f"zero.csv, row 3: column DV = 0: {LOG_DV} (DV <= 0 in rows 3, 5)"
    assert exc.value.value == 0.0
    for error in (Additive(), Proportional()):  # only a log-transformed error model needs DV > 0
        ds.check_model(oral_population(error))
    ds.check_model(oral_population(Exponential()), design=True)  # a design's DV are placeholders


def test_excluded_records_may_have_dv_zero_under_exponential_error(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[2] = "1,2,0,.,0,1,2"  # MDV 1: not an observation used in the fit
    ds = read_quiet(write(tmp_path, lines))
    ds.check_model(oral_population(Exponential()))
    assert build_problem(oral_population(Exponential()), ds).n_observations == 2


def test_theo_sd_with_exponential_error_names_the_first_zero_observation() -> None:
    ds = read_nonmem(example_path("theo_sd"))
    model = oral_population(Exponential())
    expected = (f"theo_sd.csv, row 14: column DV = 0: {LOG_DV} "
                "(DV <= 0 in rows 14, 26, 38, 50, 62, ... (9 in all))")
    for run in (lambda: ds.check_model(model), lambda: build_problem(model, ds),
                lambda: fit(model, ds), lambda: evaluate(model, ds)):
        with pytest.raises(DataError) as exc:
            run()
        assert str(exc.value) == expected
        assert (exc.value.row, exc.value.column, exc.value.value) == (14, "DV", 0.0)
    assert build_problem(model, ds, design=True).n_observations == 132


def test_only_outputs_with_a_log_transformed_error_need_positive_dv(tmp_path: Path) -> None:
    two_outputs = oral_model().output("Ad", "depot")
    model = oral_population({"Cc": Exponential(), "Ad": Additive()}, two_outputs)
    lines = [*GOOD[:3], "1,3,0,.,0,0,1,2", *GOOD[3:]]  # DV 0 of output 2 (Ad, additive error)
    lines = [line if line.count(",") == 7 else line + ",1" for line in lines]
    ds = read_quiet(write(tmp_path, lines, header=HEADER + ",DVID"))
    ds.check_model(model, output_column="DVID")  # DV 0 only on Ad
    with pytest.raises(DataError) as exc:
        ds.check_model(model)  # without DVID every observation reads Cc (exponential error)
    assert_data_error(exc, 4, "DV", "= 0", "(output Cc)", "set MDV=1")
    flipped = oral_population({"Cc": Additive(), "Ad": Exponential()}, two_outputs)
    with pytest.raises(DataError) as exc:
        ds.check_model(flipped, output_column="DVID")
    assert_data_error(exc, 4, "DV", "= 0", "(output Ad)")


def test_missing_covariate_with_a_column_differing_in_case(tmp_path: Path) -> None:
    path = write(tmp_path, [line + ",70" for line in GOOD], header=HEADER + ",wt", name="w.csv")
    model = oral_population(Additive(), wt=True)
    with pytest.raises(DataError) as exc:
        read_nonmem(path).check_model(model)
    assert str(exc.value) == (
        "w.csv: model 'oral_1cmt' uses covariates ['WT'] that are not columns of the data; the "
        "covariate columns are ['wt']; column 'wt' differs from 'WT' only in case (covariate names "
        "are case-sensitive): map it with --map wt=WT on the command line, or rename={'wt': 'WT'} "
        "in read_nonmem")
    assert exc.value.column == "WT"
    with pytest.raises(DataError, match="rename=\\{'wt': 'WT'\\}"):
        build_problem(model, read_nonmem(path))  # the fit path says the same
    renamed = read_nonmem(path, rename={"wt": "WT"})
    renamed.check_model(model)
    assert build_problem(model, renamed).covariates[:, 0].tolist() == [70.0, 70.0]


def test_missing_covariate_without_a_near_name(tmp_path: Path) -> None:
    ds = read_nonmem(write(tmp_path, GOOD))
    with pytest.raises(DataError) as exc:
        ds.check_model(oral_population(Additive(), wt=True))
    assert str(exc.value) == ("d.csv: model 'oral_1cmt' uses covariates ['WT'] that are not "
                              "columns of the data; the covariate columns are none")


def test_events_for_theo_sd() -> None:
    ds = read_nonmem(example_path("theo_sd"))
    tables = ds.events_for(oral_model())
    assert len(tables) == 12
    assert [t.subject for t in tables] == list(range(1, 13))
    assert sum(len(t) for t in tables) == 144
    assert list(tables[1].rows[:2]) == [13, 14]
    assert tables[0].evid[0] == 1 and tables[0].cmt[0] == 1 and tables[0].amt[0] == 319.992
    one = ds.subjects[1].events_for(oral_model())
    np.testing.assert_array_equal(one.rows, tables[1].rows)
    np.testing.assert_array_equal(one.time, tables[1].time)


# ----------------------------------------------------------------- warnings
def warned(path_or_df, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_nonmem(path_or_df, **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


def test_warns_subject_without_observations(tmp_path: Path) -> None:
    lines = [*GOOD[:3], "2,0,.,100,1,1,1", "2,1,.,.,0,1,2"]
    messages = warned(write(tmp_path, lines))
    assert len(messages) == 1
    assert "1 subject(s) have no observations: ID 2" in messages[0]


def test_warns_negative_dv(tmp_path: Path) -> None:
    lines = [*GOOD]
    lines[2] = "1,2,-0.3,.,0,0,2"
    messages = warned(write(tmp_path, lines))
    assert len(messages) == 1
    assert "negative DV: rows 3" in messages[0]


def test_warns_duplicate_observation_times(tmp_path: Path) -> None:
    lines = [*GOOD[:3], "1,2,4.3,.,0,0,2", *GOOD[3:]]
    messages = warned(write(tmp_path, lines))
    assert len(messages) == 1
    assert "repeat an observation time" in messages[0] and "rows 4 (ID 1)" in messages[0]


def test_same_time_in_another_compartment_is_not_a_duplicate(tmp_path: Path) -> None:
    lines = [*GOOD[:3], "1,2,4.3,.,0,0,3", *GOOD[3:]]
    assert warned(write(tmp_path, lines)) == []


def test_warns_observation_before_first_dose(tmp_path: Path) -> None:
    lines = ["1,-0.5,0.2,.,0,0,2", *GOOD]
    messages = warned(write(tmp_path, lines))
    assert len(messages) == 1
    assert "before the subject's first dose: rows 1 (ID 1)" in messages[0]


def test_no_dose_data_do_not_warn_about_predose_observations() -> None:
    assert warned(example_path("Wang2007"), rename={"Y": "DV"}) == []


def test_warns_and_fills_missing_covariates(tmp_path: Path) -> None:
    covs = [".", "70", "72", ".", "80"]  # both subjects lack the first value: NOCB
    lines = [f"{line},{c}" for line, c in zip(GOOD, covs, strict=True)]
    path = write(tmp_path, lines, header=HEADER + ",WT")
    messages = warned(path)
    assert len(messages) == 1
    assert "covariate WT is missing in 2 record(s) of 2 subject(s) (rows 1, 4)" in messages[0]
    assert "last value carried forward" in messages[0]
    assert "next value carried backward" in messages[0]
    ds = read_quiet(path)
    assert ds.to_dataframe()["WT"].tolist() == [70.0, 70.0, 72.0, 80.0, 80.0]
    assert ds.warnings == tuple(messages)
    assert "warnings (1)" in str(ds.summary())


def test_warns_covariate_missing_for_a_whole_subject(tmp_path: Path) -> None:
    covs = ["70", "70", "70", ".", "."]
    lines = [f"{line},{c}" for line, c in zip(GOOD, covs, strict=True)]
    messages = warned(write(tmp_path, lines, header=HEADER + ",WT"))
    assert len(messages) == 1
    assert "no value at all for 1 subject(s) (ID 2)" in messages[0]


# ----------------------------------------------------------------- covariates
def test_time_varying_covariates_locf(tmp_path: Path) -> None:
    lines = [
        "1,0,.,100,1,1,1,70,1.0",
        "1,1,5.2,.,0,0,2,.,1.2",
        "1,2,4.1,.,0,0,2,.,.",
        "1,3,3.0,.,0,0,2,74,.",
        "1,4,2.0,.,0,0,2,.,1.5",
        "2,0,.,100,1,1,1,60,0.8",
        "2,1,6.0,.,0,0,2,60,0.8",
    ]
    ds = read_quiet(write(tmp_path, lines, header=HEADER + ",WT,CRCL"))
    assert ds.covariates == ("WT", "CRCL")
    assert ds.time_varying == ("WT", "CRCL")
    s1 = ds.subjects[0]
    np.testing.assert_allclose(s1.covariates["WT"], [70, 70, 70, 74, 74])
    np.testing.assert_allclose(s1.covariates["CRCL"], [1.0, 1.2, 1.2, 1.2, 1.5])
    np.testing.assert_allclose(s1.covariate_matrix(), [[70, 1.2], [70, 1.2], [74, 1.2],
                                                       [74, 1.5]])
    np.testing.assert_allclose(s1.covariate_matrix(["CRCL"], observations_only=False)[:, 0],
                               [1.0, 1.2, 1.2, 1.2, 1.5])
    mats = ds.covariate_matrices(["WT"])
    assert [m.shape for m in mats] == [(4, 1), (1, 1)]
    base = ds.baseline_covariates()
    assert list(base.index) == [1, 2]
    assert base.loc[1, "WT"] == 70 and base.loc[2, "CRCL"] == 0.8
    assert "WT (time-varying)" in str(ds.summary())
    with pytest.raises(KeyError, match="unknown covariate"):
        s1.covariate_matrix(["AGE"])


def test_baseline_is_first_non_missing_value(tmp_path: Path) -> None:
    lines = [f"{line},{c}" for line, c in zip(GOOD, [".", "71", "73", "60", "61"], strict=True)]
    base = read_quiet(write(tmp_path, lines, header=HEADER + ",WT")).baseline_covariates()
    assert base["WT"].tolist() == [71.0, 60.0]


# ------------------------------------------------------------------- summary
def test_summary_counts_every_kind_of_record(tmp_path: Path) -> None:
    lines = [
        "1,0,.,100,1,1,1,24,3",   # dose + 3 implied ADDL doses
        "1,1,5.2,.,0,0,2,0,0",    # observation used
        "1,2,.,.,0,1,2,0,0",      # observation ignored (MDV 1)
        "1,3,.,.,2,1,2,0,0",      # other record ignored (EVID 2)
        "1,0,.,.,3,1,.,0,0",      # reset
        "1,0,.,50,4,1,1,0,0",     # reset and dose
        "1,1,3.0,.,0,0,2,0,0",    # observation used
        "2,0,.,100,1,1,1,0,0",
        "2,1,6.0,.,0,0,2,0,0",
    ]
    ds = read_nonmem(write(tmp_path, lines, header=HEADER + ",II,ADDL"))
    s = ds.summary()
    assert (s.n_subjects, s.n_records, s.n_observations) == (2, 9, 3)
    assert (s.n_dose_records, s.n_implied_doses, s.n_doses) == (3, 3, 6)
    assert (s.n_ignored_evid2, s.n_ignored_mdv, s.n_resets) == (1, 1, 2)
    assert s.observations_per_subject == {1: 2, 2: 1}
    text = str(s)
    for piece in ("2 subjects, 9 records", "(+3 implied by ADDL = 6 doses)",
                  "observations with MDV 1", "resets (EVID 3 or 4)", "1: 2, 2: 1"):
        assert piece in text, text


def test_repr() -> None:
    ds = read_nonmem(example_path("theo_sd"))
    assert repr(ds) == ("Dataset('theo_sd.csv': 12 subjects, 144 records, 132 observations, "
                        "covariates WT)")


def test_no_records_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no records"):
        read_nonmem(write(tmp_path, [], name="empty.csv"))


def test_text_ids_are_kept(tmp_path: Path) -> None:
    lines = [("A-1" if line[0] == "1" else "B-2") + line[1:] for line in GOOD]
    ds = read_nonmem(write(tmp_path, lines))
    assert ds.ids == ("A-1", "B-2")
