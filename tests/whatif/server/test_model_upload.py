"""Saving an uploaded model as an asset (POST /api/v1/models), through the client, on a real server over loopback.

The server has a model store of this module's own (the shared one is never written). Every refusal
is one sentence and leaves the store exactly as it was.
"""

from __future__ import annotations

import json
import pickle
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from whatif.client import ModelClient, RouteNotOffered
from whatif.errors import (
    APIStatusError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from whatif.schema_infer import feature_schema, prepare
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.registry import ModelRegistry, predict_frame
from whatif.server.samples import titanic_frame

FEATURES = ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]


class Sneaky(LogisticRegression):
    """A model class from outside scikit-learn: its file must not be loaded."""


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    """titanic3 with the seed's numeric inputs and the target."""
    return titanic_frame()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A reference server on an empty store of this module's own."""
    running = start_server(tmp_path_factory.mktemp("upload-store"), build_samples=False, warm_up=False)
    yield running
    running.stop()


def client_of(server: EmbeddedServer, user_id: str = "1") -> ModelClient:
    """A client of ``user_id``."""
    return ModelClient(server.predict_url, secret=server.secret, user_id=user_id, email=f"u{user_id}@example.com")


@pytest.fixture()
def client(server: EmbeddedServer) -> Iterator[ModelClient]:
    """A client of user 1."""
    with client_of(server) as c:
        yield c


@pytest.fixture(scope="module")
def fitted(titanic: pd.DataFrame) -> LogisticRegression:
    """A model fitted here, on the seed's inputs."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(titanic[FEATURES], titanic["survived"])


@pytest.fixture(scope="module")
def schema_json(titanic: pd.DataFrame) -> bytes:
    """The feature schema of the seed's inputs, as JSON (PROTOCOL.md section 3)."""
    data = prepare(titanic, "survived", FEATURES)
    return json.dumps(feature_schema(data, target="survived").to_dict()).encode()


@pytest.fixture(scope="module")
def saved_v1(server: EmbeddedServer, fitted: Any, schema_json: bytes) -> dict[str, Any]:
    """User 1's model, saved once for the tests that need an existing one."""
    with client_of(server) as client:
        saved = client.add_model(sio.dumps(fitted), schema_json, "schema.json", name="Survival (upload)")
    return {"path": saved.path, "bucket": saved.bucket}


def snapshot(store: Path) -> dict[str, tuple[int, int]]:
    """Every file of the store with its size and modification time."""
    return {
        str(p.relative_to(store)): (p.stat().st_size, p.stat().st_mtime_ns) for p in store.rglob("*") if p.is_file()
    }


def rows_of(titanic: pd.DataFrame, count: int = 25) -> list[dict[str, Any]]:
    """Real passengers as request rows."""
    return [
        {k: (int(v) if k != "age" and k != "fare" else float(v)) for k, v in r.items()}
        for r in titanic[FEATURES].head(count).to_dict("records")
    ]


def test_an_uploaded_model_and_its_second_version_predict_as_they_do_in_process(
    server: EmbeddedServer, client: ModelClient, titanic: pd.DataFrame, fitted: Any, schema_json: bytes
) -> None:
    first = client.add_model(sio.dumps(fitted), schema_json, "schema.json", name="Survival", metrics={"accuracy": 0.79})
    boosted = HistGradientBoostingClassifier(max_iter=50, random_state=1).fit(titanic[FEATURES], titanic["survived"])
    training_csv = titanic.to_csv(index=False).encode()  # the schema inferred from the training data instead
    second = client.add_model(
        sio.dumps(boosted), training_csv, "train.csv", version_of=first.path, target="survived", description="v2"
    )

    assert (first.version, second.version) == (1, 2)
    assert first.path.startswith("1/") and first.group == second.group and second.name == "Survival"
    assert first.metrics == {"accuracy": 0.79} and first.baseline == {} and first.rows_trained == 0
    assert second.features == tuple(FEATURES) and second.task == "classification" and second.target == "survived"
    rows = rows_of(titanic)
    for saved, model in ((first, fitted), (second, boosted)):
        answer = client.predict(rows, saved.path, saved.bucket).predictions
        expected = model.predict_proba(titanic[FEATURES].head(len(rows)))[:, 1]
        assert np.allclose(answer["probability_1"], expected, atol=1e-6)
        assert list(answer["prediction"]) == list(model.predict(titanic[FEATURES].head(len(rows))))
    (listed,) = [m for m in client.list_models() if m.group == first.group]
    assert [v.version for v in listed.versions] == [1, 2]
    # the what-if form of the second version, from the data: sex (0/1) a checkbox, embarked codes 0 to 2
    schema = client.schema(second.path, second.bucket)
    assert schema.feature("sex").type == "boolean" and schema.classes == (0, 1)
    assert (schema.feature("embarked").min, schema.feature("embarked").max) == (0, 2)
    assert schema.feature("fare").quantiles["p95"] > schema.feature("fare").quantiles["p05"]
    # what is on disk is what was uploaded, loaded through the allow-list
    loaded = ModelRegistry(server.store).load(second.bucket, second.path)
    head = titanic[FEATURES].head(5)
    assert np.allclose(predict_frame(loaded, head)["probability_1"], boosted.predict_proba(head)[:, 1], atol=1e-6)


