"""The server's answers to bad requests, and the positive contract of PROTOCOL.md section 2.

Every bad request is made with plain ``requests`` (not our client), so what is checked is
what any caller sees on the wire: the status, a JSON body ``{"detail", "code"}`` whose
detail is a sentence, and a server that keeps answering good requests afterwards.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import pandas as pd
import pytest
import requests

from tests.conftest import SEED_TITANIC_ROW
from whatif.schema import FeatureSchema
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.registry import LoadedModel, ModelRegistry, predict_frame
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, DIABETES_PATH, TITANIC_PATH

TIMEOUT_S = 10
SEED_COLUMNS = list(SEED_TITANIC_ROW)
CREDIT_ROW = {
    "order_amount": 700,
    "average_monthly_income": 0,
    "employment_status_Employed": 0,
    "employment_status_Self-Employed": 0,
    "employment_status_Contract": 0,
}
STRICT_MAX_ROWS = 5
STRICT_MAX_BODY_BYTES = 2048
ESCAPING_GROUP_PATH = f"{DEMO_USER}/4/model-groups/9/1.json"
ESCAPING_BUCKET = "mirror"
ESCAPING_MODEL_FILE_PATH = f"{DEMO_USER}/4/model-groups/8/1.json"


# ---- helpers -------------------------------------------------------------------------------------
def mint(
    secret: str, user_id: str = DEMO_USER, email: str = DEMO_EMAIL, algorithm: str = "HS256", **claims: Any
) -> str:
    """A token as the seed page makes it (no exp unless asked)."""
    payload: dict[str, Any] = {"userId": user_id, "email": email, **claims}
    return jwt.encode(payload, secret, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, str], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT assembled by hand: what an attacker sends to dodge the HS256 signature."""
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(signature)])


