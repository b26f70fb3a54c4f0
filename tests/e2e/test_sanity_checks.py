"""The Sanity checks page in a real browser: a suite written with the form on the credit model, run on the
model's real rows on v1 and then v2, where the income check newly fails; its worst case is opened.
Screenshot ``30-sanity-checks`` (full page) goes to ``screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import StreamlitApp, start_app
from tests.e2e.test_browser import choose, open_app, open_page, shoot, wait_for_run

RUN_MS = 90_000  # one task of a few hundred rows; the machine is shared
INCOME_CHECK, AMOUNT_CHECK = "income never hurts", "order amount ignored"
FULL_PAGE_HEIGHT = 2700  # the whole page, report and versions included


@pytest.fixture(scope="module")
def checks_app(e2e_dir: Path) -> Iterator[StreamlitApp]:
    app = start_app("checks", e2e_dir)
    yield app
    app.stop()


def add_form(page: Page) -> Locator:
    return page.locator(".st-key-checks_add")


def pick_radio(scope: Locator, option: str) -> None:
    scope.get_by_test_id("stRadio").get_by_text(option, exact=True).click()
    wait_for_run(scope.page)


def fill(field: Locator, value: str) -> None:
    """Type into a field and press Enter, as Streamlit needs before a button click."""
    field.fill(value)
    field.press("Enter")
    wait_for_run(field.page)


def add_check(page: Page, kind: str, feature: str, name: str, set_to: str | None = None) -> None:
    form = add_form(page)
    pick_radio(form, kind)
    choose(page, "Input", feature)
    if set_to is not None:
        fill(form.get_by_role("spinbutton", name="Set to"), set_to)
    fill(form.get_by_role("textbox", name="Check name"), name)
    form.get_by_role("button", name="Add to the suite").click()
    expect(form.get_by_text(f'Added "{name}".')).to_be_visible()
    wait_for_run(page)


def run_suite(page: Page, model: str) -> None:
    page.get_by_role("button", name="Run the suite", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(rf"checks passed on {re.escape(model)}"))).to_be_visible(
        timeout=RUN_MS
    )
    wait_for_run(page, RUN_MS)


@pytest.mark.browser
def test_an_analyst_writes_a_suite_runs_it_on_two_versions_and_sees_what_newly_fails(
    page: Page, checks_app: StreamlitApp, screenshots: Path
) -> None:
    open_app(page, checks_app)
    open_page(page, "Sanity checks")
    choose(page, "Model", "Credit approval · v1")
    expect(page.get_by_text("No checks yet")).to_be_visible()

    fill(page.get_by_role("textbox", name="Name", exact=True), "credit basics")
    add_check(page, "Monotonic", "average_monthly_income", INCOME_CHECK)
    add_check(page, "Invariant", "order_amount", AMOUNT_CHECK, set_to="1000")
    suite = page.get_by_role("textbox", name="The suite (JSON)")
    expect(suite).to_have_value(re.compile(r'"name": "credit basics"'))
    expect(suite).to_have_value(re.compile(r'"set": 1000'))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text('Saved "credit basics".')).to_be_visible()
    wait_for_run(page)

    pick_radio(page.locator("body"), "The model's real rows (from the server)")
    expect(page.get_by_text(re.compile(r"^\d+ real rows of the model's held-out data\.$"))).to_be_visible()
    run_suite(page, "Credit approval · v1")
    expect(page.get_by_role("heading", name=re.compile(r"1 of 2 checks passed"))).to_be_visible()

    choose(page, "Model", "Credit approval · v2 (latest)")
    run_suite(page, "Credit approval · v2")
    expect(page.get_by_role("heading", name=re.compile(r"0 of 2 checks passed"))).to_be_visible()
    failed = page.get_by_test_id("stExpander").filter(has_text=f"FAIL · {INCOME_CHECK}")
    expect(failed).to_have_count(1)
    failed.get_by_text(f"FAIL · {INCOME_CHECK}").click()
    worst = failed.get_by_test_id("stDataFrame")
    expect(worst).to_be_visible()
    expect(worst.locator("table[role=grid]")).to_contain_text("average_monthly_income")
    expect(page.get_by_text(re.compile(rf'On v2, "{INCOME_CHECK}" newly fails \(it passed on v1\)'))).to_be_visible()
    versions = page.get_by_test_id("stDataFrame").last.locator("table[role=grid]")
    expect(versions).to_contain_text("newly fails")
    wait_for_run(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.set_viewport_size({"width": 1440, "height": FULL_PAGE_HEIGHT})  # the app scrolls inside its own container
    wait_for_run(page)
    shoot(page, screenshots, "30-sanity-checks")
    assert "Traceback" not in checks_app.log()
