"""The app in a real browser, driven as an analyst drives it.

Three app processes are shared by these tests: the demo app (nothing configured), and two
configured by environment for the test process's reference server, one with a wrong secret.
Screenshots of the main states go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import StreamlitApp
from whatif.server.embedded import EmbeddedServer

FIRST_LOAD_MS = 90_000  # the demo API builds its sample models on the first page load
SHARE_LINK = (
    "/?path=1/4/model-groups/1/1.json&bucket=storage.datrics.ai"
    "&pclass=0&sex=0&age=42&sibsp=1&parch=0&fare=80&embarked=0"
)
ENV_PROFILE = "Environment (WHATIF_API_URL)"


# ---- helpers: what an analyst does ------------------------------------------------------
def open_app(page: Page, app: StreamlitApp, path: str = "/") -> None:
    page.set_default_timeout(30_000)
    page.goto(app.url + path)
    wait_for_run(page, FIRST_LOAD_MS)


def wait_for_run(page: Page, timeout_ms: float = 30_000) -> None:
    """Until the script run that the last action started has finished."""
    page.wait_for_timeout(300)  # let the rerun start before asking whether it is done
    expect(page.locator("[data-testid=stApp][data-test-script-state=notRunning]")).to_have_count(1, timeout=timeout_ms)


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option of a selectbox."""
    box = page.get_by_role("combobox", name=re.compile("^" + re.escape(label) + r"(\s|$)"))
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    # the run the pick starts may briefly draw the field twice while the browser swaps elements:
    # check the value once that run is over
    wait_for_run(page)
    expect(box).to_have_value(option)


def type_number(page: Page, label: str, value: str, shown: str) -> None:
    """Type into a number field (a text box) and press Enter, as Streamlit needs before a button click."""
    field = page.get_by_role("textbox", name=re.compile("^" + re.escape(label) + r"(\s|$)"))
    field.fill(value)
    field.press("Enter")
    expect(field).to_have_value(shown)
    wait_for_run(page)


def runs_table(page: Page) -> Locator:
    """The accessible grid behind the 'Runs compared' table (header row + one row per run)."""
    return page.get_by_test_id("stDataFrame").locator("table[role=grid]")


def predict(page: Page, runs_after: int) -> None:
    """Press Predict; wait for the status and for the new run in the table."""
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Predicted in \d+ ms"))).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Prediction")).to_be_visible()
    expect(runs_table(page)).to_have_attribute("aria-rowcount", str(runs_after + 1))
    wait_for_run(page)


