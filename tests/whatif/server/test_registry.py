"""The model store: saving new models and new versions, listing them, its command line,
and the sample models being built the same way every time."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from whatif.schema import Feature, FeatureSchema
from whatif.server.registry import (
    InvalidLocation,
    ModelNotFound,
    ModelRegistry,
    check_location,
    main,
    predict_frame,
)
from whatif.server.samples import (
    CREDIT_PATHS,
    DEMO_BUCKET,
    DIABETES_PATH,
    SAMPLE_PATHS,
    TITANIC_PATH,
    ensure_sample_models,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
BUCKET = "models.example"
SCHEMA = FeatureSchema(
    (
        Feature("income", "number", 0, 10_000, 2_500, description="Monthly income"),
        Feature("tenure", "integer", 0, 40, 5, description="Years as a customer"),
    ),
    name="Churn",
    task="classification",
    target="churned",
    classes=(0, 1),
)


def fitted(seed: int) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"income": rng.uniform(0, 10_000, 200), "tenure": rng.integers(0, 40, 200)})
    y = ((x["income"] / 10_000 + x["tenure"] / 40 + rng.normal(0, 0.2, 200)) > 1).astype(int)
    return LogisticRegression(max_iter=500).fit(x, y)


ROWS = pd.DataFrame({"income": [500.0, 4_000.0, 9_000.0], "tenure": [1, 12, 35]})


# ---- saving and listing -------------------------------------------------------------------------
def test_save_as_new_model_then_as_new_version(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    first = registry.save(
        fitted(1), SCHEMA, bucket=BUCKET, user="1", project="4", name="Churn", metrics={"accuracy": 0.81}
    )
    assert first == {"bucket": BUCKET, "path": "1/4/model-groups/1/1.json", "group": "1", "version": 1, "name": "Churn"}
    other = registry.save(fitted(2), SCHEMA, bucket=BUCKET, user="1", project="4", name="Upsell")
    assert (other["group"], other["version"]) == ("2", 1), "a new model gets the next group"
    second = registry.save(
        fitted(3), SCHEMA, bucket=BUCKET, user="1", project="4", group="1", metrics={"accuracy": 0.84}
    )
    assert (second["path"], second["version"], second["name"]) == ("1/4/model-groups/1/2.json", 2, "Churn")

    v1, v2 = registry.load(BUCKET, first["path"]), registry.load(BUCKET, second["path"])
    np.testing.assert_allclose(predict_frame(v1, ROWS)["probability_1"], fitted(1).predict_proba(ROWS)[:, 1].round(6))
    np.testing.assert_allclose(predict_frame(v2, ROWS)["probability_1"], fitted(3).predict_proba(ROWS)[:, 1].round(6))
    assert v2.schema.input_columns == ["income", "tenure"] and v2.schema.version == 2


def test_a_new_version_of_a_missing_group_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="group 7"):
        ModelRegistry(tmp_path).save(fitted(1), SCHEMA, bucket=BUCKET, user="1", project="4", group="7")


def test_list_models_shows_versions_in_order_with_metrics(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.save(fitted(1), SCHEMA, bucket=BUCKET, user="1", project="4", name="Churn", metrics={"auc": 0.7})
    for version, auc in ((2, 0.75), (10, 0.8)):  # 10 after 2: versions sort as numbers
        registry.save(
            fitted(version),
            SCHEMA,
            bucket=BUCKET,
            user="1",
            project="4",
            group="1",
            version=version,
            metrics={"auc": auc},
        )
    registry.save(fitted(4), SCHEMA, bucket=BUCKET, user="2", project="9", name="Someone else's")

    (churn,) = registry.list_models("1")
    assert (churn["name"], churn["group"], churn["user"], churn["bucket"]) == ("Churn", "1", "1", BUCKET)
    assert [v["version"] for v in churn["versions"]] == [1, 2, 10]
    assert [v["metrics"] for v in churn["versions"]] == [{"auc": 0.7}, {"auc": 0.75}, {"auc": 0.8}]
    assert churn["versions"][-1]["path"] == "1/4/model-groups/1/10.json"
    assert {v["task"] for v in churn["versions"]} == {"classification"}
    assert churn["versions"][0]["features"] == ["income", "tenure"]
    assert [m["user"] for m in registry.list_models()] == ["1", "2"]
    assert registry.list_models("3") == []


def test_saving_keeps_no_temporary_files(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    saved = registry.save(fitted(1), SCHEMA, bucket=BUCKET, user="1", project="4", name="Churn")
    group_dir = tmp_path / BUCKET / Path(saved["path"]).parent
    assert sorted(p.name for p in group_dir.iterdir()) == ["1.json", "1.skops"]


# ---- the command line ---------------------------------------------------------------------------
def registry_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATIF_")}
    return subprocess.run(
        [sys.executable, "-m", "whatif.server.registry", *map(str, args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store filled by the CLI: a new model, then a new version of it; and the CLI's outputs."""
    work = tmp_path_factory.mktemp("cli")
    store = work / "store"
    model_file, schema_file, metrics_file = work / "churn.skops", work / "churn-schema.json", work / "metrics.json"
    sio.dump(fitted(1), model_file)
    schema_file.write_text(json.dumps(SCHEMA.to_dict()))
    metrics_file.write_text(json.dumps({"accuracy": 0.9}))
    common = (
        "--store",
        store,
        "save",
        "--model",
        model_file,
        "--schema",
        schema_file,
        "--bucket",
        BUCKET,
        "--user",
        "1",
        "--project",
        "4",
    )
    return {
        "store": store,
        "new": registry_cli(*common, "--name", "Churn from CLI", "--metrics", metrics_file),
        "version": registry_cli(*common, "--group", "1"),
        "list": registry_cli("--store", store, "list"),
    }


