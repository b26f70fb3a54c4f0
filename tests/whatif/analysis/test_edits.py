"""Bulk what-if against the real reference server: each edit kind, labels, filters, clipping, outside the range,
and the transition matrix and share changed equal to plain predictions of the original and edited rows."""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.whatif.analysis.explore_support import one_sentence
from tests.whatif.analysis.test_runner import tasks_on
from whatif.analysis import AnalysisError
from whatif.analysis.edits import (
    AllOf,
    AnyOf,
    Condition,
    Edit,
    apply_edits,
    bulk_whatif,
    edit_text,
    facts_table,
    movers_table,
    paired_bootstrap,
    parse_edit,
    parse_where,
    share_text,
    transition_frame,
)
from whatif.analysis.grids import to_request_frame
from whatif.analysis.runner import BatchPredictor, in_process_predict
from whatif.client import ModelClient
from whatif.schema import FeatureSchema
from whatif.server.embedded import EmbeddedServer
from whatif.server.registry import ModelRegistry
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, DIABETES_PATH, TITANIC_PATH, credit_frame, titanic_frame

CREDIT = CREDIT_PATHS[0]


# ---- rows and schemas -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def credit_schema(server: EmbeddedServer) -> FeatureSchema:
    return ModelRegistry(server.store).load(DEMO_BUCKET, CREDIT).schema


@pytest.fixture(scope="module")
def titanic_schema(server: EmbeddedServer) -> FeatureSchema:
    return ModelRegistry(server.store).load(DEMO_BUCKET, TITANIC_PATH).schema


def form_rows(schema: FeatureSchema, request_rows: pd.DataFrame) -> pd.DataFrame:
    """Request rows (one-hot columns) as form values, as a file of rows gives them."""
    return pd.DataFrame([schema.from_row(r) for r in request_rows.to_dict("records")])


@pytest.fixture(scope="module")
def credit_rows(credit_schema: FeatureSchema) -> pd.DataFrame:
    """1,000 synthetic applications (other draws than the training table's)."""
    return form_rows(credit_schema, credit_frame(1000).drop(columns="approved"))


@pytest.fixture(scope="module")
def titanic_rows(titanic_schema: FeatureSchema) -> pd.DataFrame:
    """Every passenger of titanic3 (1,309 rows)."""
    return titanic_frame().drop(columns="survived")


def plain_answers(client: ModelClient, path: str, schema: FeatureSchema, rows: pd.DataFrame) -> pd.DataFrame:
    """A plain prediction of form rows, done apart from the analysis."""
    request = to_request_frame(schema, rows.to_dict("records"))
    return client.predict(request, path, DEMO_BUCKET, return_only_prediction=True).predictions


# ---- parsing edits ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("average_monthly_income*=1.1", Edit("average_monthly_income", "mul", 1.1)),
        ("order_amount+=500", Edit("order_amount", "add", 500.0)),
        ("order_amount -= 50", Edit("order_amount", "add", -50.0)),
        ("order_amount=1200", Edit("order_amount", "set", 1200)),
        ("employment_status=Employed", Edit("employment_status", "set", "Employed")),
        ("employment_status = 'self-employed'", Edit("employment_status", "set", "Self-Employed")),
        ("employment_status=employment_status_Contract", Edit("employment_status", "set", "Contract")),
        ("employment_status:Other->Employed", Edit("employment_status", "map", mapping=(("Other", "Employed"),))),
        ("clip(average_monthly_income)", Edit("average_monthly_income", "clip")),
        ("order_amount clip", Edit("order_amount", "clip")),
        ("Average_Monthly_Income*=2", Edit("average_monthly_income", "mul", 2.0)),
    ],
)
def test_each_edit_kind_of_credit_is_read(credit_schema: FeatureSchema, text: str, expected: Edit) -> None:
    assert parse_edit(credit_schema, text) == expected


