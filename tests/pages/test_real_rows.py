"""Start from a real row: the form takes a held-out row of the model, and says what its true answer was."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import DEMO_BUCKET
from tests.pages.support import captions, demo_history, form_values, predict, run
from whatif.client import ModelClient
from whatif.history import RunStore
from whatif.server.samples import TITANIC_PATH


def press_real_row(at: AppTest) -> AppTest:
    at.button(key="whatif_real_row").click()
    return run(at)


def shown_values(at: AppTest) -> dict[str, object]:
    return form_values(at, TITANIC_PATH)


def test_the_form_starts_from_real_rows_one_after_another(
    app: AppTest, client: ModelClient, run_store: RunStore
) -> None:
    sample = client.sample_rows(TITANIC_PATH, DEMO_BUCKET, n=2)
    run(app)
    defaults = shown_values(app)

    press_real_row(app)
    first = shown_values(app)
    assert first != defaults
    assert first["age"] == sample.rows[0]["age"] and first["fare"] == sample.rows[0]["fare"]
    truth = "survived" if sample.targets[0] == 1 else "died"
    note = [c for c in captions(app) if "Real row 1 of 20" in c]
    assert note and f"its true survived is **{truth}**" in note[0]

    press_real_row(app)
    assert shown_values(app)["fare"] == sample.rows[1]["fare"]
    assert any("Real row 2 of 20" in c for c in captions(app))

    predict(app)  # the prediction is made for the real row shown
    (made,) = run_store.runs(demo_history(TITANIC_PATH))
    assert made.row == {k: sample.rows[1][k] for k in made.row}
    assert any("Real row 2 of 20" in c for c in captions(app))

    app.button(key="whatif_reset").click()
    run(app)
    assert not any("Real row" in c for c in captions(app))  # the note leaves with the row


def test_a_model_the_server_does_not_know_has_no_real_rows_and_says_so(app: AppTest) -> None:
    run(app)
    app.toggle(key="whatif_model_by_hand").set_value(True)
    run(app)
    app.text_input(key="whatif_path").input("1/4/model-groups/77/1.json")
    app.text_input(key="whatif_bucket").input(DEMO_BUCKET)
    app.radio(key="whatif_schema_source").set_value("Paste an example request body")
    run(app)
    app.text_area(key="whatif_schema_paste").input('[{"age": 30, "fare": 10}]')
    run(app)
    press_real_row(app)
    (warning,) = app.warning
    assert "1/4/model-groups/77/1.json" in warning.value and not app.exception
