"""Train from a CSV on the Saved models page: pick the target and features, fix a kind, train on the server,
read the metrics against the baseline, open the saved model in the what-if page and predict.

Training runs as a task on the app's demo API; the page waits for it in a thread of its own. A test presses
*Train and save*, waits for that job (``TrainingJob.wait``) and runs the page again, as the progress panel's
poll would. The app's demo API writes into a copy of the sample models (``writable_home``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from components import connection
from components.train_model import JOB_KEY, TrainingJob, _content_key
from tests.pages import models_support
from tests.pages.models_support import model_files
from tests.pages.support import form_widgets, metric, predict, rendered_text, run
from whatif.client import ModelClient
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import TITANIC_PATH

PAGE = "pages/saved_models.py"
TITANIC = (Path(__file__).resolve().parents[2] / "whatif" / "server" / "data" / "titanic3.csv").read_bytes()
FEATURES = ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]
JOB_S = 120

writable_app = models_support.writable_app  # a fixture
writable_home = models_support.writable_home  # a fixture


def open_saved_models(at: AppTest) -> AppTest:
    run(at)
    return run(at.switch_page(PAGE))


def upload(at: AppTest, data: bytes, name: str = "titanic3.csv") -> AppTest:
    at.file_uploader(key="saved_models_train_file").set_value((name, data, "text/csv"))
    return run(at)


def widget(at: AppTest, kind: str, key: str) -> Any:
    return getattr(at, kind)(key=key)


def train(at: AppTest) -> TrainingJob:
    """Press Train and save, wait for the job, run the page as the progress poll would."""
    at.button(key="saved_models_train_start").click()
    run(at)
    job: TrainingJob = at.session_state[JOB_KEY]
    assert job.wait(JOB_S), "the training job did not end"
    run(at)
    return job


def wait_until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    """Until the page's background job has got as far as ``condition`` says (no fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the training job did not get there in time"
        time.sleep(0.05)


