"""Record-level checks of a NONMEM-format table: errors that stop, warnings that inform.

The functions here take the *numeric* table built by :func:`estimation.data.read_nonmem`
(NONMEM columns in upper case, one row per record, indexed by the 1-based row of
the input file) and either raise :class:`DataError` naming the row, the column,
the value and what is expected, or return messages for :class:`DataWarning`. The
``check_*`` functions after :func:`check_records` check the table against facts of a
model (its compartments, covariates and error models), given as plain values by
:meth:`estimation.data.Dataset.check_model`.

Examples
--------
>>> err = DataError("row 3: column AMT = -5: expected a non-negative dose amount",
...                 row=3, column="AMT", value=-5.0)
>>> (err.row, err.column)
(3, 'AMT')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

OBSERVATION, DOSE, OTHER, RESET, RESET_DOSE = 0, 1, 2, 3, 4
MODELLED_RATE, MODELLED_DURATION = -1.0, -2.0


class DataError(ValueError):
    """A dataset cannot be used as it is.

    The message names the 1-based data row of the input (header excluded), the
    column, the offending value and what is expected; the same facts are kept
    as attributes for programs.

    Attributes
    ----------
    row : int or None
        1-based data row of the input (the first line after the header is row 1).
    column : str or None
        NONMEM name of the offending column.
    value : object
        The offending value as read.

    Examples
    --------
    >>> raise DataError("row 2: column TIME is missing: expected a number", row=2, column="TIME")
    Traceback (most recent call last):
    ...
    estimation.data_checks.DataError: row 2: column TIME is missing: expected a number
    """

    def __init__(
        self, message: str, *, row: int | None = None, column: str | None = None,
        value: object = None,
    ) -> None:
        super().__init__(message)
        self.row = row
        self.column = column
        self.value = value


class DataWarning(UserWarning):
    """Suspicious but legal data (e.g. a subject without observations).

    Silence with ``warnings.simplefilter("ignore", DataWarning)``; turn into
    errors with ``warnings.simplefilter("error", DataWarning)``.
    """


def format_value(value: object) -> str:
    """Show a cell value in a message: numbers with ``%g``, text quoted.

    Examples
    --------
    >>> format_value(2.0), format_value("abc"), format_value(float("nan"))
    ('2', "'abc'", 'missing')
    """
    if isinstance(value, float | np.floating):
        return "missing" if np.isnan(value) else f"{value:g}"
    if isinstance(value, int | np.integer):
        return str(value)
    return repr(value)


def record_error(
    row: int, column: str, value: object, expected: str, *, source: str | None = None
) -> DataError:
    """A :class:`DataError` for one cell: ``[source, ]row R: column C = V: expected``.

    Examples
    --------
    >>> str(record_error(4, "EVID", 7.0, "expected 0, 1, 2, 3 or 4", source="a.csv"))
    'a.csv, row 4: column EVID = 7: expected 0, 1, 2, 3 or 4'
    """
    where = f"{source}, row {row}" if source else f"row {row}"
    shown = "is missing" if _is_missing(value) else f"= {format_value(value)}"
    return DataError(f"{where}: column {column} {shown}: {expected}", row=row, column=column,
                     value=value)


def _is_missing(value: object) -> bool:
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


# ------------------------------------------------------------------------- errors
def check_records(frame: pd.DataFrame, *, source: str | None = None) -> None:
    """Raise :class:`DataError` for the first invalid record of each kind, in this order.

    ``frame`` is the numeric table (index: input rows) with columns ID, TIME, DV,
    AMT (missing kept as NaN), EVID, MDV, RATE, II, ADDL, SS and optionally CMT.
    Checked: EVID in 0..4, MDV in {0, 1} and 1 on non-observation records, SS in
    {0, 1, 2}, RATE 0 / > 0 / -1 / -2, II and ADDL non-negative, negative AMT,
    doses without AMT, ADDL or SS without II, dose CMT >= 1, observations with
    missing DV and MDV=0, duplicated ID blocks and times decreasing without a reset.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> f = pd.DataFrame({"ID": [1, 1], "TIME": [0.0, 1.0], "DV": [np.nan, 2.0],
    ...     "AMT": [100.0, np.nan], "EVID": [1, 9], "MDV": [1, 0], "RATE": 0.0,
    ...     "II": 0.0, "ADDL": 0, "SS": 0}, index=[1, 2])
    >>> check_records(f)
    Traceback (most recent call last):
    ...
    estimation.data_checks.DataError: row 2: column EVID = 9: expected 0 (observation), \