def test_cli_saves_a_new_model(cli_store: dict[str, Any]) -> None:
    done = cli_store["new"]
    assert done.returncode == 0, done.stderr
    assert "Saved 'Churn from CLI' version 1: path=1/4/model-groups/1/1.json" in done.stdout


def test_cli_saves_a_new_version_with_group(cli_store: dict[str, Any]) -> None:
    done = cli_store["version"]
    assert done.returncode == 0, done.stderr
    assert "Saved 'Churn from CLI' version 2: path=1/4/model-groups/1/2.json" in done.stdout


def test_cli_list_shows_both_versions(cli_store: dict[str, Any]) -> None:
    done = cli_store["list"]
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Churn from CLI  (bucket models.example, user 1, project 4, group 1)")
    assert lines[1].split()[:3] == ["v1", "classification", "1/4/model-groups/1/1.json"]
    assert '"accuracy": 0.9' in lines[1]
    assert lines[2].split()[:3] == ["v2", "classification", "1/4/model-groups/1/2.json"]


def test_cli_list_json_prints_only_json(cli_store: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", str(cli_store["store"]), "list", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in models[0]["versions"]] == [1, 2]


def test_models_saved_by_the_cli_predict(cli_store: dict[str, Any]) -> None:
    registry = ModelRegistry(cli_store["store"])
    for path in ("1/4/model-groups/1/1.json", "1/4/model-groups/1/2.json"):
        predictions = predict_frame(registry.load(BUCKET, path), ROWS)
        np.testing.assert_allclose(predictions["probability_1"], fitted(1).predict_proba(ROWS)[:, 1].round(6))


def test_cli_save_refuses_a_missing_model_file(tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA.to_dict()))
    done = registry_cli(
        "--store",
        tmp_path / "store",
        "save",
        "--model",
        tmp_path / "nope.skops",
        "--schema",
        schema_file,
        "--bucket",
        BUCKET,
        "--user",
        "1",
        "--project",
        "4",
        "--name",
        "Nope",
    )
    assert done.returncode != 0
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr


