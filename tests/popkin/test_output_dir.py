"""The results folder appears complete or not at all, and never replaces a result without force."""

from __future__ import annotations

from pathlib import Path

import pytest

from popkin.output_dir import OutputExistsError, ResultsFolder, is_complete


def publish(path: Path, content: str, *, force: bool = False) -> None:
    with ResultsFolder(path, force=force) as work:
        (work / "table.csv").write_text(content)
        (work / "results.json").write_text(content)


def test_folder_appears_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with ResultsFolder(out) as work:
        (work / "results.json").write_text("{}")
        assert not out.exists()  # nothing visible while the run is going
        assert work.parent == tmp_path and work.name.startswith(".out.partial-")
    assert is_complete(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left
    assert (out.stat().st_mode & 0o777) != 0o700  # not the private mode of a temporary folder


def test_complete_result_is_not_replaced_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish(out, "first")
    with pytest.raises(OutputExistsError, match="holds a complete result.*--force"):
        ResultsFolder(out)
    publish(out, "second", force=True)
    assert (out / "results.json").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failed_run_keeps_the_previous_result(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish(out, "good")
    with pytest.raises(RuntimeError, match="estimation blew up"), ResultsFolder(out, force=True) as work:
        (work / "fit.log").write_text("log of the failed run")
        (work / "results.json").write_text("half")
        raise RuntimeError("estimation blew up")
    assert (out / "results.json").read_text() == "good"
    failed = tmp_path / "out.failed"
    assert (failed / "fit.log").read_text() == "log of the failed run"
    assert not is_complete(failed)  # a failed run never looks complete
    assert (failed / "incomplete-results.json").read_text() == "half"


def test_interrupted_first_run_leaves_no_results_folder(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    with pytest.raises(KeyboardInterrupt), ResultsFolder(out):
        raise KeyboardInterrupt
    assert not out.exists() and (tmp_path / "new" / "out.failed").is_dir()
    publish(out, "ok")  # the next success clears the failed folder
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_empty_folder_is_used_and_other_content_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    publish(empty, "x")
    assert is_complete(empty)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="non-empty folder without a popkin result"):
        ResultsFolder(busy)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(OutputExistsError, match="is not a folder"):
        ResultsFolder(a_file)
