"""Train from a CSV in a real browser: upload titanic3, check the target and features, train, read the metrics
against the baseline, open the new model in the what-if page and predict with it.

The app process has a home of its own, so the model it trains is saved in its own store; its demo API waits
``TASK_DELAY_S`` before each task, so the training's progress panel is seen. Screenshots ``50-saved-models``,
``51-train-form``, ``52-training``, ``53-trained`` and ``54-what-if-trained`` go to ``screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import StreamlitApp, start_app
from tests.e2e.test_browser import open_app, open_page, predict, shoot, wait_for_run

TITANIC_CSV = Path(__file__).resolve().parents[2] / "whatif" / "server" / "data" / "titanic3.csv"
TRAIN_MS = 90_000
TASK_DELAY_S = 1.5  # the demo API waits this long before each task, so the progress panel is seen
FULL_PAGE_HEIGHT = 3600
LEAKS = ("boat", "body")  # recorded after the sinking: they give the answer away


@pytest.fixture(scope="module")
def training_app(e2e_dir: Path) -> Iterator[StreamlitApp]:
    app = start_app("train", e2e_dir, {"WHATIF_TASK_DELAY_S": str(TASK_DELAY_S)})
    yield app
    app.stop()


def leave_out(page: Page, label: str, option: str) -> None:
    """Remove one chosen option of a multiselect (its chip's x)."""
    box = page.get_by_test_id("stMultiSelect").filter(has=page.get_by_text(label, exact=True))
    box.get_by_role("button", name=f"Remove {option}", exact=True).click()
    expect(box.get_by_role("button", name=f"Remove {option}", exact=True)).to_have_count(0)
    wait_for_run(page)


@pytest.mark.browser
def test_an_analyst_trains_a_model_from_a_csv_and_predicts_with_it(
    page: Page, training_app: StreamlitApp, screenshots: Path
) -> None:
    open_app(page, training_app)
    open_page(page, "Saved models")
    expect(page.get_by_role("tab", name="Train from a CSV")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first.locator("canvas, table").first).to_be_visible()
    shoot(page, screenshots, "50-saved-models")

    page.get_by_test_id("stFileUploader").first.locator("input[type=file]").set_input_files(str(TITANIC_CSV))
    expect(page.get_by_text("1,309 rows and 14 columns")).to_be_visible()
    wait_for_run(page)
    expect(page.get_by_role("combobox", name=re.compile("^Target"))).to_have_value("survived")
    expect(page.get_by_text(re.compile(r"Left out at first: .*`?name`?"))).to_be_visible()
    for column in LEAKS:
        leave_out(page, "Features (the model's inputs)", column)
    expect(page.get_by_role("combobox", name=re.compile("^Task"))).to_have_value("Classification")
    shoot(page, screenshots, "51-train-form")

    page.get_by_role("button", name="Train and save").click()
    progress = page.locator(".st-key-saved_models_train_progress")
    expect(progress.get_by_test_id("stProgress")).to_be_visible()  # polled while the page stays usable
    expect(progress.get_by_text(re.compile(r"Training a model of survived from titanic3\.csv"))).to_be_visible()
    expect(page.get_by_role("button", name="Train and save")).to_be_disabled()
    shoot(page, screenshots, "52-training")
    result = page.locator(".st-key-saved_models_train_open_card")
    expect(result.get_by_text(re.compile(r"^Saved titanic3 v1"))).to_be_visible(timeout=TRAIN_MS)
    wait_for_run(page)
    accuracy = result.get_by_test_id("stMetric").filter(has_text="Accuracy")
    expect(accuracy.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"^0\.[6-9]\d*$"))
    expect(accuracy.get_by_test_id("stMetricDelta")).to_contain_text("vs baseline 0.6")
    expect(result.get_by_text(re.compile(r"^Measured on \d+ held-out rows"))).to_be_visible()
    expect(page.get_by_role("heading", name="titanic3", exact=True)).to_be_visible()  # its card in the list
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.set_viewport_size({"width": 1440, "height": FULL_PAGE_HEIGHT})  # the app scrolls inside its own container
    wait_for_run(page)
    card = page.locator("[class*=st-key-saved_models_card_]").filter(
        has=page.get_by_role("heading", name="titanic3", exact=True)
    )
    expect(card.get_by_test_id("stDataFrame").first.locator("canvas, table").first).to_be_visible()
    shoot(page, screenshots, "53-trained")

    result.get_by_role("button", name="Open in what-if").click()
    expect(page.get_by_role("heading", name="What-if", level=1)).to_be_visible()
    wait_for_run(page)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("titanic3 · v1")
    predict(page, runs_after=1)
    expect(page.get_by_test_id("stMetric").filter(has_text="Prediction").get_by_test_id("stMetricValue")).to_have_text(
        re.compile(r"^[01]$")
    )
    shoot(page, screenshots, "54-what-if-trained")


@pytest.mark.browser
def test_two_analysts_training_at_once_each_see_their_own_model(
    browser: Browser, browser_context_args: dict[str, Any], training_app: StreamlitApp, screenshots: Path
) -> None:
    contexts = [browser.new_context(**browser_context_args) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        names = ["alice survival", "bob survival"]
        for page, name in zip(pages, names, strict=True):
            open_app(page, training_app)
            open_page(page, "Saved models")
            page.get_by_test_id("stFileUploader").first.locator("input[type=file]").set_input_files(str(TITANIC_CSV))
            expect(page.get_by_text("1,309 rows and 14 columns")).to_be_visible()
            wait_for_run(page)
            for column in LEAKS:
                leave_out(page, "Features (the model's inputs)", column)
            field = page.get_by_role("textbox", name="Model name")
            field.fill(name)
            field.press("Enter")
            wait_for_run(page)
        for page in pages:  # both trainings run at the same time on the demo API's workers
            page.get_by_role("button", name="Train and save").click()

        for page, name, other in zip(pages, names, reversed(names), strict=True):
            result = page.locator(".st-key-saved_models_train_open_card")
            expect(result.get_by_text(re.compile(rf"^Saved {name} v1"))).to_be_visible(timeout=TRAIN_MS)
            expect(result.get_by_text(re.compile(rf"^Saved {other}"))).to_have_count(0)
            expect(page.get_by_test_id("stException")).to_have_count(0)
        shoot(pages[1], screenshots, "55-two-analysts-trained")
    finally:
        for context in contexts:
            context.close()
