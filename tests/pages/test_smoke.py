"""Every page runs without an exception against the embedded demo API."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_saved_models_page_lists_the_sample_models() -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Titanic survival", "Credit approval", "Diabetes progression"]
    assert any("local demo API" in c.value for c in at.caption)