@pytest.mark.parametrize(
    ("text", "expected", "written"),
    [
        ("sex=male", Edit("sex", "set", 1), "sex=male"),
        ("sex=1", Edit("sex", "set", 1), "sex=male"),
        ("pclass=1ST", Edit("pclass", "set", 0), "pclass=1st"),
        ("sex:male->female", Edit("sex", "map", mapping=((1, 0),)), "sex:male->female"),
        (
            "sex:male->female,female->male",
            Edit("sex", "map", mapping=((1, 0), (0, 1))),
            "sex:male->female,female->male",
        ),
        ("embarked:2->Cherbourg", Edit("embarked", "map", mapping=((2, 0),)), "embarked:Southampton->Cherbourg"),
        ("sibsp*=1.5", Edit("sibsp", "mul", 1.5), "sibsp*=1.5"),
        ("age-=5", Edit("age", "add", -5.0), "age-=5"),
        ("fare*=0.25", Edit("fare", "mul", 0.25), "fare*=0.25"),
        ("clip(age)", Edit("age", "clip"), "clip(age)"),
    ],
)
def test_titanic_labels_and_codes_are_read_and_written_back(
    titanic_schema: FeatureSchema, text: str, expected: Edit, written: str
) -> None:
    edit = parse_edit(titanic_schema, text)
    assert edit == expected
    assert edit_text(edit, titanic_schema) == written, "labels for categories, with the schema"
    assert parse_edit(titanic_schema, edit_text(edit, titanic_schema)) == edit
    assert parse_edit(titanic_schema, edit_text(edit)) == edit, "codes without the schema read back the same"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("income*=1.1", "'income', which is not a feature"),
        ("sex+=1", "sex is a category"),
        ("sex*=2", "set it (sex=male) or map it (sex:female->male)"),
        ("clip(sex)", "no range to clip to"),
        ("age*=abc", "is not a number"),
        ("age*=inf", "is not a number"),
        ("sex=robot", "sex"),
        ("sibsp=2.5", "whole number"),
        ("sex:male->female,male->female", "twice"),
        ("sex:male", "FROM->TO"),
        ("what is this", "cannot be read"),
        ("age=", "nothing"),
    ],
)
def test_an_edit_that_cannot_apply_is_one_sentence_naming_it(
    titanic_schema: FeatureSchema, text: str, says: str
) -> None:
    with pytest.raises(AnalysisError) as refused:
        parse_edit(titanic_schema, text)
    message = str(refused.value)
    assert one_sentence(message), message
    assert says in message
    if text:
        assert repr(text) in message or text.split("*")[0] in message


def test_one_hot_groups_take_set_and_map_only(credit_schema: FeatureSchema) -> None:
    with pytest.raises(AnalysisError, match="one-hot group"):
        parse_edit(credit_schema, "employment_status*=2")
    with pytest.raises(AnalysisError, match="not one of"):
        parse_edit(credit_schema, "employment_status=Retired")


# ---- applying edits ---------------------------------------------------------------------------------------
def test_set_add_multiply_and_map_change_the_rows_they_should(
    titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame
) -> None:
    done = apply_edits(
        titanic_schema, titanic_rows, ["fare*=2", "age+=1", "embarked=Cherbourg", "sex:male->female,female->male"]
    )
    before, after = done.original, done.edited
    assert np.allclose(after["fare"], before["fare"] * 2)
    assert np.allclose(after["age"], before["age"] + 1)
    assert (after["embarked"] == 0).all()
    assert (after["sex"] == 1 - before["sex"]).all(), "the two pairs of a mapping apply at once: a swap"
    assert list(after.columns) == list(before.columns) and done.matched.all()
    assert after["pclass"].equals(before["pclass"])
    assert done.changed.all()


def test_integers_stay_whole_and_the_rounding_is_said(
    titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame
) -> None:
    done = apply_edits(titanic_schema, titanic_rows, ["sibsp*=1.5"])
    sibsp = done.edited["sibsp"]
    assert str(sibsp.dtype) == "int64"
    expected = np.floor(titanic_rows["sibsp"].to_numpy() * 1.5 + 0.5)
    assert (sibsp.to_numpy() == expected).all(), "halves round up: 1 * 1.5 = 1.5 becomes 2"
    odd = int((titanic_rows["sibsp"] % 2 == 1).sum())
    assert len(done.notes) == 1 and f"{odd:,} value(s) were rounded after sibsp*=1.5" in done.notes[0]
    request = to_request_frame(titanic_schema, done.edited.to_dict("records"))
    assert len(request) == len(titanic_rows), "every edited row is valid for the schema"


