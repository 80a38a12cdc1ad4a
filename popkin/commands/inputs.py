"""What the commands read from their arguments: the model, the dataset, exit statuses.

Examples
--------
>>> resolve_model("iv_2cmt").title
'iv_2cmt'
>>> model_with_error("oral_1cmt", "add").error
Additive(add=0.7, name='add_sd', fixed=False)
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from estimation.data import Dataset
    from estimation.error_models import ErrorModel
    from estimation.population import PopulationModel

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130


class InputError(Exception):
    """A bad model, dataset or option: the message is shown to the user (exit status 2)."""


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Print ``popkin: error: message`` on stderr and return ``code``.

    Examples
    --------
    >>> fail("no data file 'x.csv'")
    2
    """
    print(f"popkin: error: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    """Print ``popkin: warning: message`` on stderr.

    Examples
    --------
    >>> warn("the fit did not converge")
    """
    print(f"popkin: warning: {message}", file=sys.stderr)


def resolve_model(spec: str) -> PopulationModel:
    """A library model by name, or a user model from ``path/to/file.py:NAME``.

    Examples
    --------
    >>> resolve_model("oral_1cmt").space.theta_names
    ('tka', 'tcl', 'tv')
    """
    from model_library import get, load_user_model

    if ":" in spec or spec.endswith(".py"):
        return load_user_model(spec)
    return get(spec)


def absolute_model_spec(spec: str) -> str:
    """``spec`` with the path of a model file made absolute (library names unchanged), so that a
    results folder can rebuild its model from any directory.

    Examples
    --------
    >>> absolute_model_spec("oral_1cmt")
    'oral_1cmt'
    >>> absolute_model_spec("models.py:mine") == f"{Path('models.py').resolve()}:mine"
    True
    """
    if ":" not in spec and not spec.endswith(".py"):
        return spec
    path, sep, name = spec.rpartition(":") if ":" in spec else (spec, "", "")
    return f"{Path(path).expanduser().resolve()}{sep}{name}"


def model_with_error(spec: str, error: str | None = None) -> PopulationModel:
    """:func:`resolve_model`, with its residual error replaced by ``error`` (add, prop, comb, exp).

    The new error model starts from the model's own values where the names match.

    Raises
    ------
    InputError
        Unknown model, bad model file, unknown error model.

    Examples
    --------
    >>> model_with_error("iv_1cmt", "prop").space.sigma_names
    ('prop_sd',)
    """
    from estimation.error_models import error_model_from_name
    from model_library import ModelLibraryError

    try:
        model = resolve_model(spec)
        if error:
            model = model.with_error(carry_over(error_model_from_name(error), model))
    except (ModelLibraryError, ValueError) as exc:
        raise InputError(f"model {spec!r}: {exc}" if spec not in str(exc) else str(exc)) from exc
    return model


def carry_over(new: ErrorModel, model: PopulationModel) -> ErrorModel:
    """``new`` error model starting from the model's own values where names match.

    A proportional SD also starts an exponential error (both are relative errors).

    Examples
    --------
    >>> from estimation.error_models import Exponential
    >>> from model_library import get
    >>> carry_over(Exponential(), get("oral_1cmt")).initial  # from Combined(add=0.7, prop=0.1)
    (0.1,)
    """
    old = model.error_models[0]
    values = dict(zip(old.parameter_names, old.initial, strict=True))
    if "prop_sd" in values:
        values.setdefault("exp_sd", values["prop_sd"])
    for name in new.parameter_names:
        if name in values:
            new = new.with_parameter(name, values[name])
    return new


def data_path(text: str) -> Path:
    """The data file: a path, or the name of a bundled example dataset (``theo_sd``).

    Raises
    ------
    InputError
        No such file or example.

    Examples
    --------
    >>> data_path("theo_sd").name
    'theo_sd.csv'
    """
    path = Path(text).expanduser()
    if path.is_file():
        return path.resolve()
    from estimation.data import example_names, example_path

    if text.removesuffix(".csv") in example_names():
        return example_path(text.removesuffix(".csv")).resolve()
    raise InputError(f"no data file {text!r}")


def read_dataset(path: Path, model: PopulationModel | None = None, *, drop: Sequence[str] = (),
                 rename: Mapping[str, str] | None = None, design: bool = False,
                 output_column: str | None = None) -> tuple[Dataset, list[str]]:
    """Read and validate a NONMEM-format file, and check it against ``model``.

    Parameters
    ----------
    path
        The CSV file.
    model
        When given: the records are checked against it
        (:meth:`~estimation.data.Dataset.check_model`: dose and observation compartments,
        outputs, covariates, DV > 0 for a log-transformed error model).
    drop
        Columns to ignore.
    rename
        ``{column in the file: NONMEM or covariate name}`` (``--map``; see :func:`column_map`).
    design
        Accept a missing DV column or missing DV values (a simulation design): they are read as 0,
        and DV is not checked against the error model.
    output_column
        The column choosing each observation's output (e.g. ``"DVID"``): checked against the
        model's outputs.

    Returns
    -------
    dataset, warnings
        The dataset and the data warnings raised while reading it.

    Raises
    ------
    InputError
        With the row, column and value at fault.

    Examples
    --------
    >>> data, warnings = read_dataset(data_path("theo_sd"), resolve_model("oral_1cmt"))
    >>> data.n_subjects, warnings
    (12, [])
    """
    import pandas as pd

    from compartments.events import EventError
    from estimation.data import DataError, read_nonmem

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            source: Path | pd.DataFrame = path
            if design:
                source = _design_frame(path, rename)
            data = read_nonmem(source, rename=rename, drop=drop)
            if model is not None:
                data.check_model(model, output_column=output_column, design=design)
    except (DataError, EventError, ValueError, OSError) as exc:
        prefix = f"{path.name}: " if design and path.name not in str(exc) else ""
        raise InputError(f"invalid dataset: {prefix}{exc}") from exc
    return data, [str(w.message) for w in caught]


def column_map(text: str) -> dict[str, str]:
    """The ``--map OLD=NEW[,OLD=NEW...]`` option as ``{OLD: NEW}`` (``read_nonmem``'s ``rename``).

    Raises
    ------
    InputError
        A malformed item (no ``=``, an empty name) or a column mapped twice.

    Examples
    --------
    >>> column_map("TAD=TIME, CONC=DV")
    {'TAD': 'TIME', 'CONC': 'DV'}
    >>> column_map("")
    {}
    >>> column_map("TAD")
    Traceback (most recent call last):
    ...
    popkin.commands.inputs.InputError: --map 'TAD': expected OLD=NEW[,OLD=NEW...], e.g. --map TAD=TIME,CONC=DV
    """
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        old, sep, new = (s.strip() for s in item.partition("="))
        if not (sep and old and new) or "=" in new:
            raise InputError(f"--map {item!r}: expected OLD=NEW[,OLD=NEW...], e.g. --map TAD=TIME,CONC=DV")
        if old.upper() in (k.upper() for k in mapping):
            raise InputError(f"--map: column {old!r} is mapped twice; map each column once")
        mapping[old] = new
    return mapping


MAP_HELP = ("map data columns to NONMEM or covariate names, e.g. TAD=TIME,CONC=DV or wt=WT "
            "(OLD is matched case-insensitively; as read_nonmem's rename=)")


def _design_frame(path: Path, rename: Mapping[str, str] | None = None) -> object:
    """A simulation design as a DataFrame with DV present (missing DV read as 0).

    Row ``k`` of the frame is data line ``k`` of the file (comment and blank lines dropped).
    ``rename`` is ``--map``: the DV column may be a column mapped to DV.
    """
    frame, missing = _raw_design(path, rename)
    dv = _dv_column(frame.columns, rename)
    if dv is None:
        frame["DV"] = "0"
    else:
        frame[dv] = frame[dv].mask(missing, "0")
    return frame


def design_missing_dv(path: Path, rename: Mapping[str, str] | None = None) -> object:
    """Per data line of a design file: whether its DV is missing (a boolean array); ``rename``
    is ``--map`` (e.g. ``{"CONC": "DV"}``).

    Examples
    --------
    >>> design_missing_dv(data_path("theo_sd")).sum()
    np.int64(0)
    """
    return _raw_design(path, rename)[1].to_numpy()


def _dv_column(columns: Sequence[str], rename: Mapping[str, str] | None) -> str | None:
    """The column of the file that becomes DV once ``rename`` is applied (names case-insensitive)."""
    mapped = {old.strip().upper(): new for old, new in (rename or {}).items()}
    for column in columns:
        if mapped.get(column.strip().upper(), column).strip().upper() == "DV":
            return column
    return None


def _raw_design(path: Path, rename: Mapping[str, str] | None = None) -> tuple[object, object]:
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#", skip_blank_lines=True)
    dv = _dv_column(frame.columns, rename)
    if dv is None:
        return frame, pd.Series(True, index=frame.index)
    return frame, frame[dv].str.strip().isin(["", ".", "NA", "NaN", "nan"])
