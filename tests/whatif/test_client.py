"""The client against the real reference server over loopback HTTP."""

from __future__ import annotations

import logging

import jwt
import pandas as pd
import pytest

from tests.conftest import DEMO_BUCKET, TITANIC_PATH
from whatif.client import Endpoints, ModelClient
from whatif.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from whatif.schema import RowValidationError
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DIABETES_PATH

CREDIT_ROW = {
    "order_amount": 700,
    "average_monthly_income": 0,
    "employment_status_Employed": 0,
    "employment_status_Self-Employed": 0,
    "employment_status_Contract": 0,
}


def test_seed_row_predicts_survival_with_probabilities(client: ModelClient, seed_row: dict) -> None:
    result = client.predict([seed_row], TITANIC_PATH, DEMO_BUCKET)
    row = result.predictions.iloc[0]
    assert row["prediction"] in (0, 1)
    assert row["probability_0"] + row["probability_1"] == pytest.approx(1, abs=1e-5)
    assert row["age"] == 29  # inputs echoed with return_only_prediction=False
    assert result.polls >= 1 and result.elapsed_s > 0


def test_a_server_with_long_poll_answers_the_first_poll_and_the_client_never_sleeps(
    server: EmbeddedServer, seed_row: dict
) -> None:
    """The prediction arrives as soon as it is ready: no pause between polls, no second poll."""
    slept: list[float] = []
    with ModelClient(server.predict_url, secret=server.secret, sleep=slept.append) as client:
        result = client.predict([seed_row], TITANIC_PATH, DEMO_BUCKET)
    assert result.polls == 1
    assert slept == []


def test_first_class_woman_is_likelier_to_survive_than_third_class_man(client: ModelClient, seed_row: dict) -> None:
    man = {**seed_row, "pclass": 2, "sex": 1, "fare": 8.05}
    frame = client.predict([seed_row, man], TITANIC_PATH, DEMO_BUCKET, return_only_prediction=True).predictions
    assert list(frame.columns) == ["prediction", "probability_0", "probability_1"]
    assert frame.loc[0, "probability_1"] > frame.loc[1, "probability_1"] + 0.3


def test_dataframe_rows_and_all_zero_one_hot_group(client: ModelClient) -> None:
    rows = pd.DataFrame([CREDIT_ROW, {**CREDIT_ROW, "average_monthly_income": 9000, "employment_status_Employed": 1}])
    for path in CREDIT_PATHS:
        frame = client.predict(rows, path, DEMO_BUCKET).predictions
        assert len(frame) == 2
        assert frame.loc[1, "probability_1"] > frame.loc[0, "probability_1"], path


def test_regression_gives_a_value(client: ModelClient) -> None:
    schema = client.schema(DIABETES_PATH, DEMO_BUCKET)
    assert schema.task == "regression"
    frame = client.predict([schema.to_row(schema.defaults())], DIABETES_PATH, DEMO_BUCKET).predictions
    assert 25 <= frame.loc[0, "prediction"] <= 346  # the range of the training target


def test_list_models_and_schema(client: ModelClient) -> None:
    models = {m.name: m for m in client.list_models()}
    assert set(models) == {"Titanic survival", "Credit approval", "Diabetes progression"}
    assert [v.version for v in models["Credit approval"].versions] == [1, 2]
    assert models["Titanic survival"].latest.path == TITANIC_PATH
    assert "accuracy" in models["Titanic survival"].latest.metrics
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)
    assert schema.input_columns == ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]
    assert schema.feature("sex").labels == {"0": "female", "1": "male"}
    assert schema.class_label(1) == "survived"


def test_wrong_secret_is_one_sentence(server: EmbeddedServer, seed_row: dict) -> None:
    with ModelClient(server.predict_url, secret="not-the-secret-" + "x" * 20, user_id="1", email="a@b.c") as bad:
        with pytest.raises(AuthenticationError) as caught:
            bad.predict([seed_row], TITANIC_PATH, DEMO_BUCKET)
    assert caught.value.status_code == 401
    assert "secret" in str(caught.value) and "\n" not in str(caught.value)


