"""The Streamlit-free logic behind the pages: charts, run summaries, share links, snippets, profiles."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import DEMO_BUCKET, TITANIC_PATH
from whatif.charts import probability_chart, runs_chart
from whatif.client import ModelClient
from whatif.diagnostics import check_connection
from whatif.profiles import DEMO_PROFILE, ENV_PROFILE, default_profile_name, load_profiles
from whatif.runs import changed_mask, changed_names, score_title, summarize
from whatif.schema import FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import credit_model, diabetes_model, titanic_model
from whatif.share import model_from_query, to_query, values_from_query
from whatif.snippets import client_snippet, python_snippet

TITANIC = titanic_model()[1]
DIABETES = diabetes_model()[1]
CREDIT = credit_model(1)[1]


def test_summary_of_a_classifier_uses_the_positive_class_and_labels() -> None:
    summary = summarize(TITANIC, {"prediction": 1, "probability_0": 0.25, "probability_1": 0.75})
    assert (summary.label, summary.score) == ("survived", 0.75)
    assert summary.probabilities == {"0": 0.25, "1": 0.75}
    assert score_title(TITANIC) == "P(survived)"


def test_summary_of_a_regression_is_its_value() -> None:
    summary = summarize(DIABETES, {"prediction": 148.549216})
    assert summary.score == pytest.approx(148.549216) and summary.label == "148.5" and summary.probabilities == {}
    assert score_title(DIABETES) == "Predicted progression"


def test_changed_inputs_are_found_per_run_and_numbers_compare_as_numbers() -> None:
    runs = pd.DataFrame({"age": [29.0, 30.0, 29.0], "sex": [0, 0, 1], "employment": ["Other", "Other", "Employed"]})
    mask = changed_mask(runs, {"age": 29, "sex": 0, "employment": "Other"})
    assert changed_names(mask) == ["", "age", "sex, employment"]
    assert changed_names(changed_mask(runs[["age"]], {})) == ["age", "age", "age"]  # no baseline value: changed


@pytest.mark.parametrize(
    ("inputs", "baseline", "changed"),
    [
        ({"age": 29, "sex": "male"}, {"age": 29, "sex": "male"}, ""),
        ({"age": 1, "fare": 7.25}, {"age": 1.0, "fare": 7.25}, ""),  # 1 and 1.0 are the same value
        ({"age": 30, "sex": "male"}, {"age": 29, "sex": "male"}, "age"),
        ({"age": 29, "sex": "female", "fare": 8.0}, {"age": 29, "sex": "male", "fare": 7.25}, "sex, fare"),
        ({"age": 29, "embarked": "S"}, {"age": 29}, "embarked"),  # not in the baseline
        ({"age": None}, {"age": 0}, "age"),
        ({"age": float("nan")}, {"age": float("nan")}, ""),
        ({"flag": True}, {"flag": 1}, "flag"),  # a boolean is not a number
    ],
    ids=["same", "int-float", "one", "two", "new-feature", "none", "nan", "bool"],
)
def test_one_run_changed_against_the_baseline(inputs: dict, baseline: dict, changed: str) -> None:
    assert changed_names(changed_mask(pd.DataFrame([inputs]), baseline)) == [changed]


def test_runs_chart_draws_every_run_the_baseline_and_the_newest() -> None:
    frame = pd.DataFrame(
        {
            "id": [5, 6, 7],
            "seq": [1, 2, 3],
            "name": ["", "rich", ""],
            "label": ["died", "survived", "died"],
            "score": [0.2, 0.9, 0.4],
            "changed": ["", "fare", "age"],
        }
    )
    spec = runs_chart(
        frame,
        score_title="P(survived)",
        baseline_score=0.2,
        newest_id=7,
        probability_scale=True,
        class_order=["died", "survived"],
    ).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks.count("rule") == 1 and "circle" in marks and "point" in marks  # baseline rule, runs, newest ring
    assert any(layer.get("transform") == [{"filter": "(datum.id === 7)"}] for layer in spec["layer"])
    rows = next(iter(spec["datasets"].values()))
    assert [r["changed"] for r in rows] == ["(same as baseline)", "fare", "age"]
    circle = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "circle")
    assert circle["encoding"]["color"]["scale"]["domain"] == ["died", "survived"]


def test_probability_chart_marks_the_predicted_class() -> None:
    spec = probability_chart({"0": 0.3, "1": 0.7}, {"0": "died", "1": "survived"}, "survived").to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert [(r["class"], r["predicted"]) for r in rows] == [("died", False), ("survived", True)]


def test_share_link_round_trip_and_bad_values() -> None:
    values = {"pclass": 0, "sex": 0, "age": 42.5, "sibsp": 1, "parch": 0, "fare": 80.0, "embarked": 0}
    query = to_query(TITANIC_PATH, DEMO_BUCKET, values)
    assert model_from_query(query) == (TITANIC_PATH, DEMO_BUCKET)
    assert values_from_query(query, TITANIC) == (values, {})
    back, problems = values_from_query({**query, "pclass": "9", "age": "old"}, TITANIC)
    assert set(problems) == {"pclass", "age"} and "pclass" not in back
    credit, _ = values_from_query(to_query("p", "b", {"employment_status": "Contract"}), CREDIT)
    assert credit == {"employment_status": "Contract"}


def test_profiles_from_secrets_and_environment_never_show_the_secret() -> None:
    secrets = {
        "whatif": {
            "default_profile": "staging",
            "profiles": {
                "staging": {
                    "url": "http://h/api/v1/proxy/pipeline/model/predict",
                    "secret": "s3cret-value",
                    "user_id": 7,
                },
                "broken": {"secret": "no url"},
            },
        }
    }
    profiles = load_profiles(secrets, {"WHATIF_API_URL": "http://e", "WHATIF_API_SECRET": "env-secret"})
    assert [p.name for p in profiles] == ["staging", ENV_PROFILE, DEMO_PROFILE]
    assert profiles[0].user_id == "7" and profiles[0].secret_source == "secrets.toml"
    assert default_profile_name(profiles, secrets) == "staging"
    assert default_profile_name(load_profiles({}, {}), {}) == DEMO_PROFILE
    assert all("s3cret-value" not in repr(p) and "env-secret" not in repr(p) for p in profiles)
    assert profiles[0].fingerprint != profiles[0].with_changes(secret="other").fingerprint


@pytest.mark.parametrize(
    ("configured", "lifetime_s", "deadline_s"),
    [
        ({"token_lifetime_s": 0, "poll_deadline_s": 0.5}, 10.0, 1.0),
        ({"token_lifetime_s": 7200, "poll_deadline_s": 7200}, 3600.0, 3600.0),
        ({"token_lifetime_s": "nan", "poll_deadline_s": "soon"}, 300.0, 60.0),
        ({"token_lifetime_s": 120, "poll_deadline_s": 30}, 120.0, 30.0),
    ],
)
def test_profile_durations_are_kept_within_what_settings_offers(
    configured: dict, lifetime_s: float, deadline_s: float
) -> None:
    secrets = {"whatif": {"profiles": {"prod": {"url": "http://h/p", "secret": "s", **configured}}}}
    [prod, _demo] = load_profiles(secrets, {})
    assert (prod.token_lifetime_s, prod.poll_deadline_s) == (lifetime_s, deadline_s)


def test_connection_check_reports_what_it_found(server: EmbeddedServer) -> None:
    with ModelClient(server.predict_url, secret=server.secret, user_id="1", email="demo@example.com") as good:
        assert [(f.check, f.ok) for f in check_connection(good)] == [
            ("Reachable", True),
            ("Auth accepted", True),
            ("Saved models", True),
        ]
    with ModelClient(server.predict_url, secret="wrong-" * 8, user_id="1", email="demo@example.com") as bad:
        findings = check_connection(bad)
        assert [(f.check, f.ok) for f in findings] == [("Reachable", True), ("Auth accepted", False)]
        assert "secret" in findings[-1].message
    with ModelClient("http://127.0.0.1:9", secret="x" * 32, max_retries=0) as nowhere:
        assert [(f.check, f.ok) for f in check_connection(nowhere)] == [("Reachable", False)]


def test_schema_of_every_sample_round_trips() -> None:
    for schema in (TITANIC, DIABETES, CREDIT):
        assert FeatureSchema.from_dict(schema.to_dict()) == schema
        assert schema.to_row(schema.defaults()).keys() == set(schema.input_columns)


def test_settings_keep_a_secret_only_for_the_same_url_user_and_email() -> None:
    from whatif.profiles import Profile, edited_profile

    configured = Profile(
        "prod",
        url="http://h/api/v1/proxy/pipeline/model/predict",
        secret="admin-secret",
        user_id="7",
        email="a@b.c",
        secret_source="secrets.toml",
    )
    kept = edited_profile(
        configured,
        url=configured.url,
        user_id="7",
        email="a@b.c",
        typed_secret="",
        token_lifetime_s=600,
        poll_deadline_s=30,
    )
    assert kept.secret == "admin-secret" and kept.token_lifetime_s == 600
    for changes in (
        {"url": "http://evil.example/api/v1/proxy/pipeline/model/predict"},
        {"user_id": "8"},
        {"email": "x@y.z"},
    ):
        fields = {"url": configured.url, "user_id": "7", "email": "a@b.c", **changes}
        with pytest.raises(ValueError, match="Type the API secret"):
            edited_profile(configured, **fields, typed_secret="", token_lifetime_s=300, poll_deadline_s=60)
    with pytest.raises(ValueError, match="lifetime"):
        edited_profile(
            configured,
            url=configured.url,
            user_id="7",
            email="a@b.c",
            typed_secret="",
            token_lifetime_s=86400,
            poll_deadline_s=60,
        )
    demo = Profile("Local demo API", url="http://127.0.0.1:1/p", secret="s", is_demo=True)
    assert edited_profile(
        demo,
        url=demo.url,
        user_id=demo.user_id,
        email=demo.email,
        typed_secret="",
        token_lifetime_s=300,
        poll_deadline_s=5,
    ).is_demo  # its runs stay under the demo key


def test_share_links_keep_every_digit() -> None:
    query = to_query(TITANIC_PATH, DEMO_BUCKET, {"fare": 211.3375, "age": 0.1 + 0.2, "sibsp": 1})
    assert query["fare"] == "211.3375" and float(query["age"]) == 0.1 + 0.2 and query["sibsp"] == "1"


def test_csv_flags_that_are_set_together_are_not_a_one_hot_group() -> None:
    flags = FeatureSchema.from_csv("has_car,has_house,x\n1,1,3\n0,1,4\n")
    assert [f.name for f in flags.features] == ["has_car", "has_house", "x"]
    group = FeatureSchema.from_csv("job_a,job_b,x\n1,0,3\n0,1,4\n0,0,2\n")
    assert [f.name for f in group.features] == ["job", "x"] and group.feature("job").type == "one_hot"


def test_urls_with_a_password_are_refused() -> None:
    with pytest.raises(ValueError, match="user name or password"):
        ModelClient("http://alice:hunter2@127.0.0.1:9/api/v1/proxy/pipeline/model/predict", secret="s")


def test_python_snippets_are_python_for_boolean_features() -> None:
    rows = [{"amount": 1.5, "is_new": True}]
    compile(python_snippet("http://h/p", "p", "b", rows, "1", "e@x"), "snippet", "exec")
    compile(client_snippet("http://h/p", "p", "b", rows, "1", "e@x"), "snippet", "exec")
    assert "True" in python_snippet("http://h/p", "p", "b", rows, "1", "e@x")
