"""Bind a population model to data: the dense per-subject arrays every method uses.

Records are ADDL-expanded and padded so that the whole population is a few
arrays with a leading subject axis; observations are indexed into the records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from compartments.events import OBSERVATION, EventTable, events_from_nonmem, expand_records
from compartments.solve import Layout, RecordArrays, records_from_tables
from estimation.data import Dataset, read_nonmem
from estimation.population import PopulationModel


class ProblemError(ValueError):
    """Data and model do not fit together (missing covariate, no observations...)."""


@dataclass(frozen=True, eq=False)
class Problem:
    """A population model bound to a dataset.

    Attributes
    ----------
    records
        Batch :class:`~compartments.solve.RecordArrays` (subjects x records).
    obs_index, obs_output, dv, obs_mask, obs_time, obs_row
        Per subject and observation: record index, output index, observed
        value, validity mask, time and row number in the input data (1-based).
    covariates
        Covariate values in the order of ``model.covariate_names``: baseline values
        (subjects x covariates) or, when a covariate the model uses changes within a
        subject (``time_varying``), one row per ADDL-expanded record (subjects x records x
        covariates), so that individual parameters are evaluated record by record as
        NONMEM's $PK is. Implied (ADDL) doses take the values of the next actual record.
    time_varying
        Whether ``covariates`` has a record axis.
    output_column
        The data column choosing each observation's output (e.g. ``"DVID"``), if any.
    """

    model: PopulationModel
    records: RecordArrays
    layout: Layout
    obs_index: np.ndarray
    obs_output: np.ndarray
    dv: np.ndarray
    obs_mask: np.ndarray
    obs_time: np.ndarray
    obs_row: np.ndarray
    covariates: np.ndarray
    subject_ids: tuple
    time_varying: bool = False
    dataset: Dataset | None = None
    output_column: str | None = None

    @property
    def n_subjects(self) -> int:
        """Number of subjects."""
        return len(self.subject_ids)

    @property
    def n_observations(self) -> int:
        """Number of observations used."""
        return int(self.obs_mask.sum())


def build_problem(
    model: PopulationModel, data: Dataset | pd.DataFrame, *, output_column: str | None = None,
    design: bool = False,
) -> Problem:
    """Bind ``model`` to a validated dataset (or NONMEM-format rows, validated here).

    Observation records are EVID=0 rows with MDV != 1 and a DV; everything
    else feeds the dosing engine only. The data are first checked against the
    model by :meth:`~estimation.data.Dataset.check_model` (dose and observation
    compartments, outputs, covariates and, unless ``design``, DV > 0 for outputs
    with a log-transformed error model).

    Parameters
    ----------
    model
        The population model.
    data
        The dataset (or NONMEM-format rows).
    output_column
        Column (e.g. ``"DVID"``, 1-based) choosing each observation's output.
    design
        The DV values are placeholders (simulation): not checked against the error
        models.

    Raises
    ------
    DataError
        A record or column that does not fit the model, naming the row.
    ProblemError
        The data contain no observations, or a covariate is missing on every record of
        a subject.
    """
    dataset = data if isinstance(data, Dataset) else read_nonmem(data)
    dataset.check_model(model, output_column=output_column, design=design)
    normalised = dataset.to_dataframe()
    file_rows = np.asarray(normalised.index, dtype=int)
    df = normalised.reset_index(drop=True)
    tables = events_from_nonmem(df, model.structure, output_column=output_column)
    records, layout, positions = records_from_tables(tables)
    dv_all = pd.to_numeric(df["DV"], errors="coerce").to_numpy(dtype=float)
    mdv_all = (pd.to_numeric(df["MDV"], errors="coerce").fillna(0).to_numpy()
               if "MDV" in df.columns else np.zeros(len(df)))
    per_subject = []
    covs = []
    for table, pos in zip(tables, positions, strict=True):
        rows = table.rows - 1
        is_obs = (table.evid == OBSERVATION) & (mdv_all[rows] != 1) & np.isfinite(dv_all[rows])
        idx = np.flatnonzero(is_obs)
        per_subject.append(
            (pos[idx], table.output[idx], dv_all[rows[idx]], table.time[idx], file_rows[rows[idx]])
        )
        covs.append(_subject_covariates(df, rows, table, model.covariate_names))
    M = max((len(s[0]) for s in per_subject), default=0)
    if M == 0:
        raise ProblemError("the data contain no observations (EVID=0, MDV=0 with a DV)")
    B = len(tables)

    def pad(k: int, fill: float, dtype: type) -> np.ndarray:
        out = np.full((B, M), fill, dtype=dtype)
        for i, s in enumerate(per_subject):
            out[i, : len(s[k])] = s[k]
        return out

    n_cov = len(model.covariate_names)
    time_varying = any(np.any(c != c[:1]) for c in covs)
    if time_varying:
        N = layout.n_records
        covariates = np.stack([np.concatenate([c, np.repeat(c[-1:], N - len(c), axis=0)]) for c in covs])
    else:
        covariates = np.asarray([c[0] for c in covs], dtype=float).reshape(B, n_cov)
    mask = np.zeros((B, M), bool)
    for i, s in enumerate(per_subject):
        mask[i, : len(s[0])] = True
    return Problem(
        model=model, records=records, layout=layout,
        obs_index=pad(0, 0, int), obs_output=pad(1, 0, int), dv=pad(2, 0.0, float),
        obs_mask=mask, obs_time=pad(3, 0.0, float), obs_row=pad(4, -1, int),
        covariates=covariates, subject_ids=tuple(t.subject for t in tables),
        time_varying=time_varying, dataset=dataset, output_column=output_column,
    )


def _subject_covariates(df: pd.DataFrame, rows: np.ndarray, table: EventTable,
                        names: tuple[str, ...]) -> np.ndarray:
    """Covariates of one subject per ADDL-expanded record (records x covariates).

    Missing values are carried forward (and, before the first value, backward);
    implied doses take the values of the next actual record (NONMEM evaluates $PK at
    actual records only and advances through implied doses with those values).
    """
    expanded = expand_records(table)
    values = np.empty((len(table), len(names)))
    for k, name in enumerate(names):
        column = pd.to_numeric(df[name].iloc[rows], errors="coerce")
        if column.isna().all():
            raise ProblemError(f"subject {table.subject}: covariate {name} is missing on every record")
        values[:, k] = column.ffill().bfill().to_numpy(dtype=float)
    source = expanded.source
    seen: set[int] = set()
    implied = np.zeros(len(source), bool)
    for j, i in enumerate(source):
        implied[j] = int(i) in seen
        seen.add(int(i))
    out = values[source] if len(source) else values[:1]
    next_actual = None
    for j in range(len(source) - 1, -1, -1):
        if implied[j]:
            if next_actual is not None:
                out[j] = out[next_actual]
        else:
            next_actual = j
    return out