# ---- the sample models --------------------------------------------------------------------------
def sample_rows() -> dict[str, pd.DataFrame]:
    """Rows for each sample model: its defaults and a few variations."""
    titanic = pd.DataFrame(
        {
            "pclass": [0, 1, 2, 2],
            "sex": [0, 1, 0, 1],
            "age": [29, 4, 40, 61.5],
            "sibsp": [0, 1, 0, 3],
            "parch": [0, 2, 0, 1],
            "fare": [211.3375, 30, 7.25, 80],
            "embarked": [2, 0, 1, 2],
        }
    )
    credit = pd.DataFrame(
        {
            "order_amount": [700, 150, 4000, 900],
            "average_monthly_income": [0, 3000, 2500, 800],
            "employment_status_Employed": [0, 1, 0, 0],
            "employment_status_Self-Employed": [0, 0, 1, 0],
            "employment_status_Contract": [0, 0, 0, 1],
        }
    )
    return {TITANIC_PATH: titanic, CREDIT_PATHS[0]: credit, CREDIT_PATHS[1]: credit}


@pytest.fixture(scope="module")
def fresh_sample_stores(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[ModelRegistry, list[str]]]:
    """Two stores built from nothing: (registry, paths built) each. How long building takes is
    measured by ``bench/samples.py``, not here: a time limit in a test fails on a busy machine."""
    stores = []
    for _ in range(2):
        registry = ModelRegistry(tmp_path_factory.mktemp("samples"))
        stores.append((registry, ensure_sample_models(registry)))
    return stores


def test_sample_models_are_built_deterministically_and_reused(
    fresh_sample_stores: list[tuple[ModelRegistry, list[str]]],
) -> None:
    (first, built_first), (second, built_second) = fresh_sample_stores
    assert sorted(built_first) == sorted(built_second) == sorted(SAMPLE_PATHS)
    rows = sample_rows()
    for path in SAMPLE_PATHS:
        a, b = first.load(DEMO_BUCKET, path), second.load(DEMO_BUCKET, path)
        frame = rows.get(path)
        if frame is None:  # the diabetes model: its defaults
            frame = pd.DataFrame([a.schema.to_row(a.schema.defaults())])
        pd.testing.assert_frame_equal(predict_frame(a, frame), predict_frame(b, frame), obj=path)
        assert a.descriptor["metrics"] == b.descriptor["metrics"], path
        assert a.descriptor["schema"] == b.descriptor["schema"], path
    files = {f: f.stat().st_mtime_ns for f in first.root.rglob("*") if f.is_file()}
    assert ensure_sample_models(first) == [], "a store that has the samples is left alone"
    assert {f: f.stat().st_mtime_ns for f in first.root.rglob("*") if f.is_file()} == files


def test_sample_models_cover_both_tasks(fresh_sample_stores: list[tuple[ModelRegistry, list[str]]]) -> None:
    registry = fresh_sample_stores[0][0]
    diabetes = registry.load(DEMO_BUCKET, DIABETES_PATH)
    assert diabetes.schema.task == "regression"
    assert set(diabetes.descriptor["metrics"]) >= {"r2", "mae"}
    prediction = predict_frame(diabetes, pd.DataFrame([diabetes.schema.to_row(diabetes.schema.defaults())]))
    assert list(prediction.columns) == ["prediction"] and 25 <= prediction["prediction"][0] <= 346
    titanic = registry.load(DEMO_BUCKET, TITANIC_PATH)
    assert titanic.schema.task == "classification" and titanic.descriptor["metrics"]["accuracy"] > 0.7


@pytest.mark.parametrize(
    ("bucket", "path", "said"),
    [
        ("storage", "1/4/model groups/1/1.json", "has the part 'model groups'; parts may use only letters"),
        ("storage", "1/4/-x/1/1.json", "has the part '-x'"),
        ("storage", "1/4/../1/1.json", "may not contain empty, '.' or '..' parts"),
        ("storage", "1//1.json", "may not contain empty"),
        ("storage", "/etc/passwd.json", "must be a relative path"),
        ("storage", "1/4/model-groups/1/1.txt", "must name a model descriptor ending in .json"),
        ("my bucket", "1/1.json", "bucket 'my bucket' is not a valid bucket name"),
    ],
)
def test_a_location_that_is_not_plain_names_gets_its_reason(bucket: str, path: str, said: str) -> None:
    with pytest.raises(InvalidLocation, match=re.escape(said)):
        check_location(bucket, path)