def test_one_hot_groups_stay_valid(credit_schema: FeatureSchema, credit_rows: pd.DataFrame) -> None:
    done = apply_edits(credit_schema, credit_rows, ["employment_status:Other->Contract"])
    assert "Other" not in set(done.edited["employment_status"])
    moved = (credit_rows["employment_status"] == "Other").to_numpy()
    assert (done.changed == moved).all()
    request = to_request_frame(credit_schema, done.edited.to_dict("records"))
    group = [c for c in request.columns if c.startswith("employment_status_")]
    assert (request[group].sum(axis=1) == 1).all(), "exactly one column of the group is set after the map"


def test_rows_pushed_outside_the_range_are_counted_and_clipping_brings_them_back(
    titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame
) -> None:
    age = titanic_schema.feature("age")
    pushed = apply_edits(titanic_schema, titanic_rows, ["age+=20"])
    expected = (titanic_rows["age"] + 20 > age.max).to_numpy()
    assert (pushed.outside == expected).all() and pushed.outside_by_feature == {"age": int(expected.sum())}
    assert expected.sum() > 0
    clipped = apply_edits(titanic_schema, titanic_rows, ["age+=20", "clip(age)"])
    assert not clipped.outside.any() and clipped.edited["age"].max() == age.max
    assert np.allclose(clipped.edited["age"], np.minimum(titanic_rows["age"] + 20, age.max))


def test_a_row_already_outside_is_not_counted_as_pushed(titanic_schema: FeatureSchema) -> None:
    fare = titanic_schema.feature("fare")
    assert fare.max is not None
    rows = pd.DataFrame(
        [{**titanic_schema.defaults(), "fare": fare.max + 100}, {**titanic_schema.defaults(), "fare": fare.max - 1}]
    )
    done = apply_edits(titanic_schema, rows, ["fare+=10"])
    assert done.outside.tolist() == [False, True]


def test_edits_apply_only_to_the_rows_the_filter_picks(
    titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame
) -> None:
    done = apply_edits(titanic_schema, titanic_rows, ["sex=female"], where="age < 30 and sex == male")
    picked = ((titanic_rows["age"] < 30) & (titanic_rows["sex"] == 1)).to_numpy()
    assert (done.matched == picked).all() and (done.changed == picked).all()
    assert (done.edited.loc[~picked, "sex"] == titanic_rows.loc[~picked, "sex"]).all()
    assert (done.edited["sex"] == 0).sum() == (titanic_rows["sex"] == 0).sum() + picked.sum()
    with pytest.raises(AnalysisError) as none:
        apply_edits(titanic_schema, titanic_rows, ["sex=female"], where="age > 1000")
    assert one_sentence(str(none.value)) and "matches none of the 1,309 rows" in str(none.value)


def test_rows_that_do_not_fit_are_refused_naming_the_row(
    titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame
) -> None:
    bad = titanic_rows.head(3).copy()
    bad["sex"] = bad["sex"].astype(object)
    bad.loc[2, "sex"] = "robot"
    with pytest.raises(AnalysisError) as refused:
        apply_edits(titanic_schema, bad, ["age+=1"])
    assert one_sentence(str(refused.value)) and str(refused.value).startswith("Row 3 does not fit the model: sex")
    with pytest.raises(AnalysisError, match="no column for fare"):
        apply_edits(titanic_schema, titanic_rows.drop(columns="fare"), ["age+=1"])
    with pytest.raises(AnalysisError, match="no edit"):
        apply_edits(titanic_schema, titanic_rows, [])


def test_numbers_made_too_large_are_refused(titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame) -> None:
    with pytest.raises(AnalysisError) as refused:
        apply_edits(titanic_schema, titanic_rows, ["fare*=1e308", "fare*=1e308"])
    assert one_sentence(str(refused.value)) and "too large" in str(refused.value)
    with pytest.raises(AnalysisError, match="too large"):
        apply_edits(titanic_schema, titanic_rows, ["sibsp*=1e300"])