def open_page(page: Page, title: str) -> None:
    """A page of the sidebar's navigation."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    wait_for_run(page)


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def page_text(page: Page) -> str:
    return page.locator("body").inner_text()


# ---- tests ------------------------------------------------------------------------------
@pytest.mark.browser
def test_two_what_ifs_are_compared_and_kept_after_reload(page: Page, demo_app: StreamlitApp, screenshots: Path) -> None:
    open_app(page, demo_app)
    expect(page.get_by_text("local demo API").first).to_be_visible()
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Titanic survival · v1")
    expect(page.get_by_text("No runs of this model yet")).to_be_visible()
    shoot(page, screenshots, "01-what-if-empty")

    choose(page, "sex", "female")
    type_number(page, "age", "12", "12")
    predict(page, runs_after=1)
    choose(page, "pclass", "1st")
    predict(page, runs_after=2)

    expect(page.get_by_role("heading", name="Runs compared")).to_be_visible()
    rows = runs_table(page).locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("1st")  # newest first: run 2 in first class...
    expect(rows.nth(0)).to_contain_text("pclass")  # ...which the table names as changed vs the baseline
    expect(rows.nth(1)).to_contain_text("3rd")
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(2)  # the newest run's probabilities, and every run
    expect(charts.last.locator("canvas, svg").first).to_be_visible()
    shoot(page, screenshots, "02-what-if-two-runs")

    page.reload()
    wait_for_run(page)
    expect(page.get_by_role("heading", name="Runs compared")).to_be_visible()
    expect(runs_table(page)).to_have_attribute("aria-rowcount", "3")
    expect(runs_table(page).locator("tbody tr").nth(0)).to_contain_text("1st")


@pytest.mark.browser
def test_share_link_fills_the_form(page: Page, demo_app: StreamlitApp, screenshots: Path) -> None:
    open_app(page, demo_app, SHARE_LINK)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Titanic survival · v1")
    expect(page.get_by_role("textbox", name="age")).to_have_value("42")
    expect(page.get_by_role("textbox", name="fare")).to_have_value("80")
    expect(page.get_by_role("textbox", name="sibsp")).to_have_value("1")
    expect(page.get_by_role("combobox", name="pclass")).to_have_value("1st")
    expect(page.get_by_role("combobox", name="sex")).to_have_value("female")
    expect(page.get_by_role("combobox", name="embarked")).to_have_value("Cherbourg")
    expect(page.get_by_role("alert")).to_have_count(0)  # no "values that do not fit" warning
    shoot(page, screenshots, "03-what-if-share-link")


@pytest.mark.browser
def test_wrong_secret_is_one_sentence_without_traceback(
    page: Page, wrong_secret_app: StreamlitApp, wrong_secret: str, screenshots: Path
) -> None:
    open_app(page, wrong_secret_app)
    expect(page.get_by_role("combobox", name="API")).to_have_value(ENV_PROFILE)
    errors = page.get_by_test_id("stAlertContentError")
    expect(errors.first).to_contain_text("secret")
    shoot(page, screenshots, "06-what-if-wrong-secret")

    messages = [m.strip() for m in errors.get_by_test_id("stMarkdownContainer").all_inner_texts()]
    assert len(messages) == 1, messages
    assert "\n" not in messages[0] and messages[0].endswith("."), messages[0]
    assert "401" in messages[0], messages[0]
    text = page_text(page)
    assert "Traceback" not in text
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert wrong_secret not in page.content()
    assert wrong_secret not in page.url
    assert "Traceback" not in wrong_secret_app.log()


@pytest.mark.browser
def test_secret_never_leaks(
    page: Page, env_app: StreamlitApp, server: EmbeddedServer, screenshots: Path, tmp_path: Path
) -> None:
    secret = server.secret
    seen: dict[str, str] = {}

    open_app(page, env_app)
    expect(page.get_by_role("combobox", name="API")).to_have_value(ENV_PROFILE)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Titanic survival · v1")
    type_number(page, "fare", "50", "50")
    predict(page, runs_after=1)
    for title in ("Share this what-if", "Show code"):
        page.get_by_text(title, exact=True).click()
    expect(page.get_by_text("<API_SECRET>").first).to_be_attached()  # the snippet's placeholder
    seen["What-if page"] = page.content()
    seen["What-if URL"] = page.url

    page.get_by_text("Import and export runs", exact=True).click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export runs (CSV)").click()
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    seen["exported CSV"] = exported.read_text()
    assert seen["exported CSV"].count("\n") >= 2, seen["exported CSV"]  # a header and the run

    open_page(page, "Saved models")
    expect(page.get_by_role("heading", name="Titanic survival")).to_be_visible()
    page.get_by_role("tab", name="API").first.click()
    expect(page.get_by_text(server.predict_url).first).to_be_visible()
    shoot(page, screenshots, "04-saved-models")
    seen["Saved models page"] = page.content()
    seen["Saved models URL"] = page.url

    open_page(page, "Settings")
    expect(page.get_by_text("comes from the environment")).to_be_visible()
    page.get_by_role("button", name="Test connection").click()
    wait_for_run(page)
    shoot(page, screenshots, "05-settings")
    seen["Settings page"] = page.content()
    seen["Settings URL"] = page.url
    seen["Settings secret field"] = page.get_by_label("API secret").input_value()

    seen["app log"] = env_app.log()
    history = sorted(p for p in env_app.home.rglob("*") if p.is_file())
    assert any(p.name.startswith("history.sqlite") for p in history), history
    for path in history:
        seen[f"file {path.name}"] = path.read_bytes().decode("latin-1")

    leaks = [where for where, text in seen.items() if secret in text]
    assert not leaks, f"the API secret appears in: {leaks}"


# ---- known bugs: these fail until the app is fixed ---------------------------------------
def predict_one_more(page: Page) -> None:
    """Press Predict on a page that may already have runs; wait for the new row in the table."""
    table = runs_table(page)
    before = 1  # the header row
    if page.get_by_role("heading", name="Runs compared").is_visible():
        expect(table).to_have_attribute("aria-rowcount", re.compile(r"^\d+$"))
        before = int(table.get_attribute("aria-rowcount") or 1)
    predict(page, runs_after=before)


@pytest.mark.browser
def test_predicted_label_fits_the_result_card(page: Page, demo_app: StreamlitApp) -> None:
    """The predicted label is shown whole at 1440 px (a side column once cut "survived" to "survi…")."""
    open_app(page, demo_app, SHARE_LINK)  # 1st class, female, 42: the model says survived
    predict_one_more(page)
    value = page.get_by_test_id("stMetricValue")
    expect(value).to_have_text("survived")
    needed, given = value.get_by_test_id("stMarkdownContainer").evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert needed <= given, (
        f"the prediction is cut off with an ellipsis: 'survived' needs {needed} px, "
        f"the result card gives it {given} px (viewport {page.viewport_size})"
    )


@pytest.mark.browser
def test_run_picker_points_at_the_new_run(page: Page, demo_app: StreamlitApp) -> None:
    """After Predict the 'Run' picker (Pin, Restore, Delete, Name this run) points at the new run.

    It once kept the run it showed before, so "Name this run" + "Save name" right after a
    prediction renamed the wrong run.
    """
    open_app(page, demo_app, SHARE_LINK)
    predict_one_more(page)
    predict_one_more(page)
    newest = runs_table(page).locator("tbody tr").first.locator("td").first.inner_text().strip()
    expect(page.get_by_role("combobox", name="Run", exact=True)).to_have_value(
        re.compile(rf"^Run {newest} · "), timeout=5_000
    )