def test_a_model_without_feature_names_is_checked_by_its_number_of_inputs(
    client: ModelClient, titanic: pd.DataFrame, schema_json: bytes
) -> None:
    bare = LogisticRegression(max_iter=500).fit(titanic[FEATURES].to_numpy(), titanic["survived"])
    assert client.add_model(sio.dumps(bare), schema_json, "schema.json", name="No names").version == 1

    three = LogisticRegression(max_iter=500).fit(titanic[FEATURES[:3]].to_numpy(), titanic["survived"])
    with pytest.raises(UnprocessableEntityError, match="The model takes 3 input column"):
        client.add_model(sio.dumps(three), schema_json, "schema.json", name="Three")


def _schema_without(schema_json: bytes, feature: str) -> bytes:
    schema = json.loads(schema_json)
    schema["features"] = [f for f in schema["features"] if f["name"] != feature]
    return json.dumps(schema).encode()


def _schema_with_extra(schema_json: bytes) -> bytes:
    schema = json.loads(schema_json)
    schema["features"].append({"name": "cabin_deck", "type": "integer", "min": 0, "max": 6})
    return json.dumps(schema).encode()


REFUSALS = {
    "pickle": (
        UnprocessableEntityError,
        "The model file is a pickle, which this server never loads",
        lambda f, s, t, p: {"model": pickle.dumps(f), "schema": s},
    ),
    "untrusted type": (
        UnprocessableEntityError,
        "The model cannot be trusted: the model file holds types that are not allowed: "
        "tests.whatif.server.test_model_upload.Sneaky",
        lambda f, s, t, p: {
            "model": sio.dumps(Sneaky(max_iter=500).fit(t[FEATURES], t["survived"])),
            "schema": s,
        },
    ),
    "not a skops file": (
        UnprocessableEntityError,
        "The model file is not a skops file",
        lambda f, s, t, p: {"model": b"PK not really a zip file", "schema": s},
    ),
    "not fitted": (
        UnprocessableEntityError,
        "is not fitted; fit it before saving it",
        lambda f, s, t, p: {"model": sio.dumps(LogisticRegression()), "schema": s},
    ),
    "missing feature": (
        UnprocessableEntityError,
        "The schema lacks the model's feature 'fare'; add it to the schema.",
        lambda f, s, t, p: {"model": sio.dumps(f), "schema": _schema_without(s, "fare")},
    ),
    "extra feature": (
        UnprocessableEntityError,
        "The schema has the feature 'cabin_deck', which the model was not trained on; leave it out.",
        lambda f, s, t, p: {"model": sio.dumps(f), "schema": _schema_with_extra(s)},
    ),
    "CSV without the target column": (
        UnprocessableEntityError,
        "The CSV has no column 'survival'; pick the target among",
        lambda f, s, t, p: {"model": sio.dumps(f), "schema": t.to_csv(index=False).encode(), "target": "survival"},
    ),
    "CSV whose target has one class": (
        UnprocessableEntityError,
        "The target 'survived' has only one value (0), so there is nothing to learn",
        lambda f, s, t, p: {
            "model": sio.dumps(f),
            "schema": t.assign(survived=0).to_csv(index=False).encode(),
            "target": "survived",
        },
    ),
    "CSV without a target named": (
        BadRequestError,
        "The schema is a training CSV, so the form needs a target",
        lambda f, s, t, p: {"model": sio.dumps(f), "schema": t.to_csv(index=False).encode()},
    ),
    "both a name and a version": (
        BadRequestError,
        "The form must give a name (to save a new model) or version_of",
        lambda f, s, t, p: {"model": sio.dumps(f), "schema": s, "version_of": p, "name": "Both"},
    ),
    "a version of no model": (
        NotFoundError,
        "Model not found: no model at path '1/1/model-groups/99/1.json'",
        lambda f, s, t, p: {"model": sio.dumps(f), "schema": s, "version_of": "1/1/model-groups/99/1.json"},
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_refusal_is_one_sentence_and_writes_nothing(
    case: str,
    server: EmbeddedServer,
    client: ModelClient,
    titanic: pd.DataFrame,
    fitted: Any,
    schema_json: bytes,
    saved_v1: dict[str, Any],
) -> None:
    error, sentence, build = REFUSALS[case]
    upload = build(fitted, schema_json, titanic, saved_v1["path"])
    filename = "train.csv" if upload["schema"][:1] not in (b"{", b"[") else "schema.json"
    before = snapshot(server.store)

    with pytest.raises(APIStatusError) as info:
        client.add_model(
            upload["model"],
            upload["schema"],
            filename,
            name=upload.get("name", None if "version_of" in upload else "Refused"),
            version_of=upload.get("version_of"),
            target=upload.get("target"),
        )

    assert type(info.value) is error, str(info.value)
    assert sentence in str(info.value)
    assert str(info.value).count("\n") == 0 and server.secret not in str(info.value)
    assert snapshot(server.store) == before, "a refused upload wrote to the store"


def test_a_new_version_of_another_users_model_is_refused(
    server: EmbeddedServer, fitted: Any, schema_json: bytes, saved_v1: dict[str, Any]
) -> None:
    before = snapshot(server.store)
    with client_of(server, "2") as other, pytest.raises(PermissionDeniedError) as info:
        other.add_model(sio.dumps(fitted), schema_json, "schema.json", version_of=saved_v1["path"])

    assert f"Model '{saved_v1['path']}' belongs to user 1, and this token is for user 2" in str(info.value)
    assert snapshot(server.store) == before
    # a new model of user 2 goes under user 2, in project 1 (they have none yet)
    with client_of(server, "2") as other:
        saved = other.add_model(sio.dumps(fitted), schema_json, "schema.json", name="Mine")
    assert saved.path == "2/1/model-groups/1/1.json"


def test_a_file_over_the_limit_is_refused_with_413_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fitted: Any, schema_json: bytes
) -> None:
    model = sio.dumps(fitted)
    monkeypatch.setenv("WHATIF_MAX_MODEL_BYTES", str(len(model) + 1000))
    monkeypatch.setenv("WHATIF_MAX_CSV_BYTES", str(len(schema_json) + 1000))
    small = start_server(tmp_path / "store", build_samples=False, warm_up=False)
    try:
        with client_of(small) as client:
            before = snapshot(small.store)
            with pytest.raises(PayloadTooLargeError) as model_too_large:
                client.add_model(model + b"\0" * 2000, schema_json, "schema.json", name="Big")
            with pytest.raises(PayloadTooLargeError) as schema_too_large:
                client.add_model(model, schema_json + b" " * 2000, "schema.json", name="Big")
            assert snapshot(small.store) == before
    finally:
        small.stop()

    limit = f"more than the limit of {(len(model) + 1000) / 1024:.0f} KB; send a smaller file."
    assert "The 'model' file is" in str(model_too_large.value) and limit in str(model_too_large.value)
    assert "The 'schema' file is" in str(schema_too_large.value)


class _NoSuchRoute(BaseHTTPRequestHandler):
    """An API without the extensions: every route answers 404, as a real platform does for ours."""

    def _not_found(self) -> None:
        body = json.dumps({"detail": "Not Found"}).encode()
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _not_found

    def log_message(self, *args: Any) -> None:
        pass


def test_an_api_without_the_routes_says_so_in_one_sentence(fitted: Any, schema_json: bytes) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchRoute)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        origin = f"http://127.0.0.1:{httpd.server_address[1]}"
        with ModelClient(origin, secret="s" * 32) as client:
            assert client.accepts_uploads() is False
            with pytest.raises(RouteNotOffered, match=r"This API does not offer uploads of models \(404 at "):
                client.add_model(sio.dumps(fitted), schema_json, "schema.json", name="Nowhere")
            with pytest.raises(RouteNotOffered, match="does not offer training of models"):
                client.train(b"a,b\n1,2\n", "b", name="Nowhere")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_the_reference_server_says_it_accepts_uploads(client: ModelClient) -> None:
    assert client.accepts_uploads() is True
