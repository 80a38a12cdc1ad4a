"""The generated catalogue page lists every library model with its equations and is up to date."""

from __future__ import annotations

from pathlib import Path

from model_library import list_models
from model_library.catalogue import render_catalogue

PAGE = Path(__file__).resolve().parents[2] / "docs" / "model_catalogue.md"


def test_catalogue_page_is_up_to_date_and_complete() -> None:
    text = render_catalogue()
    assert PAGE.read_text() == text, "docs/model_catalogue.md is stale: run `make catalogue`"
    for info in list_models():
        section = text.split(f"## {info.name}\n", 1)[1].split("\n## ", 1)[0]
        assert "/dt = " in section and "Cc = " in section, info.name
        assert "References" in section, info.name
