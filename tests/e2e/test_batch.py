"""The Batch page in a real browser: upload a labelled file, score it in tasks, read the charts and the metrics,
download the scored rows, open one in the what-if form; and cancel a long scoring halfway.

The app process's demo API waits ``TASK_DELAY_S`` per task (``WHATIF_TASK_DELAY_S``), so the progress
panel is seen moving and Cancel lands between tasks. Screenshots ``40-batch`` (full page)
and ``41-batch-stopping`` (the progress panel after Cancel) go to ``screenshots/``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import StreamlitApp, start_app
from tests.e2e.test_browser import open_app, open_page, shoot, wait_for_run
from whatif.server.samples import titanic_frame

TASK_DELAY_S = 1.5
SCORE_MS = 90_000
FULL_PAGE_HEIGHT = 3000


@pytest.fixture(scope="module")
def batch_app(e2e_dir: Path) -> Iterator[StreamlitApp]:
    app = start_app("batch", e2e_dir, {"WHATIF_TASK_DELAY_S": str(TASK_DELAY_S)})
    yield app
    app.stop()


def passengers(folder: Path, rows: int) -> Path:
    """titanic3 label-encoded with its ``survived`` column, repeated to ``rows`` rows."""
    frame = titanic_frame()
    frame = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).head(rows)
    path = folder / f"passengers-{rows}.csv"
    frame.to_csv(path, index=False)
    return path


def upload(page: Page, path: Path) -> None:
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(path))
    expect(page.get_by_text(re.compile(r"rows of 7 inputs"))).to_be_visible()
    wait_for_run(page)


@pytest.mark.browser
def test_an_analyst_scores_a_labelled_file_and_opens_a_row(
    page: Page, batch_app: StreamlitApp, screenshots: Path, tmp_path: Path
) -> None:
    open_app(page, batch_app)
    open_page(page, "Batch")
    upload(page, passengers(tmp_path, 12_000))
    expect(page.get_by_text(re.compile(r"12,000 rows of 7 inputs.*2 tasks of up to 10,000 rows"))).to_be_visible()

    page.get_by_role("button", name="Score the file", exact=True).click()
    expect(page.get_by_test_id("stProgress")).to_be_visible()  # the background job's panel, polled
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    expect(page.get_by_text(re.compile(r"12,000 rows of passengers-12000\.csv scored in 2 tasks"))).to_be_visible(
        timeout=SCORE_MS
    )
    wait_for_run(page)
    expect(page.get_by_test_id("stProgress")).to_have_count(0)

    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(3)  # the histogram, the rows per class, the confusion matrix
    for index in range(3):
        expect(charts.nth(index).locator(":scope > svg, :scope > canvas").first).to_be_visible()
    accuracy = page.get_by_test_id("stMetric").filter(has_text="Accuracy").get_by_test_id("stMetricValue")
    expect(accuracy).to_have_text(re.compile(r"^0\.[789]\d*$"))
    expect(page.get_by_test_id("stMetric").filter(has_text="ROC AUC")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Worst first \(lowest accuracy\)"))).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.set_viewport_size({"width": 1440, "height": FULL_PAGE_HEIGHT})  # the app scrolls inside its own container
    wait_for_run(page)
    shoot(page, screenshots, "40-batch")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert len(rows) == 12_000 and {"row", "prediction", "probability_1", "survived"} <= set(rows[0])
    assert "bearer" not in saved.read_text().lower()

    row = page.get_by_role("spinbutton", name="Row")
    row.fill("2")
    row.press("Enter")
    wait_for_run(page)
    page.get_by_role("button", name="What if for this row?").click()
    expect(page.get_by_role("heading", name="What-if", level=1)).to_be_visible()
    wait_for_run(page)
    second = titanic_frame().iloc[1]
    expect(page.get_by_role("textbox", name=re.compile(r"^age"))).to_have_value(f"{second['age']:g}")
    assert "Traceback" not in batch_app.log()


@pytest.mark.browser
def test_cancel_stops_between_tasks_and_keeps_the_rows_scored(
    page: Page, batch_app: StreamlitApp, screenshots: Path, tmp_path: Path
) -> None:
    open_app(page, batch_app)
    open_page(page, "Batch")
    upload(page, passengers(tmp_path, 25_000))
    page.get_by_role("button", name="Score the file", exact=True).click()
    expect(page.get_by_test_id("stProgress")).to_contain_text(re.compile(r"of 25,000 rows · task [12] of 3"))
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Stopping after the task being answered", exact=False)).to_be_visible()
    shoot(page, screenshots, "41-batch-stopping")
    stopped = page.get_by_text(re.compile(r"^Stopped before task [23] of 3: rows 1-[12]0,000 are scored and kept"))
    expect(stopped).to_be_visible(timeout=SCORE_MS)
    wait_for_run(page)
    expect(page.get_by_text(re.compile(r"^task_alt [12]0,000 of 25,000 rows of passengers-25000\.csv"))).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    expect(page.get_by_role("button", name="Score the file", exact=True)).to_be_enabled()
    assert "Traceback" not in batch_app.log()
