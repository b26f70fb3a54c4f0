"""The section "Explore this scenario" in a real browser, driven as an analyst drives it.

One walk through the five analyses on the Titanic model (the default), on an app process of its
own (its answer cache starts empty, so every analysis sends its task): rank the inputs and let
the form follow the ranking, sweep one input with the model's real rows, map two inputs, explain
the prediction, test its stability; then change the form (the results stay, marked out of date)
and download the rows one analysis sent. Screenshots ``20-`` to ``24-`` (full page, and
``-section`` clipped to the section) go to ``screenshots/``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import StreamlitApp, start_app
from tests.e2e.test_browser import choose, open_app, type_number, wait_for_run

SECTION = "Explore this scenario"
FIRST_TAB = "Which inputs matter"
SAMPLE_SOURCE = "The model's real rows (from the server)"
TITANIC_INPUTS = ("pclass", "sex", "age", "sibsp", "parch", "fare", "embarked")
ANALYSIS_MS = 90_000  # an analysis is one task of up to a thousand rows; the machine is shared
SENT_IN_ONE_TASK = re.compile(r"^[\d,]+ rows sent in 1 task; answered \d+\.\d\d s after the click\.$")
OUT_OF_DATE = re.compile(r"Out of date: it ran with age 28; the form has 40")


@pytest.fixture(scope="module")
def explore_app(e2e_dir: Path) -> Iterator[StreamlitApp]:
    app = start_app("explore", e2e_dir)
    yield app
    app.stop()


# ---- where things are ---------------------------------------------------------------------------
def explore_tabs(page: Page) -> Locator:
    """The section's tabs (the "Show code" expander has tabs of its own)."""
    return page.get_by_test_id("stTabs").filter(has=page.get_by_role("tab", name=FIRST_TAB, exact=True))


