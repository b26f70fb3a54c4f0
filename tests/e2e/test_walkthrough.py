"""A new user's walk-through in a real browser: two browsers on one model, a model entered by hand.

These run on an app process of their own, so the history starts empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import VIEWPORT, StreamlitApp, start_app
from tests.e2e.test_browser import choose, open_app, predict, runs_table, shoot, wait_for_run
from whatif.server.samples import DEMO_BUCKET, TITANIC_PATH


@pytest.fixture(scope="module")
def walk_app(e2e_dir: Path) -> Iterator[StreamlitApp]:
    app = start_app("walkthrough", e2e_dir)
    yield app
    app.stop()


def card_value(page: Page) -> str:
    return page.get_by_test_id("stMetricValue").inner_text().strip()


@pytest.mark.browser
def test_two_browsers_each_see_their_own_prediction(
    browser: Browser, walk_app: StreamlitApp, screenshots: Path
) -> None:
    a = browser.new_context(viewport=VIEWPORT).new_page()
    b = browser.new_context(viewport=VIEWPORT).new_page()
    open_app(a, walk_app)
    predict(a, runs_after=1)  # a 3rd class man of 28
    expect(a.get_by_test_id("stMetricValue")).to_have_text("died")

    open_app(b, walk_app)
    expect(b.get_by_text("No runs of yours with this model yet")).to_be_visible()
    choose(b, "sex", "female")
    choose(b, "pclass", "1st")
    predict(b, runs_after=1)  # B sees only its own run in the table
    expect(b.get_by_test_id("stMetricValue")).to_have_text("survived")

    a.get_by_role("button", name="Reset to defaults").click()  # A reruns for any reason
    wait_for_run(a)
    expect(a.get_by_test_id("stMetricValue")).to_have_text("died")
    expect(a.get_by_text("1 new run by other sessions")).to_be_visible()
    expect(a.get_by_text("The inputs differ from this prediction's")).to_have_count(0)
    expect(runs_table(a)).to_have_attribute("aria-rowcount", "2")  # header + A's own run
    expect(a.get_by_role("combobox", name="Run", exact=True)).to_have_value(re.compile(r"^Run 1 · died"))
    shoot(a, screenshots, "07-two-browsers-a")
    shoot(b, screenshots, "08-two-browsers-b")

    a.get_by_text(re.compile(r"^Only my runs \(")).click()
    wait_for_run(a)
    expect(runs_table(a)).to_have_attribute("aria-rowcount", "3")
    expect(runs_table(a).locator("tbody tr").first).to_contain_text("other session")
    expect(a.get_by_test_id("stMetricValue")).to_have_text("died")
    expect(a.get_by_role("combobox", name="Run", exact=True)).to_have_value(re.compile(r"^Run 1 · died"))
    shoot(a, screenshots, "09-two-browsers-a-all-runs")

    a.reload()  # a reload is the same session: its run is still the card's
    wait_for_run(a)
    expect(a.get_by_test_id("stMetricValue")).to_have_text("died")
    a.context.close()
    b.context.close()


@pytest.mark.browser
def test_a_model_entered_by_hand_shows_its_defaults_not_zeros(
    page: Page, walk_app: StreamlitApp, screenshots: Path
) -> None:
    open_app(page, walk_app)
    age = page.get_by_label(re.compile(r"^age"))
    expect(age).to_have_value(re.compile(r"\d"))  # the browser fills a fresh field a frame after the run ends
    listed_age = age.input_value()
    assert float(listed_age) != 0

    page.get_by_text("Enter path and bucket by hand").click()
    wait_for_run(page)
    for name, value in (("Model path", TITANIC_PATH), ("Bucket", DEMO_BUCKET)):
        field = page.get_by_role("textbox", name=name, exact=True)
        field.fill(value)
        field.press("Enter")
        wait_for_run(page)
    expect(page.get_by_label(re.compile(r"^age"))).to_have_value(listed_age)  # not 0
    expect(page.get_by_role("combobox", name=re.compile(r"^pclass"))).to_have_value("3rd")  # not the first class
    shoot(page, screenshots, "10-model-by-hand")
    predict(page, runs_after=1)
    expect(runs_table(page).locator("tbody tr").first).not_to_contain_text("age")  # same inputs as the baseline...
    expect(page.get_by_test_id("stMetricValue")).to_have_text("died")  # ...so the same answer as the listed model


@pytest.mark.browser
def test_one_pick_in_load_run_loads_it(page: Page, walk_app: StreamlitApp) -> None:
    open_app(page, walk_app)
    predict(page, runs_after=1)
    choose(page, "sex", "female")
    choose(page, "pclass", "1st")
    predict(page, runs_after=2)
    page.get_by_role("button", name="Load run").click()
    box = page.get_by_test_id("stPopoverBody").get_by_role("combobox", name="Run", exact=True)
    box.click()
    page.get_by_role("option", name=re.compile(r"^Run \d+ · died")).first.click()
    wait_for_run(page)
    expect(page.get_by_role("combobox", name=re.compile(r"^sex"))).to_have_value("male")
    expect(page.get_by_test_id("stMetricValue")).to_have_text("died")
    expect(page.get_by_text(re.compile("Restored run"))).to_be_visible()