def test_model_errors_name_the_problem(client: ModelClient, seed_row: dict) -> None:
    with pytest.raises(NotFoundError, match="model-groups/99/1.json"):
        client.submit([seed_row], "1/4/model-groups/99/1.json", DEMO_BUCKET)
    with pytest.raises(PermissionDeniedError, match="another user|belongs to user 2"):
        client.submit([seed_row], "2/4/model-groups/1/1.json", DEMO_BUCKET)
    with pytest.raises(BadRequestError):
        client.submit([seed_row], "1/../../etc/passwd.json", DEMO_BUCKET)
    with pytest.raises(UnprocessableEntityError, match="Row 0.*'age'"):
        client.submit([{**seed_row, "age": "old"}], TITANIC_PATH, DEMO_BUCKET)
    with pytest.raises(NotFoundError, match="not known"):
        client.status("no-such-task")


def test_nan_rows_are_refused_before_sending(client: ModelClient, seed_row: dict) -> None:
    with pytest.raises(RowValidationError, match="row 0, age"):
        client.submit([{**seed_row, "age": float("nan")}], TITANIC_PATH, DEMO_BUCKET)


def test_unreachable_api_says_it_cannot_connect(seed_row: dict) -> None:
    with ModelClient("http://127.0.0.1:9", secret="s" * 32, max_retries=1) as nowhere:
        with pytest.raises(APIConnectionError, match=r"Cannot connect to http://127\.0\.0\.1:9"):
            nowhere.predict([seed_row], TITANIC_PATH, DEMO_BUCKET)


def test_tokens_are_short_lived_and_secret_never_logged(
    client: ModelClient, server: EmbeddedServer, seed_row: dict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = client._auth.token()
    claims = jwt.decode(token, server.secret, algorithms=["HS256"])
    assert claims["userId"] == "1" and claims["exp"] - claims["iat"] <= 300
    client.predict([seed_row], TITANIC_PATH, DEMO_BUCKET)
    text = caplog.text + repr(client) + repr(client._auth)
    assert server.secret not in text and token not in text
    assert "secret='***'" in repr(client)


@pytest.mark.parametrize(
    ("url", "predict_url", "models_url"),
    [
        (
            "http://h:1/api/v1/proxy/pipeline/model/predict",
            "http://h:1/api/v1/proxy/pipeline/model/predict",
            "http://h:1/api/v1/models",
        ),
        ("http://h:1", "http://h:1/api/v1/proxy/pipeline/model/predict", "http://h:1/api/v1/models"),
        (
            "https://api.app.datrics.ai/api/v1/proxy/pipeline/model/predict/",
            "https://api.app.datrics.ai/api/v1/proxy/pipeline/model/predict",
            "https://api.app.datrics.ai/api/v1/models",
        ),
    ],
)
def test_url_forms(url: str, predict_url: str, models_url: str) -> None:
    endpoints = Endpoints.from_url(url)
    assert endpoints.predict_url == predict_url
    assert endpoints.models_url == models_url


def test_bad_url_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        ModelClient("ftp://example", secret="s")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://admin:hunter2@api.example.com/api/v1/proxy/pipeline/model/predict", "must start with http://"),
        ("admin:hunter2@api.example.com/predict", "must start with http://"),
        ("api.example.com/predict?token=hunter2", "must start with http://"),
        ("http://admin:hunter2@127.0.0.1:9/predict", "must not contain a user name or password"),
        ("http://exa mple.com/predict?hunter2", "host name contains a space"),
        ("http://127.0.0.1:99999/predict?key=hunter2", "not a valid URL: its port is not a number from 0 to 65535"),
        ("https://analyst:hunter2/x@api.example.com/p", "not a valid URL: its port is not a number from 0 to 65535"),
        ("http://[::1/predict?key=hunter2", "not a valid URL: its host cannot be read"),
    ],
)
def test_a_bad_url_gets_its_reason_without_being_repeated(url: str, reason: str) -> None:
    """The URL may carry a password or a token: the sentence says what is wrong, never the URL."""
    with pytest.raises(ValueError, match=reason) as refused:
        Endpoints.from_url(url)
    assert "hunter2" not in str(refused.value)
