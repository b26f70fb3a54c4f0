"""What can be done with a run: pin it as the baseline, restore it, name it, delete it, clear them all."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox

from tests.pages.support import captions, form_key, form_widgets, metric, model_key, predict, run, runs_table
from whatif.server.samples import TITANIC_PATH

PICK = f"whatif_run_pick_{model_key(TITANIC_PATH)}"


def run_picker(at: AppTest) -> Selectbox[int]:
    """The "Run" picker of the runs compared (its key may carry a suffix after the model key)."""
    found = [s for s in at.selectbox if s.key and s.key.startswith(PICK)]
    assert len(found) == 1, [s.key for s in at.selectbox]
    return found[0]


def loader(at: AppTest) -> Selectbox[int]:
    """The picker of the "Load run" popover (its key carries the model and the newest run)."""
    found = [s for s in at.selectbox if s.key and s.key.startswith("whatif_load_pick_")]
    assert len(found) == 1, [s.key for s in at.selectbox]
    return found[0]


def two_runs(at: AppTest) -> AppTest:
    """Run 1 at the defaults (a 3rd class man of 28), run 2 a woman of 30 in 1st class."""
    predict(run(at))
    at.selectbox(key=form_key(TITANIC_PATH, "sex")).set_value(0)
    at.selectbox(key=form_key(TITANIC_PATH, "pclass")).set_value(0)
    at.text_input(key=form_key(TITANIC_PATH, "age")).input("30")
    return predict(at)


def pick(at: AppTest, seq: int) -> AppTest:
    """Choose "Run <seq> · ..." in the run picker."""
    labels = run_picker(at).options
    index = [i for i, label in enumerate(labels) if label.startswith(f"Run {seq} ")]
    assert len(index) == 1, labels
    run_picker(at).select_index(index[0])
    return run(at)


def test_pinning_run_2_moves_the_star_and_the_comparison(app: AppTest) -> None:
    two_runs(app)
    assert list(runs_table(app)["Baseline"]) == ["", "★"]  # the first run is the baseline until one is pinned
    assert metric(app)[2] != ""

    pick(app, 2)
    app.button(key="whatif_run_pin").click()
    run(app)
    table = runs_table(app)
    assert list(table["Run"]) == [2, 1] and list(table["Baseline"]) == ["★", ""]
    assert metric(app)[2] == ""  # the newest run is the baseline now: nothing to compare
    assert app.button(key="whatif_run_pin").disabled
    assert any(label.endswith("★ baseline") and label.startswith("Run 2 ") for label in run_picker(app).options)


def test_restoring_run_1_puts_its_values_back_into_the_form(app: AppTest) -> None:
    two_runs(app)
    before = {name: w.value for name, w in form_widgets(app, TITANIC_PATH).items()}
    assert (before["sex"], before["pclass"], before["age"]) == (0, 0, "30")

    pick(app, 1)
    app.button(key="whatif_run_restore").click()
    run(app)
    after = form_widgets(app, TITANIC_PATH)
    assert (after["sex"].value, after["pclass"].value, after["age"].value) == (1, 2, "28")
    assert after["pclass"].format_func(after["pclass"].value) == "3rd"


def test_naming_deleting_and_clearing_runs(app: AppTest) -> None:
    two_runs(app)
    pick(app, 2)
    name_box = [t for t in app.text_input if t.key and t.key.startswith("whatif_run_name_")]
    assert len(name_box) == 1
    name_box[0].input("rich woman")
    app.button(key="whatif_run_rename").click()
    run(app)
    table = runs_table(app)
    assert list(table["Name"]) == ["rich woman", ""]
    assert any("rich woman" in label for label in run_picker(app).options)

    pick(app, 1)
    app.button(key="whatif_run_delete").click()
    run(app)
    table = runs_table(app)
    assert list(table["Name"]) == ["rich woman"] and list(table["Prediction"]) == ["survived"]
    assert len(run_picker(app).options) == 1

    app.selectbox(key="whatif_model").set_value("Diabetes progression · v1")
    predict(run(app))  # another model's history, which clearing Titanic's must leave alone
    app.selectbox(key="whatif_model").set_value("Titanic survival · v1")
    run(app)
    app.button(key="whatif_runs_clear").click()
    run(app)
    assert not [d for d in app.dataframe if "Baseline" in d.value.columns]
    assert not app.metric
    assert any("No runs of this model yet" in i.value for i in app.info)
    app.selectbox(key="whatif_model").set_value("Diabetes progression · v1")
    run(app)
    assert len(runs_table(app)) == 1


def test_load_run_popover_loads_a_run_into_the_form(app: AppTest) -> None:
    two_runs(app)
    picker = loader(app)
    assert len(picker.options) == 2
    picker.select_index(picker.options.index(next(o for o in picker.options if "· died" in o)))
    run(app)  # one pick loads: no second button to press
    widgets = form_widgets(app, TITANIC_PATH)
    assert (widgets["sex"].value, widgets["pclass"].value, widgets["age"].value) == (1, 2, "28")
    assert metric(app)[:2] == ("Prediction", "died")  # ...and its answer is on the card, marked as restored
    assert any(c.startswith(":material/undo: Restored run") for c in captions(app))
    assert loader(app).value is None  # ready for the next pick


def test_load_run_popover_lists_the_run_just_made(app: AppTest) -> None:
    predict(run(app))
    popover = [b for b in app.get("popover") if b.proto.popover.label == "Load run"]
    assert len(popover) == 1
    texts = [getattr(child, "value", None) for child in popover[0].children.values()]
    assert "No runs yet." not in texts, "after the first prediction the Load run popover still says 'No runs yet.'"
    assert [o.split(" ★")[0] for o in loader(app).options] == ["Run 1 · died"]


def test_load_run_popover_numbers_runs_as_the_table_does(app: AppTest) -> None:
    predict(run(app))  # Titanic run 1
    app.selectbox(key="whatif_model").set_value("Diabetes progression · v1")
    predict(run(app))  # Diabetes run 1
    table_names = [f"Run {seq}" for seq in runs_table(app)["Run"]]
    loader_names = [label.split(" · ")[0] for label in loader(app).options]
    assert loader_names == table_names, "the Load run popover and the runs table name the same run differently"
