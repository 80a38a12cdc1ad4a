"""Population PK data: read, validate and summarise NONMEM-format tables.

:func:`read_nonmem` turns a NONMEM-format CSV file (or a DataFrame) into a
validated :class:`Dataset`: one :class:`Subject` per ID with its records, its
observations and its covariates. Columns keep NONMEM names (ID TIME DV AMT EVID
MDV CMT RATE II ADDL SS, any case); every other column is a covariate. ``.``,
empty cells and ``NA`` are missing. Every record keeps its row number in the
input (1 = the first line after the header) so that errors, warnings and later
per-record diagnostics refer to the file as the user sees it.

Nothing is dropped silently: :meth:`Dataset.summary` counts what is used and
what is ignored (EVID 2 records, observation records with MDV 1, blank or
``#`` comment lines).

Examples
--------
>>> ds = read_nonmem(example_path("theo_sd"))
>>> ds.n_subjects, ds.n_observations, ds.covariates
(12, 132, ('WT',))
>>> ds.subjects[0].obs_time[:3]
array([0.  , 0.25, 0.57])
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from compartments.events import EventError, EventTable, events_from_nonmem
from compartments.graph import Model
from estimation.data_checks import (
    DOSE,
    OBSERVATION,
    OTHER,
    RESET,
    RESET_DOSE,
    DataError,
    DataWarning,
    check_covariate_columns,
    check_log_scale_dv,
    check_observation_compartments,
    check_records,
    record_error,
    suspicious,
)
from estimation.population import PopulationModel

__all__ = [
    "NONMEM_COLUMNS",
    "DataError",
    "DataSummary",
    "DataWarning",
    "Dataset",
    "Subject",
    "example_names",
    "example_path",
    "read_nonmem",
]

NONMEM_COLUMNS = ("ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "RATE", "II", "ADDL", "SS")
REQUIRED_COLUMNS = ("ID", "TIME", "DV")
_WHOLE_NUMBER_COLUMNS = ("EVID", "MDV", "CMT", "SS", "ADDL")
_MISSING = frozenset({"", ".", "NA", "NaN", "nan"})
_EXAMPLES = {"theo_sd": "theo_sd.csv", "Wang2007": "Wang2007.csv"}

DataLike = str | os.PathLike[str] | pd.DataFrame


# ========================================================================= reading
def read_nonmem(
    data: DataLike,
    *,
    rename: Mapping[str, str] | None = None,
    drop: Iterable[str] = (),
) -> Dataset:
    """Read and validate a NONMEM-format table.

    Parameters
    ----------
    data
        Path of a CSV file (header line first; blank lines and lines starting
        with ``#`` are skipped and counted) or a DataFrame (row ``k`` is
        position ``k - 1``).
    rename
        ``{name in the data: NONMEM or covariate name}``, e.g. ``{"Y": "DV"}``;
        names are matched case-insensitively.
    drop
        Columns to leave out (e.g. ``["SS", "II"]`` when they hold markers that
        are not NONMEM values); listed in the summary.

    Returns
    -------
    Dataset
        The validated records, one :class:`Subject` per ID.

    Raises
    ------
    DataError
        With the row (1-based, header excluded), column, value and what is
        expected: missing required column (ID, TIME, DV), non-numeric value,
        invalid EVID/MDV/SS/RATE/II/ADDL, negative AMT, dose without AMT,
        observation without DV and MDV 0, duplicated ID block, time decreasing
        within a subject without a reset (EVID 3/4).

    Warns
    -----
    DataWarning
        Subjects without observations, negative DV, duplicate observation
        times, observations before the first dose, missing covariate values
        (filled as described in :class:`Dataset`).

    Notes
    -----
    NONMEM defaults apply to absent columns or missing cells: EVID is 1 where
    AMT > 0 (and MDV is not 0), else 0; MDV is 0 on EVID 0 records, else 1;
    AMT, RATE, II, ADDL, SS are 0; a missing CMT sends a dose to the model's
    first dosing compartment (resolved by :meth:`Dataset.events_for`).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 1, 1], "time": [0, 1, 2], "y": [".", 5.1, 3.2],
    ...                    "amt": [100, ".", "."], "wt": [70, 70, 70]})
    >>> ds = read_nonmem(df, rename={"y": "DV"})
    >>> ds.to_dataframe()[["ID", "TIME", "DV", "AMT", "EVID", "MDV", "wt"]]
    ... # doctest: +NORMALIZE_WHITESPACE
         ID  TIME   DV    AMT  EVID  MDV    wt
    ROW
    1     1   0.0  NaN  100.0     1    1  70.0
    2     1   1.0  5.1    0.0     0    0  70.0
    3     1   2.0  3.2    0.0     0    0  70.0
    """
    return _read(data, rename=rename, drop=drop, stacklevel=3)


def _read(
    data: DataLike, *, rename: Mapping[str, str] | None, drop: Iterable[str], stacklevel: int
) -> Dataset:
    raw, rows, skipped, source = _load(data)
    raw, dropped = _name_columns(raw, rename or {}, drop, source)
    if len(raw) == 0:
        raise DataError(f"{source or 'data'}: no records: expected at least one data row "
                        "after the header")
    frame, covariates = _numeric_frame(raw, rows, source)
    check_records(frame, source=source)
    frame["AMT"] = frame["AMT"].fillna(0.0)
    frame, messages = _fill_covariates(frame, covariates)
    keys = tuple(k for k in ("CMT", "DVID") if k in frame.columns or k in covariates)
    messages += suspicious(frame, observation_keys=keys)
    where = f"{source}: " if source else ""
    for message in messages:
        warnings.warn(where + message, DataWarning, stacklevel=stacklevel)
    frame["CMT"] = frame["CMT"].astype("Int64")
    return Dataset(
        frame, covariates=covariates, source=source, skipped_lines=skipped,
        dropped_columns=dropped, warnings=tuple(where + m for m in messages),
    )


def _load(data: DataLike) -> tuple[pd.DataFrame, np.ndarray, int, str | None]:
    """Raw table (strings for files), input row numbers, lines skipped, source name."""
    if isinstance(data, pd.DataFrame):
        raw = data.reset_index(drop=True)
        return raw, np.arange(1, len(raw) + 1), 0, None
    path = Path(data)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{path.name}: the file is empty: expected a header line "
                        "(ID,TIME,DV,...) and data rows") from err
    rows = np.arange(1, len(raw) + 1)
    first = raw.iloc[:, 0].str.strip()
    blank = (first == "").to_numpy() & raw.iloc[:, 1:].eq("").all(axis=1).to_numpy()
    comment = first.str.startswith("#").to_numpy()
    keep = ~(blank | comment)
    return raw.loc[keep].reset_index(drop=True), rows[keep], int((~keep).sum()), path.name


def _name_columns(
    raw: pd.DataFrame, rename: Mapping[str, str], drop: Iterable[str], source: str | None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Apply ``rename`` and ``drop``; upper-case NONMEM names; check required and clashes."""
    names = [str(c).strip() for c in raw.columns]
    prefix = f"{source}: " if source else ""

    def find(name: str, what: str) -> int:
        matches = [i for i, n in enumerate(names) if n.upper() == str(name).strip().upper()]
        if not matches:
            raise DataError(f"{prefix}{what}: no column {name!r}; the columns are {names}",
                            column=str(name))
        return matches[0]

    for old, new in rename.items():
        new = str(new).strip()
        names[find(old, "rename")] = new.upper() if new.upper() in NONMEM_COLUMNS else new
    drop_idx = sorted({find(name, "drop") for name in drop})
    dropped = tuple(names[i] for i in drop_idx)
    keep = [i for i in range(len(names)) if i not in drop_idx]
    raw = raw.iloc[:, keep].copy()
    names = [names[i] for i in keep]
    names = [n.upper() if n.upper() in NONMEM_COLUMNS else n for n in names]
    seen: dict[str, str] = {}
    original = [str(raw.columns[i]) for i in range(len(names))]
    for name, orig in zip(names, original, strict=True):
        key = name.upper()
        if key in seen:
            raise DataError(
                f"{prefix}columns {seen[key]!r} and {orig!r} both name {name} (column names are "
                "case-insensitive): rename or drop one of them", column=name)
        seen[key] = orig
    raw.columns = names
    for required in REQUIRED_COLUMNS:
        if required not in names:
            hint = {"DV": "the observed value", "TIME": "the time of the record",
                    "ID": "the subject identifier"}[required]
            raise DataError(
                f"{prefix}missing required column {required} ({hint}); the columns are "
                f"{original}; map another column to it (--map <column>={required} on the command line, "
                f"rename={{'<column>': '{required}'}} in read_nonmem)",
                column=required)
    return raw, dropped


