"""The HTML report of a theo_sd fit (FOCE-I, additive error): structure, numbers, embedded figures.

No browser is available on the test machines, so the page is checked as a document: it
parses into a well-formed tree (every element closed in order), refers to nothing outside
itself, shows the fit's numbers (OFV against nlmixr2's 116.8038) and embeds decodable PNGs.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pytest
from fitted_theo_sd import theo_sd_focei

from estimation.plots import gof_plot, trace_plot
from estimation.report import png_bytes, report_html, write_report
from estimation.results import FitResult

NLMIXR2_FOCEI_OFV = 116.8038
VOID = {"meta", "img", "br", "hr", "link", "input"}


class Tree(HTMLParser):
    """Elements in document order; raises on a closing tag that does not match the open one."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.text: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs), list(self.stack)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.text.setdefault(self.stack[-1], []).append(data)


def parse(page: str) -> Tree:
    tree = Tree()
    tree.feed(page)
    tree.close()
    assert tree.stack == [], f"unclosed elements {tree.stack}"
    return tree


@pytest.fixture(scope="module")
def result() -> FitResult:
    return theo_sd_focei()


@pytest.fixture(scope="module")
def images(result: FitResult) -> dict[str, bytes]:
    return {"gof": png_bytes(gof_plot(result), dpi=40), "traces": png_bytes(trace_plot(result), dpi=40)}


@pytest.fixture(scope="module")
def page(result: FitResult, images: dict[str, bytes]) -> str:
    return report_html(result, images, run={"data": "theo_sd.csv", "command": "popkin fit theo_sd"})


def test_report_is_a_well_formed_self_contained_page(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    tree = parse(page)
    tags = [tag for tag, _, _ in tree.elements]
    assert tags[:2] == ["html", "head"] and "body" in tags
    assert "link" not in tags and "script" not in tags and "iframe" not in tags
    sources = [attrs.get("src") or "" for tag, attrs, _ in tree.elements if tag == "img"]
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:|//|file:)", page)
    assert "url(" not in page  # no external stylesheet assets either
    assert tree.text["h2"] == ["Convergence", "Objective function", "Run", "Parameters", "Shrinkage",
                               "Correlation of the estimates", "Figures"]


def test_report_shows_the_fit(page: str, result: FitResult) -> None:
    tree = parse(page)
    cells = tree.text["td"]
    ofv = float(cells[0])
    assert ofv == pytest.approx(NLMIXR2_FOCEI_OFV, abs=0.05)
    assert f"{result.aic:.4f}" in cells and f"{result.bic:.4f}" in cells
    for name in ("tka", "tcl", "tv", "omega(eta_ka)", "add_sd"):
        row = cells.index(name)
        estimate = result.parameters.set_index("parameter").loc[name, "estimate"]
        # columns parameter, type, fixed, estimate; 4 significant digits
        assert float(cells[row + 3]) == pytest.approx(estimate, rel=1e-3)
    assert "converged" in tree.text["span"]
    assert any("covariance step (sandwich): ok" in li for li in tree.text["li"])
    assert "popkin fit theo_sd" in cells


def test_figures_are_embedded_as_decodable_png(page: str, images: dict[str, bytes]) -> None:
    tree = parse(page)
    embedded = {attrs["alt"]: attrs["src"] for tag, attrs, _ in tree.elements if tag == "img"}
    assert list(embedded) == ["gof", "traces"]
    sizes = {"gof": (7 * 40, 8 * 40), "traces": (round(2.2 * 40), round(2.8 * 40))}  # inches x dpi
    for name, src in embedded.items():
        png = base64.b64decode(src.removeprefix("data:image/png;base64,"))
        assert png == images[name]
        pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert pixels.shape[:2] == sizes[name]


def test_text_is_escaped(result: FitResult) -> None:
    page = report_html(dataclasses.replace(result, model_name="<script>alert(1)</script>"))
    assert "<script>" not in page and "&lt;script&gt;" in page
    parse(page)


def test_non_png_figure_is_refused(result: FitResult) -> None:
    with pytest.raises(ValueError, match="'gof' is not PNG data"):
        report_html(result, {"gof": b"GIF89a"})


def test_write_report_is_atomic(result: FitResult, images: dict[str, bytes], tmp_path: Path) -> None:
    path = write_report(result, tmp_path / "report.html", images)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    parse(path.read_text(encoding="utf-8"))
