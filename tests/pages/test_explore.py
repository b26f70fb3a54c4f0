"""Explore this scenario on the what-if page: each analysis runs on the form's values as one task,
draws its chart and says what it means; the tornado ranks the form's fields; a changed input
marks a result out of date instead of hiding it; a failure is one sentence.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from components.explore import ANALYSES, answer_cache
from tests.pages.support import (
    captions,
    chart_data,
    chart_spec,
    charts,
    demo_history,
    form_values,
    form_widgets,
    model_key,
    run,
)
from whatif.history import RunStore
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, TITANIC_PATH


@pytest.fixture(autouse=True)
def no_answers_known() -> None:
    """Each test starts with no model answers cached in the process (other tests ask for the same rows)."""
    answer_cache().clear()


TAB_TITLES = {a.key: a.title for a in ANALYSES}


def open_tab(at: AppTest, kind: str, path: str = TITANIC_PATH) -> AppTest:
    """Select the analysis' tab, as a click on it does (only the open tab's content runs)."""
    at.session_state[f"whatif_explore_tab_{model_key(path)}"] = TAB_TITLES[kind]
    return run(at)


def run_analysis(at: AppTest, kind: str, path: str = TITANIC_PATH) -> AppTest:
    open_tab(at, kind, path)
    at.button(key=f"whatif_explore_run_{kind}_{model_key(path)}").click()
    return run(at)


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def readings(at: AppTest) -> list[str]:
    return [m for m in markdown(at) if m.startswith(":material/lightbulb:")]


def specs(at: AppTest) -> list[str]:
    """Every chart's spec as text, to find which analysis drew it."""
    return [json.dumps(chart_spec(c)) for c in charts(at)]


def sent_captions(at: AppTest) -> list[str]:
    return [c for c in captions(at) if "rows sent in" in c or "no task was sent" in c]


def test_the_tornado_ranks_the_inputs_in_one_task_and_the_form_shows_each_rank(app: AppTest) -> None:
    run(app)
    assert not readings(app)  # nothing ran yet: no chart, no reading
    run_analysis(app, "sensitivity")
    (reading,) = readings(app)
    assert "P(survived)" in reading
    assert any('"can flip the class"' in s for s in specs(app))  # the tornado, with the inputs that flip the answer
    (sent,) = sent_captions(app)
    assert sent.endswith("after the click.") and "in 1 task;" in sent
    cues = [c for c in captions(app) if "· swing" in c]
    assert len(cues) == 7 and any("#1 · swing" in c for c in cues)  # one cue under each of the 7 fields
    assert app.toggle(key=f"whatif_form_by_importance_{model_key(TITANIC_PATH)}").value is False
    assert ":material/leaderboard: Ranked by *Which inputs matter* for these inputs." in captions(app)
    form_widgets(app, TITANIC_PATH)["age"].input("61")
    run(app)
    assert any("Ranked by *Which inputs matter*, run on earlier inputs" in c for c in captions(app))
    (stale,) = [c for c in captions(app) if "Out of date" in c]
    assert "it ran with age 28; the form has 61" in stale


def test_ordering_the_form_by_importance_puts_the_top_input_first(app: AppTest) -> None:
    run(app)
    run_analysis(app, "sensitivity")
    top = next(c for c in captions(app) if "#1 · swing" in c)
    app.toggle(key=f"whatif_form_by_importance_{model_key(TITANIC_PATH)}").set_value(True)
    run(app)
    first_cue = next(c for c in captions(app) if "· swing" in c)
    assert first_cue == top


def test_a_changed_input_marks_the_result_out_of_date_and_a_repeat_sends_no_task(app: AppTest) -> None:
    run(app)
    run_analysis(app, "robustness")
    assert len(readings(app)) == 1 and not [c for c in captions(app) if "Out of date" in c]
    form_widgets(app, TITANIC_PATH)["age"].input("61")
    run(app)
    assert len(readings(app)) == 1  # still shown...
    assert [c for c in captions(app) if "Out of date" in c]  # ...but marked
    form_widgets(app, TITANIC_PATH)["age"].input(str(form_widgets(app, TITANIC_PATH)["age"].value))
    run_analysis(app, "sweep")  # another analysis: its own result...
    assert len(readings(app)) == 1 and "P(survived) is highest" in readings(app)[0]
    open_tab(app, "robustness")  # ...and the robustness one is kept
    assert len(readings(app)) == 1 and "nearby rows" in readings(app)[0]