def open_tab(page: Page, title: str) -> Locator:
    """Click one of the section's tabs; return its panel (only the open tab's panel is shown)."""
    tab = explore_tabs(page).get_by_role("tab", name=title, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    panel = explore_tabs(page).get_by_role("tabpanel")
    expect(panel).to_have_count(1)
    return panel


def charts(panel: Locator) -> Locator:
    return panel.get_by_test_id("stVegaLiteChart")


def expect_charts_drawn(panel: Locator, count: int) -> None:
    """``count`` Altair charts in the panel, each drawn by vega-embed (a canvas or an svg)."""
    expect(charts(panel)).to_have_count(count)
    for index in range(count):
        chart = charts(panel).nth(index)
        expect(chart).to_have_class(re.compile(r"\bvega-embed\b"))
        drawn = chart.locator(":scope > svg, :scope > canvas").first
        expect(drawn).to_be_visible()
        box = drawn.bounding_box()
        assert box is not None and box["width"] > 150 and box["height"] > 100, (index, box)


def reading(panel: Locator) -> Locator:
    """The sentence under the button that says what the chart shows; it starts with a lightbulb icon."""
    return (
        panel.get_by_test_id("stMarkdownContainer")
        .filter(has=panel.page.get_by_role("img", name="lightbulb icon"))
        .filter(has_text=re.compile(r"^\s*lightbulb\s"))
    )


def run_analysis(page: Page, panel: Locator, button: str) -> None:
    """Press an analysis' button and wait for its result: the status caption, one copy of the tabs, no run."""
    panel.get_by_role("button", name=button, exact=True).click()
    expect(panel.get_by_text(SENT_IN_ONE_TASK)).to_be_visible(timeout=ANALYSIS_MS)
    # the tornado and the contributions rerun the page (the form shows their ranking): until that rerun
    # ends, the browser briefly holds a second copy of the tabs
    expect(explore_tabs(page)).to_have_count(1)
    wait_for_run(page, ANALYSIS_MS)
    expect(panel.get_by_test_id("stAlertContentError")).to_have_count(0)


def form_column(page: Page) -> Locator:
    """The page's left column: the heading "Inputs", its buttons and the model's fields."""
    return page.get_by_test_id("stColumn").filter(has=page.get_by_role("heading", name="Inputs", exact=True))


def form_fields(page: Page) -> Locator:
    """The model's fields in the order the page draws them (the grid fills column by column)."""
    return form_column(page).locator("[data-testid=stTextInput], [data-testid=stSelectbox]")


def field_name(field: Locator) -> str:
    """The feature a field is for: its label up to the middle dot ("age · Age in years" -> "age")."""
    label = field.get_by_test_id("stWidgetLabel").inner_text().replace("\u200b", "")
    return label.split(" · ")[0].strip()


def cue_of(field: Locator) -> Locator:
    """The importance caption drawn right under a field ("▮▮▮▯▯ #2 · swing 30 pts")."""
    container = field.locator("xpath=ancestor::div[@data-testid='stElementContainer'][1]")
    return container.locator("xpath=following-sibling::div[@data-testid='stElementContainer'][1]")


def shoot_section(page: Page, folder: Path, name: str) -> None:
    """A full-page screenshot, and one clipped to the section (its heading to the bottom of its tabs)."""
    heading = page.get_by_role("heading", name=SECTION)
    heading.scroll_into_view_if_needed()
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    top, tabs = heading.bounding_box(), explore_tabs(page).bounding_box()
    assert top is not None and tabs is not None
    x, y = min(top["x"], tabs["x"]) - 16, top["y"] - 16
    width = max(top["x"] + top["width"], tabs["x"] + tabs["width"]) - x + 16
    height = min(tabs["y"] + tabs["height"] + 16, page.viewport_size["height"]) - y  # type: ignore[index]
    page.screenshot(
        path=str(folder / f"{name}-section.png"),
        clip={"x": max(x, 0), "y": max(y, 0), "width": width, "height": height},
    )


# ---- the walk ---------------------------------------------------------------------------------------
@pytest.mark.browser
def test_an_analyst_explores_the_titanic_scenario(
    page: Page, explore_app: StreamlitApp, screenshots: Path, tmp_path: Path
) -> None:
    open_app(page, explore_app)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Titanic survival · v1")
    expect(page.get_by_text(re.compile(r"#1 · "))).to_have_count(0)  # no ranking before the tornado
    page.get_by_role("heading", name=SECTION).scroll_into_view_if_needed()
    expect(explore_tabs(page)).to_have_count(1)

    # 1. which inputs matter: the tornado, its reading, and the form ranked by it
    panel = open_tab(page, FIRST_TAB)
    run_analysis(page, panel, "Rank the inputs")
    expect_charts_drawn(panel, 1)
    expect(reading(panel)).to_be_visible()
    expect(reading(panel)).to_contain_text("P(survived)")
    expect(reading(panel)).to_contain_text("matters most")
    first_cue = page.get_by_text(re.compile(r"#1 · swing \d+ pts$"))
    expect(first_cue).to_have_count(1)
    expect(page.get_by_text(re.compile(r"#\d · swing \d+ pts$"))).to_have_count(len(TITANIC_INPUTS))
    top = next(f for f in form_fields(page).all() if "#1 · " in cue_of(f).inner_text())
    top_name = field_name(top)
    assert top_name in TITANIC_INPUTS, top_name
    expect(reading(panel)).to_contain_text(f"{top_name} moves P(survived)")  # the reading names the same input

    by_importance = page.get_by_role("switch", name="Most important first")
    expect(by_importance).not_to_be_checked()
    page.get_by_text("Most important first", exact=True).click()
    expect(by_importance).to_be_checked()
    wait_for_run(page)
    expect(form_fields(page)).to_have_count(len(TITANIC_INPUTS))
    first = form_fields(page).first
    assert field_name(first) == top_name, (field_name(first), top_name)
    expect(cue_of(first)).to_contain_text("#1 · swing")
    expect(panel.get_by_text(SENT_IN_ONE_TASK)).to_be_visible()  # the result stays after the form's rerun
    shoot_section(page, screenshots, "20-explore-tornado")

    # 2. one input: age swept, with a curve per real row of the model's data
    panel = open_tab(page, "One input")
    choose(page, "Input", "age")
    choose(page, "Curves of other rows", SAMPLE_SOURCE)
    expect(panel.get_by_text(re.compile(r"^[\d,]+ real rows of the model's held-out data\.$"))).to_be_visible()
    run_analysis(page, panel, "Sweep this input")
    expect_charts_drawn(panel, 1)
    expect(reading(panel)).to_be_visible()
    shoot_section(page, screenshots, "21-explore-sweep")

    # 3. two inputs: age across, fare up; the map and the interaction alone, side by side
    panel = open_tab(page, "Two inputs")
    choose(page, "Across", "age")
    choose(page, "Up", "fare")
    run_analysis(page, panel, "Map the two inputs")
    expect_charts_drawn(panel, 2)
    left, right = (charts(panel).nth(i).bounding_box() for i in range(2))
    assert left is not None and right is not None
    assert abs(left["y"] - right["y"]) < 5 and right["x"] >= left["x"] + left["width"] - 1, (left, right)
    expect(reading(panel)).to_be_visible()
    shoot_section(page, screenshots, "22-explore-map")

    # 4. contributions: the waterfall of this prediction
    panel = open_tab(page, "Contributions")
    run_analysis(page, panel, "Explain this prediction")
    expect(explore_tabs(page).get_by_role("tab", name="Contributions")).to_have_attribute("aria-selected", "true")
    expect_charts_drawn(panel, 1)
    expect(reading(panel)).to_be_visible()
    shoot_section(page, screenshots, "23-explore-contributions")

    # 5. robustness: a thousand near copies
    panel = open_tab(page, "Robustness")
    run_analysis(page, panel, "Test the stability")
    expect_charts_drawn(panel, 2)
    expect(reading(panel)).to_be_visible()
    shoot_section(page, screenshots, "24-explore-robustness")

    # 6. a new age in the form: every result shown stays, marked out of date
    expect(panel.get_by_text(OUT_OF_DATE)).to_have_count(0)
    type_number(page, "age", "40", "40")
    expect(panel.get_by_text(OUT_OF_DATE)).to_be_visible()
    expect(panel.get_by_text(OUT_OF_DATE)).to_contain_text("Press Test the stability")
    expect_charts_drawn(panel, 2)
    panel = open_tab(page, FIRST_TAB)
    expect(panel.get_by_text(OUT_OF_DATE)).to_be_visible()
    expect_charts_drawn(panel, 1)
    shoot_section(page, screenshots, "25-explore-out-of-date")

    # 7. the rows the tornado sent, as CSV: the model's inputs and its answers, no credentials
    with page.expect_download() as download:
        panel.get_by_role("button", name="Download the rows (CSV)").click()
    assert download.value.suggested_filename.endswith(".csv"), download.value.suggested_filename
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    text = saved.read_text()
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    missing = [c for c in (*TITANIC_INPUTS, "prediction", "probability_1") if c not in header]
    assert not missing, f"the CSV lacks {missing}; its header: {header}"
    assert len(rows) > 10, f"only {len(rows) - 1} rows in the CSV"
    assert "secret" not in text.lower() and "bearer" not in text.lower(), header
    wait_for_run(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in explore_app.log()


@pytest.mark.browser
def test_what_would_change_it_loads_an_alternative_into_the_form(
    page: Page, explore_app: StreamlitApp, screenshots: Path
) -> None:
    open_app(page, explore_app)
    panel = open_tab(page, "What would change it?")
    keep = panel.get_by_role("combobox", name=re.compile(r"^Keep fixed"))
    keep.click()
    page.get_by_role("option", name="sex", exact=True).click()
    page.keyboard.press("Escape")
    wait_for_run(page)
    panel.get_by_role("button", name="Find changes", exact=True).click()
    expect(panel.get_by_text(re.compile(r"^[\d,]+ rows sent in [1-4] tasks?;"))).to_be_visible(timeout=ANALYSIS_MS)
    wait_for_run(page, ANALYSIS_MS)
    expect(reading(panel)).to_contain_text("survived")
    load = panel.get_by_role("button", name="Load #1 into the form", exact=True)
    expect(load).to_be_visible()
    shoot_section(page, screenshots, "26-explore-what-would-change")
    sex = page.get_by_role("combobox", name=re.compile(r"^sex"))
    load.click()
    wait_for_run(page)
    expect(sex).to_have_value("male")  # kept fixed
    expect(page.get_by_test_id("stMetricValue")).to_have_count(0)  # this session has not predicted yet
    page.get_by_role("button", name="Predict", exact=True).click()
    # the passenger of the form died; with the alternative loaded (sex kept), the model says survived
    expect(page.get_by_test_id("stMetricValue")).to_have_text("survived")
