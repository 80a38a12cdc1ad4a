"""One JSON file per finished replicate, written atomically, so an interrupted run resumes.

Layout of a run folder::

    run.json                 what the run is (kind, settings); checked on resume
    replicates/000001.json   one record per finished replicate (also the failed ones)
    summary.csv, ...         written by the job at the end

A record is a JSON object with at least ``index`` and, for a failed replicate, ``error``
(and ``failure``: ``"fit"`` when the computation itself failed, ``"cluster"`` when the
cluster could not run it). Resuming skips every stored replicate except cluster failures,
which are not a property of the replicate and are run again.

Examples
--------
>>> import tempfile
>>> store = ReplicateStore(tempfile.mkdtemp(), "bootstrap", {"n": 2, "seed": 1})
>>> _ = store.write({"index": 0, "ofv": 12.5})
>>> sorted(store.completed()), store.records()[0]["ofv"]
([0], 12.5)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from estimation.atomic_file import write_atomic

RUN_FILE = "run.json"
REPLICATE_FOLDER = "replicates"


class ReplicateStoreError(ValueError):
    """The output folder holds another run, or a record cannot be stored."""


class ReplicateStore:
    """Persisted replicate records of one run (bootstrap, SSE, chunked simulation).

    Parameters
    ----------
    folder
        The run folder (created if needed).
    kind
        ``"bootstrap"``, ``"sse"``...: the job writing the folder.
    settings
        JSON-serialisable description of the run (n, seed, model, method, data digest...).
        A folder holding replicates of a run with other settings is refused.
    resume
        Continue the run stored in ``folder``. Without it, a folder that already holds
        replicates is refused (nothing is overwritten).

    Raises
    ------
    ReplicateStoreError
        ``folder`` holds replicates and ``resume`` is false, or it holds a run of another
        kind or with other settings.
    """

    def __init__(self, folder: str | os.PathLike[str], kind: str, settings: Mapping[str, Any],
                 *, resume: bool = False) -> None:
        self.folder = Path(folder)
        self.kind = kind
        self.settings = _plain(dict(settings))
        self.replicate_folder = self.folder / REPLICATE_FOLDER
        run_file = self.folder / RUN_FILE
        existing = sorted(self.replicate_folder.glob("*.json")) if self.replicate_folder.is_dir() else []
        if run_file.is_file():
            stored = json.loads(run_file.read_text())
            if existing and not resume:
                raise ReplicateStoreError(
                    f"{self.folder} already holds {len(existing)} replicates of a {stored.get('kind')} run; "
                    "resume it (--resume, resume=True) or choose another output folder"
                )
            if stored.get("kind") != kind or stored.get("settings") != self.settings:
                raise ReplicateStoreError(
                    f"{self.folder} holds a {stored.get('kind')} run with other settings "
                    f"({_difference(stored.get('settings', {}), self.settings)}); "
                    "use the same settings to resume, or another output folder"
                )
        elif existing:
            raise ReplicateStoreError(f"{self.replicate_folder} holds replicate files but no {RUN_FILE}; "
                                      "choose another output folder")
        self.replicate_folder.mkdir(parents=True, exist_ok=True)
        if not run_file.is_file():
            self.write_json(RUN_FILE, {"kind": kind, "settings": self.settings})

    # ----------------------------------------------------------------- records
    def path(self, index: int) -> Path:
        """File of replicate ``index``."""
        return self.replicate_folder / f"{index:06d}.json"

    def write(self, record: Mapping[str, Any]) -> Path:
        """Store one replicate record (atomically; a record of the same index is replaced)."""
        if "index" not in record:
            raise ReplicateStoreError(f"a replicate record needs an 'index', got keys {sorted(record)}")
        return write_atomic(self.path(int(record["index"])), json.dumps(_plain(dict(record)), indent=1,
                                                                         allow_nan=False))

    def completed(self) -> set[int]:
        """Indices of the stored replicates that a resumed run skips (all but cluster failures)."""
        return {r["index"] for r in self.records() if r.get("failure") != "cluster"}

    def records(self) -> list[dict[str, Any]]:
        """All stored records, by index."""
        out = []
        for path in sorted(self.replicate_folder.glob("*.json")):
            try:
                out.append(json.loads(path.read_text()))
            except json.JSONDecodeError as exc:  # cannot happen with atomic writes; say which file
                raise ReplicateStoreError(f"replicate file {path} is not valid JSON: {exc}") from exc
        return sorted(out, key=lambda r: r["index"])

    # ----------------------------------------------------------------- outputs
    def write_json(self, name: str, content: Mapping[str, Any]) -> Path:
        """Write ``folder/name`` as JSON (NaN and infinities as null), atomically."""
        return write_atomic(self.folder / name, json.dumps(_plain(dict(content)), indent=1, allow_nan=False))

    def write_csv(self, name: str, frame: pd.DataFrame) -> Path:
        """Write ``folder/name`` as CSV, atomically."""
        return write_atomic(self.folder / name, frame.to_csv(index=False))


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars as Python numbers, tuples as lists, NaN/inf as None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(f"{k}: stored {old.get(k)!r}, now {new.get(k)!r}" for k in keys[:5]) or "none"


def data_fingerprint(data: Any) -> str:
    """Short digest of a dataset's records (a resumed run must use the same data).

    Examples
    --------
    >>> len(data_fingerprint(pd.DataFrame({"ID": [1], "TIME": [0.0]})))
    16
    """
    frame = data if isinstance(data, pd.DataFrame) else data.to_dataframe()
    return hashlib.sha256(frame.to_csv().encode()).hexdigest()[:16]


def model_settings(model: Any) -> dict[str, Any]:
    """A population model's name and initial values, as stored in ``run.json``.

    Examples
    --------
    >>> from model_library import get
    >>> settings = model_settings(get("iv_1cmt"))
    >>> settings["model"], "tcl" in settings["parameters"]
    ('iv_1cmt', True)
    """
    space = model.space
    values = [float(v) for v in space.natural_init()]
    return {"model": model.title, "parameters": dict(zip(space.natural_names, values, strict=True))}
