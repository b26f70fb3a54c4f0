"""The what-if form, generated from the feature schema.

The form's values live in one dict per model in session state (the source of truth); widgets
are views of it. That keeps values of features hidden by the filter box, and lets "Reset",
"Restore a run" and share links set values before the widgets are drawn.

Numbers and integers are text fields read by ``whatif.numbers.parse_number``: the browser's
number input turns an empty field, letters or 1e309 into 0 without the page knowing. A text
that is not a number is kept as typed (per model, also while its field is hidden), shown with
its sentence under the field, and listed by ``form_problems``; the form's value stays the
last number read, so the values dict (and the share link) only ever holds valid numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import streamlit as st

from components.model_picker import REFILL_FORM_KEY, ModelChoice
from whatif.numbers import format_number, parse_number
from whatif.schema import Feature

COLUMNS = 3
FILTER_FROM = 13  # a filter box from this many features on
LABEL_DESCRIPTION_MAX = 24  # characters of a description shown in a field's label
GROUP_SIZE = 24  # features per page of the form when there are many
FULL_BLOCK, EMPTY_BLOCK = "\u25ae", "\u25af"  # the importance cue's bar
DRAWN_KEY = "whatif_form_drawn"  # widget keys drawn in this script run
DRAWN_BEFORE_KEY = "whatif_form_drawn_before"  # ...and in the run before it


def _values_key(choice: ModelChoice) -> str:
    return f"whatif_values_{choice.key}"


def _widget_key(choice: ModelChoice, feature: str) -> str:
    return f"whatif_form_{choice.key}_{feature}"


def _unread_texts(choice: ModelChoice) -> dict[str, str]:
    """Texts typed into number fields of this model that are not numbers, by feature name."""
    texts: dict[str, str] = st.session_state.setdefault(f"whatif_form_unread_{choice.key}", {})
    return texts


def _is_number_field(feature: Feature) -> bool:
    return feature.type == "number" or (feature.type == "integer" and not feature.is_categorical)


def current_values(choice: ModelChoice) -> dict[str, Any]:
    """The form's values for this model: defaults the first time; kept per feature name when the
    schema changes (a target left out, another schema file), features that are gone dropped."""
    key = _values_key(choice)
    values: dict[str, Any] | None = st.session_state.get(key)
    if values is None or values.keys() != {f.name for f in choice.schema.features}:
        earlier, defaults = values or {}, choice.schema.defaults()
        values = {f.name: _still_fitting(f, earlier.get(f.name), defaults[f.name]) for f in choice.schema.features}
        st.session_state[key] = values
    return values


def _still_fitting(feature: Feature, value: Any, default: Any) -> Any:
    """``value`` if it still fits the feature, else ``default``."""
    try:
        return default if value is None else feature.coerce(value)
    except ValueError:
        return default


def set_values(choice: ModelChoice, values: Mapping[str, Any]) -> None:
    """Put values into the form (reset, restore, share link); unknown or bad values are skipped.

    Call it before the form is drawn (a callback, or the page before ``schema_form``). Each
    field's widget state is set to the new value, so the browser shows it even where the field
    is already on the page. A value put into a number field replaces a text that was not a number.
    """
    stored = current_values(choice)
    unread = _unread_texts(choice)
    for feature in choice.schema.features:
        if feature.name in values:
            try:
                stored[feature.name] = feature.coerce(values[feature.name])
            except ValueError:
                continue
            unread.pop(feature.name, None)
        st.session_state[_widget_key(choice, feature.name)] = _shown(feature, stored[feature.name])


def reset_to_defaults(choice: ModelChoice) -> None:
    """Every feature back to its schema default."""
    set_values(choice, choice.schema.defaults())


def form_problems(choice: ModelChoice) -> dict[str, str]:
    """Number fields whose text is not a number, by feature name: one sentence each, such as
    "'abc' is not a number". Predict must wait until there is none; fields hidden by the
    filter box or on another page of the form count too."""
    unread = _unread_texts(choice)
    problems: dict[str, str] = {}
    for feature in choice.schema.features:
        if feature.name in unread and _is_number_field(feature):
            try:
                parse_number(unread[feature.name], integer=feature.type == "integer")
            except ValueError as problem:
                problems[feature.name] = str(problem)
    return problems


def form_problems_note(choice: ModelChoice) -> str:
    """What to fix before Predict, as markdown ("Fix age: 'abc' is not a number."); "" when nothing."""
    problems = form_problems(choice)
    if not problems:
        return ""
    return (
        "Fix "
        + "; ".join(f"{_markdown_text(name)}: {_markdown_text(sentence)}" for name, sentence in problems.items())
        + "."
    )


def start_form_run() -> None:
    """Call at the top of the page, every run: what the last run drew is known to ``schema_form``.

    A run that stops before the form (a model typed by hand, not complete yet) then counts as
    one that drew no field.
    """
    st.session_state[DRAWN_BEFORE_KEY] = st.session_state.pop(DRAWN_KEY, set())


def _forget_widgets_not_drawn_last_run(choice: ModelChoice) -> None:
    """Drop the widget state of fields that were not on the page in the previous run.

    Streamlit keeps a value put into session state for a widget even while the widget is not
    drawn, but when the widget comes back the browser shows its empty default (0, the first
    category) and sends that: a model picked by hand after a listed one, a filtered field,
    another page of fields. Without the key, the widget starts again from the form's values.
    """
    before: set[str] = st.session_state.get(DRAWN_BEFORE_KEY, set())
    for feature in choice.schema.features:
        key = _widget_key(choice, feature.name)
        if key not in before:
            st.session_state.pop(key, None)


def schema_form(choice: ModelChoice, importance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Draw the form; return the values it holds now.

    ``importance`` (feature name -> an object with ``rank``, ``share`` 0..1 and ``text``, from a
    tornado or the contributions) adds a small bar under each field, and a switch that orders
    the fields by it.
    """
    schema = choice.schema
    importance = importance or {}
    if st.session_state.pop(REFILL_FORM_KEY, False):
        reset_to_defaults(choice)
    values = current_values(choice)
    _forget_widgets_not_drawn_last_run(choice)
    features = list(schema.features)
    if importance and st.toggle(
        "Most important first",
        key=f"whatif_form_by_importance_{choice.key}",
        help="Orders the fields by the last tornado or contributions of this model.",
    ):
        features.sort(key=lambda f: importance[f.name].rank if f.name in importance else len(features) + 1)
    if len(features) >= FILTER_FROM:
        needle = st.text_input(
            "Filter features",
            key=f"whatif_filter_{choice.key}",
            placeholder=f"Type to find one of {len(features)} features",
        )
        needle = needle.replace("\u200b", "").strip().lower()  # a name copied from a label has zero-width spaces
        if needle:
            features = [f for f in features if needle in f.name.lower() or needle in f.description.lower()]
            st.caption(f"{len(features)} of {len(schema.features)} features shown; hidden ones keep their values.")
    groups = [features[i : i + GROUP_SIZE] for i in range(0, len(features), GROUP_SIZE)] or [[]]
    if len(groups) > 1:
        # one page of features at a time: a hundred widgets would make every rerun slow
        titles = [f"{i * GROUP_SIZE + 1}–{i * GROUP_SIZE + len(g)}" for i, g in enumerate(groups)]
        page_key = f"whatif_form_page_{choice.key}"
        if st.session_state.get(page_key) not in titles:
            st.session_state[page_key] = titles[0]
        shown = st.segmented_control("Features", titles, key=page_key, help="Values on other pages are kept.")
        groups = [groups[titles.index(shown)] if shown in titles else groups[0]]
    _feature_grid(choice, groups[0], values, importance)
    return dict(values)