@pytest.mark.parametrize(
    ("kind", "chart_words"),
    [
        ("sweep", '"title": "pclass"'),  # the sweep's first input, on its x axis
        ("interaction", "predicted class changes here"),
        ("contributions", "background average"),
        ("robustness", "Each input nudged alone"),
    ],
)
def test_each_analysis_draws_its_chart_with_a_reading(app: AppTest, kind: str, chart_words: str) -> None:
    run(app)
    assert not any(chart_words in s for s in specs(app))
    run_analysis(app, kind)
    assert len(readings(app)) == 1
    assert any(chart_words in s for s in specs(app))
    (sent,) = sent_captions(app)
    assert "in 1 task;" in sent


def test_the_same_analysis_again_is_answered_without_a_task(app: AppTest) -> None:
    run(app)
    run_analysis(app, "interaction")
    run_analysis(app, "interaction")
    (sent,) = sent_captions(app)
    assert "no task was sent" in sent


def test_the_credit_model_s_one_hot_group_is_one_input_of_the_tornado(app: AppTest) -> None:
    app.query_params["path"], app.query_params["bucket"] = CREDIT_PATHS[0], "storage.datrics.ai"
    run(app)
    run_analysis(app, "sensitivity", CREDIT_PATHS[0])
    tornado = next(c for c in charts(app) if "can flip the class" in json.dumps(chart_spec(c)))
    features = _chart_values(tornado, "feature")
    assert "employment_status" in features
    assert not any(str(f).startswith("employment_status_") for f in features)


def test_a_server_gone_away_is_one_sentence_and_the_page_stays(
    app: AppTest, demo_servers: list[EmbeddedServer]
) -> None:
    run(app)
    run_analysis(app, "sensitivity")
    for demo in demo_servers:
        demo.stop()
    run_analysis(app, "robustness")
    (error,) = [e.value for e in app.error]
    assert "Traceback" not in error and len(error) < 400
    assert not readings(app)
    open_tab(app, "sensitivity")
    assert len(readings(app)) == 1  # the tornado made before is still there
    assert app.button(key="whatif_predict").disabled is False  # the page is still usable


def _chart_values(chart: Any, field: str) -> list[Any]:
    return [value for frame in chart_data(chart) if field in frame.columns for value in frame[field]]


def test_what_would_change_it_finds_alternatives_that_load_into_the_form_and_save_as_runs(
    app: AppTest, run_store: RunStore
) -> None:
    run(app)
    open_tab(app, "counterfactual")
    app.multiselect(key=f"whatif_cf_fixed_{model_key(TITANIC_PATH)}").set_value(["sex"])
    run_analysis(app, "counterfactual")
    (reading,) = readings(app)
    assert "survived" in reading
    (table,) = [d.value for d in app.dataframe if "Change" in d.value.columns]
    assert 1 <= len(table) <= 3 and not any("sex" in change for change in table["Change"])
    before = form_values(app, TITANIC_PATH)
    first_change = table["Change"].iloc[0]
    app.button(key=f"whatif_cf_load_{model_key(TITANIC_PATH)}_1").click()
    run(app)
    after = form_values(app, TITANIC_PATH)
    assert after["sex"] == before["sex"]  # kept fixed
    changed = first_change.split(" ")[0]
    assert after[changed] != before[changed]  # the alternative's value is in the form
    app.button(key=f"whatif_cf_save_{model_key(TITANIC_PATH)}_1").click()
    run(app)
    (saved,) = run_store.runs(demo_history(TITANIC_PATH))
    assert saved.label == "survived"
    assert any("is saved as a run (survived)" in s.value for s in app.success)


def test_results_made_through_one_api_are_not_shown_for_the_same_model_path_on_another(
    app: AppTest, server: EmbeddedServer
) -> None:
    """Staging and production often hold a model at the same path: switching the sidebar's API drops the results."""
    app.secrets["whatif"] = {
        "profiles": {
            "staging": {"url": server.predict_url, "secret": server.secret, "user_id": "1", "email": "demo@example.com"}
        }
    }
    run(app)
    start = app.selectbox(key="sidebar_profile").value
    run_analysis(app, "sensitivity")
    assert len(readings(app)) == 1
    other = next(o for o in app.selectbox(key="sidebar_profile").options if o != start)
    app.selectbox(key="sidebar_profile").set_value(other)
    run(app)
    open_tab(app, "sensitivity")
    assert not readings(app) and not any("· swing" in c for c in captions(app))
