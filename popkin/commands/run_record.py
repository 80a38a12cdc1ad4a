"""``run.json``: how a results folder was made, so that later commands can rebuild the fit.

It records the data file (absolute path and SHA-256), the columns dropped and mapped
(``--drop``, ``--map``), the model spec, the error and method options, the command line
and the popkin version. :func:`load_fit` rebuilds the model and data and returns the saved
:class:`~estimation.results.FitResult` with them
attached (so ``result.final_model()`` works, e.g. for ``popkin vpc``).

Examples
--------
>>> record = RunRecord.load("out")  # doctest: +SKIP
>>> result = load_fit("out")  # doctest: +SKIP
>>> result.final_model().space.natural_init()  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from popkin.commands.inputs import InputError, model_with_error, read_dataset, warn

if TYPE_CHECKING:
    from estimation.results import FitResult

RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunRecord:
    """The inputs of a fit, as written to ``run.json``.

    Examples
    --------
    >>> RunRecord(data="/d/theo_sd.csv", data_sha256="", model="oral_1cmt", error="add",
    ...           method="focei").model
    'oral_1cmt'
    """

    data: str
    data_sha256: str
    model: str
    error: str | None
    method: str
    drop: tuple[str, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    popkin_version: str = "unknown"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def save(self, folder: Path) -> Path:
        """Write ``folder/run.json``."""
        path = folder / RUN_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> RunRecord:
        """Read ``folder/run.json``.

        Raises
        ------
        InputError
            The folder is not a results folder written by ``popkin fit``.
        """
        path = Path(folder) / RUN_FILE
        if not path.is_file():
            raise InputError(f"{str(folder)!r} is not a popkin results folder (no {RUN_FILE}); "
                             "run `popkin fit ... --out DIR` first")
        try:
            raw = json.loads(path.read_text())
            raw["drop"] = tuple(raw.get("drop", ()))
            raw["command"] = tuple(raw.get("command", ()))
            return cls(**raw)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InputError(f"{path}: not a valid run record: {exc}") from exc

    def model_summary(self) -> dict[str, object]:
        """The record as the report's "Run" table."""
        return {
            "data": self.data, "model": self.model, "error": self.error or "(the model's own)",
            "method": self.method, "dropped columns": ", ".join(self.drop) or "none",
            "mapped columns": ", ".join(f"{old}={new}" for old, new in self.rename.items()) or "none",
            "command": " ".join(self.command), "popkin version": self.popkin_version, "started": self.created,
        }


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex).

    Examples
    --------
    >>> len(file_sha256(__file__))
    64
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_fit(folder: str | os.PathLike[str]) -> FitResult:
    """The fit saved in ``folder`` with its model (estimates as in ``results.json``) and data.

    Warns (on stderr) when the data file changed since the fit.

    Raises
    ------
    InputError
        Not a complete results folder, or its data file or model cannot be found.

    Examples
    --------
    >>> load_fit("out").final_model()  # doctest: +SKIP
    """
    from estimation.results import FitResult

    folder = Path(folder)
    record = RunRecord.load(folder)
    results = folder / "results.json"
    if not results.is_file():
        raise InputError(f"{str(folder)!r} holds no results.json (an incomplete or failed run?)")
    data_file = Path(record.data)
    if not data_file.is_file():
        raise InputError(f"the data file of this fit, {record.data!r}, no longer exists")
    if record.data_sha256 and file_sha256(data_file) != record.data_sha256:
        warn(f"{record.data} changed since the fit (SHA-256 differs); using its current content")
    model = model_with_error(record.model, record.error)
    saved = FitResult.load(results)
    data, _ = read_dataset(data_file, model, drop=record.drop, rename=record.rename,
                           output_column=saved.output_column)
    return replace(saved, model=model, data=data)


def version() -> str:
    """The installed popkin version ("unknown" when not installed).

    Examples
    --------
    >>> version()  # doctest: +SKIP
    '0.1.0'
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("popkin")
    except PackageNotFoundError:
        return "unknown"