1 (dose), 2 (other), 3 (reset) or 4 (reset and dose)
    """
    rows = frame.index.to_numpy()
    evid = frame["EVID"].to_numpy()
    mdv = frame["MDV"].to_numpy()
    amt = frame["AMT"].to_numpy(dtype=float)
    rate = frame["RATE"].to_numpy(dtype=float)
    ii = frame["II"].to_numpy(dtype=float)
    addl = frame["ADDL"].to_numpy()
    ss = frame["SS"].to_numpy()
    dv = frame["DV"].to_numpy(dtype=float)
    dose = (evid == DOSE) | (evid == RESET_DOSE)

    def first(mask: np.ndarray, column: str, values: np.ndarray, expected: str) -> None:
        hits = np.flatnonzero(mask)
        if hits.size:
            i = int(hits[0])
            raise record_error(int(rows[i]), column, values[i], expected, source=source)

    first(~np.isin(evid, (0, 1, 2, 3, 4)), "EVID", evid,
          "expected 0 (observation), 1 (dose), 2 (other), 3 (reset) or 4 (reset and dose)")
    first(~np.isin(mdv, (0, 1)), "MDV", mdv, "expected 0 (observation) or 1 (no observation)")
    non_obs_mdv0 = np.flatnonzero((evid != OBSERVATION) & (mdv == 0))
    if non_obs_mdv0.size:
        i = int(non_obs_mdv0[0])
        raise record_error(
            int(rows[i]), "MDV", mdv[i],
            f"the record has EVID {int(evid[i])}; only observation records (EVID 0) may have "
            "MDV 0: expected MDV 1", source=source)
    first(~np.isin(ss, (0, 1, 2)), "SS", ss,
          "expected 0 (no steady state), 1 (steady state) or 2 (steady state added); "
          "if the column is not a NONMEM SS item, drop it (drop=['SS'])")
    first((rate < 0) & (rate != MODELLED_RATE) & (rate != MODELLED_DURATION), "RATE", rate,
          "expected 0 (bolus), > 0 (infusion rate), -1 (modelled rate) or -2 (modelled duration)")
    first(ii < 0, "II", ii, "expected an interdose interval >= 0")
    first(addl < 0, "ADDL", addl, "expected a non-negative number of additional doses")
    first(amt < 0, "AMT", amt, "expected a non-negative dose amount")
    first(dose & np.isnan(amt), "AMT", amt,
          "a dose record (EVID 1 or 4) needs the dose amount in AMT")
    constant_infusion = (rate > 0) & (ss > 0)
    first(dose & (amt == 0) & ~constant_infusion, "AMT", amt,
          "a dose record (EVID 1 or 4) needs AMT > 0 (AMT = 0 only for a steady-state "
          "constant infusion, RATE > 0 with SS = 1)")
    first(dose & (addl > 0) & (ii <= 0), "II", ii, "ADDL > 0 needs an interdose interval II > 0")
    first(dose & (ss > 0) & (ii <= 0) & ~((rate > 0) & (amt == 0)), "II", ii,
          "steady state (SS = 1 or 2) needs II > 0, except a constant infusion (AMT = 0, RATE > 0)")
    if "CMT" in frame.columns:
        cmt = frame["CMT"].to_numpy(dtype=float)
        first(dose & (cmt < 1), "CMT", cmt, "a dose needs a compartment number >= 1")
    first((evid == OBSERVATION) & (mdv == 0) & np.isnan(dv), "DV", dv,
          "an observation record (EVID 0, MDV 0) needs a DV value; "
          "set MDV = 1 to keep the record without an observation")
    _check_id_blocks(frame, source)
    _check_time_order(frame, source)


def _check_id_blocks(frame: pd.DataFrame, source: str | None) -> None:
    ids = frame["ID"].to_numpy()
    rows = frame.index.to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    seen: dict[object, int] = {}
    for k, s in enumerate(starts):
        subject = ids[s]
        if subject in seen:
            j = seen[subject]
            end = starts[j + 1] - 1
            raise record_error(
                int(rows[s]), "ID", subject,
                f"subject {subject} already had records in rows {rows[starts[j]]}-{rows[end]}; "
                "the records of one subject must be contiguous (sort by ID, keeping the time "
                "order within each subject)",
                source=source,
            )
        seen[subject] = k


def _check_time_order(frame: pd.DataFrame, source: str | None) -> None:
    ids = frame["ID"].to_numpy()
    time = frame["TIME"].to_numpy(dtype=float)
    evid = frame["EVID"].to_numpy()
    rows = frame.index.to_numpy()
    same = np.r_[False, ids[1:] == ids[:-1]]
    back = np.r_[False, time[1:] < time[:-1]]
    bad = np.flatnonzero(same & back & ~np.isin(evid, (RESET, RESET_DOSE)))
    if bad.size:
        i = int(bad[0])
        raise record_error(
            int(rows[i]), "TIME", time[i],
            f"time decreases within subject {ids[i]} (row {rows[i - 1]} has TIME "
            f"{time[i - 1]:g}); expected TIME >= {time[i - 1]:g}, or a reset record "
            "(EVID 3 or 4) to restart the time course",
            source=source,
        )


# ------------------------------------------------------------- errors against a model
def check_observation_compartments(
    frame: pd.DataFrame, compartments: Sequence[str], *, model_name: str, reads: str,
    source: str | None = None,
) -> None:
    """Raise :class:`DataError` for an observation (EVID 0) or other-event record (EVID 2)
    whose CMT is not a compartment.

    popkin reads an observation from a model output, not from CMT, so the CMT of an
    observation record may be missing or 0 (NONMEM's default) or any compartment number
    1..n; anything else is a mistake in the data. The same holds for EVID 2 records (no
    dose; popkin does not switch compartments on or off). ``reads`` says which output the
    observations read (shown in the message).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"EVID": [1, 0], "CMT": [1.0, 3.0]}, index=[1, 2])
    >>> check_observation_compartments(f, ("depot", "central"), model_name="oral",
    ...                                reads="the model's first output, Cc")
    Traceback (most recent call last):
    ...
    estimation.data_checks.DataError: row 2: column CMT = 3: expected a compartment number \
