"""Number fields in a real browser: what cannot be read is said by the field and blocks Predict;
long field names wrap at their underscores and are still the fields' accessible names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import StreamlitApp
from tests.e2e.test_browser import open_app, shoot, wait_for_run

CREDIT_V1 = "/?path=1/4/model-groups/2/1.json&bucket=storage.datrics.ai"
# the text of each line an element's text is laid out on (a line starts where a character drops below the last)
LINES_JS = """e => {
  const lines = []; let top = null;
  const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange(); range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (rect && (top === null || rect.top > top + 2)) { lines.push(""); top = rect.top; }
      lines[lines.length - 1] += node.data[i];
    }
  }
  return lines;
}"""


def number_field(page: Page, label: str) -> Locator:
    return page.get_by_role("textbox", name=re.compile("^" + re.escape(label) + r"(\s|$)"))


def enter_number(page: Page, label: str, text: str, shown: str) -> None:
    """Type into a number field and press Enter; the field then shows ``shown``.

    The run is awaited before the field is looked at again: the first change in a new app
    process redraws the whole form, and for a moment the page holds the old field and the new.
    """
    field = number_field(page, label)
    field.fill(text)
    field.press("Enter")
    wait_for_run(page)
    expect(field).to_have_value(shown)


def caption(page: Page, text: str) -> Locator:
    """A caption (its icon aside) saying ``text``."""
    return page.get_by_test_id("stCaptionContainer").filter(has_text=text)


def is_under(page: Page, message: Locator, field: Locator) -> bool:
    """The message is below the field, in its column."""
    said, box = message.bounding_box(), field.bounding_box()
    assert said and box
    return (
        said["y"] >= box["y"] + box["height"]
        and said["x"] < box["x"] + box["width"]
        and said["x"] + said["width"] > box["x"]
    )


@pytest.mark.browser
def test_unreadable_numbers_are_named_by_their_fields_and_predict_waits(
    page: Page, demo_app: StreamlitApp, screenshots: Path
) -> None:
    open_app(page, demo_app)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Titanic survival · v1")
    enter_number(page, "age", "1,5", "1.5")  # a decimal comma, read as a point and shown so
    enter_number(page, "fare", "1,500", "1,500")  # 1500 or 1.5? refused, kept as typed
    enter_number(page, "sibsp", "two", "two")
    page.evaluate("document.activeElement.blur()")  # the page as a user looks at it, no field being edited

    fare_says = caption(
        page, "fare: '1,500' could mean 1500 or 1.5: write 1500 without a comma, or 1.5 with a point."
    ).filter(has_not_text="Fix ")
    sibsp_says = caption(page, "sibsp: 'two' is not a number.").filter(has_not_text="Fix ")
    expect(fare_says).to_have_count(1)
    expect(sibsp_says).to_have_count(1)
    assert is_under(page, fare_says, number_field(page, "fare"))
    assert is_under(page, sibsp_says, number_field(page, "sibsp"))
    expect(fare_says.get_by_role("img", name="error icon")).to_be_visible()

    predict = page.get_by_role("button", name="Predict", exact=True)
    expect(predict).to_be_disabled()
    reason = caption(
        page,
        "Fix sibsp: 'two' is not a number; fare: '1,500' could mean 1500 or 1.5: write 1500 "
        "without a comma, or 1.5 with a point.",
    )  # in the form's order
    expect(reason).to_have_count(1)
    assert is_under(page, reason, predict)
    assert "two" not in page.url and "1%2C500" not in page.url and "age=1.5" in page.url
    shoot(page, screenshots, "07-what-if-numbers-to-fix")

    enter_number(page, "fare", "1500", "1500")
    enter_number(page, "sibsp", "2", "2")
    expect(predict).to_be_enabled()
    expect(
        page.get_by_test_id("stCaptionContainer").filter(has_text=re.compile("could mean|not a number"))
    ).to_have_count(0)


@pytest.mark.browser
def test_long_field_names_wrap_at_underscores_and_stay_the_fields_names(
    page: Page, demo_app: StreamlitApp, screenshots: Path
) -> None:
    open_app(page, demo_app, CREDIT_V1)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Credit approval · v1")
    income = page.get_by_role("textbox", name="average_monthly_income", exact=True)
    expect(income).to_be_visible()  # the accessible name reads as the feature's name
    wait_for_run(page)

    label = page.get_by_test_id("stWidgetLabel").filter(has_text="income").get_by_test_id("stMarkdownContainer")
    lines = [line.strip() for line in label.evaluate(LINES_JS)]
    assert len(lines) > 1, f"the label fits one line at this width; nothing to check: {lines}"
    assert all(line.endswith("_\u200b") for line in lines[:-1]), f"the label breaks inside a word: {lines}"
    assert "".join(lines).replace("\u200b", "") == "average_monthly_income"
    needed, given = label.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert needed <= given, f"the label runs out of its column: {needed} px in {given} px"
    shoot(page, screenshots, "08-what-if-long-names")