def _feature_grid(
    choice: ModelChoice, features: list[Feature], values: dict[str, Any], importance: Mapping[str, Any]
) -> None:
    columns = st.columns(COLUMNS if len(features) > 1 else 1)
    for index, feature in enumerate(features):
        with columns[index % len(columns)]:
            values[feature.name] = _feature_widget(choice, feature, values.get(feature.name))
            if feature.name in importance:
                st.caption(importance_cue(importance[feature.name].share, importance[feature.name].text))


def importance_cue(share: float, text: str) -> str:
    """A field's importance as a caption: five blocks filled by its share of the largest effect, and its text."""
    filled = max(1, round(share * 5)) if share > 0 else 0
    return f":blue[{FULL_BLOCK * filled}]:gray[{EMPTY_BLOCK * (5 - filled)}] {_markdown_text(text)}"


def _shown(feature: Feature, value: Any) -> Any:
    """What a field's widget holds for a form value: the option, the code, the flag, the number's text."""
    if feature.type == "one_hot":
        return value if value in feature.choices else feature.choices[-1]
    if feature.type == "boolean":
        return bool(value)
    if feature.is_categorical:
        codes = [int(code) for code in feature.labels]
        return value if value in codes else codes[0]
    integer = feature.type == "integer"
    return format_number(value, integer=integer) if isinstance(value, int | float) else ""


