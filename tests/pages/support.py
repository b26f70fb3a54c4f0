"""Helpers of the AppTest suite: reading the page as a user sees it, and driving the form."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from whatif.history import HistoryKey
from whatif.server.samples import DEMO_BUCKET

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT_S = 60
DEMO_HISTORY = "local-demo-api"  # the demo API's history key (stable across restarts, unlike its port)


def new_home(base: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh WHATIF_HOME (empty history) whose model store is the shared, already built one."""
    home = base / "whatif-home"
    home.mkdir(parents=True)
    (home / "store").symlink_to(store, target_is_directory=True)
    monkeypatch.setenv("WHATIF_HOME", str(home))
    return home


def run(at: AppTest) -> AppTest:
    """Run the app and fail on an exception it shows (with its message)."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def model_key(path: str, bucket: str = DEMO_BUCKET) -> str:
    """The model's part of its widget keys (``whatif_form_<modelkey>_<feature>``)."""
    return hashlib.sha1(f"{bucket}/{path}".encode()).hexdigest()[:8]


def form_key(path: str, feature: str, bucket: str = DEMO_BUCKET) -> str:
    """The key of one feature's widget in the what-if form."""
    return f"whatif_form_{model_key(path, bucket)}_{feature}"


def demo_history(path: str) -> HistoryKey:
    """The demo user's history of one sample model."""
    return HistoryKey(DEMO_HISTORY, "1", DEMO_BUCKET, path)


def form_widgets(at: AppTest, path: str) -> dict[str, Any]:
    """The form's widgets of one model by feature name."""
    prefix = f"whatif_form_{model_key(path)}_"
    widgets = [*at.selectbox, *at.toggle, *at.text_input]
    return {w.key[len(prefix) :]: w for w in widgets if w.key and w.key.startswith(prefix)}


def form_values(at: AppTest, path: str) -> dict[str, Any]:
    """The form's values as a user reads them: a number field's text read as the number it shows."""
    return {name: float(w.value) if w.type == "text_input" else w.value for name, w in form_widgets(at, path).items()}


def metric(at: AppTest) -> tuple[str, str, str]:
    """The result card's metric: (label, value, delta)."""
    assert len(at.metric) == 1, [m.value for m in at.metric]
    shown = at.metric[0]
    return shown.label, shown.value, shown.delta or ""


def charts(at: AppTest) -> list[Any]:
    """The Vega-Lite (Altair) charts of the page."""
    return list(at.get("vega_lite_chart")) + list(at.get("arrow_vega_lite_chart"))


def chart_data(chart: Any) -> list[pd.DataFrame]:
    """The data sets a chart draws."""
    proto = chart.proto
    frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in proto.datasets]
    if proto.HasField("data") and proto.data.data:
        frames.append(convert_arrow_bytes_to_pandas_df(proto.data.data))
    return frames


def chart_spec(chart: Any) -> dict[str, Any]:
    """A chart's Vega-Lite spec."""
    spec: dict[str, Any] = json.loads(chart.proto.spec)
    return spec


def runs_table(at: AppTest) -> pd.DataFrame:
    """The "Runs compared" table as shown (newest run first)."""
    tables = [d.value for d in at.dataframe if {"Run", "Baseline", "Prediction"} <= set(d.value.columns)]
    assert len(tables) == 1, "no runs table on the page"
    frame: pd.DataFrame = tables[0]
    return frame


def rendered_text(at: AppTest) -> str:
    """Everything the page sends to the browser (every element's message), as text."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return "\n".join(parts)


def captions(at: AppTest) -> list[str]:
    """Every caption's text."""
    return [c.value for c in at.caption]


def predict(at: AppTest) -> AppTest:
    """Press Predict."""
    at.button(key="whatif_predict").click()
    return run(at)


def reload(at: AppTest) -> AppTest:
    """The same browser tab reloaded: the same URL, and the same browser (whose cookie names its session).

    AppTest cannot send cookies, so the session id the cookie would carry is handed over directly.
    """
    again = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    for name in at.query_params:
        again.query_params[name] = at.query_params[name]
    again.session_state["whatif_session_id"] = at.session_state["whatif_session_id"]
    return again