# ---- the bulk what-if against the API ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def credit_result(server: EmbeddedServer, credit_schema: FeatureSchema, credit_rows: pd.DataFrame):
    """The issue's example on 1,000 applications through the API, with the tasks the server saw."""
    with ModelClient(
        server.predict_url, secret=server.secret, user_id="1", email="demo@example.com", poll_deadline_s=30
    ) as client:
        predict = BatchPredictor(client, CREDIT, DEMO_BUCKET, connection_key="test_edits")
        before = tasks_on(server)
        result = bulk_whatif(
            credit_schema, credit_rows, ["average_monthly_income*=1.1", "employment_status=Employed"], predict
        )
        return result, tasks_on(server) - before, predict.tasks_sent


def test_the_transitions_and_share_changed_equal_plain_predictions(
    credit_result, client: ModelClient, credit_schema: FeatureSchema, credit_rows: pd.DataFrame
) -> None:
    result, _, _ = credit_result
    edited = credit_rows.assign(
        average_monthly_income=credit_rows["average_monthly_income"] * 1.1, employment_status="Employed"
    )
    before = plain_answers(client, CREDIT, credit_schema, credit_rows)
    after = plain_answers(client, CREDIT, credit_schema, edited)
    labels = {0: "rejected", 1: "approved"}
    pairs = Counter(zip(before["prediction"].map(labels), after["prediction"].map(labels), strict=True))
    facts = result.facts
    assert facts["transitions"] == {a: {b: pairs.get((a, b), 0) for b in labels.values()} for a in labels.values()}
    changed = int((before["prediction"] != after["prediction"]).sum())
    assert changed > 0 and facts["class_changed"] == changed
    assert facts["share_changed"] == pytest.approx(changed / 1000)
    assert np.allclose(result.summary["score_before"], before["probability_1"])
    assert np.allclose(result.summary["score_after"], after["probability_1"])
    assert facts["mean_change"] == pytest.approx((after["probability_1"] - before["probability_1"]).mean())
    assert facts["to_score_class"] == pairs[("rejected", "approved")]
    assert facts["from_score_class"] == pairs[("approved", "rejected")]
    assert (result.summary["class_changed"].sum()) == changed


def test_original_and_edited_rows_go_as_one_task(credit_result) -> None:
    result, server_tasks, sent = credit_result
    assert server_tasks == 1 and sent == 1 and result.tasks == 1
    assert result.rows == 2000 and result.facts["rows_sent"] == 2000
    assert result.sent["version"].value_counts().to_dict() == {"before": 1000, "after": 1000}


def test_the_reading_numbers_and_interval(credit_result) -> None:
    result, _, _ = credit_result
    facts = result.facts
    up, down = facts["to_score_class"], facts["from_score_class"]
    assert result.reading.startswith(
        f"If average_monthly_income rose 10 % and employment_status were Employed, "
        f"{up:,} of 1,000 rows ({share_text(up / 1000)}) would go from rejected to "
        f"approved and {down:,} the other way; P(approved) rises"
    )
    assert "points on average (95 % interval" in result.reading
    assert facts["change_low"] < facts["mean_change"] < facts["change_high"]
    assert facts["change_low"] > 0, "more income and a job raise the approval of a logistic regression"
    assert facts["outside"] == 0 and facts["left_out"] == 0 and facts["where"] is None
    assert facts["edits"] == ["average_monthly_income*=1.1", "employment_status=Employed"]
    movers = movers_table(result)
    assert len(movers) == 10 and movers["row"].tolist() == facts["top_movers"]
    assert movers["change"].abs().is_monotonic_decreasing
    assert movers["change"].abs().iloc[0] == pytest.approx(result.summary["change"].abs().max())
    table = transition_frame(result)
    assert table.loc["rejected", "approved"] == up
    numbers = facts_table(result).set_index("measure")["value"]
    assert numbers["from rejected to approved"] == up and numbers["rows analysed"] == 1000
    assert {"employment_status_before", "employment_status_after", "average_monthly_income_before"} <= set(
        result.summary.columns
    )