1..2 of model 'oral' (1 depot, 2 central), or 0 or missing; an observation reads \
the model's first output, Cc, not CMT
    """
    if "CMT" not in frame.columns:
        return
    cmt = frame["CMT"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    n = len(compartments)
    known = np.isnan(cmt) | (cmt == 0) | ((cmt >= 1) & (cmt <= n))
    evid = frame["EVID"].to_numpy()
    bad = np.flatnonzero(np.isin(evid, (OBSERVATION, OTHER)) & ~known)
    if bad.size:
        i = int(bad[0])
        numbered = ", ".join(f"{k} {name}" for k, name in enumerate(compartments, start=1))
        why = (f"an observation reads {reads}, not CMT" if evid[i] == OBSERVATION else
               "an EVID 2 record doses nothing, and popkin does not switch compartments on or off")
        raise record_error(
            int(frame.index[i]), "CMT", cmt[i],
            f"expected a compartment number 1..{n} of model {model_name!r} ({numbered}), "
            f"or 0 or missing; {why}", source=source)


def check_covariate_columns(
    needed: Sequence[str], covariates: Sequence[str], *, model_name: str,
    source: str | None = None,
) -> None:
    """Raise :class:`DataError` when a covariate the model uses is not a column of the data.

    Covariate names are case-sensitive; a column that differs only in case is named in
    the message with the mapping that fixes it.

    Examples
    --------
    >>> check_covariate_columns(["WT"], ["wt"], model_name="oral_wt", source="d.csv")
    Traceback (most recent call last):
    ...
    estimation.data_checks.DataError: d.csv: model 'oral_wt' uses covariates ['WT'] that are \
not columns of the data; the covariate columns are ['wt']; column 'wt' differs from 'WT' only \
in case (covariate names are case-sensitive): map it with --map wt=WT on the command line, or \
rename={'wt': 'WT'} in read_nonmem
    """
    missing = [name for name in needed if name not in covariates]
    if not missing:
        return
    message = (f"{source + ': ' if source else ''}model {model_name!r} uses covariates {missing} "
               f"that are not columns of the data; the covariate columns are "
               f"{list(covariates) or 'none'}")
    upper = {str(c).upper(): c for c in covariates}
    near = {upper[name.upper()]: name for name in missing if name.upper() in upper}
    if near:
        olds = ", ".join(repr(old) for old in near)
        news = ", ".join(repr(new) for new in near.values())
        one = len(near) == 1
        message += (
            f"; column{'' if one else 's'} {olds} differ{'s' if one else ''} from {news} only in "
            f"case (covariate names are case-sensitive): map {'it' if one else 'them'} with "
            f"--map {','.join(f'{old}={new}' for old, new in near.items())} on the command line, "
            f"or rename={near!r} in read_nonmem")
    raise DataError(message, column=missing[0])


def check_log_scale_dv(
    frame: pd.DataFrame, output: np.ndarray, log_scale: Sequence[bool],
    output_names: Sequence[str], *, source: str | None = None,
) -> None:
    """Raise :class:`DataError` for observations with DV <= 0 of a log-transformed output.

    An exponential (log-transform-both-sides) error model fits log DV, so every
    observation used (EVID 0, MDV 0) of an output whose error model has ``log_transform``
    needs DV > 0. ``output`` is the 0-based output each record reads (aligned with
    ``frame``); ``log_scale[k]`` tells whether output ``k`` is fitted on log scale.
    The message names the first offending row and lists the others.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"EVID": [1, 0, 0, 0], "MDV": [1, 0, 0, 1],
    ...                   "DV": [0.0, 0.0, 2.0, 0.0]}, index=[1, 2, 3, 4])
    >>> check_log_scale_dv(f, np.zeros(4, int), [True], ["Cc"])
    Traceback (most recent call last):
    ...
    estimation.data_checks.DataError: row 2: column DV = 0: expected DV > 0 for a \