def submit(
    server: EmbeddedServer,
    body: str | bytes | Iterator[bytes],
    *,
    path: str | None = TITANIC_PATH,
    bucket: str | None = DEMO_BUCKET,
    flag: str | None = "False",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST to the predict route as the demo user (unless ``headers`` say otherwise)."""
    params = {k: v for k, v in (("path", path), ("bucket", bucket), ("return_only_prediction", flag)) if v is not None}
    sent_headers = {"content-type": "application/json;charset=UTF-8"}
    sent_headers.update(bearer(mint(server.secret)) if headers is None else headers)
    return requests.post(server.predict_url, params=params, data=body, headers=sent_headers, timeout=TIMEOUT_S)


def info(
    server: EmbeddedServer,
    task_id: str,
    *,
    user_id: str = DEMO_USER,
    wait_s: float | None = None,
) -> requests.Response:
    params = {"wait": wait_s} if wait_s is not None else None
    return requests.get(
        f"{server.predict_url}/info/{task_id}",
        params=params,
        headers=bearer(mint(server.secret, user_id)),
        timeout=TIMEOUT_S + (wait_s or 0),
    )


def predict(
    server: EmbeddedServer, rows: list[dict[str, Any]], *, path: str = TITANIC_PATH, flag: str | None = "False"
) -> list[dict[str, Any]]:
    """Submit, long-poll until done, return the result records (the answer must be SUCCESS)."""
    response = submit(server, json.dumps(rows), path=path, flag=flag)
    assert response.status_code == 200, response.text
    answer = info(server, response.json()["id"], wait_s=10).json()
    assert answer["state"] == "SUCCESS", answer
    result: list[dict[str, Any]] = answer["result"]
    return result


def rows_text(*rows: dict[str, Any], raw: dict[str, str] | None = None) -> str:
    """A JSON body whose values named in ``raw`` are written as raw JSON text (NaN, Infinity)."""
    text = json.dumps(list(rows))
    for marker, literal in (raw or {}).items():
        text = text.replace(json.dumps(marker), literal)
    return text


def seed_with(**changes: Any) -> dict[str, Any]:
    return {**SEED_TITANIC_ROW, **changes}


def seed_without(column: str) -> dict[str, Any]:
    return {k: v for k, v in SEED_TITANIC_ROW.items() if k != column}


def assert_still_serves(server: EmbeddedServer) -> None:
    """A good prediction still works: a bad request did not break the server."""
    (record,) = predict(server, [dict(SEED_TITANIC_ROW)])
    assert record["prediction"] in (0, 1)


# ---- servers -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict_server(
    server: EmbeddedServer, model_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedServer]:
    """A server with small limits, on a store with symlinks that lead out of it."""
    root = tmp_path_factory.mktemp("strict")
    store, outside = root / "store", root / "outside"
    shutil.copytree(model_store / DEMO_BUCKET, store / DEMO_BUCKET)
    # a real, loadable model outside the store: only the path check can keep it out
    shutil.copytree(model_store / DEMO_BUCKET, outside / DEMO_BUCKET)
    titanic_group = outside / DEMO_BUCKET / Path(TITANIC_PATH).parent
    (store / DEMO_BUCKET / Path(ESCAPING_GROUP_PATH).parent).symlink_to(titanic_group, target_is_directory=True)
    (store / ESCAPING_BUCKET).symlink_to(outside / DEMO_BUCKET, target_is_directory=True)
    # a real descriptor in the store whose fitted-model file is a link to outside
    group_8 = store / DEMO_BUCKET / Path(ESCAPING_MODEL_FILE_PATH).parent
    group_8.mkdir()
    shutil.copy(titanic_group / "1.json", group_8 / "1.json")
    (group_8 / "1.skops").symlink_to(titanic_group / "1.skops")
    running = start_server(store, build_samples=False, max_rows=STRICT_MAX_ROWS, max_body_bytes=STRICT_MAX_BODY_BYTES)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def delayed_server(server: EmbeddedServer, model_store: Path) -> Iterator[EmbeddedServer]:
    """Tasks take 0.3 s: long enough to be seen running."""
    running = start_server(model_store, build_samples=False, task_delay_s=0.3)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stuck_server(server: EmbeddedServer, model_store: Path) -> Iterator[EmbeddedServer]:
    """Tasks take 2 s, long polls are capped at 0.3 s."""
    running = start_server(model_store, build_samples=False, task_delay_s=2.0, max_wait_s=0.3)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def titanic(server: EmbeddedServer, model_store: Path) -> LoadedModel:
    return ModelRegistry(model_store).load(DEMO_BUCKET, TITANIC_PATH)


# ---- the table of bad requests -------------------------------------------------------------------
Send = Callable[[EmbeddedServer], requests.Response]


@dataclass(frozen=True)
class Bad:
    """One bad request: how to send it, and what the caller must get back."""

    id: str
    status: int
    code: str
    send: Send
    on: str = "main"
    mentions: tuple[str, ...] = ()


def with_token(token_of: Callable[[str], str]) -> Send:
    return lambda s: submit(s, json.dumps([SEED_TITANIC_ROW]), headers=bearer(token_of(s.secret)))


def with_headers(headers: dict[str, str]) -> Send:
    return lambda s: submit(s, json.dumps([SEED_TITANIC_ROW]), headers=headers)


def at(path: str | None = TITANIC_PATH, bucket: str = DEMO_BUCKET) -> Send:
    return lambda s: submit(s, json.dumps([SEED_TITANIC_ROW]), path=path, bucket=bucket)


def body(text: str | bytes, path: str = TITANIC_PATH) -> Send:
    return lambda s: submit(s, text, path=path)


def someone_elses_task(server: EmbeddedServer) -> requests.Response:
    created = submit(server, json.dumps([SEED_TITANIC_ROW]))
    task_id = created.json()["id"]
    assert info(server, task_id, wait_s=5).json()["state"] == "SUCCESS", "the owner must see its own task"
    return info(server, task_id, user_id="2")


ROW_ONE_AGE = ("Row 1", "'age'")
BAD_REQUESTS = [
    # ---- tokens
    Bad("wrong-secret", 401, "bad_signature", with_token(lambda secret: mint("not-the-" + secret))),
    Bad(
        "expired-token",
        401,
        "token_expired",
        with_token(lambda secret: mint(secret, exp=int(time.time()) - 3600)),
        mentions=("expired",),
    ),
    Bad(
        "alg-none-token",
        401,
        "bad_algorithm",
        with_token(lambda _: unsigned_token({"alg": "none", "typ": "JWT"}, {"userId": DEMO_USER, "email": DEMO_EMAIL})),
        mentions=("HS256",),
    ),
    Bad(
        "token-without-user-claims",
        401,
        "token_missing_claim",
        with_token(lambda secret: jwt.encode({"sub": "someone"}, secret, algorithm="HS256")),
        mentions=("userId",),
    ),
    Bad(
        "token-without-email",
        401,
        "token_missing_claim",
        with_token(lambda secret: jwt.encode({"userId": DEMO_USER}, secret, algorithm="HS256")),
        mentions=("email",),
    ),
    Bad("hs512-token", 401, "bad_algorithm", with_token(lambda secret: mint(secret + secret, algorithm="HS512"))),
    Bad(
        "rs256-style-token",
        401,
        "bad_algorithm",
        with_token(
            lambda _: unsigned_token(
                {"alg": "RS256", "typ": "JWT"}, {"userId": DEMO_USER, "email": DEMO_EMAIL}, b"\x01" * 256
            )
        ),
    ),
    Bad(
        "token-not-yet-valid",
        401,
        "token_not_yet_valid",
        with_token(lambda secret: mint(secret, nbf=int(time.time()) + 3600)),
    ),
    Bad("no-authorization-header", 401, "missing_token", with_headers({}), mentions=("Bearer",)),
    Bad(
        "basic-scheme",
        401,
        "bad_authorization",
        with_headers({"authorization": "Basic ZGVtbzpkZW1v"}),
        mentions=("Bearer",),
    ),
    # ---- where the model is
    Bad("path-dotdot", 400, "invalid_path", at("../x.json"), mentions=("../x.json",)),
    Bad("path-dotdot-inside", 400, "invalid_path", at("1/4/../../x.json")),
    Bad("absolute-path", 400, "invalid_path", at("/etc/passwd"), mentions=("/etc/passwd",)),
    Bad("bucket-dotdot", 400, "invalid_path", at(bucket=".."), mentions=("bucket",)),
    Bad("bucket-etc", 400, "invalid_path", at(bucket="/etc"), mentions=("bucket",)),
    Bad(
        "symlinked-group-escapes-store",
        400,
        "invalid_path",
        at(ESCAPING_GROUP_PATH),
        on="strict",
        mentions=("outside",),
    ),
    Bad(
        "symlinked-bucket-escapes-store",
        400,
        "invalid_path",
        at(bucket=ESCAPING_BUCKET),
        on="strict",
        mentions=("outside",),
    ),
    Bad(
        "unknown-model",
        404,
        "model_not_found",
        at("1/4/model-groups/99/1.json"),
        mentions=("1/4/model-groups/99/1.json",),
    ),
    Bad("unknown-bucket", 404, "model_not_found", at(bucket="no-such-bucket")),
    Bad("another-users-model", 403, "not_your_model", at("2/4/model-groups/1/1.json"), mentions=("user 2",)),
    Bad("missing-path-parameter", 400, "missing_parameter", at(path=None), mentions=("'path'",)),
    Bad(
        "bad-return-only-prediction",
        400,
        "invalid_parameter",
        lambda s: submit(s, json.dumps([SEED_TITANIC_ROW]), flag="maybe"),
        mentions=("maybe",),
    ),
    # ---- tasks
    Bad("another-users-task", 404, "task_not_found", someone_elses_task),
    Bad("unknown-task", 404, "task_not_found", lambda s: info(s, "no-such-task-0000")),
    Bad("negative-wait", 400, "invalid_parameter", lambda s: info(s, "some-task", wait_s=-1), mentions=("wait",)),
    # ---- the body
    Bad("body-not-json", 400, "invalid_json", body("pclass=0&sex=0"), mentions=("JSON",)),
    Bad("body-an-object", 422, "body_not_a_list", body(json.dumps({"rows": [SEED_TITANIC_ROW]}))),
    Bad("body-empty-list", 422, "no_rows", body("[]")),
    Bad(
        "too-many-rows",
        413,
        "too_many_rows",
        body(json.dumps([SEED_TITANIC_ROW] * (STRICT_MAX_ROWS + 1))),
        on="strict",
        mentions=(str(STRICT_MAX_ROWS),),
    ),
    Bad(
        "body-too-large",
        413,
        "body_too_large",
        body(json.dumps([SEED_TITANIC_ROW] * 3 + [seed_with(note="x" * STRICT_MAX_BODY_BYTES)])),
        on="strict",
        mentions=("2,048",),
    ),
    Bad(
        "body-too-large-chunked",
        413,
        "body_too_large",
        lambda s: submit(
            s, iter([b"[", json.dumps(SEED_TITANIC_ROW).encode()] + [b", {}"] * STRICT_MAX_BODY_BYTES + [b"]"])
        ),
        on="strict",
        mentions=("2,048",),
    ),
    # ---- rows
    Bad(
        "row-not-an-object",
        422,
        "row_not_an_object",
        body(json.dumps([SEED_TITANIC_ROW, [0, 0, 29]])),
        mentions=("Row 1",),
    ),
    Bad(
        "missing-feature",
        422,
        "missing_feature",
        body(json.dumps([SEED_TITANIC_ROW, seed_without("fare")])),
        mentions=("Row 1", "'fare'"),
    ),
    Bad(
        "unknown-feature",
        422,
        "unknown_feature",
        body(json.dumps([SEED_TITANIC_ROW, seed_with(cabin=3)])),
        mentions=("Row 1", "'cabin'"),
    ),
    Bad(
        "string-for-number",
        422,
        "wrong_type",
        body(json.dumps([SEED_TITANIC_ROW, seed_with(age="29")])),
        mentions=ROW_ONE_AGE,
    ),
    # every row text: pandas 3 keeps such a column as its "str" dtype, not object
    Bad(
        "string-for-number-every-row",
        422,
        "wrong_type",
        body(json.dumps([seed_with(age="29")])),
        mentions=("Row 0", "'age'", "'29'"),
    ),
    Bad(
        "text-for-number-every-row",
        422,
        "wrong_type",
        body(json.dumps([seed_with(age="old")])),
        mentions=("Row 0", "'age'", "'old'"),
    ),
    Bad(
        "boolean-for-number",
        422,
        "wrong_type",
        body(json.dumps([SEED_TITANIC_ROW, seed_with(age=True)])),
        mentions=ROW_ONE_AGE,
    ),
    Bad(
        "boolean-for-number-single-row",
        422,
        "wrong_type",
        body(json.dumps([seed_with(fare=False)])),
        mentions=("Row 0", "'fare'"),
    ),
    Bad(
        "nan",
        422,
        "not_finite",
        body(rows_text(SEED_TITANIC_ROW, seed_with(age="@"), raw={"@": "NaN"})),
        mentions=ROW_ONE_AGE,
    ),
    Bad(
        "infinity",
        422,
        "not_finite",
        body(rows_text(SEED_TITANIC_ROW, seed_with(age="@"), raw={"@": "Infinity"})),
        mentions=ROW_ONE_AGE,
    ),
    Bad("null", 422, "not_finite", body(json.dumps([SEED_TITANIC_ROW, seed_with(age=None)])), mentions=ROW_ONE_AGE),
    Bad("null-single-row", 422, "not_finite", body(json.dumps([seed_with(age=None)])), mentions=("Row 0", "'age'")),
    Bad(
        "out-of-domain-category",
        422,
        "out_of_domain",
        body(json.dumps([SEED_TITANIC_ROW, seed_with(pclass=7)])),
        mentions=("Row 1", "'pclass'", "7"),
    ),
    Bad(
        "fraction-for-integer",
        422,
        "not_an_integer",
        body(json.dumps([SEED_TITANIC_ROW, seed_with(sibsp=1.5)])),
        mentions=("Row 1", "'sibsp'", "1.5"),
    ),
    Bad(
        "two-one-hot-columns-set",
        422,
        "one_hot_conflict",
        body(
            json.dumps([CREDIT_ROW, {**CREDIT_ROW, "employment_status_Employed": 1, "employment_status_Contract": 1}]),
            path=CREDIT_PATHS[0],
        ),
        mentions=("Row 1", "employment_status_Employed"),
    ),
]


def is_sentence(text: Any) -> bool:
    """Several words ending in a full stop (it may start with a parameter name in lower case)."""
    return isinstance(text, str) and len(text.split()) >= 4 and text.rstrip().endswith(".")


@pytest.mark.parametrize("bad", BAD_REQUESTS, ids=lambda b: b.id)
def test_bad_request_answers_status_code_and_sentence(
    bad: Bad, server: EmbeddedServer, strict_server: EmbeddedServer
) -> None:
    target = strict_server if bad.on == "strict" else server
    response = bad.send(target)
    assert response.status_code == bad.status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    answer = response.json()
    assert answer["code"] == bad.code, answer
    assert is_sentence(answer["detail"]), answer
    assert "Traceback" not in answer["detail"]
    for word in bad.mentions:
        assert word in answer["detail"], f"{word!r} should be named in: {answer['detail']}"
    if bad.status == 401:
        assert response.headers.get("www-authenticate") == "Bearer"
    assert_still_serves(target)


def test_table_covers_at_least_28_bad_requests() -> None:
    assert len(BAD_REQUESTS) >= 28
    assert len({b.id for b in BAD_REQUESTS}) == len(BAD_REQUESTS)


def test_error_answer_never_echoes_the_token(server: EmbeddedServer) -> None:
    token = mint("not-the-" + server.secret)
    response = submit(server, json.dumps([SEED_TITANIC_ROW]), headers=bearer(token))
    assert response.status_code == 401
    assert token not in response.text and server.secret not in response.text


def test_documented_token_without_exp_is_accepted(server: EmbeddedServer) -> None:
    token = jwt.encode({"userId": DEMO_USER, "email": DEMO_EMAIL}, server.secret, algorithm="HS256")
    response = submit(server, json.dumps([SEED_TITANIC_ROW]), headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "STARTED"
    assert len(response.json()["id"]) >= 32, "task ids must be unguessable"


# ---- the positive contract -------------------------------------------------------------------------
PROBABILITY_COLUMNS = {"probability_0", "probability_1"}


@pytest.mark.parametrize("flag", ["True", "true", "1"])
def test_return_only_prediction_true_gives_only_prediction_columns(server: EmbeddedServer, flag: str) -> None:
    (record,) = predict(server, [dict(SEED_TITANIC_ROW)], flag=flag)
    assert set(record) == {"prediction"} | PROBABILITY_COLUMNS
    assert record["probability_0"] + record["probability_1"] == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("flag", ["False", "false", "0", None])
def test_return_only_prediction_false_gives_inputs_and_predictions(server: EmbeddedServer, flag: str | None) -> None:
    (record,) = predict(server, [dict(SEED_TITANIC_ROW)], flag=flag)
    assert list(record)[: len(SEED_COLUMNS)] == SEED_COLUMNS
    assert {k: record[k] for k in SEED_COLUMNS} == SEED_TITANIC_ROW
    assert set(record) - set(SEED_COLUMNS) == {"prediction"} | PROBABILITY_COLUMNS


def varied_titanic_rows(count: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    return [
        {
            "pclass": int(rng.integers(0, 3)),
            "sex": int(rng.integers(0, 2)),
            "age": round(float(rng.uniform(0.5, 80)), 1),
            "sibsp": int(rng.integers(0, 5)),
            "parch": int(rng.integers(0, 4)),
            "fare": round(float(rng.uniform(0, 300)), 2),
            "embarked": int(rng.integers(0, 3)),
        }
        for _ in range(count)
    ]


def test_multi_row_result_is_in_row_order(server: EmbeddedServer, titanic: LoadedModel) -> None:
    rows = varied_titanic_rows(50)
    expected = predict_frame(titanic, pd.DataFrame(rows)).to_dict("records")
    assert len({e["probability_1"] for e in expected}) > 25, "the rows must give varied predictions"
    records = predict(server, rows)
    assert len(records) == len(rows)
    for i, (row, record, want) in enumerate(zip(rows, records, expected, strict=True)):
        assert {k: record[k] for k in row} == row, f"row {i} echoes another row's inputs"
        assert record["prediction"] == want["prediction"], f"row {i}"
        assert record["probability_1"] == pytest.approx(want["probability_1"], abs=1e-9), f"row {i}"


def test_regression_model_gives_a_float_prediction_without_probabilities(
    server: EmbeddedServer, model_store: Path
) -> None:
    diabetes = ModelRegistry(model_store).load(DEMO_BUCKET, DIABETES_PATH)
    row = diabetes.schema.to_row(diabetes.schema.defaults())
    (record,) = predict(server, [row], path=DIABETES_PATH, flag="True")
    assert set(record) == {"prediction"}
    assert isinstance(record["prediction"], float)
    assert record["prediction"] == pytest.approx(predict_frame(diabetes, pd.DataFrame([row]))["prediction"][0])


def test_credit_model_takes_the_seed_one_hot_row(server: EmbeddedServer) -> None:
    (record,) = predict(server, [CREDIT_ROW], path=CREDIT_PATHS[1])
    assert {k: record[k] for k in CREDIT_ROW} == CREDIT_ROW
    assert record["prediction"] in (0, 1)


def models_of(server: EmbeddedServer, user_id: str) -> requests.Response:
    return requests.get(
        f"{server.origin}/api/v1/models", headers=bearer(mint(server.secret, user_id)), timeout=TIMEOUT_S
    )


def test_models_route_lists_the_callers_models(server: EmbeddedServer) -> None:
    response = models_of(server, DEMO_USER)
    assert response.status_code == 200
    models = response.json()["models"]
    assert [(m["group"], m["name"]) for m in models] == [
        ("1", "Titanic survival"),
        ("2", "Credit approval"),
        ("3", "Diabetes progression"),
    ]
    credit = models[1]
    assert [v["version"] for v in credit["versions"]] == [1, 2]
    assert [v["path"] for v in credit["versions"]] == list(CREDIT_PATHS)
    for model in models:
        assert model["user"] == DEMO_USER
        for version in model["versions"]:
            assert version["bucket"] == DEMO_BUCKET
            assert version["metrics"], f"{version['path']} has no metrics"
            assert version["created"]
    assert models[0]["versions"][0]["task"] == "classification"
    assert models[2]["versions"][0]["task"] == "regression"
    assert "r2" in models[2]["versions"][0]["metrics"]


def test_models_route_shows_nothing_of_user_1_to_user_2(server: EmbeddedServer) -> None:
    response = models_of(server, "2")
    assert response.status_code == 200
    assert response.json() == {"models": [], "accepts_uploads": True}


def schema_of(server: EmbeddedServer, path: str) -> dict[str, Any]:
    response = requests.get(
        f"{server.origin}/api/v1/proxy/pipeline/model/schema",
        params={"path": path, "bucket": DEMO_BUCKET},
        headers=bearer(mint(server.secret)),
        timeout=TIMEOUT_S,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_schema_route_gives_the_titanic_features_with_ranges_and_defaults(server: EmbeddedServer) -> None:
    schema = schema_of(server, TITANIC_PATH)
    assert schema["task"] == "classification" and schema["target"] == "survived"
    assert schema["classes"] == [0, 1] and schema["class_labels"] == {"0": "died", "1": "survived"}
    features = {f["name"]: f for f in schema["features"]}
    assert list(features) == SEED_COLUMNS
    assert features["pclass"]["labels"] == {"0": "1st", "1": "2nd", "2": "3rd"}
    assert features["pclass"]["type"] == "integer"
    assert features["age"]["type"] == "number"
    for feature in features.values():
        assert feature["min"] <= feature["default"] <= feature["max"], feature
    assert features["age"]["min"] == pytest.approx(0.17, abs=0.01) and features["age"]["max"] == 80
    assert schema["metrics"]["accuracy"] > 0.7
    parsed = FeatureSchema.from_dict(schema)
    assert parsed.input_columns == SEED_COLUMNS


def test_schema_route_gives_the_credit_one_hot_group(server: EmbeddedServer) -> None:
    schema = schema_of(server, CREDIT_PATHS[0])
    features = {f["name"]: f for f in schema["features"]}
    assert list(features) == ["order_amount", "average_monthly_income", "employment_status"]
    group = features["employment_status"]
    assert group["type"] == "one_hot"
    assert group["columns"] == {
        "Employed": "employment_status_Employed",
        "Self-Employed": "employment_status_Self-Employed",
        "Contract": "employment_status_Contract",
    }
    assert group["none_label"] == "Other"
    assert FeatureSchema.from_dict(schema).input_columns == list(CREDIT_ROW)


def test_long_poll_answers_as_soon_as_the_task_is_done(delayed_server: EmbeddedServer) -> None:
    created = submit(delayed_server, json.dumps([SEED_TITANIC_ROW]))
    assert created.status_code == 200
    assert info(delayed_server, created.json()["id"]).json()["state"] == "STARTED"
    started = time.monotonic()
    answer = info(delayed_server, created.json()["id"], wait_s=2).json()
    waited_s = time.monotonic() - started
    assert answer["state"] == "SUCCESS", "a long poll must wait for the result"
    assert waited_s < 1.5, f"the long poll took {waited_s:.2f} s for a 0.3 s task"


def test_long_poll_of_a_task_that_is_not_ready_is_capped(stuck_server: EmbeddedServer) -> None:
    created = submit(stuck_server, json.dumps([SEED_TITANIC_ROW]))
    assert created.status_code == 200
    started = time.monotonic()
    answer = info(stuck_server, created.json()["id"], wait_s=30).json()
    waited_s = time.monotonic() - started
    assert answer["state"] == "STARTED"
    assert 0.2 <= waited_s < 1.5, f"a wait of 30 s capped at 0.3 s took {waited_s:.2f} s"


def test_models_route_lists_nothing_reached_through_a_symlink(strict_server: EmbeddedServer) -> None:
    response = models_of(strict_server, DEMO_USER)
    assert response.status_code == 200
    listed = [(m["bucket"], v["path"]) for m in response.json()["models"] for v in m["versions"]]
    assert (DEMO_BUCKET, TITANIC_PATH) in listed
    assert all(bucket != ESCAPING_BUCKET for bucket, _ in listed), listed
    assert (DEMO_BUCKET, ESCAPING_GROUP_PATH) not in listed, listed


def test_a_number_too_large_for_a_float_is_a_row_error(server: EmbeddedServer) -> None:
    huge = "1" + "0" * 400
    response = submit(server, rows_text(SEED_TITANIC_ROW, seed_with(sibsp="@"), raw={"@": huge}))
    assert response.status_code == 422, response.text
    assert "Row 1" in response.json()["detail"] and "'sibsp'" in response.json()["detail"]
    assert_still_serves(server)


def test_a_deeply_nested_body_is_refused_as_bad_json(server: EmbeddedServer) -> None:
    response = submit(server, "[" * 100_000 + "]" * 100_000)
    assert response.status_code in (400, 422), response.text
    assert response.json()["code"] != "internal_error"
    assert_still_serves(server)


def test_a_model_file_linked_from_outside_the_store_is_refused(strict_server: EmbeddedServer) -> None:
    response = submit(strict_server, json.dumps([SEED_TITANIC_ROW]), path=ESCAPING_MODEL_FILE_PATH)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_path"
    assert_still_serves(strict_server)