def test_json_holds_every_row_before_and_after(credit_result) -> None:
    result, _, _ = credit_result
    data = result.to_json()
    assert data["analysis"] == "bulk" and len(data["summary"]) == 1000 and len(data["rows"]) == 2000
    assert data["facts"]["transitions"]["rejected"]["approved"] == result.facts["to_score_class"]
    first = data["summary"][0]
    assert {"row", "score_before", "score_after", "class_before", "class_after"} <= set(first)


def test_a_filter_with_labels_through_the_api(
    server: EmbeddedServer, client: ModelClient, titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame
) -> None:
    predict = BatchPredictor(client, TITANIC_PATH, DEMO_BUCKET, connection_key="test_edits_filter")
    result = bulk_whatif(
        titanic_schema, titanic_rows, ["sex:male->female"], predict, where="pclass == 3rd and age < 30"
    )
    picked = ((titanic_rows["pclass"] == 2) & (titanic_rows["age"] < 30)).to_numpy()
    edited = titanic_rows.copy()
    edited.loc[picked, "sex"] = 0
    changed = picked & (titanic_rows["sex"] == 1).to_numpy()
    assert result.facts["matched"] == picked.sum() and result.facts["inputs_changed"] == changed.sum()
    assert result.rows == len(titanic_rows) + changed.sum(), "a row the edits leave as it was is sent once"
    before = plain_answers(client, TITANIC_PATH, titanic_schema, titanic_rows)
    after = plain_answers(client, TITANIC_PATH, titanic_schema, edited)
    assert np.allclose(result.summary["score_after"], after["probability_1"])
    flipped = int((before["prediction"] != after["prediction"]).sum())
    assert result.facts["class_changed"] == flipped and flipped > 0
    assert (result.summary.loc[~changed, "change"] == 0).all()
    assert f"for the {picked.sum():,} rows where pclass == 3rd and age < 30" in result.reading
    assert result.facts["transitions"]["died"]["survived"] == result.facts["to_score_class"]


def test_a_large_bulk_is_split_and_rejoined_in_order(
    server: EmbeddedServer, client: ModelClient, credit_schema: FeatureSchema, credit_rows: pd.DataFrame, credit_result
) -> None:
    predict = BatchPredictor(client, CREDIT, DEMO_BUCKET, connection_key="test_edits_split", max_rows=600)
    before = tasks_on(server)
    result = bulk_whatif(
        credit_schema, credit_rows, ["average_monthly_income*=1.1", "employment_status=Employed"], predict
    )
    assert tasks_on(server) - before == 4 and predict.tasks_sent == 4, "2,000 rows at 600 a task"
    one_task = credit_result[0]
    assert result.facts["transitions"] == one_task.facts["transitions"]
    assert np.allclose(result.summary["score_after"], one_task.summary["score_after"])


def test_5000_rows_and_their_5000_edits_are_one_task(
    server: EmbeddedServer, client: ModelClient, credit_schema: FeatureSchema
) -> None:
    rows = form_rows(credit_schema, credit_frame(5000).drop(columns="approved"))
    predict = BatchPredictor(client, CREDIT, DEMO_BUCKET, connection_key="test_edits_5000")
    before = tasks_on(server)
    result = bulk_whatif(credit_schema, rows, ["order_amount*=0.9"], predict)
    assert result.rows == 10_000 and predict.tasks_sent == 1 and tasks_on(server) - before == 1


def test_rows_pushed_outside_can_be_left_out(
    titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame, server: EmbeddedServer
) -> None:
    predict = in_process_predict(ModelRegistry(server.store).load(DEMO_BUCKET, TITANIC_PATH))
    kept = bulk_whatif(titanic_schema, titanic_rows, ["age+=20"], predict)
    left = bulk_whatif(titanic_schema, titanic_rows, ["age+=20"], predict, drop_outside=True)
    outside = kept.facts["outside"]
    assert outside > 0 and left.facts["left_out"] == outside and left.facts["rows"] == 1309 - outside
    assert not left.summary["outside"].any() and kept.summary["outside"].sum() == outside
    assert len(left.facts["left_out_rows"]) == outside
    assert f"{outside:,} rows were pushed outside the training range of age and left out." in left.reading
    assert "(kept; they can be left out)" in kept.reading
    with pytest.raises(AnalysisError) as nothing_left:
        bulk_whatif(titanic_schema, titanic_rows, ["age+=1000"], predict, drop_outside=True)
    assert one_sentence(str(nothing_left.value))


