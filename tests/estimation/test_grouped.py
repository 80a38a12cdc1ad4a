"""Long grouped data (R groupedData, Theoph style) to NONMEM form (estimation.grouped)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from estimation.data import DataError, example_path, read_nonmem
from estimation.grouped import from_grouped, grouped_to_nonmem


def theoph_from_theo_sd() -> pd.DataFrame:
    """theo_sd's observations as R's ``Theoph``: Subject, Wt, Dose, Time, conc."""
    theo = pd.read_csv(example_path("theo_sd"))
    dose = theo.loc[theo["EVID"] == 1].set_index("ID")["AMT"]
    obs = theo.loc[theo["EVID"] == 0]
    return pd.DataFrame({
        "Subject": obs["ID"].to_numpy(),
        "Wt": obs["WT"].to_numpy(),
        "Dose": obs["ID"].map(dose).to_numpy(),
        "Time": obs["TIME"].to_numpy(),
        "conc": obs["DV"].to_numpy(),
    })


def test_theo_sd_round_trip() -> None:
    grouped = theoph_from_theo_sd()
    ds = from_grouped(grouped, id="Subject", time="Time", dv="conc", dose="Dose",
                      covariates={"Wt": "WT"})
    reference = read_nonmem(example_path("theo_sd"))
    pd.testing.assert_frame_equal(ds.to_dataframe(), reference.to_dataframe())
    assert ds.n_subjects == 12 and ds.n_observations == 132


def test_table_matches_theo_sd_records() -> None:
    table = grouped_to_nonmem(theoph_from_theo_sd(), id="Subject", time="Time", dv="conc",
                              dose="Dose", covariates={"Wt": "WT"})
    theo = pd.read_csv(example_path("theo_sd"))
    assert list(table.columns) == list(theo.columns)
    pd.testing.assert_frame_equal(table, theo, check_dtype=False)


def test_covariate_names_kept_and_order_of_subjects() -> None:
    grouped = pd.DataFrame({"subj": ["b", "b", "a"], "t": [2.0, 1.0, 1.0],
                            "y": [1.0, 2.0, 3.0], "dose": [10.0, 10.0, 20.0],
                            "age": [40, 40, 50]})
    table = grouped_to_nonmem(grouped, id="subj", time="t", dv="y", dose="dose",
                              covariates=["age"])
    assert table["ID"].tolist() == ["b", "b", "b", "a", "a"]
    assert table["TIME"].tolist() == [0.0, 1.0, 2.0, 0.0, 1.0]
    assert table["EVID"].tolist() == [1, 0, 0, 1, 0]
    assert table["AMT"].tolist() == [10.0, 0.0, 0.0, 20.0, 0.0]
    assert table["age"].tolist() == [40, 40, 40, 50, 50]
    ds = from_grouped(grouped, id="subj", time="t", dv="y", dose="dose", covariates=["age"])
    assert ds.ids == ("b", "a") and ds.covariates == ("age",)


def test_dose_time_and_compartments() -> None:
    grouped = pd.DataFrame({"id": [1, 1, 1], "time": [0.5, 1.0, 3.0], "y": [0.1, 2.0, 1.0],
                            "dose": [5.0] * 3})
    table = grouped_to_nonmem(grouped, id="id", time="time", dv="y", dose="dose", dose_time=1.0,
                              dose_cmt=2, obs_cmt=1)
    assert table["TIME"].tolist() == [0.5, 1.0, 1.0, 3.0]
    assert table["EVID"].tolist() == [0, 1, 0, 0]
    assert table["CMT"].tolist() == [1, 2, 1, 1]


def test_missing_response_becomes_mdv_1() -> None:
    grouped = pd.DataFrame({"id": [1, 1], "time": [1.0, 2.0], "y": [np.nan, 2.0],
                            "dose": [5.0, 5.0]})
    ds = from_grouped(grouped, id="id", time="time", dv="y", dose="dose")
    assert ds.n_observations == 1
    assert ds.summary().n_ignored_mdv == 1


def test_without_dose() -> None:
    grouped = pd.DataFrame({"id": [1, 1, 2], "time": [0.0, 1.0, 0.0], "y": [10.0, 6.0, 9.0]})
    ds = from_grouped(grouped, id="id", time="time", dv="y")
    assert ds.summary().n_doses == 0 and ds.n_observations == 3


def test_dose_must_be_constant_within_subject() -> None:
    grouped = pd.DataFrame({"id": [1, 1, 1], "time": [0.5, 1.0, 3.0], "y": [0.1, 2.0, 1.0],
                            "dose": [5.0, 5.0, 6.0]})
    with pytest.raises(DataError) as exc:
        grouped_to_nonmem(grouped, id="id", time="time", dv="y", dose="dose")
    assert exc.value.row == 3 and exc.value.column == "dose"
    assert "expected the same dose on every row of subject 1 (row 1 has 5)" in str(exc.value)


def test_missing_dose_value() -> None:
    grouped = pd.DataFrame({"id": [1, 1], "time": [0.5, 1.0], "y": [0.1, 2.0],
                            "dose": [5.0, np.nan]})
    with pytest.raises(DataError) as exc:
        grouped_to_nonmem(grouped, id="id", time="time", dv="y", dose="dose")
    assert exc.value.row == 2 and "dose amount" in str(exc.value)


def test_missing_column() -> None:
    grouped = pd.DataFrame({"id": [1], "time": [0.5], "y": [0.1]})
    with pytest.raises(DataError, match=r"no column\(s\) \['Dose'\]"):
        grouped_to_nonmem(grouped, id="id", time="time", dv="y", dose="Dose")


def test_non_numeric_time() -> None:
    grouped = pd.DataFrame({"id": [1, 1], "time": ["0.5", "noon"], "y": [0.1, 0.2]})
    with pytest.raises(DataError) as exc:
        grouped_to_nonmem(grouped, id="id", time="time", dv="y")
    assert exc.value.row == 2 and exc.value.column == "time" and "'noon'" in str(exc.value)
