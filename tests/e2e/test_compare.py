"""The Compare page in a real browser, driven as an analyst drives it: credit v1 against v2 (the page's default
pair) on a scenario with both sweeps overlaid, then on a file of applications (agreement, confusion matrix, the
rows where they disagree most). Screenshots ``50-compare`` (the scenario) and ``51-compare-rows`` (the file) go
to ``screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import StreamlitApp, start_app
from tests.e2e.test_browser import choose, open_app, open_page, shoot, type_number, wait_for_run
from whatif.server.samples import credit_frame

RUN_MS = 90_000  # two tasks of a few hundred rows at most; the machine is shared
FULL_PAGE_HEIGHT = 2300  # the whole page with the scenario's results
ROWS_PAGE_HEIGHT = 2500  # ...and with the file's (the table of 20 rows is shown whole)
ROWS = 150
SENT_TOGETHER = re.compile(
    r"^[\d,]+ rows.* sent in 2 tasks, submitted together; answered \d+\.\d\d s after the "
    r"click\.$"
)


@pytest.fixture(scope="module")
def compare_app(e2e_dir: Path) -> Iterator[StreamlitApp]:
    app = start_app("compare", e2e_dir)
    yield app
    app.stop()


def expect_charts_drawn(scope: Locator, count: int) -> None:
    """``count`` Altair charts, each drawn by vega-embed at a readable size."""
    charts = scope.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(count)
    for index in range(count):
        drawn = charts.nth(index).locator(":scope > svg, :scope > canvas").first
        expect(drawn).to_be_visible()
        box = drawn.bounding_box()
        assert box is not None and box["width"] > 150 and box["height"] > 70, (index, box)


def open_tab(page: Page, title: str) -> Locator:
    tab = page.get_by_role("tab", name=title, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    wait_for_run(page)
    return page.get_by_role("tabpanel", name=title)


@pytest.mark.browser
def test_an_analyst_compares_two_versions_on_a_scenario_and_on_a_file(
    page: Page, compare_app: StreamlitApp, screenshots: Path, tmp_path: Path
) -> None:
    open_app(page, compare_app)
    open_page(page, "Compare")
    expect(page.get_by_role("combobox", name="Model A", exact=True)).to_have_value("Credit approval · v1")
    expect(page.get_by_role("combobox", name="Model B", exact=True)).to_have_value("Credit approval · v2 (latest)")
    expect(page.get_by_text("take the same inputs and predict the same classes")).to_be_visible()

    # on a scenario: an applicant on a contract with a modest income, and how income moves both versions
    scenario = open_tab(page, "On a scenario")
    type_number(page, "average_monthly_income", "1500", "1500")
    choose(page, "employment_status", "Contract")
    choose(page, "Also sweep one input", "average_monthly_income")
    scenario.get_by_role("button", name="Compare on this scenario").click()
    expect(scenario.get_by_text(SENT_TOGETHER)).to_be_visible(timeout=RUN_MS)
    wait_for_run(page, RUN_MS)
    metrics = scenario.get_by_test_id("stMetric")
    expect(metrics).to_have_count(3)
    expect(metrics.nth(0)).to_contain_text("A · Credit approval · v1")
    expect(metrics.nth(1)).to_contain_text("B · Credit approval · v2")
    expect(metrics.nth(2)).to_contain_text(re.compile(r"[+-]\d+\.\d pts"))
    expect(scenario.get_by_text(re.compile(r"Along average_monthly_income they differ most at"))).to_be_visible()
    expect_charts_drawn(scenario, 2)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.set_viewport_size({"width": 1440, "height": FULL_PAGE_HEIGHT})  # the app scrolls inside its own container
    wait_for_run(page)
    shoot(page, screenshots, "50-compare")

    # on a file: 150 applications (with their true outcome, a column the page ignores)
    rows_file = tmp_path / "applicants.csv"
    credit_frame().head(ROWS).to_csv(rows_file, index=False)
    rows = open_tab(page, "On a file of rows")
    rows.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(rows_file))
    expect(rows.get_by_text(f"{ROWS} rows from applicants.csv.")).to_be_visible()
    wait_for_run(page)
    rows.get_by_role("button", name="Compare on these rows").click()
    expect(rows.get_by_text(SENT_TOGETHER)).to_be_visible(timeout=RUN_MS)
    wait_for_run(page, RUN_MS)
    agreement = rows.get_by_test_id("stMetric").filter(has_text="Agreement")
    expect(agreement).to_contain_text(re.compile(r"\d+\.\d %"))
    expect(rows.get_by_text(re.compile(r"agree on \d+ % of the 150 rows"))).to_be_visible()
    expect_charts_drawn(rows, 2)
    table = rows.get_by_test_id("stDataFrame").locator("table[role=grid]")
    expect(table).to_have_attribute("aria-rowcount", "21")  # a header and the 20 rows
    expect(table).to_contain_text("A says")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.set_viewport_size({"width": 1440, "height": ROWS_PAGE_HEIGHT})
    wait_for_run(page)
    shoot(page, screenshots, "51-compare-rows")
    assert "Traceback" not in compare_app.log()
