"""ModelClient.sample_rows: against the real reference server, and against servers without the route."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.conftest import DEMO_BUCKET, TITANIC_PATH
from tests.whatif.test_client_faults import (
    BUCKET,
    EMAIL,
    MODEL_PATH,
    SECRET,
    USER_ID,
    FakeAPI,
    Reply,
    _FakeServer,
    _Handler,
    reply_json,
    reply_text,
)
from whatif.client import ModelClient, SampleRows
from whatif.errors import (
    APIResponseError,
    BadRequestError,
    ExtensionUnavailable,
    NotFoundError,
    PermissionDeniedError,
)
from whatif.schema import Feature, FeatureSchema
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.registry import ModelRegistry
from whatif.server.samples import CREDIT_PATHS, DEMO_EMAIL, DEMO_USER, SAMPLE_ROW_COUNT

SAMPLE_URL_PATH = "/api/v1/proxy/pipeline/model/sample"  # the fake API answers it as route "other"


# ---- against the reference server ----------------------------------------------------------------
def test_titanic_sample_rows_start_a_form_and_predict(client: ModelClient) -> None:
    schema = client.schema(TITANIC_PATH, DEMO_BUCKET)

    sample = client.sample_rows(TITANIC_PATH, DEMO_BUCKET, n=3)

    assert isinstance(sample, SampleRows)
    assert (len(sample.rows), sample.target, sample.available) == (3, "survived", SAMPLE_ROW_COUNT)
    assert set(sample.targets) <= {0, 1}
    values = schema.from_row(sample.rows[0])  # the form's values of the first passenger
    assert schema.feature("sex").label_of(values["sex"]) in ("female", "male")
    assert list(sample.frame.columns) == [*schema.input_columns, "survived"]
    assert sample.frame["survived"].tolist() == sample.targets
    predictions = client.predict(sample.rows, TITANIC_PATH, DEMO_BUCKET).predictions
    assert len(predictions) == 3 and set(predictions["prediction"]) <= {0, 1}


def test_credit_sample_rows_fill_the_one_hot_group_as_one_choice(client: ModelClient) -> None:
    schema = client.schema(CREDIT_PATHS[1], DEMO_BUCKET)

    sample = client.sample_rows(CREDIT_PATHS[1], DEMO_BUCKET, n=SAMPLE_ROW_COUNT)

    choices = {schema.from_row(row)["employment_status"] for row in sample.rows}
    assert choices <= set(schema.feature("employment_status").choices) and len(choices) >= 2
    assert sample.target == "approved" and len(sample.targets) == SAMPLE_ROW_COUNT


@pytest.mark.parametrize(
    ("path", "n", "error", "said"),
    [
        (TITANIC_PATH, 51, BadRequestError, "'n'"),
        ("1/4/model-groups/99/1.json", 5, NotFoundError, "1/4/model-groups/99/1.json"),
        ("2/4/model-groups/1/1.json", 5, PermissionDeniedError, "belongs to user 2"),
    ],
    ids=["n-too-large", "unknown-model", "another-users-model"],
)
def test_refusals_are_the_usual_errors(
    client: ModelClient, path: str, n: int, error: type[Exception], said: str
) -> None:
    with pytest.raises(error) as caught:
        client.sample_rows(path, DEMO_BUCKET, n=n)
    assert said in str(caught.value) and "\n" not in str(caught.value)
    assert not isinstance(caught.value, ExtensionUnavailable)


@pytest.fixture(scope="module")
def own_models_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedServer, str]]:
    """A server (no sample models) with one model of the demo user saved without sample rows."""
    store: Path = tmp_path_factory.mktemp("own-models")
    x = pd.DataFrame({"x1": [0.9, 0.1, 0.7, 0.2], "x2": [0.2, 0.4, 0.8, 0.1]})
    schema = FeatureSchema(
        (Feature("x1", "number", 0, 1, 0.5), Feature("x2", "number", 0, 1, 0.5)),
        name="Tiny",
        target="y",
        classes=(0, 1),
    )
    saved = ModelRegistry(store).save(
        LogisticRegression().fit(x, [1, 0, 1, 0]), schema, bucket=DEMO_BUCKET, user=DEMO_USER, project="4", name="Tiny"
    )
    running = start_server(store, build_samples=False)
    yield running, saved["path"]
    running.stop()


def test_a_model_saved_without_rows_is_not_found_with_its_own_code(
    own_models_server: tuple[EmbeddedServer, str],
) -> None:
    server, path = own_models_server
    with ModelClient(server.predict_url, secret=server.secret, user_id=DEMO_USER, email=DEMO_EMAIL) as client:
        with pytest.raises(NotFoundError) as caught:
            client.sample_rows(path, DEMO_BUCKET)
    assert caught.value.code == "no_sample_rows"
    assert f"Model '{path}' has no sample rows saved" in str(caught.value)


# ---- against servers without the route -------------------------------------------------------------
@pytest.fixture
def api() -> Iterator[FakeAPI]:
    """The scriptable fake API of test_client_faults, on a loopback port."""
    fake = FakeAPI()
    server = _FakeServer(("127.0.0.1", 0), _Handler)
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.origin = f"http://127.0.0.1:{server.server_port}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def make_client(api: FakeAPI) -> Iterator[Callable[[], ModelClient]]:
    clients: list[ModelClient] = []

    def make() -> ModelClient:
        client = ModelClient(
            api.url,
            secret=SECRET,
            user_id=USER_ID,
            email=EMAIL,
            connect_timeout_s=1.0,
            read_timeout_s=3.0,
            max_retries=0,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    "reply",
    [
        None,
        reply_text("<html><title>404 Not Found</title></html>", 404),
        reply_json({"detail": "Method Not Allowed"}, 405),
    ],
    ids=["json-404", "html-404", "405"],
)
def test_a_server_without_the_route_says_so_in_one_sentence(
    api: FakeAPI, make_client: Callable[[], ModelClient], reply: Reply | None
) -> None:
    if reply is not None:
        api.script("other", reply)

    with pytest.raises(ExtensionUnavailable) as caught:
        make_client().sample_rows(MODEL_PATH, BUCKET, n=3)

    message = str(caught.value)
    assert message.startswith("This API does not offer sample rows of models")
    assert "fill the form by hand" in message and "\n" not in message
    (request,) = api.requests()
    assert request.path == SAMPLE_URL_PATH
    assert request.query == {"path": [MODEL_PATH], "bucket": [BUCKET], "n": ["3"]}


def test_an_answer_without_rows_is_a_response_error(api: FakeAPI, make_client: Callable[[], ModelClient]) -> None:
    api.script("other", reply_json({"rows": "none", "targets": []}))
    with pytest.raises(APIResponseError, match="are not a list of rows"):
        make_client().sample_rows(MODEL_PATH, BUCKET)


def test_rows_without_targets_are_still_rows(api: FakeAPI, make_client: Callable[[], ModelClient]) -> None:
    api.script("other", reply_json({"rows": [{"age": 30}, {"age": 41}]}))
    sample = make_client().sample_rows(MODEL_PATH, BUCKET)
    assert (sample.rows, sample.targets, sample.available) == ([{"age": 30}, {"age": 41}], [None, None], 2)