def test_a_regression_has_no_transitions(server: EmbeddedServer) -> None:
    model = ModelRegistry(server.store).load(DEMO_BUCKET, DIABETES_PATH)
    schema = model.schema
    rows = pd.DataFrame([schema.defaults()] * 40)
    bmi = schema.feature("bmi")
    rows["bmi"] = np.linspace(bmi.min, bmi.max, 40)
    result = bulk_whatif(schema, rows, ["bmi*=1.05"], in_process_predict(model))
    assert "transitions" not in result.facts and "class_before" not in result.summary.columns
    assert result.reading.startswith("If bmi rose 5 %, ") and "on average (95 % interval" in result.reading
    assert result.facts["mean_change"] > 0


def test_the_bootstrap_is_seeded_and_paired() -> None:
    rng = np.random.default_rng(1)
    before = rng.random(500)
    after = before + 0.05 + rng.normal(0, 0.01, 500)
    low, high = paired_bootstrap(before, after, seed=3)
    assert (low, high) == paired_bootstrap(before, after, seed=3)
    assert low < (after - before).mean() < high and high - low < 0.01, "pairs: the rows' own spread cancels"
    assert paired_bootstrap(before, before + 0.1) == pytest.approx((0.1, 0.1))
    assert all(math.isnan(v) for v in paired_bootstrap(np.array([]), np.array([])))


def test_nothing_changes_when_the_edits_change_nothing(
    titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame, server: EmbeddedServer
) -> None:
    predict = in_process_predict(ModelRegistry(server.store).load(DEMO_BUCKET, TITANIC_PATH))
    result = bulk_whatif(titanic_schema, titanic_rows, ["age*=1"], predict)
    assert result.rows == 1309 and result.facts["class_changed"] == 0 and result.facts["top_movers"] == []
    assert "none of the 1,309 rows analysed would change" in result.reading


# ---- the filter parser ------------------------------------------------------------------------------------
def test_filters_read_numbers_labels_and_brackets(titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame) -> None:
    where = parse_where(titanic_schema, "(age < 30 or age >= 60) and sex == female and embarked != 'Queenstown'")
    assert isinstance(where.clause, AllOf)
    assert isinstance(where.clause.parts[0], AnyOf)
    assert where.clause.parts[1] == Condition("sex", "==", 0)
    rows = titanic_rows
    expected = ((rows["age"] < 30) | (rows["age"] >= 60)) & (rows["sex"] == 0) & (rows["embarked"] != 1)
    assert (where.mask(rows) == expected.to_numpy()).all()
    assert parse_where(titanic_schema, where.canonical(titanic_schema)).clause == where.clause
    assert parse_where(titanic_schema, where.canonical()).clause == where.clause, "codes read back the same"
    assert where.canonical(titanic_schema) == "(age < 30 or age >= 60) and sex == female and embarked != Queenstown"
    assert parse_where(titanic_schema, "pclass <= 2nd").mask(rows).sum() == (rows["pclass"] <= 1).sum()
    assert parse_where(titanic_schema, "sex = male").clause == Condition("sex", "==", 1)


