"""A results folder that appears complete or not at all.

Everything is written into a hidden temporary sibling (``.out.partial-XXXX``) that is
renamed to the final name only when the run succeeded. An earlier complete result is
never replaced without ``force``; when the new run fails, the earlier result stays and
the partial folder (with its log) is kept as ``out.failed`` for inspection.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "run"
>>> with ResultsFolder(out) as work:
...     _ = (work / "results.json").write_text("{}")
>>> sorted(p.name for p in out.iterdir()), is_complete(out)
(['results.json'], True)
>>> ResultsFolder(out)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
popkin.output_dir.OutputExistsError: ... holds a complete result ...
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from types import TracebackType

#: the file whose presence makes a folder a complete result (written last, inside the rename)
COMPLETE_MARKER = "results.json"


class OutputExistsError(FileExistsError):
    """The output folder already holds a result (or other files) and ``force`` was not given."""


def is_complete(path: Path) -> bool:
    """Whether ``path`` is a folder holding a complete result.

    Examples
    --------
    >>> is_complete(Path("no/such/folder"))
    False
    """
    return (path / COMPLETE_MARKER).is_file()


class ResultsFolder:
    """Context manager: yields a temporary folder, publishes it as ``path`` on success.

    Parameters
    ----------
    path
        The final results folder.
    force
        Replace an existing complete result (or a non-empty folder).

    Raises
    ------
    OutputExistsError
        At construction (before any work): ``path`` holds a complete result, or is a
        non-empty folder, and ``force`` is false.

    Notes
    -----
    The module docstring has a complete example.

    On success the old folder (if any) is renamed aside, the new one renamed into place,
    then the old one deleted: at every instant ``path`` is either the old complete result
    or the new one. On an exception (including KeyboardInterrupt) the temporary folder
    becomes ``<path>.failed`` (replacing an earlier one; a ``results.json`` in it is renamed
    ``incomplete-results.json``) and ``path`` is untouched.
    """

    def __init__(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        self.path = Path(path)
        self.force = force
        self.failed_path = self.path.with_name(self.path.name + ".failed")
        self._check(self.path, force)
        self._work: Path | None = None

    @staticmethod
    def _check(path: Path, force: bool) -> None:
        if force or not path.exists():
            return
        if not path.is_dir():
            raise OutputExistsError(f"{str(path)!r} exists and is not a folder; choose another --out")
        if is_complete(path):
            when = datetime.fromtimestamp((path / COMPLETE_MARKER).stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            raise OutputExistsError(
                f"{str(path)!r} holds a complete result (written {when}); use --force to replace it "
                "or choose another --out"
            )
        if any(path.iterdir()):
            raise OutputExistsError(
                f"{str(path)!r} is a non-empty folder without a popkin result; use --force to replace it "
                "or choose another --out"
            )

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._work = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.partial-"))
        return self._work

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        assert self._work is not None
        work, self._work = self._work, None
        if kind is None:
            self._publish(work)
        else:
            self._keep_failed(work)

    def _publish(self, work: Path) -> None:
        self._check(self.path, self.force)  # another process may have written meanwhile
        _readable(work)
        old: Path | None = None
        if self.path.exists():
            old = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.old-"))
            os.replace(self.path, old / "previous")
        try:
            os.replace(work, self.path)
        except BaseException:
            if old is not None:
                os.replace(old / "previous", self.path)
            self._keep_failed(work)
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(self.failed_path, ignore_errors=True)

    def _keep_failed(self, work: Path) -> None:
        shutil.rmtree(self.failed_path, ignore_errors=True)
        marker = work / COMPLETE_MARKER
        if marker.exists():  # a failed run must not look complete
            os.replace(marker, work / f"incomplete-{COMPLETE_MARKER}")
        try:
            os.replace(work, self.failed_path)
            _readable(self.failed_path)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)


def _readable(folder: Path) -> None:
    """Give ``folder`` the permissions of an ordinary new folder (``mkdtemp`` makes it private)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
