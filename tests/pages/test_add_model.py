"""Add a fitted model on the Saved models page: a skops file with its schema (JSON) or its training CSV, saved
as a new model, opened in the what-if page and predicted there with the model's own answer; a pickle is
refused with one sentence and nothing is written."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from streamlit.testing.v1 import AppTest

from tests.pages import models_support
from tests.pages.models_support import model_files
from tests.pages.support import metric, predict, rendered_text, run
from whatif.client import ModelClient
from whatif.schema import FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH, titanic_frame

PAGE = "pages/saved_models.py"

writable_app = models_support.writable_app  # a fixture
writable_home = models_support.writable_home  # a fixture


@pytest.fixture(scope="module")
def fitted() -> LogisticRegression:
    """A model fitted here, on the Titanic sample model's inputs."""
    frame = titanic_frame()
    return LogisticRegression(max_iter=1_000).fit(frame.drop(columns="survived"), frame["survived"])


@pytest.fixture(scope="module")
def titanic_schema(server: EmbeddedServer) -> dict[str, Any]:
    """The Titanic sample model's schema, as its schema route answers it (the same inputs as ``fitted``)."""
    with ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL) as client:
        return client.schema(TITANIC_PATH, DEMO_BUCKET).to_dict()


def open_saved_models(at: AppTest) -> AppTest:
    run(at)
    return run(at.switch_page(PAGE))


def upload(at: AppTest, model: tuple[str, bytes], schema: tuple[str, bytes, str]) -> AppTest:
    at.file_uploader(key="saved_models_add_model").set_value((*model, "application/octet-stream"))
    at.file_uploader(key="saved_models_add_schema").set_value(schema)
    return run(at)


def add(at: AppTest) -> AppTest:
    at.button(key="saved_models_add_start").click()
    return run(at)


def test_a_fitted_model_with_its_schema_is_saved_opened_and_predicts_as_in_process(
    writable_app: AppTest, fitted: LogisticRegression, titanic_schema: dict[str, Any]
) -> None:
    at = open_saved_models(writable_app)
    assert add_button_disabled(at)
    upload(at, ("logistic.skops", sio.dumps(fitted)), ("schema.json", json.dumps(titanic_schema).encode(), "text/json"))
    assert at.text_input(key="saved_models_add_name").value == "logistic"
    at.text_input(key="saved_models_add_name").set_value("Titanic, logistic")
    run(at)
    add(at)
    assert not at.error, [e.value for e in at.error]
    success = [s.value for s in at.success]
    assert len(success) == 1 and success[0].startswith("Saved **Titanic, logistic v1** · path `1/4/model-groups/")
    assert "Titanic, logistic" in [s.value for s in at.subheader]  # the list below has it at once

    at.button(key="saved_models_add_open").click()
    run(at)  # the button's st.switch_page is followed within this run
    assert at.selectbox(key="whatif_model").value == "Titanic, logistic · v1"
    run(at.switch_page("pages/what_if.py"))  # AppTest's next runs would go back to the page it switched to last
    schema = FeatureSchema.from_dict(titanic_schema)
    row = pd.DataFrame([schema.to_row(schema.defaults())])[list(fitted.feature_names_in_)]
    expected = schema.class_label(int(fitted.predict(row)[0]))
    assert metric(predict(at))[:2] == ("Prediction", expected)


def add_button_disabled(at: AppTest) -> bool:
    return bool(at.button(key="saved_models_add_start").disabled)


def test_a_training_csv_as_the_schema_asks_for_its_target(writable_app: AppTest, fitted: LogisticRegression) -> None:
    csv = titanic_frame().to_csv(index=False).encode()
    at = upload(open_saved_models(writable_app), ("logistic.skops", sio.dumps(fitted)), ("train.csv", csv, "text/csv"))
    target = next(s for s in at.selectbox if s.key and s.key.startswith("saved_models_add_target_"))
    assert target.value == "survived" and "pclass" in target.options
    at.radio(key="saved_models_add_save_as").set_value("A new version of a saved model")
    run(at)
    add(at)
    assert not at.error, [e.value for e in at.error]
    success = [s.value for s in at.success]
    assert len(success) == 1 and success[0].startswith(
        "Saved **Titanic survival v2** · path `1/4/model-groups/1/2.json`"
    )


def test_a_pickle_is_refused_in_one_sentence_and_nothing_is_written(
    writable_app: AppTest, writable_home: Path, fitted: LogisticRegression, titanic_schema: dict[str, Any]
) -> None:
    at = open_saved_models(writable_app)
    before = model_files(writable_home)
    upload(at, ("model.skops", pickle.dumps(fitted)), ("schema.json", json.dumps(titanic_schema).encode(), "text/json"))
    add(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].endswith(".") and "\n" not in errors[0], errors
    assert "skops" in errors[0].lower() or "pickle" in errors[0].lower()
    assert not at.success and model_files(writable_home) == before
    secret = at.session_state["app_connection"].profile.secret
    assert not at.exception and secret not in rendered_text(at)
