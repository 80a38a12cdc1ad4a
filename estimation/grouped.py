"""Long "grouped" data (R's groupedData, e.g. ``Theoph``) to the NONMEM form.

Grouped data have one row per observation with the subject, the time, the
response, the subject's dose and covariates. :func:`grouped_to_nonmem` writes
one dose record per subject (EVID 1, MDV 1) followed by the observation records
(EVID 0, MDV 0) in NONMEM columns; :func:`from_grouped` then reads that table
with :func:`estimation.data.read_nonmem`.

Examples
--------
>>> import pandas as pd
>>> theoph = pd.DataFrame({"Subject": [1, 1, 2], "Time": [0.5, 2.0, 1.0],
...     "conc": [4.1, 6.2, 3.3], "Dose": [320.0, 320.0, 250.0], "Wt": [79.6, 79.6, 72.4]})
>>> grouped_to_nonmem(theoph, id="Subject", time="Time", dv="conc", dose="Dose",
...                   covariates={"Wt": "WT"})
   ID  TIME   DV    AMT  EVID  MDV  CMT    WT
0   1   0.0  0.0  320.0     1    1    1  79.6
1   1   0.5  4.1    0.0     0    0    2  79.6
2   1   2.0  6.2    0.0     0    0    2  79.6
3   2   0.0  0.0  250.0     1    1    1  72.4
4   2   1.0  3.3    0.0     0    0    2  72.4
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from estimation.data import NONMEM_COLUMNS, Dataset, _read
from estimation.data_checks import DataError, record_error

__all__ = ["from_grouped", "grouped_to_nonmem"]


def grouped_to_nonmem(
    df: pd.DataFrame,
    *,
    id: str,
    time: str,
    dv: str,
    dose: str | None = None,
    dose_cmt: int = 1,
    obs_cmt: int = 2,
    dose_time: float = 0.0,
    covariates: Sequence[str] | Mapping[str, str] = (),
) -> pd.DataFrame:
    """Convert long grouped data to a NONMEM-format DataFrame.

    Parameters
    ----------
    df
        One row per observation.
    id, time, dv
        Columns with the subject, the observation time and the response.
    dose
        Column with each subject's dose amount (one value per subject; the same
        on all of its rows); ``None`` for data without dosing.
    dose_cmt, obs_cmt
        NONMEM compartment numbers of the dose and of the observations
        (ADVAN convention for an oral model: 1 depot, 2 central).
    dose_time
        Time of the single dose.
    covariates
        Columns to carry over, or ``{column: new name}`` to rename them (e.g.
        ``{"Wt": "WT"}``). The dose record takes the covariate values of the
        subject's first row.

    Returns
    -------
    pandas.DataFrame
        Columns ID TIME DV AMT EVID MDV CMT and the covariates; per subject (in
        order of first appearance) the dose record, placed before observations
        at the same time, then the observations sorted by time. Dose records
        have DV 0 (NONMEM convention); a missing response gives MDV 1 (kept,
        counted as ignored in the summary).

    Raises
    ------
    DataError
        A missing column, or a subject whose dose differs between its rows or is
        missing, naming the row of ``df`` (1-based).
    """
    cov_map = dict(covariates) if isinstance(covariates, Mapping) else {c: c for c in covariates}
    needed = [id, time, dv, *([dose] if dose is not None else []), *cov_map]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"grouped data: no column(s) {missing}; the columns are "
                        f"{list(map(str, df.columns))}", column=str(missing[0]))
    clash = [new for new in cov_map.values() if new.upper() in NONMEM_COLUMNS]
    if clash:
        raise DataError(f"grouped data: covariate name {clash[0]!r} is a NONMEM column name; "
                        "choose another name", column=clash[0])

    data = df.reset_index(drop=True)
    rows = np.arange(1, len(data) + 1)
    subject = data[id]
    if subject.isna().any():
        i = int(np.flatnonzero(subject.isna().to_numpy())[0])
        raise record_error(int(rows[i]), id, np.nan, "expected a subject identifier")
    times = pd.to_numeric(data[time], errors="coerce")
    bad = np.flatnonzero(times.isna().to_numpy())
    if bad.size:
        raise record_error(int(rows[bad[0]]), time, data[time].iloc[bad[0]],
                           "expected the observation time (a number)")
    response = pd.to_numeric(data[dv].replace({".": np.nan, "": np.nan}), errors="coerce")

    order = pd.Series(pd.factorize(subject, sort=False)[0])
    obs = pd.DataFrame({
        "ID": subject.to_numpy(),
        "TIME": times.to_numpy(dtype=float),
        "DV": response.to_numpy(dtype=float),
        "AMT": 0.0,
        "EVID": 0,
        "MDV": response.isna().to_numpy().astype(int),
        "CMT": int(obs_cmt),
        **{new: data[old].to_numpy() for old, new in cov_map.items()},
        "_subject": order.to_numpy(),
        "_kind": 1,
        "_row": rows,
    })

    first = obs.drop_duplicates("_subject", keep="first")
    doses = first.copy()
    doses["TIME"] = float(dose_time)
    doses["DV"] = 0.0
    doses["EVID"], doses["MDV"], doses["CMT"], doses["_kind"] = 1, 1, int(dose_cmt), 0
    if dose is not None:
        amounts = pd.to_numeric(data[dose], errors="coerce")
        per_subject = amounts.groupby(order.to_numpy(), sort=False)
        for k, values in per_subject:
            vals = values.to_numpy(dtype=float)
            where = values.index.to_numpy()
            if np.isnan(vals).any():
                i = int(where[np.flatnonzero(np.isnan(vals))[0]])
                raise record_error(int(rows[i]), dose, data[dose].iloc[i],
                                   "expected the subject's dose amount (a number)")
            if np.any(vals != vals[0]):
                i = int(where[np.flatnonzero(vals != vals[0])[0]])
                raise record_error(
                    int(rows[i]), dose, vals[vals != vals[0]][0],
                    f"expected the same dose on every row of subject {subject.iloc[where[0]]} "
                    f"(row {rows[where[0]]} has {vals[0]:g}); a single dose per subject is "
                    "converted")
            doses.loc[doses["_subject"] == k, "AMT"] = vals[0]
        out = pd.concat([doses, obs], ignore_index=True)
    else:
        out = obs
    out = out.sort_values(["_subject", "TIME", "_kind", "_row"], kind="stable")
    out = out.drop(columns=["_subject", "_kind", "_row"]).reset_index(drop=True)
    return out[["ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", *cov_map.values()]]


def from_grouped(
    df: pd.DataFrame,
    *,
    id: str,
    time: str,
    dv: str,
    dose: str | None = None,
    dose_cmt: int = 1,
    obs_cmt: int = 2,
    dose_time: float = 0.0,
    covariates: Sequence[str] | Mapping[str, str] = (),
) -> Dataset:
    """Read long grouped data as a :class:`~estimation.data.Dataset`.

    The conversion is :func:`grouped_to_nonmem` (same arguments).

    Rows of the returned dataset are those of the converted NONMEM table
    (``grouped_to_nonmem(...)``), where every subject gains a dose record.

    Examples
    --------
    >>> import pandas as pd
    >>> theoph = pd.DataFrame({"Subject": [1, 1], "Time": [0.5, 2.0], "conc": [4.1, 6.2],
    ...                        "Dose": [320.0, 320.0]})
    >>> ds = from_grouped(theoph, id="Subject", time="Time", dv="conc", dose="Dose")
    >>> ds.n_subjects, ds.n_observations, ds.summary().n_doses
    (1, 2, 1)
    """
    table = grouped_to_nonmem(
        df, id=id, time=time, dv=dv, dose=dose, dose_cmt=dose_cmt, obs_cmt=obs_cmt,
        dose_time=dose_time, covariates=covariates,
    )
    return _read(table, rename=None, drop=(), stacklevel=3)