def _numeric(series: pd.Series, column: str, rows: np.ndarray, source: str | None) -> np.ndarray:
    """Float values of a column (NaN where missing); DataError on text or infinity."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
    else:
        values, bad = _parse_numbers(series)
        if bad.size:
            i = int(bad[0])
            extra = "" if column in NONMEM_COLUMNS else (
                f" (covariates must be numeric: encode categories as numbers, or drop={[column]})")
            raise record_error(int(rows[i]), column, _cell_text(series.iloc[i]),
                               "expected a number ('.' or an empty cell for missing)" + extra,
                               source=source)
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        i = int(bad[0])
        raise record_error(int(rows[i]), column, values[i], "expected a finite number",
                           source=source)
    return values


def _cell_text(value: object) -> str:
    """A cell as stripped text (``None``/NaN as the empty string)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def _parse_numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats of a text column (NaN where missing) and the positions that are not numbers."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    unparsed = np.flatnonzero(np.isnan(values))
    if not unparsed.size:
        return values, unparsed
    text = series.iloc[unparsed].map(_cell_text)
    return values, unparsed[~text.isin(_MISSING).to_numpy()]


def _ids(series: pd.Series, rows: np.ndarray, source: str | None) -> np.ndarray:
    """Subject identifiers: integers when all are whole numbers, else floats or text."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values)
        text = None
    else:
        values, _ = _parse_numbers(series)
        text = series.map(_cell_text) if np.isnan(values).any() else None
        missing = np.zeros(len(values), bool) if text is None else text.isin(_MISSING).to_numpy()
    bad = np.flatnonzero(missing)
    if bad.size:
        raise record_error(int(rows[bad[0]]), "ID", np.nan,
                           "expected a subject identifier on every record", source=source)
    if text is not None and np.isnan(values).any():
        return text.to_numpy(dtype=object)
    if np.all(values == np.round(values)):
        return values.astype(np.int64)
    return values


def _numeric_frame(
    raw: pd.DataFrame, rows: np.ndarray, source: str | None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The numeric table with NONMEM defaults (AMT kept missing for the checks)."""
    n = len(raw)
    cols = {name: _numeric(raw[name], name, rows, source)
            for name in raw.columns if name != "ID"}
    for name in _WHOLE_NUMBER_COLUMNS:
        if name in cols:
            v = cols[name]
            bad = np.flatnonzero(~np.isnan(v) & (v != np.round(v)))
            if bad.size:
                raise record_error(int(rows[bad[0]]), name, v[bad[0]], "expected a whole number",
                                   source=source)
    time = cols["TIME"]
    bad = np.flatnonzero(np.isnan(time))
    if bad.size:
        raise record_error(int(rows[bad[0]]), "TIME", np.nan,
                           "expected the time of the record (a number)", source=source)

    amt = cols.get("AMT", np.full(n, np.nan))
    given_mdv = cols.get("MDV", np.full(n, np.nan))
    given_evid = cols.get("EVID", np.full(n, np.nan))
    derived = np.isnan(given_evid)
    conflict = np.flatnonzero(derived & (amt > 0) & (given_mdv == 0))
    if conflict.size:
        i = int(conflict[0])
        raise record_error(
            int(rows[i]), "MDV", 0.0,
            f"AMT = {amt[i]:g} makes the record a dose, but MDV 0 makes it an observation; "
            "expected MDV 1 on dose records (or give EVID explicitly)", source=source)
    evid = np.where(derived, np.where((amt > 0) & (given_mdv != 0), DOSE, OBSERVATION),
                    given_evid)
    mdv = np.where(np.isnan(given_mdv), (evid != OBSERVATION).astype(float), given_mdv)

    data: dict[str, np.ndarray] = {
        "ID": _ids(raw["ID"], rows, source),
        "TIME": time,
        "DV": cols["DV"],
        "AMT": amt,
        "EVID": evid.astype(np.int64),
        "MDV": mdv.astype(np.int64),
        "CMT": cols.get("CMT", np.full(n, np.nan)),
        "RATE": np.nan_to_num(cols.get("RATE", np.zeros(n)), nan=0.0),
        "II": np.nan_to_num(cols.get("II", np.zeros(n)), nan=0.0),
        "ADDL": np.nan_to_num(cols.get("ADDL", np.zeros(n)), nan=0.0).astype(np.int64),
        "SS": np.nan_to_num(cols.get("SS", np.zeros(n)), nan=0.0).astype(np.int64),
    }
    covariates = tuple(name for name in raw.columns if name not in NONMEM_COLUMNS)
    for name in covariates:
        data[name] = cols[name]
    frame = pd.DataFrame(data, index=pd.Index(rows, name="ROW"))
    return frame, covariates


