"""Suites kept per connection and user, results per model version, and versions compared check by check:
the credit suite run on credit v1 and v2 (one task each), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.whatif.analysis.explore_support import one_sentence
from tests.whatif.analysis.test_checks import CREDIT_SUITE
from tests.whatif.analysis.test_runner import tasks_on
from whatif.analysis.checks import Suite, SuiteError, SuiteReport, run_suite
from whatif.analysis.runner import BatchPredictor
from whatif.client import ModelClient
from whatif.history import HistoryKey, HistoryUnavailable, RunStore
from whatif.server.embedded import EmbeddedServer
from whatif.server.samples import CREDIT_PATHS, DEMO_BUCKET
from whatif.suites import NEWLY_FAILS, SuiteStore

CONNECTION = "http://127.0.0.1:9/api/predict"
USER = "1"


# ---- databases -------------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of each kind (PostgreSQL: the tables dropped after each test)."""
    if request.param == "sqlite":
        made = sa.create_engine(f"sqlite:///{tmp_path}/history.sqlite")
        yield made
        made.dispose()
        return
    made = sa.create_engine(request.getfixturevalue("postgres_url"))
    yield made
    with made.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS whatif_suites, whatif_suite_results, whatif_runs"))
    made.dispose()


# ---- the credit suite on both versions -----------------------------------------------------------------
@pytest.fixture(scope="module")
def credit_reports(server: EmbeddedServer) -> dict[str, tuple[SuiteReport, int]]:
    """The credit suite run on v1 and v2 through the API: path -> (report, tasks the server saw)."""
    suite = Suite.from_dict(CREDIT_SUITE)
    out = {}
    with ModelClient(
        server.predict_url, secret=server.secret, user_id=USER, email="demo@example.com", poll_deadline_s=30
    ) as client:
        for path in CREDIT_PATHS:
            predict = BatchPredictor(client, path, DEMO_BUCKET, connection_key="test_suites")
            before = tasks_on(server)
            report = run_suite(client.schema(path, DEMO_BUCKET), suite, predict)
            out[path] = (report, tasks_on(server) - before)
    return out


def test_the_credit_suite_runs_in_one_task_on_each_version(credit_reports: dict[str, tuple[SuiteReport, int]]) -> None:
    for version, path in enumerate(CREDIT_PATHS, 1):
        report, tasks = credit_reports[path]
        assert tasks == 1 and report.tasks == 1, path
        assert (report.model, report.model_version) == ("Credit approval", version)
        assert report.rows_source == "suite" and report.total == 3
        results = {r.name: r for r in report.checks}
        assert results["rich applicant approved"].passed
        assert not results["order amount ignored"].passed, "the amount matters to both versions"
        assert results["order amount ignored"].failures == 3
    v1, v2 = (credit_reports[path][0] for path in CREDIT_PATHS)
    assert {r.name: r.passed for r in v1.checks}["income never hurts"], "a logistic regression is monotonic"
    income_v2 = {r.name: r for r in v2.checks}["income never hurts"]
    assert not income_v2.passed, "the boosted trees let a higher income lower the score for one applicant"
    assert income_v2.examples[0]["change"] < -0.01


def test_suites_are_saved_updated_listed_reloaded_and_deleted_per_connection_and_user(engine: sa.Engine) -> None:
    store = SuiteStore(engine)
    text = Suite.from_dict(CREDIT_SUITE).to_json()
    first = store.save_suite(CONNECTION, USER, text)
    assert first.name == "credit basics" and first.text == text and first.suite == Suite.from_dict(CREDIT_SUITE)
    assert first.created_at.tzinfo is not None
    edited = dict(CREDIT_SUITE, checks=CREDIT_SUITE["checks"][:2])
    second = store.save_suite(CONNECTION, USER, Suite.from_dict(edited))
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    assert len(second.suite.checks) == 2, "saving under the same name replaces the suite"
    store.save_suite(CONNECTION, USER, Suite.from_dict(dict(CREDIT_SUITE, name="another")))
    store.save_suite(CONNECTION, "2", text)
    store.save_suite("http://elsewhere/api/predict", USER, text)
    assert [s.name for s in store.suites(CONNECTION, USER)] == ["another", "credit basics"]
    assert [s.name for s in store.suites(CONNECTION, "2")] == ["credit basics"]
    reopened = SuiteStore(engine)  # another session, the tables already there
    assert reopened.suite(CONNECTION, USER, "credit basics") == store.suite(CONNECTION, USER, "credit basics")
    assert reopened.suite(CONNECTION, USER, "missing") is None
    assert store.delete_suite(CONNECTION, USER, "another") and not store.delete_suite(CONNECTION, USER, "another")
    assert [s.name for s in store.suites(CONNECTION, USER)] == ["credit basics"]
    assert [s.name for s in store.suites(CONNECTION, "2")] == ["credit basics"], "another user's suite stays"


def test_a_malformed_suite_is_not_saved(engine: sa.Engine) -> None:
    store = SuiteStore(engine)
    with pytest.raises(SuiteError) as refused:
        store.save_suite(CONNECTION, USER, '{"name": "x", "checks": [{"name": "a", "type": "nope"}]}')
    assert one_sentence(str(refused.value)) and store.suites(CONNECTION, USER) == []