def _feature_widget(choice: ModelChoice, feature: Feature, value: Any) -> Any:
    """One field. Its initial value is passed to the widget itself (never only through session
    state): a field that appears shows the form's value even when the browser mounts it afresh."""
    key = _widget_key(choice, feature.name)
    st.session_state.setdefault(DRAWN_KEY, set()).add(key)
    label = _label(feature)
    help_text = feature.help_text() or None
    shown = _shown(feature, value)
    if feature.type == "one_hot":
        options = feature.choices
        return st.selectbox(label, options, index=options.index(shown), key=key, help=help_text)
    if feature.type == "boolean":
        return st.toggle(label, value=shown, key=key, help=help_text)
    if feature.is_categorical:
        codes = [int(code) for code in feature.labels]
        return st.selectbox(
            label, codes, index=codes.index(shown), key=key, help=help_text, format_func=feature.label_of
        )
    return _number_field(choice, feature, value, key, label, help_text)


def _number_field(
    choice: ModelChoice, feature: Feature, value: Any, key: str, label: str, help_text: str | None
) -> Any:
    """A text field for a number: the form's value if it reads as one, else the last number read."""
    integer = feature.type == "integer"
    unread = _unread_texts(choice)
    initial = unread.get(feature.name, _shown(feature, value))
    text = st.text_input(label, value=initial, key=key, help=help_text, on_change=_tidy_number, args=(key, integer))
    try:
        number = parse_number(text, integer=integer)
    except ValueError as problem:
        unread[feature.name] = text
        st.caption(f":red[:material/error: {_markdown_text(feature.name)}: {_markdown_text(str(problem))}.]")
        return value
    unread.pop(feature.name, None)
    if feature.out_of_range(number):
        st.caption(f":orange[:material/warning: Outside the training range {feature.min:g} to {feature.max:g}]")
    return number


def _tidy_number(key: str, integer: bool) -> None:
    """Show a number as read once it is entered: "1,5" becomes "1.5", "+7" becomes "7"."""
    try:
        st.session_state[key] = format_number(parse_number(st.session_state[key], integer=integer), integer=integer)
    except ValueError:
        pass  # kept as typed, with its sentence under the field


def _label(feature: Feature) -> str:
    """The field's label: its name, and a short description after a middle dot (no markup, which
    screen readers would read out, as the label is the field's accessible name).

    A zero-width space after each underscore lets a long name (average_monthly_income) wrap
    there, at its word boundaries, instead of running out of its column.
    """
    name = feature.name.replace("_", "_\u200b")
    # a short description reads well beside the name; a long one would wrap and stays in the help
    short = feature.description if len(feature.description) <= LABEL_DESCRIPTION_MAX else ""
    return f"{name} · {short}" if short else name


def _markdown_text(text: str) -> str:
    """``text`` shown as written inside a line of markdown: a typed "*" or ":red[" is not markup.

    Only what can start inline markup is escaped, so sentences read the same in the page's source.
    """
    return re.sub(r"([\\`*_\[\]<>$~&]|:(?=\S))", r"\\\1", text)
