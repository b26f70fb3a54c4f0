"""Two browser sessions on one model's shared history: each card shows its own run, never the other's."""

from __future__ import annotations

from streamlit.proto.Metric_pb2 import Metric
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox

from tests.pages.support import (
    APP,
    TIMEOUT_S,
    captions,
    chart_data,
    chart_spec,
    charts,
    demo_history,
    form_key,
    metric,
    model_key,
    predict,
    reload,
    run,
    runs_table,
)
from whatif.charts import CLASS_COLORS
from whatif.history import RunStore
from whatif.server.samples import TITANIC_PATH

ONLY_MINE = f"whatif_only_mine_{model_key(TITANIC_PATH)}"
INPUTS_DIFFER = "The inputs differ from this prediction's"


def another_browser() -> AppTest:
    """A second browser on the same app (same data folder, its own session)."""
    return run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))


def first_class_woman(at: AppTest) -> AppTest:
    """Change the form to a woman in 1st class (the model says she survived)."""
    at.selectbox(key=form_key(TITANIC_PATH, "sex")).set_value(0)
    at.selectbox(key=form_key(TITANIC_PATH, "pclass")).set_value(0)
    return run(at)


def run_picker(at: AppTest) -> Selectbox[int]:
    prefix = f"whatif_run_pick_{model_key(TITANIC_PATH)}"
    (found,) = [s for s in at.selectbox if s.key and s.key.startswith(prefix)]
    return found


def texts(at: AppTest) -> str:
    return "\n".join([*captions(at), *(i.value for i in at.info)])


def test_each_browser_keeps_its_own_run_on_the_card(app: AppTest) -> None:
    predict(run(app))  # A: a 3rd class man of 28: died
    assert metric(app)[:2] == ("Prediction", "died")
    other = another_browser()
    assert not other.metric  # B's card is empty: A's run is not B's prediction
    assert "No runs of yours with this model yet" in texts(other)
    assert "1 run by another session is in the history" in texts(other)
    predict(first_class_woman(other))  # B: survived
    assert metric(other)[:2] == ("Prediction", "survived")

    run(app)  # A reruns for any reason
    assert metric(app)[:2] == ("Prediction", "died")  # still A's own run...
    assert INPUTS_DIFFER not in texts(app)  # ...made with A's inputs
    assert "1 new run by other sessions" in texts(app)
    run(app)
    assert "new run" not in texts(app)  # announced once, not on every rerun

    assert app.toggle(key=ONLY_MINE).value is True  # others' runs exist: only mine by default
    assert list(runs_table(app)["Run"]) == [1]
    app.toggle(key=ONLY_MINE).set_value(False)
    run(app)
    table = runs_table(app)
    assert list(table["Run"]) == [2, 1] and list(table["By"]) == ["other session", "you"]
    picker = run_picker(app)
    assert picker.options[picker.index].startswith("Run 1 ")  # the actions start on A's run, not B's newer one
    assert metric(app)[:2] == ("Prediction", "died")


def test_pin_and_delete_act_on_this_browsers_run_by_default(app: AppTest, run_store: RunStore) -> None:
    predict(run(app))
    other = another_browser()
    predict(first_class_woman(other))
    run(app)
    app.toggle(key=ONLY_MINE).set_value(False)
    run(app)

    app.button(key="whatif_run_delete").click()
    run(app)
    (left,) = run_store.runs(demo_history(TITANIC_PATH))
    assert left.label == "survived"  # A deleted its own run, not B's newer one
    assert not app.metric  # A has no run left to show
    run(other)
    assert metric(other)[:2] == ("Prediction", "survived")


def test_a_reload_of_the_same_browser_is_the_same_session(app: AppTest) -> None:
    predict(run(app))
    other = another_browser()
    predict(first_class_woman(other))
    reloaded = run(reload(app))  # A's browser: its cookie names its session
    assert metric(reloaded)[:2] == ("Prediction", "died")
    assert list(runs_table(reloaded)["Run"]) == [1]


def test_the_browser_keeps_the_session_in_a_cookie_of_its_own_never_in_the_url(app: AppTest) -> None:
    predict(run(app))
    me = app.session_state["whatif_session_id"]
    scripts = [h.proto.body for h in app.sidebar.get("html")]
    assert any(f"document.cookie = 'whatif_session={me}; path=/;" in s for s in scripts)
    assert me not in str(dict(app.query_params))
    assert all(me not in c.value for c in app.code)  # nor in the share link or the snippets


def test_restoring_a_run_shows_its_answer_until_an_input_changes(app: AppTest) -> None:
    predict(run(app))  # run 1: died
    predict(first_class_woman(app))  # run 2: survived
    picker = run_picker(app)
    picker.select_index(next(i for i, label in enumerate(picker.options) if label.startswith("Run 1 ")))
    run(app)
    app.button(key="whatif_run_restore").click()
    run(app)
    assert metric(app)[:2] == ("Prediction", "died")
    assert any(c.startswith(":material/undo: Restored run") for c in captions(app))
    assert INPUTS_DIFFER not in texts(app)

    app.selectbox(key=form_key(TITANIC_PATH, "sex")).set_value(0)
    run(app)
    assert INPUTS_DIFFER in texts(app)


def test_no_change_against_the_baseline_is_neither_up_nor_coloured(app: AppTest) -> None:
    predict(run(app))
    predict(app)  # the same inputs again: the same score
    assert metric(app)[2] == "0.0 pts"
    shown = app.metric[0].proto
    assert shown.direction == Metric.MetricDirection.NONE and shown.color == Metric.MetricColor.GRAY
    predict(first_class_woman(app))
    shown = app.metric[0].proto
    assert metric(app)[2].startswith("+") and shown.direction == Metric.MetricDirection.UP


def test_the_card_colours_the_predicted_class_as_the_chart_legend_does(app: AppTest) -> None:
    predict(run(app))  # died: the first class of the legend
    probability, runs = charts(app)
    assert CLASS_COLORS[0] in str(chart_spec(probability))
    assert chart_spec(runs)["layer"][1]["encoding"]["color"]["scale"]["range"][0] == CLASS_COLORS[0]
    assert chart_data(runs)


def test_integer_inputs_show_as_integers_in_the_runs_table(app: AppTest) -> None:
    predict(run(app))
    app.text_input(key=form_key(TITANIC_PATH, "sibsp")).input("3")
    predict(run(app))
    (table,) = [d for d in app.dataframe if "sibsp" in d.value.columns]
    assert '"sibsp"' in table.proto.columns and '"%d"' in table.proto.columns


def test_a_regression_with_no_change_has_no_arrow(app: AppTest) -> None:
    run(app)
    app.selectbox(key="whatif_model").set_value("Diabetes progression · v1")
    predict(run(app))
    predict(app)
    assert app.metric[0].proto.direction == Metric.MetricDirection.NONE


def test_clearing_while_only_my_runs_are_shown_leaves_the_others(app: AppTest, run_store: RunStore) -> None:
    predict(run(app))
    predict(app)
    other = another_browser()
    predict(first_class_woman(other))
    run(app)
    assert app.toggle(key=ONLY_MINE).value is True
    assert [p.proto.popover.label for p in app.get("popover") if "Clear" in p.proto.popover.label] == ["Clear mine"]
    assert any(
        "Delete your 2 runs of Titanic survival · v1? 1 run of other sessions will be kept." in m.value
        for m in app.markdown
    )
    app.button(key="whatif_runs_clear").click()
    run(app)
    assert [r.label for r in run_store.runs(demo_history(TITANIC_PATH))] == ["survived"]  # B's run is still there
    assert not app.metric