log-transformed (exponential) error model; set MDV=1 to exclude the record, or use an \
additive/proportional error model
    """
    flags = np.asarray(log_scale, dtype=bool)
    if not flags.any():
        return
    used = (frame["EVID"].to_numpy() == OBSERVATION) & (frame["MDV"].to_numpy() == 0)
    dv = frame["DV"].to_numpy(dtype=float)
    bad = np.flatnonzero(used & flags[np.asarray(output, dtype=int)] & (dv <= 0))
    if not bad.size:
        return
    i = int(bad[0])
    rows = frame.index.to_numpy()
    of_output = f" (output {output_names[int(output[i])]})" if len(output_names) > 1 else ""
    others = f" (DV <= 0 in rows {_rows_text(rows[bad])})" if bad.size > 1 else ""
    raise record_error(
        int(rows[i]), "DV", dv[i],
        f"expected DV > 0 for a log-transformed (exponential) error model{of_output}; set MDV=1 "
        f"to exclude the record, or use an additive/proportional error model{others}",
        source=source)


# ----------------------------------------------------------------------- warnings
def _rows_text(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f", ... ({len(rows)} in all)" if len(rows) > limit else "")


def _ids_text(ids: list[object], limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def suspicious(frame: pd.DataFrame, *, observation_keys: tuple[str, ...] = ()) -> list[str]:
    """Messages about suspicious but legal data (emitted as :class:`DataWarning`).

    Looks for subjects without observations, negative DV, duplicate observation
    times within a subject (same TIME and the same ``observation_keys`` columns,
    e.g. CMT/DVID, between the same resets) and observations recorded before
    the subject's first dose.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"ID": [1, 1, 2], "TIME": [0.0, 1.0, 0.0], "DV": [0.0, -1.0, 0.0],
    ...     "AMT": [10.0, 0.0, 10.0], "EVID": [1, 0, 1], "MDV": [1, 0, 1]}, index=[1, 2, 3])
    >>> [m.split(":")[0] for m in suspicious(f)]
    ['1 subject(s) have no observations', '1 observation record(s) have a negative DV']
    """
    messages = []
    ids = frame["ID"].to_numpy()
    rows = frame.index.to_numpy()
    evid = frame["EVID"].to_numpy()
    obs = (evid == OBSERVATION) & (frame["MDV"].to_numpy() == 0)
    dv = frame["DV"].to_numpy(dtype=float)

    per_subject = pd.Series(obs).groupby(ids, sort=False).sum()
    empty = list(per_subject.index[per_subject.to_numpy() == 0])
    if empty:
        messages.append(
            f"{len(empty)} subject(s) have no observations: ID {_ids_text(empty)}; they "
            "contribute nothing to the fit (kept, and counted in the summary)"
        )

    negative = np.flatnonzero(obs & (dv < 0))
    if negative.size:
        messages.append(
            f"{negative.size} observation record(s) have a negative DV: rows "
            f"{_rows_text(rows[negative])}; concentrations cannot be negative (expected for "
            "log-transformed or pharmacodynamic responses)"
        )

    keys = ["ID", "TIME", *[k for k in observation_keys if k in frame.columns]]
    obs_frame = frame.loc[obs, keys]
    # times restart after a reset (EVID 3/4): compare only within one reset segment
    segment = np.cumsum(np.isin(evid, (RESET, RESET_DOSE)))[obs]
    dup = obs_frame.assign(_segment=segment).duplicated(keep="first").to_numpy()
    if dup.any():
        dup_rows = obs_frame.index.to_numpy()[dup]
        dup_ids = list(pd.unique(obs_frame["ID"].to_numpy()[dup]))
        messages.append(
            f"{dup.sum()} observation record(s) repeat an observation time of the same subject "
            f"(same {'/'.join(keys[1:])}): rows {_rows_text(dup_rows)} (ID {_ids_text(dup_ids)}); "
            "both are used in the fit"
        )

    dose = np.isin(evid, (DOSE, RESET_DOSE))
    seen_dose = pd.Series(dose).groupby(ids, sort=False).cummax().to_numpy()
    has_dose = pd.Series(dose).groupby(ids, sort=False).transform("any").to_numpy()
    early = np.flatnonzero(obs & ~seen_dose & has_dose)
    if early.size:
        early_ids = list(pd.unique(ids[early]))
        messages.append(
            f"{early.size} observation record(s) come before the subject's first dose: rows "
            f"{_rows_text(rows[early])} (ID {_ids_text(early_ids)}); they are predicted from "
            "the initial state (zero amounts unless the model sets a baseline)"
        )
    return messages
