"""Progress of a fit: a live one-line display on the terminal and a log file.

The display (rich) shows the method, iteration, OFV, largest gradient or SAEM phase
and elapsed time; it is off with ``--quiet`` and when stderr is not a terminal (a
pipe, a file, a batch job). The log gets every line whatever the display does.

Examples
--------
>>> import io, tempfile
>>> from estimation.fit import Iteration
>>> log = RunLog(Path(tempfile.mkdtemp()) / "fit.log")
>>> with FitProgress("FOCE-I", log, live=False) as progress:
...     progress(Iteration(1, 120.5, 0.8, 1.25))
>>> log.close()
>>> log.path.read_text().splitlines()[-1][20:]
'FOCE-I iteration    1  OFV 120.5000  max|gradient| 0.8  elapsed 1.2 s'
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

if TYPE_CHECKING:
    from estimation.fit import Iteration


def live_display_wanted(quiet: bool, stream: TextIO | None = None) -> bool:
    """Whether to show the live display: not ``quiet`` and ``stream`` (stderr) is a terminal.

    Examples
    --------
    >>> import io
    >>> live_display_wanted(False, io.StringIO())
    False
    """
    stream = stream if stream is not None else sys.stderr
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


class RunLog:
    """A log file of the run: timestamped lines, flushed as they are written.

    Examples
    --------
    >>> import tempfile
    >>> log = RunLog(Path(tempfile.mkdtemp()) / "fit.log"); log.write("two\\nlines"); log.close()
    >>> [line[20:] for line in log.path.read_text().splitlines()]
    ['two', 'lines']
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def write(self, message: str) -> None:
        """Append ``message`` (each of its lines prefixed with the time)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        for line in str(message).splitlines() or [""]:
            self._file.write(f"{stamp} {line}\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FitProgress:
    """The ``progress`` callback of :func:`estimation.fit.fit`: display and log each iteration.

    Parameters
    ----------
    method
        Method name shown (e.g. ``"FOCE-I"``).
    log
        Where every iteration is written.
    live
        Show the live display on ``stream`` (see :func:`live_display_wanted`).
    echo
        Also print every iteration as a line to this stream (``--verbose``).
    stream
        The terminal stream of the live display (default: stderr).

    Examples
    --------
    >>> fit(model, data, progress=FitProgress("FOCE-I", log, live=True))  # doctest: +SKIP
    """

    def __init__(self, method: str, log: RunLog, *, live: bool, echo: TextIO | None = None,
                 stream: TextIO | None = None) -> None:
        self.method = method
        self.log = log
        self.echo = echo
        self.last: Iteration | None = None
        self._start = time.perf_counter()
        self._spinner = Spinner("dots", style="cyan")
        self._console = Console(file=stream if stream is not None else sys.stderr) if live else None
        self._live: Live | None = None

    def __enter__(self) -> FitProgress:
        self._start = time.perf_counter()
        if self._console is not None:
            self._live = Live(self, console=self._console, refresh_per_second=4, transient=True)
            self._live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
            if self._console is not None:
                outcome = "interrupted" if kind is KeyboardInterrupt else ("failed" if kind else "done")
                line = f"{self.status_line(now=True)}  [{outcome}]"
                self._console.print(line, highlight=False, markup=False)

    def __call__(self, iteration: Iteration) -> None:
        self.last = iteration
        line = self.status_line()
        self.log.write(line)
        if self.echo is not None:
            print(f"  {line}", file=self.echo, flush=True)

    def status_line(self, *, now: bool = False) -> str:
        """The current state as one line of text.

        The elapsed time is that of the last iteration, or with ``now`` the time since the
        start (the live display keeps counting after the last iteration, while the fit
        computes the covariance step and diagnostics).

        Examples
        --------
        >>> import tempfile
        >>> FitProgress("FOCE-I", RunLog(Path(tempfile.mkdtemp()) / "l"), live=False).status_line()[:38]
        'FOCE-I compiling, first evaluation...'
        """
        it = self.last
        if it is None:
            elapsed = time.perf_counter() - self._start
            return f"{self.method} compiling, first evaluation...  elapsed {elapsed:.1f} s"
        parts = [f"{self.method} iteration {it.iteration:4d}"]
        phase = getattr(it, "phase", None)
        if phase:
            parts.append(f"({phase})")
        parts.append(f" OFV {it.ofv:.4f}")
        if it.gradient_norm is not None and math.isfinite(it.gradient_norm):
            parts.append(f" max|gradient| {it.gradient_norm:.3g}")
        elapsed = time.perf_counter() - self._start if now else it.elapsed
        parts.append(f" elapsed {elapsed:.1f} s")
        return " ".join(parts)

    def __rich__(self) -> Spinner:
        self._spinner.update(text=Text(self.status_line(now=True)))
        return self._spinner
