"""Named edit sets kept per connection and user on SQLite and PostgreSQL, and re-run on another model version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.whatif.analysis.explore_support import one_sentence
from whatif.analysis import AnalysisError
from whatif.analysis.edits import bulk_whatif
from whatif.analysis.runner import BatchPredictor
from whatif.client import ModelClient
from whatif.edit_sets import EditSetError, EditSetStore
from whatif.history import HistoryUnavailable
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET, credit_sample_rows

CONNECTION = "http://127.0.0.1:9/api/predict"
USER = "1"
RAISE = ["average_monthly_income*=1.1", "employment_status=Employed"]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of each kind (PostgreSQL: the table dropped after each test)."""
    if request.param == "sqlite":
        made = sa.create_engine(f"sqlite:///{tmp_path}/history.sqlite")
        yield made
        made.dispose()
        return
    made = sa.create_engine(request.getfixturevalue("postgres_url"))
    yield made
    with made.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS whatif_edit_sets"))
    made.dispose()


def test_edit_sets_are_saved_replaced_listed_reloaded_and_deleted_per_connection_and_user(engine: sa.Engine) -> None:
    store = EditSetStore(engine)
    first = store.save(CONNECTION, USER, "income up", RAISE, where="order_amount > 500")
    assert (first.name, first.edits, first.where) == ("income up", tuple(RAISE), "order_amount > 500")
    assert first.created_at.tzinfo is not None
    second = store.save(CONNECTION, USER, "income up", ["average_monthly_income*=1.2"])
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    assert second.edits == ("average_monthly_income*=1.2",) and second.where == "", "the same name is replaced"
    store.save(CONNECTION, USER, "another", ["clip(order_amount)"])
    store.save(CONNECTION, "2", "income up", RAISE)
    store.save("http://elsewhere/api/predict", USER, "income up", RAISE)
    assert store.names(CONNECTION, USER) == ["another", "income up"]
    assert store.names(CONNECTION, "2") == ["income up"]
    reopened = EditSetStore(engine)  # another session, the table already there
    assert reopened.get(CONNECTION, USER, "income up") == store.get(CONNECTION, USER, "income up")
    assert reopened.get(CONNECTION, USER, "missing") is None
    assert store.delete(CONNECTION, USER, "another") and not store.delete(CONNECTION, USER, "another")
    assert store.names(CONNECTION, USER) == ["income up"]
    assert store.names(CONNECTION, "2") == ["income up"], "another user's set stays"


def test_texts_are_kept_as_written(engine: sa.Engine) -> None:
    store = EditSetStore(engine)
    texts = ["sex:male->female,female->male", "embarked = 'Queenstown'", "fare*=0.5"]
    saved = store.save(CONNECTION, USER, "  swap   sexes ", [*texts, "  "], where="age < 30 and sex == 'male'")
    assert saved.name == "swap sexes" and saved.edits == tuple(texts)
    assert store.get(CONNECTION, USER, "swap sexes").where == "age < 30 and sex == 'male'"  # type: ignore[union-attr]


def test_credentials_in_the_connection_are_not_stored(engine: sa.Engine) -> None:
    store = EditSetStore(engine)
    store.save("https://bob:hunter2@api.example.com/api/predict", USER, "x", RAISE)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT connection FROM whatif_edit_sets")).scalar_one()
    assert "hunter2" not in stored
    assert store.names("https://api.example.com/api/predict", USER) == ["x"]


@pytest.mark.parametrize(
    ("name", "edits", "says"),
    [
        ("", RAISE, "needs a name"),
        ("x" * 300, RAISE, "characters long"),
        ("empty", ["", "  "], "at least one edit"),
    ],
)
def test_an_edit_set_that_cannot_be_kept_is_refused(engine: sa.Engine, name: str, edits: list[str], says: str) -> None:
    store = EditSetStore(engine)
    with pytest.raises(EditSetError) as refused:
        store.save(CONNECTION, USER, name, edits)
    assert one_sentence(str(refused.value)) and says in str(refused.value)
    assert store.names(CONNECTION, USER) == []


def test_with_a_schema_the_edits_must_read(engine: sa.Engine, client: ModelClient) -> None:
    store = EditSetStore(engine)
    schema = client.schema(CREDIT_PATHS[0], DEMO_BUCKET)
    with pytest.raises(AnalysisError, match="not a feature"):
        store.save(CONNECTION, USER, "bad", ["income*=1.1"], schema=schema)
    with pytest.raises(AnalysisError, match="The filter"):
        store.save(CONNECTION, USER, "bad", RAISE, where="order_amount <", schema=schema)
    assert store.names(CONNECTION, USER) == []
    assert store.save(CONNECTION, USER, "good", RAISE, where="order_amount > 500", schema=schema).edits == tuple(RAISE)


def test_a_saved_set_runs_again_on_another_model_version(engine: sa.Engine, client: ModelClient) -> None:
    store = EditSetStore(engine)
    store.save(CONNECTION, USER, "raise", RAISE, where="order_amount > 500")
    saved = store.get(CONNECTION, USER, "raise")
    assert saved is not None
    results = []
    for path in CREDIT_PATHS:
        schema = client.schema(path, DEMO_BUCKET)
        rows = pd.DataFrame(
            [schema.from_row(r) for r in credit_sample_rows().drop(columns="approved").to_dict("records")]
        )
        predict = BatchPredictor(client, path, DEMO_BUCKET, connection_key="test_edit_sets")
        results.append(bulk_whatif(schema, rows, saved.edits, predict, where=saved.where))
        assert predict.tasks_sent == 1
    v1, v2 = results
    assert v1.facts["edits"] == v2.facts["edits"] == list(RAISE)
    assert v1.facts["matched"] == v2.facts["matched"] > 0
    assert v1.facts["mean_change"] > 0 and v2.facts["mean_change"] > 0


def test_an_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-folder"
    folder.write_text("a file where a folder should be")
    with pytest.raises(HistoryUnavailable) as unavailable:
        EditSetStore(sa.create_engine(f"sqlite:///{folder}/history.sqlite"))
    assert "\n" not in str(unavailable.value)
