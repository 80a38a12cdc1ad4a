"""Bind a population model to data: the dense per-subject arrays every method uses.

Records are ADDL-expanded and padded so that the whole population is a few
arrays with a leading subject axis; observations are indexed into the records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from compartments.events import OBSERVATION, events_from_nonmem
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
        Baseline covariate values (subjects x covariates), in the order of
        ``model.covariate_names``.
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
    dataset: Dataset | None = None

    @property
    def n_subjects(self) -> int:
        """Number of subjects."""
        return len(self.subject_ids)

    @property
    def n_observations(self) -> int:
        """Number of observations used."""
        return int(self.obs_mask.sum())


def build_problem(
    model: PopulationModel, data: Dataset | pd.DataFrame, *, output_column: str | None = None
) -> Problem:
    """Bind ``model`` to a validated dataset (or NONMEM-format rows, validated here).

    Observation records are EVID=0 rows with MDV != 1 and a DV; everything
    else feeds the dosing engine only.
    """
    dataset = data if isinstance(data, Dataset) else read_nonmem(data)
    dataset.check_model(model.structure, output_column=output_column)
    normalised = dataset.to_dataframe()
    file_rows = np.asarray(normalised.index, dtype=int)
    df = normalised.reset_index(drop=True)
    if "DV" not in df.columns:
        raise ProblemError("the data have no DV column")
    missing = [c for c in model.covariate_names if c not in df.columns]
    if missing:
        raise ProblemError(
            f"covariates {missing} used by the model are not columns of the data "
            f"(columns: {list(df.columns)})"
        )
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
        cov_row = []
        for name in model.covariate_names:
            values = pd.to_numeric(df[name].iloc[rows], errors="coerce").to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                raise ProblemError(f"subject {table.subject}: covariate {name} is missing on every record")
            cov_row.append(finite[0])
        covs.append(cov_row)
    M = max((len(s[0]) for s in per_subject), default=0)
    if M == 0:
        raise ProblemError("the data contain no observations (EVID=0, MDV=0 with a DV)")
    B = len(tables)

    def pad(k: int, fill: float, dtype: type) -> np.ndarray:
        out = np.full((B, M), fill, dtype=dtype)
        for i, s in enumerate(per_subject):
            out[i, : len(s[k])] = s[k]
        return out

    mask = np.zeros((B, M), bool)
    for i, s in enumerate(per_subject):
        mask[i, : len(s[0])] = True
    return Problem(
        model=model, records=records, layout=layout,
        obs_index=pad(0, 0, int), obs_output=pad(1, 0, int), dv=pad(2, 0.0, float),
        obs_mask=mask, obs_time=pad(3, 0.0, float), obs_row=pad(4, -1, int),
        covariates=np.asarray(covs, dtype=float).reshape(B, len(model.covariate_names)),
        subject_ids=tuple(t.subject for t in tables), dataset=dataset,
    )
