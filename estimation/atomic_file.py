"""Write a file atomically: a temporary file beside it, then a rename over it.

A reader never sees a half-written file, and an interrupted write leaves the
previous file (if any) in place. Used by every writer of results, reports and
replicate records.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> write_atomic(Path(tempfile.mkdtemp()) / "a.txt", "x").read_text()
'x'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8, or bytes) to ``path`` atomically; return the path.

    The file gets the permissions of a normally created file (0666 less the umask).
    """
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