def metrics_shown(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta or "") for m in at.metric}


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The target of every training started by anyone in this process (the page's thread included)."""
    seen: list[str] = []
    original = ModelClient.start_training

    def counted(self: ModelClient, csv: bytes, target: str, *args: Any, **kwargs: Any) -> str:
        seen.append(target)
        return original(self, csv, target, *args, **kwargs)

    monkeypatch.setattr(ModelClient, "start_training", counted)
    return seen


def test_the_form_reads_the_csv_and_infers_target_features_kinds_and_task(writable_app: AppTest) -> None:
    at = upload(open_saved_models(writable_app), TITANIC)
    key = _content_key(TITANIC)
    assert widget(at, "selectbox", f"saved_models_train_target_{key}").value == "survived"
    assert any("`survived` was taken as the target" in c.value for c in at.caption)
    features = widget(at, "multiselect", f"saved_models_train_features_{key}_survived")
    assert "name" not in features.value and "ticket" not in features.value and "pclass" in features.value
    assert any("Left out at first" in c.value and "`name`" in c.value for c in at.caption)
    assert widget(at, "selectbox", f"saved_models_train_kind_{key}_sex").value == "category"
    assert widget(at, "selectbox", f"saved_models_train_kind_{key}_age").value == "number"
    assert widget(at, "selectbox", f"saved_models_train_task_{key}_survived").value == "classification"
    assert widget(at, "text_input", "saved_models_train_name").value == "titanic3"
    assert not at.button(key="saved_models_train_start").disabled


def test_train_see_metrics_against_the_baseline_open_in_what_if_and_predict(
    writable_app: AppTest, writable_home: Path, trainings: list[str]
) -> None:
    at = upload(open_saved_models(writable_app), TITANIC)
    key = _content_key(TITANIC)
    widget(at, "multiselect", f"saved_models_train_features_{key}_survived").set_value(FEATURES)
    run(at)
    widget(at, "selectbox", f"saved_models_train_kind_{key}_pclass").set_value("category")  # fix a kind
    widget(at, "text_input", "saved_models_train_name").set_value("Titanic from a CSV")
    run(at)
    before = model_files(writable_home)

    job = train(at)
    assert job.error is None and job.result is not None, job.error
    assert trainings == ["survived"]
    saved = job.result
    shown = metrics_shown(at)
    assert list(shown) == ["Accuracy", "ROC AUC", "Log loss"]
    accuracy, accuracy_delta = shown["Accuracy"]
    baseline = float(accuracy_delta.rsplit(" ", 1)[1])
    assert accuracy_delta.startswith("+") and " vs baseline " in accuracy_delta
    assert float(accuracy) > baseline and abs(baseline - 809 / 1309) < 0.05  # the majority class: died
    assert shown["Log loss"][1].startswith("-")  # lower than the baseline's, which is better
    assert [s.value for s in at.success] == [
        f"Saved **Titanic from a CSV v1** · path `{saved.path}` · bucket `{saved.bucket}`"
    ]
    assert any(c.value.startswith(f"Measured on {saved.rows_held_out:,} held-out rows") for c in at.caption)

    # saved: in the store and in the list below, its version with its metrics beside the baseline
    assert len(model_files(writable_home)) > len(before)
    assert "Titanic from a CSV" in [s.value for s in at.subheader]
    table = next(d.value for d in at.dataframe if "Path" in d.value.columns and saved.path in set(d.value["Path"]))
    assert list(table["Version"]) == [1] and list(table["Rows trained"]) == [f"{saved.rows_trained:,}"]
    assert table["accuracy"].iloc[0] == pytest.approx(saved.metrics["accuracy"])
    assert table["accuracy baseline"].iloc[0] == pytest.approx(saved.baseline["accuracy"])

    at.button(key="saved_models_train_open").click()
    run(at)  # the button's st.switch_page is followed within this run
    assert [t.value for t in at.title] == ["What-if"]
    assert at.selectbox(key="whatif_model").value == "Titanic from a CSV · v1"
    run(at.switch_page("pages/what_if.py"))  # AppTest's next runs would go back to the page it switched to last
    assert at.selectbox(key="whatif_model").value == "Titanic from a CSV · v1"
    form = form_widgets(at, saved.path)
    assert set(form) == set(FEATURES)
    assert form["pclass"].options == ["1", "2", "3"] and set(form["sex"].options) == {"female", "male"}
    label, value, _ = metric(predict(at))
    assert label == "Prediction" and value in {"0", "1"}, (label, value)


def test_training_shows_its_progress_and_reruns_do_not_start_it_again(
    writable_app: AppTest, trainings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = functools.partial(connection.start_server, task_delay_s=2.0)  # the demo API waits before each task
    monkeypatch.setattr(connection, "start_server", slow)
    at = upload(open_saved_models(writable_app), TITANIC)
    at.button(key="saved_models_train_start").click()
    run(at)
    job: TrainingJob = at.session_state[JOB_KEY]
    wait_until(lambda: job.status is not None)  # the first answer about the task
    run(at)
    assert job.running, "the task finished before the page could show it running"
    button = at.button(key="saved_models_train_start")
    assert button.disabled and button.help == "A training is running; wait for it to finish."
    bars = at.get("progress")
    assert len(bars) == 1 and bars[0].proto.text.startswith(("Queued... ", "Reading the CSV... ", "Training... "))
    assert any(f"(task `{job.status.task_id}`, " in c.value and "the page stays usable" in c.value for c in at.caption)
    run(at)  # more reruns (the progress poll makes them twice a second)
    assert job.wait(JOB_S)
    run(at)
    assert trainings == ["survived"]  # one training, however many reruns
    assert not at.get("progress") and len(at.success) == 1


def test_a_new_version_shows_beside_the_first_one(writable_app: AppTest, trainings: list[str]) -> None:
    at = upload(open_saved_models(writable_app), TITANIC)
    key = _content_key(TITANIC)
    widget(at, "multiselect", f"saved_models_train_features_{key}_survived").set_value(FEATURES)
    widget(at, "radio", "saved_models_train_save_as").set_value("A new version of a saved model")
    run(at)
    assert widget(at, "selectbox", "saved_models_train_version_of").value == 0  # Titanic survival, listed first
    job = train(at)
    assert job.result is not None, job.error
    assert job.result.version == 2 and job.result.name == "Titanic survival"
    assert job.result.path == TITANIC_PATH.replace("/1.json", "/2.json")

    table = next(d.value for d in at.dataframe if "Path" in d.value.columns and TITANIC_PATH in set(d.value["Path"]))
    assert list(table["Version"]) == [2, 1]  # newest first, side by side
    assert table["accuracy baseline"].notna().tolist() == [True, False]  # the sample version has no baseline
    assert table["Saved"].str.match(r"\d{4}-\d\d-\d\d \d\d:\d\d").all()
    assert at.selectbox(key="saved_models_version_1").value == 2  # the card shows the new version's API


def test_problems_are_sentences_and_train_stays_disabled(writable_app: AppTest, trainings: list[str]) -> None:
    rows = "x,colour,y\n" + "".join(f"{i},{'red' if i % 2 else 'blue'},1\n" for i in range(40))
    data = rows.encode()
    at = upload(open_saved_models(writable_app), data, "one_class.csv")
    key = _content_key(data)
    widget(at, "selectbox", f"saved_models_train_target_{key}").set_value("y")
    run(at)
    warnings = [w.value for w in at.warning]
    assert any("has only one value" in w for w in warnings), warnings
    button = at.button(key="saved_models_train_start")
    assert button.disabled and "only one value" in button.help
    assert any("Train is disabled" in c.value for c in at.caption)

    widget(at, "selectbox", f"saved_models_train_target_{key}").set_value("colour")
    widget(at, "text_input", "saved_models_train_name").set_value("  ")
    run(at)
    assert [w.value for w in at.warning] == ["Give the new model a name."]
    assert at.button(key="saved_models_train_start").disabled
    assert trainings == []


def test_a_file_that_is_not_a_table_is_one_sentence(writable_app: AppTest) -> None:
    at = upload(open_saved_models(writable_app), b"\xff\xfe\x00binary", "book.csv")
    assert [e.value for e in at.error] == ["The file is not UTF-8 text; save the table as a UTF-8 CSV."]
    assert at.button(key="saved_models_train_start").disabled


def test_the_api_going_down_during_training_is_one_sentence(
    writable_app: AppTest, demo_servers: list[EmbeddedServer]
) -> None:
    at = upload(open_saved_models(writable_app), TITANIC)
    secret = at.session_state["app_connection"].profile.secret
    demo_servers[0].stop()
    job = train(at)
    assert job.result is None and job.error and job.error.startswith("Cannot connect to http://127.0.0.1:")
    assert job.error.endswith("check the API URL and that the server is running.")
    assert [w.value for w in at.warning] == [job.error]  # the page, which cannot list the models either, says it
    assert not at.exception and secret not in rendered_text(at)
