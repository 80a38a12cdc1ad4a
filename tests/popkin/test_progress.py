"""Live progress display (rich) and the run log."""

from __future__ import annotations

import io
from pathlib import Path

from estimation.fit import Iteration
from popkin.progress import FitProgress, RunLog, live_display_wanted


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_display_only_on_a_terminal_and_not_quiet() -> None:
    assert live_display_wanted(False, Terminal())
    assert not live_display_wanted(True, Terminal())
    assert not live_display_wanted(False, io.StringIO())


def test_iterations_go_to_the_log_and_the_live_line(tmp_path: Path) -> None:
    screen = Terminal()
    with RunLog(tmp_path / "fit.log") as log:
        with FitProgress("FOCE-I", log, live=True, stream=screen) as progress:
            assert progress.status_line().startswith("FOCE-I compiling, first evaluation...")
            progress(Iteration(1, 124.5201, 86.0, 14.9))
            progress(Iteration(2, 119.4852, 33.6, 15.1))
    lines = (tmp_path / "fit.log").read_text().splitlines()
    assert [line[20:] for line in lines] == [
        "FOCE-I iteration    1  OFV 124.5201  max|gradient| 86  elapsed 14.9 s",
        "FOCE-I iteration    2  OFV 119.4852  max|gradient| 33.6  elapsed 15.1 s",
    ]
    shown = screen.getvalue()
    assert "FOCE-I iteration    2  OFV 119.4852" in shown and "[done]" in shown


def test_saem_phase_is_shown_instead_of_a_missing_gradient(tmp_path: Path) -> None:
    echo = io.StringIO()
    with RunLog(tmp_path / "fit.log") as log, FitProgress("SAEM", log, live=False, echo=echo) as progress:
        progress(Iteration(120, 117.2, float("nan"), 30.0, phase="exploration"))
    assert echo.getvalue() == "  SAEM iteration  120 (exploration)  OFV 117.2000  elapsed 30.0 s\n"


def test_not_live_writes_nothing_to_the_terminal(tmp_path: Path) -> None:
    screen = Terminal()
    with RunLog(tmp_path / "fit.log") as log, FitProgress("FOCE", log, live=False, stream=screen) as progress:
        progress(Iteration(1, 10.0, 1.0, 0.5))
    assert screen.getvalue() == ""