def _fill_covariates(
    frame: pd.DataFrame, covariates: Sequence[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Fill missing covariate cells within each subject: LOCF, then NOCB before the first value."""
    messages = []
    ids = frame["ID"].to_numpy()
    for name in covariates:
        column = frame[name]
        missing = column.isna().to_numpy()
        if not missing.any():
            continue
        grouped = column.groupby(ids, sort=False)
        filled = grouped.ffill()
        filled = filled.groupby(ids, sort=False).bfill()
        frame[name] = filled
        still = filled.isna().to_numpy()
        fixed = missing & ~still
        if fixed.any():
            subjects = list(pd.unique(ids[fixed]))
            messages.append(
                f"covariate {name} is missing in {fixed.sum()} record(s) of "
                f"{len(subjects)} subject(s) (rows {_first_rows(frame.index[fixed])}): filled "
                "within each subject by the last value carried forward (the next value carried "
                "backward before the first one)"
            )
        if still.any():
            subjects = list(pd.unique(ids[still]))
            messages.append(
                f"covariate {name} has no value at all for {len(subjects)} subject(s) "
                f"(ID {', '.join(map(str, subjects[:10]))}{', ...' if len(subjects) > 10 else ''})"
                f": left missing (NaN); a model that uses {name} cannot be evaluated for them"
            )
    return frame, messages


def _first_rows(rows: Iterable[int], limit: int = 5) -> str:
    rows = [int(r) for r in rows]
    return ", ".join(map(str, rows[:limit])) + (", ..." if len(rows) > limit else "")


# ================================================================= example data
def example_names() -> tuple[str, ...]:
    """Names of the example datasets shipped with popkin.

    Examples
    --------
    >>> example_names()
    ('theo_sd', 'Wang2007')
    """
    return tuple(_EXAMPLES)


def example_path(name: str) -> Path:
    """Path of a bundled example dataset (see ``estimation/examples/PROVENANCE.md``).

    Parameters
    ----------
    name
        ``"theo_sd"`` (theophylline, 12 subjects, single oral dose) or
        ``"Wang2007"`` (10 subjects, no dosing; columns ID, Time, Y); the
        ``.csv`` suffix is optional.

    Examples
    --------
    >>> example_path("theo_sd").name
    'theo_sd.csv'
    """
    key = name[:-4] if name.endswith(".csv") else name
    if key not in _EXAMPLES:
        raise KeyError(f"no example dataset {name!r}; available: {', '.join(_EXAMPLES)}")
    return Path(__file__).resolve().parent / "examples" / _EXAMPLES[key]


# ===================================================================== subjects
@dataclass(frozen=True, eq=False)
class Subject:
    """The records of one subject, in file order.

    Attributes
    ----------
    id
        The subject identifier (ID).
    rows
        1-based input row of each record.
    time, evid, dv
        Per-record TIME, EVID and DV (NaN where missing).
    mask
        Per-record observation mask: EVID 0 and MDV 0 (the records used in a fit).
    covariates
        Per-record covariate values (filled; index: input rows).

    Examples
    --------
    >>> s = read_nonmem(example_path("theo_sd")).subjects[0]
    >>> s.id, s.n_observations, int(s.rows[0])
    (1, 11, 1)
    """

    id: object
    rows: np.ndarray
    time: np.ndarray
    evid: np.ndarray
    dv: np.ndarray
    mask: np.ndarray
    covariates: pd.DataFrame
    records: pd.DataFrame = field(repr=False)

    @property
    def n_observations(self) -> int:
        """Number of observations used in a fit."""
        return int(self.mask.sum())

    @property
    def obs_time(self) -> np.ndarray:
        """Times of the observations used in a fit."""
        return self.time[self.mask]

    @property
    def obs_dv(self) -> np.ndarray:
        """Observed values (DV) used in a fit."""
        return self.dv[self.mask]

    @property
    def obs_rows(self) -> np.ndarray:
        """Input rows of the observations used in a fit."""
        return self.rows[self.mask]

    def covariate_matrix(
        self, names: Sequence[str] | None = None, *, observations_only: bool = True
    ) -> np.ndarray:
        """Covariate values, one row per observation (or per record), one column per name.

        Examples
        --------
        >>> s = read_nonmem(example_path("theo_sd")).subjects[0]
        >>> s.covariate_matrix().shape
        (11, 1)
        """
        names = list(self.covariates.columns) if names is None else list(names)
        unknown = [n for n in names if n not in self.covariates.columns]
        if unknown:
            raise KeyError(f"unknown covariate(s) {unknown}; covariates: "
                           f"{list(self.covariates.columns)}")
        values = self.covariates[names].to_numpy(dtype=float)
        return values[self.mask] if observations_only else values

    def events_for(self, model: Model, output_column: str | None = None) -> EventTable:
        """This subject's :class:`~compartments.events.EventTable` for ``model``.

        Raises
        ------
        DataError
            When a record does not fit the model (e.g. a dose into a compartment
            that is not a dosing target), naming the input row.
        """
        return _event_tables(self.records, self.rows, model, output_column, None)[0]


# ====================================================================== summary
@dataclass(frozen=True)
class DataSummary:
    """What a dataset holds and what a fit will use or ignore.

    ``str(summary)`` gives the text; every count is also an attribute.

    Examples
    --------
    >>> s = read_nonmem(example_path("theo_sd")).summary()
    >>> s.n_subjects, s.n_observations, s.n_doses, s.n_ignored_evid2
    (12, 132, 12, 0)
    """

    source: str | None
    n_subjects: int
    n_records: int
    n_observations: int
    n_dose_records: int
    n_implied_doses: int
    n_ignored_evid2: int
    n_ignored_mdv: int
    n_resets: int
    n_skipped_lines: int
    covariates: tuple[str, ...]
    time_varying: tuple[str, ...]
    dropped_columns: tuple[str, ...]
    observations_per_subject: dict[object, int]
    warnings: tuple[str, ...] = ()

    @property
    def n_doses(self) -> int:
        """All doses: dose records plus the doses implied by ADDL."""
        return self.n_dose_records + self.n_implied_doses

    def __str__(self) -> str:
        title = f"Dataset {self.source}" if self.source else "Dataset"
        per = self.observations_per_subject
        counts = np.array(list(per.values()) or [0])
        lines = [
            f"{title}: {self.n_subjects} subjects, {self.n_records} records",
            f"  observations used (EVID 0, MDV 0)       {self.n_observations:>8}",
            f"  dose records (EVID 1 or 4)              {self.n_dose_records:>8}"
            f"  (+{self.n_implied_doses} implied by ADDL = {self.n_doses} doses)",
            f"  ignored: other records (EVID 2)         {self.n_ignored_evid2:>8}",
            f"  ignored: observations with MDV 1        {self.n_ignored_mdv:>8}",
            f"  resets (EVID 3 or 4)                    {self.n_resets:>8}",
        ]
        if self.n_skipped_lines:
            lines.append(f"  skipped lines (blank or # comment)      {self.n_skipped_lines:>8}")
        if self.dropped_columns:
            lines.append(f"  dropped columns: {', '.join(self.dropped_columns)}")
        if self.covariates:
            shown = [f"{c} (time-varying)" if c in self.time_varying else c
                     for c in self.covariates]
            lines.append(f"  covariates: {', '.join(shown)}")
        else:
            lines.append("  covariates: none")
        lines.append(
            f"  observations per subject: min {counts.min()}, median {np.median(counts):g}, "
            f"max {counts.max()}"
        )
        if len(per) <= 20:
            lines.append("    " + ", ".join(f"{k}: {v}" for k, v in per.items()))
        if self.warnings:
            lines.append(f"  warnings ({len(self.warnings)}):")
            lines += [f"    - {w}" for w in self.warnings]
        return "\n".join(lines)


# ====================================================================== dataset
class Dataset:
    """A validated NONMEM-format dataset (build it with :func:`read_nonmem`).

    Records keep file order and their input row numbers (``to_dataframe()`` is
    indexed by ``ROW``). Covariates are every non-NONMEM column; missing values
    are filled within each subject by the last value carried forward (NONMEM
    style, for time-varying covariates), and before a subject's first value by
    the next value carried backward; each fill is reported as a
    :class:`DataWarning`.

    Examples
    --------
    >>> ds = read_nonmem(example_path("theo_sd"))
    >>> ds
    Dataset('theo_sd.csv': 12 subjects, 144 records, 132 observations, covariates WT)
    >>> ds.baseline_covariates().head(2)  # doctest: +NORMALIZE_WHITESPACE
          WT
    ID
    1   79.6
    2   72.4
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        covariates: Sequence[str] = (),
        source: str | None = None,
        skipped_lines: int = 0,
        dropped_columns: Sequence[str] = (),
        warnings: Sequence[str] = (),
    ) -> None:
        self._frame = frame
        self._covariates = tuple(covariates)
        self._source = source
        self._skipped = int(skipped_lines)
        self._dropped = tuple(dropped_columns)
        self._warnings = tuple(warnings)
        self._events_frame = _events_frame(frame)
        self._subjects = tuple(self._split())

    def _split(self) -> list[Subject]:
        frame, events = self._frame, self._events_frame
        ids = frame["ID"].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([])
        ends = np.r_[starts[1:], len(ids)].astype(int)
        rows = frame.index.to_numpy()
        time = frame["TIME"].to_numpy(dtype=float)
        evid = frame["EVID"].to_numpy()
        dv = frame["DV"].to_numpy(dtype=float)
        mask = (evid == OBSERVATION) & (frame["MDV"].to_numpy() == 0)
        cov = frame[list(self._covariates)]
        return [
            Subject(
                id=_scalar(ids[s]), rows=rows[s:e], time=time[s:e], evid=evid[s:e], dv=dv[s:e],
                mask=mask[s:e], covariates=cov.iloc[s:e], records=events.iloc[s:e],
            )
            for s, e in zip(starts, ends, strict=True)
        ]

    # ------------------------------------------------------------------ counts
    @property
    def subjects(self) -> tuple[Subject, ...]:
        """One :class:`Subject` per ID, in file order."""
        return self._subjects

    @property
    def ids(self) -> tuple[object, ...]:
        """Subject identifiers in file order."""
        return tuple(s.id for s in self._subjects)

    @property
    def n_subjects(self) -> int:
        """Number of subjects (IDs)."""
        return len(self._subjects)

    @property
    def n_records(self) -> int:
        """Number of records (data rows read)."""
        return len(self._frame)

    @property
    def n_observations(self) -> int:
        """Number of observations used in a fit (EVID 0, MDV 0)."""
        return int(sum(s.n_observations for s in self._subjects))

    @property
    def covariates(self) -> tuple[str, ...]:
        """Covariate names (the non-NONMEM columns), in column order."""
        return self._covariates

    @property
    def time_varying(self) -> tuple[str, ...]:
        """Covariates whose value changes within at least one subject."""
        ids = self._frame["ID"].to_numpy()
        out = []
        for name in self._covariates:
            n_values = self._frame[name].groupby(ids, sort=False).nunique(dropna=True)
            if (n_values > 1).any():
                out.append(name)
        return tuple(out)

    @property
    def rows(self) -> np.ndarray:
        """1-based input row of every record."""
        return self._frame.index.to_numpy()

    @property
    def source(self) -> str | None:
        """File name the data came from (``None`` for a DataFrame)."""
        return self._source

    @property
    def warnings(self) -> tuple[str, ...]:
        """The :class:`DataWarning` messages issued when the data were read."""
        return self._warnings

    def __len__(self) -> int:
        return self.n_subjects

    def __repr__(self) -> str:
        name = f"{self._source!r}: " if self._source else ""
        cov = f", covariates {', '.join(self._covariates)}" if self._covariates else ""
        return (f"Dataset({name}{self.n_subjects} subjects, {self.n_records} records, "
                f"{self.n_observations} observations{cov})")

    # ------------------------------------------------------------------- views
    def to_dataframe(self) -> pd.DataFrame:
        """The records in normalised NONMEM form (a copy), indexed by input ``ROW``.

        Columns: ID TIME DV AMT EVID MDV CMT RATE II ADDL SS, then the
        covariates (filled). CMT is missing (``<NA>``) where the data gave none.
        """
        return self._frame.copy()

    def summary(self) -> DataSummary:
        """Counts of records used and ignored; ``print(ds.summary())`` for the text.

        Examples
        --------
        >>> print(read_nonmem(example_path("theo_sd")).summary())  # doctest: +ELLIPSIS
        Dataset theo_sd.csv: 12 subjects, 144 records
          observations used (EVID 0, MDV 0)            132
          dose records (EVID 1 or 4)                    12  (+0 implied by ADDL = 12 doses)
        ...
        """
        f = self._frame
        evid = f["EVID"].to_numpy()
        mdv = f["MDV"].to_numpy()
        dose = np.isin(evid, (DOSE, RESET_DOSE))
        return DataSummary(
            source=self._source,
            n_subjects=self.n_subjects,
            n_records=self.n_records,
            n_observations=self.n_observations,
            n_dose_records=int(dose.sum()),
            n_implied_doses=int(f["ADDL"].to_numpy()[dose].sum()),
            n_ignored_evid2=int((evid == OTHER).sum()),
            n_ignored_mdv=int(((evid == OBSERVATION) & (mdv == 1)).sum()),
            n_resets=int(np.isin(evid, (RESET, RESET_DOSE)).sum()),
            n_skipped_lines=self._skipped,
            covariates=self._covariates,
            time_varying=self.time_varying,
            dropped_columns=self._dropped,
            observations_per_subject={s.id: s.n_observations for s in self._subjects},
            warnings=self._warnings,
        )

    def baseline_covariates(self) -> pd.DataFrame:
        """One row per subject (index ID): the first non-missing value of each covariate.

        Examples
        --------
        >>> read_nonmem(example_path("theo_sd")).baseline_covariates().shape
        (12, 1)
        """
        cov = self._frame[["ID", *self._covariates]]
        return cov.groupby("ID", sort=False).first()

    def covariate_matrices(
        self, names: Sequence[str] | None = None, *, observations_only: bool = True
    ) -> list[np.ndarray]:
        """Per subject, the covariate values at each observation (or record).

        Returns one array of shape ``(n_observations_i, len(names))`` per subject
        (``(n_records_i, ...)`` with ``observations_only=False``).

        Examples
        --------
        >>> mats = read_nonmem(example_path("theo_sd")).covariate_matrices(["WT"])
        >>> len(mats), mats[0].shape
        (12, (11, 1))
        """
        return [s.covariate_matrix(names, observations_only=observations_only)
                for s in self._subjects]

    # ------------------------------------------------------------------ events
    def events_for(self, model: Model, output_column: str | None = None) -> list[EventTable]:
        """One :class:`~compartments.events.EventTable` per subject for ``model``.

        Built by :func:`compartments.events.events_from_nonmem` (all records,
        including EVID 2 and MDV 1 ones, so that predictions exist for every
        row); each table's ``rows`` are the input rows.

        Parameters
        ----------
        model
            The compartment model; dose CMT values are its 1-based compartment numbers.
        output_column
            Column (e.g. ``"DVID"``, 1-based) choosing the model output each
            observation reads; default: the first output.

        Raises
        ------
        DataError
            A record that does not fit the model, with its input row (e.g. a
            dose CMT that is not a dosing compartment of the model).
        """
        return _event_tables(self._events_frame, self.rows, model, output_column, self._source)

    def check_model(
        self, model: Model | PopulationModel, output_column: str | None = None, *,
        design: bool = False,
    ) -> None:
        """Check the records against ``model``; raise :class:`DataError` naming the row.

        Against the structure (a compartment :class:`~compartments.graph.Model`, or
        the structure of a population model): dose CMT must be a compartment number
        1..n of a dosing target, modelled RATE (-1/-2) needs the model's infusion
        rate/duration, ``output_column`` values must name model outputs
        (1..n_outputs), and the CMT of an observation (EVID 0) must be missing, 0 or
        a compartment number 1..n (an observation reads a model output, chosen by
        ``output_column``, not CMT). Against a
        :class:`~estimation.population.PopulationModel`, also: every covariate the
        model uses is a column (one differing only in case is pointed out), and,
        unless ``design``, every observation used (EVID 0, MDV 0) of an output with
        a log-transformed error model (:class:`~estimation.error_models.Exponential`)
        has DV > 0.

        Parameters
        ----------
        model
            The model the data are for.
        output_column
            Column (e.g. ``"DVID"``, 1-based) choosing each observation's output.
        design
            The DV values are placeholders (a simulation design): not checked
            against the error models.

        Examples
        --------
        >>> iv = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
        ...       .dose("central").output("Cc", "central / V"))
        >>> read_nonmem(example_path("theo_sd")).check_model(iv)
        Traceback (most recent call last):
        ...
        estimation.data_checks.DataError: theo_sd.csv, row 2: column CMT = 2: expected a \
compartment number 1..1 of model 'iv' (1 central), or 0 or missing; an observation reads the \
model output Cc, not CMT
        """
        population = model if isinstance(model, PopulationModel) else None
        structure = population.structure if population is not None else model
        tables = self.events_for(structure, output_column)
        outputs = structure.output_names
        if output_column is not None:
            reads = f"the output numbered by column {output_column}"
        elif len(outputs) == 1:
            reads = f"the model output {outputs[0]}"
        else:
            reads = f"the model's first output, {outputs[0]} (others by output_column)"
        check_observation_compartments(self._frame, structure.compartment_names,
                                       model_name=structure.name, reads=reads, source=self._source)
        if population is None:
            return
        check_covariate_columns(population.covariate_names, self._covariates,
                                model_name=population.title, source=self._source)
        if not design:
            read = np.concatenate([t.output for t in tables]) if tables else np.zeros(0, int)
            check_log_scale_dv(self._frame, read,
                               [em.log_transform for em in population.error_models], outputs,
                               source=self._source)


def _scalar(value: object) -> object:
    """A numpy scalar as the Python number it holds (for readable subject ids)."""
    return value.item() if isinstance(value, np.generic) else value


def _events_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The float table handed to :func:`compartments.events.events_from_nonmem`."""
    out = frame.copy()
    out["CMT"] = out["CMT"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return out


_RECORD_MESSAGE = re.compile(r"^subject (?P<subject>.+?), record (?P<record>\d+): (?P<rest>.*)$",
                             re.S)
_CELL = re.compile(r"^column (?P<column>\w+) = (?P<value>[^:]*): ")


def _event_tables(
    records: pd.DataFrame, rows: np.ndarray, model: Model, output_column: str | None,
    source: str | None,
) -> list[EventTable]:
    """Event tables with input rows; :class:`EventError` becomes :class:`DataError`."""
    nonmem = [c for c in NONMEM_COLUMNS if c in records.columns]
    frame = records[nonmem].reset_index(drop=True)
    if output_column is not None:
        matches = [c for c in records.columns if c.upper() == output_column.upper()]
        if not matches:
            raise DataError(f"output column {output_column!r} is not in the data; columns: "
                            f"{list(records.columns)}", column=output_column)
        _check_outputs(records, matches[0], model, source)
        frame[matches[0].upper()] = records[matches[0]].to_numpy(dtype=float)
    try:
        tables = events_from_nonmem(frame, model, output_column=output_column)
    except EventError as err:
        raise _as_data_error(err, rows, source) from err
    return [replace(t, rows=rows[np.asarray(t.rows) - 1]) for t in tables]


def _check_outputs(records: pd.DataFrame, column: str, model: Model, source: str | None) -> None:
    values = records[column].to_numpy(dtype=float)
    obs = records["EVID"].to_numpy() == OBSERVATION
    n_out = len(model.outputs)
    ok = np.isnan(values) | ((values == np.round(values)) & (values >= 1) & (values <= n_out))
    bad = np.flatnonzero(obs & ~ok)
    if bad.size:
        i = int(bad[0])
        raise record_error(
            int(records.index[i]), column, values[i],
            f"expected an output number 1..{n_out} of model {model.name!r} "
            f"(outputs {', '.join(model.output_names)})", source=source)


def _as_data_error(err: EventError, rows: np.ndarray, source: str | None) -> DataError:
    """Re-word an :class:`EventError` with the input row instead of the record position."""
    message = str(err)
    match = _RECORD_MESSAGE.match(message)
    if not match:
        return DataError(f"{source}: {message}" if source else message)
    row = int(rows[int(match["record"]) - 1])
    rest = match["rest"]
    cell = _CELL.match(rest)
    where = f"{source}, row {row}" if source else f"row {row}"
    return DataError(
        f"{where} (subject {match['subject']}): {rest}", row=row,
        column=cell["column"] if cell else None, value=cell["value"] if cell else None,
    )