def test_one_hot_filters_and_labels_with_spaces(credit_schema: FeatureSchema, credit_rows: pd.DataFrame) -> None:
    where = parse_where(credit_schema, "employment_status == self-employed or employment_status == Other")
    expected = credit_rows["employment_status"].isin(["Self-Employed", "Other"]).to_numpy()
    assert (where.mask(credit_rows) == expected).all()
    with pytest.raises(AnalysisError, match="compare it with == or != only"):
        parse_where(credit_schema, "employment_status < Employed")


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/whatif-pwned')",
        "age < 30; import os",
        "age < (lambda: 1)()",
        "exec('1')",
        "age <",
        "age < 30 and",
        "(age < 30",
        "age < 30)",
        "age ! 30",
        "age < 'thirty'",
        "sex == robot",
        "height > 3",
        "age < 30 sex == male",
        "((((((((((((((((((age < 30))))))))))))))))))",
    ],
)
def test_garbage_filters_are_refused_in_one_sentence(titanic_schema: FeatureSchema, text: str) -> None:
    with pytest.raises(AnalysisError) as refused:
        parse_where(titanic_schema, text)
    assert one_sentence(str(refused.value)), str(refused.value)
    assert not os.path.exists("/tmp/whatif-pwned")


FILTER_ALPHABET = st.sampled_from(
    list("ageszfr0123456789.<>=!() '\"_-;:[]{}")
    + [" and ", " or ", "age", "sex", "fare", "pclass", "male", "female", "1st", "__import__", "os", "eval", "\n"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(FILTER_ALPHABET, max_size=25).map("".join))
def test_any_text_is_read_or_refused_in_one_sentence_never_run(titanic_schema: FeatureSchema, text: str) -> None:
    marker = Path(tempfile.gettempdir()) / "whatif-filter-ran"
    try:
        where = parse_where(titanic_schema, text)
    except AnalysisError as refused:
        message = str(refused)
        assert "\n" not in message and message.endswith(".") and "Traceback" not in message
    else:
        rows = pd.DataFrame([titanic_schema.defaults()] * 3)
        assert where.mask(rows).dtype == bool
    assert not marker.exists()


CONDITIONS = st.one_of(
    st.tuples(st.just("age"), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), st.integers(0, 80).map(str)),
    st.tuples(st.just("fare"), st.sampled_from(["<", ">="]), st.floats(0, 300).map(lambda v: f"{v:.2f}")),
    st.tuples(st.just("sex"), st.sampled_from(["==", "!="]), st.sampled_from(["male", "female", "0", "1"])),
    st.tuples(
        st.just("embarked"),
        st.sampled_from(["==", "!="]),
        st.sampled_from(["Cherbourg", "queenstown", "'Southampton'", "2"]),
    ),
)


def _reference(rows: pd.DataFrame, feature: str, op: str, value: str) -> np.ndarray:
    codes = {"male": 1, "female": 0, "cherbourg": 0, "queenstown": 1, "southampton": 2}
    raw = value.strip("'").lower()
    number = float(codes[raw]) if raw in codes else float(raw)
    column = rows[feature].to_numpy(dtype=float)
    return {
        "<": column < number,
        "<=": column <= number,
        ">": column > number,
        ">=": column >= number,
        "==": column == number,
        "!=": column != number,
    }[op]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(CONDITIONS, min_size=1, max_size=4), st.lists(st.sampled_from(["and", "or"]), min_size=3, max_size=3))
def test_generated_filters_pick_the_rows_pandas_would(
    titanic_schema: FeatureSchema, titanic_rows: pd.DataFrame, conditions: list[tuple[str, str, str]], joins: list[str]
) -> None:
    text = f"{conditions[0][0]} {conditions[0][1]} {conditions[0][2]}"
    masks = [_reference(titanic_rows, *conditions[0])]
    ops = []
    for condition, join in zip(conditions[1:], joins, strict=False):
        text += f" {join} {condition[0]} {condition[1]} {condition[2]}"
        masks.append(_reference(titanic_rows, *condition))
        ops.append(join)
    # and binds tighter than or
    groups = [masks[0]]
    for mask, join in zip(masks[1:], ops, strict=True):
        if join == "and":
            groups[-1] = groups[-1] & mask
        else:
            groups.append(mask)
    expected = np.logical_or.reduce(groups)
    where = parse_where(titanic_schema, text)
    assert (where.mask(titanic_rows) == expected).all(), text
    again = parse_where(titanic_schema, where.canonical(titanic_schema))
    assert (again.mask(titanic_rows) == expected).all(), where.canonical(titanic_schema)