def test_results_are_kept_per_version_newest_first_and_compared_check_by_check(
    engine: sa.Engine, credit_reports: dict[str, tuple[SuiteReport, int]]
) -> None:
    store = SuiteStore(engine)
    runs = RunStore(engine)  # the run history lives in the same database, untouched
    store.save_suite(CONNECTION, USER, Suite.from_dict(CREDIT_SUITE))
    keys = [HistoryKey(CONNECTION, USER, DEMO_BUCKET, path) for path in CREDIT_PATHS]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    old_v2 = store.save_result(
        keys[1], credit_reports[CREDIT_PATHS[0]][0].to_json(), model_version=2, created_at=start
    )  # an older run of v2 that passed more: the newest one counts
    saved = [
        store.save_result(key, credit_reports[path][0], created_at=start + timedelta(hours=i + 1))
        for i, (key, path) in enumerate(zip(keys, CREDIT_PATHS, strict=True))
    ]
    assert saved[0].model_version == 1 and saved[1].model_version == 2 and saved[0].model_name == "Credit approval"
    assert (saved[0].passed, saved[0].total) == (2, 3) and (saved[1].passed, saved[1].total) == (1, 3)
    assert "rows" not in saved[0].report or not isinstance(saved[0].report["rows"], list)

    results = store.results(CONNECTION, USER, "credit basics")
    assert [r.id for r in results] == [saved[1].id, saved[0].id, old_v2.id], "newest first"
    assert results[0].report == saved[1].report and results[0].created_at == saved[1].created_at
    assert [r.id for r in store.results(CONNECTION, USER, "credit basics", path=CREDIT_PATHS[1])] == [
        saved[1].id,
        old_v2.id,
    ]
    assert store.results(CONNECTION, "2", "credit basics") == []

    table = SuiteStore.compare(results)
    assert list(table.columns) == ["check", "type", "v1", "v2", "v2 change"]
    rows = table.set_index("check")
    assert rows.loc["income never hurts", "v1"] == "passed" and rows.loc["income never hurts", "v2"] == "failed"
    assert rows.loc["income never hurts", "v2 change"] == NEWLY_FAILS
    assert rows.loc["order amount ignored"].tolist() == ["invariant", "failed", "failed", ""]
    assert rows.loc["rich applicant approved"].tolist() == ["expect", "passed", "passed", ""]
    assert runs.count(HistoryKey(CONNECTION, USER, DEMO_BUCKET, CREDIT_PATHS[0])) == 0

    assert store.delete_suite(CONNECTION, USER, "credit basics")
    assert store.results(CONNECTION, USER, "credit basics") == [], "a deleted suite's results go with it"


def test_a_version_that_newly_passes_and_a_check_not_run_everywhere(engine: sa.Engine) -> None:
    store = SuiteStore(engine)

    def report(version: int, outcomes: dict[str, bool]) -> dict[str, object]:
        return {
            "suite": "s",
            "model": {"name": "M", "version": version},
            "checks": [{"name": n, "type": "expect", "passed": p} for n, p in outcomes.items()],
        }

    key = HistoryKey(CONNECTION, USER, DEMO_BUCKET, "1/4/model-groups/9/{}.json")
    for version, outcomes in ((3, {"a": True, "b": True}), (1, {"a": False}), (2, {"a": True, "b": False})):
        store.save_result(
            HistoryKey(key.connection, key.user_id, key.bucket, key.path.format(version)), report(version, outcomes)
        )
    table = store.compare(store.results(CONNECTION, USER, "s")).set_index("check")
    assert list(table.columns) == ["type", "v1", "v2", "v3", "v2 change", "v3 change"]
    assert table.loc["a"].tolist() == ["expect", "failed", "passed", "passed", "newly passes", ""]
    assert table.loc["b"].tolist() == ["expect", "", "failed", "passed", "", "newly passes"]
    assert list(store.compare([]).columns) == ["check", "type"]


def test_no_secret_of_the_connection_is_stored(engine: sa.Engine) -> None:
    store = SuiteStore(engine)
    secret_url = "https://analyst:hunter2@api.example/predict?token=abc123&x=1"
    store.save_suite(secret_url, USER, Suite.from_dict(CREDIT_SUITE))
    store.save_result(
        HistoryKey(secret_url, USER, DEMO_BUCKET, CREDIT_PATHS[0]),
        {"suite": "credit basics", "model": {"name": "M", "version": 1}, "checks": []},
    )
    with engine.connect() as conn:
        stored = [conn.execute(sa.text(f"SELECT * FROM {t}")).all() for t in ("whatif_suites", "whatif_suite_results")]
    assert "hunter2" not in str(stored) and "abc123" not in str(stored)
    assert [s.name for s in store.suites(secret_url, USER)] == ["credit basics"], "found again under the same URL"


def test_a_database_that_cannot_be_opened_says_so_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(HistoryUnavailable) as refused:
        SuiteStore.from_url(f"sqlite:///{tmp_path}/missing-folder/history.sqlite")
    assert one_sentence(str(refused.value)) and "missing-folder" in str(refused.value)


def test_a_file_that_is_not_a_database_says_so_in_one_sentence(tmp_path: Path) -> None:
    file = tmp_path / "history.sqlite"
    file.write_bytes(b"this is not a database, whatever its name says\n" * 100)
    with pytest.raises(HistoryUnavailable) as refused:
        SuiteStore.from_url(f"sqlite:///{file}")
    assert one_sentence(str(refused.value)) and "not a database" in str(refused.value)
