"""The first page on a fresh data folder: the frame, the sidebar and a "Preparing the demo models..."
status come first, while the demo API trains its sample models; then the form, and Predict works.

How long each part takes is measured by bench/ui.py, not here: this checks only the order a user sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import StreamlitApp, start_app
from tests.e2e.test_browser import shoot, wait_for_run

PREPARING = "Preparing the demo models..."
# Runs before Streamlit's own code: notes the order in which each part first appears in the page.
ORDER_SEEN_JS = """(() => {
  const order = [];
  window.__orderSeen = order;
  const probes = {
    sidebar: () => document.querySelector('[data-testid="stSidebarNav"] a'),
    status: () => Array.from(document.querySelectorAll('[data-testid="stExpander"]'))
      .some(e => e.textContent.includes('Preparing the demo models')),
    form: () => Array.from(document.querySelectorAll('button'))
      .some(b => b.textContent.trim().endsWith('Predict')),
  };
  const check = () => {
    for (const [name, probe] of Object.entries(probes)) {
      if (!order.includes(name) && probe()) order.push(name);
    }
  };
  new MutationObserver(check).observe(document, {childList: true, subtree: true, characterData: true});
})();"""


@pytest.fixture()
def fresh_app(e2e_dir: Path) -> Iterator[StreamlitApp]:
    """The app with nothing configured on a data folder of its own: its first page builds the sample models."""
    app = start_app("first-page", e2e_dir)
    assert not (app.home / "store").exists()  # nothing built before the browser asks for the page
    yield app
    app.stop()


@pytest.mark.browser
def test_the_first_page_shows_a_status_before_the_form_and_then_predicts(
    page: Page, fresh_app: StreamlitApp, screenshots: Path
) -> None:
    page.add_init_script(ORDER_SEEN_JS)
    page.goto(fresh_app.url)
    status = page.get_by_test_id("stExpander").filter(has_text=PREPARING)
    expect(status).to_be_visible(timeout=60_000)
    expect(page.get_by_role("combobox", name="API")).to_have_value("Local demo API")  # the sidebar meanwhile
    shoot(page, screenshots, "00-first-page-preparing")

    predict = page.get_by_role("button", name="Predict", exact=True)
    expect(predict).to_be_visible(timeout=90_000)
    wait_for_run(page, 90_000)
    order = page.evaluate("window.__orderSeen")
    assert order.index("sidebar") < order.index("form") and order.index("status") < order.index("form"), order
    expect(page.get_by_text(PREPARING)).to_have_count(0)  # the status is gone once the page is there
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Titanic survival · v1")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Local demo API: the embedded reference server")).to_be_visible()
    assert (fresh_app.home / "store").is_dir()  # the sample models were built into the fresh data folder

    predict.click()
    expect(page.get_by_text(re.compile(r"^Predicted in \d+ ms"))).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Prediction")).to_be_visible()
    wait_for_run(page)
    assert "Traceback" not in fresh_app.log()
    shoot(page, screenshots, "00-first-page-predicted")
