"""Two app replicas for a team: one PostgreSQL history, one Celery-backed API, in a real browser.

Real processes, as README "Running for a team" starts them: a Celery worker and an API
process (``--backend celery``) on the machine's Redis under a key prefix of this test's own,
and two ``streamlit run app.py`` replicas on two ports whose secrets file names the same
PostgreSQL database (created for this test run and dropped after it). A run made on replica A
appears on replica B after a reload, and a share link made on A opens on B.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import own_redis_prefix
from tests.e2e.conftest import StreamlitApp, env_profile, start_app
from tests.e2e.test_browser import ENV_PROFILE, open_app, predict, runs_table, shoot, type_number, wait_for_run
from whatif.server.local_cluster import Process, start_api, start_worker
from whatif.server.registry import ModelRegistry
from whatif.server.samples import ensure_sample_models

SECRET = "replicas-test-secret-0123456789abcdef"
PREDICT = "/api/v1/proxy/pipeline/model/predict"


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[tuple[StreamlitApp, StreamlitApp]]:
    """Worker, API process and two app replicas; all stopped afterwards."""
    root = tmp_path_factory.mktemp("replicas")
    store = root / "store"
    ensure_sample_models(ModelRegistry(store))
    with own_redis_prefix() as (broker, prefix):
        yield from _started(root, store, broker, prefix, postgres_url)


def _started(
    root: Path, store: Path, broker: str, prefix: str, postgres_url: str
) -> Iterator[tuple[StreamlitApp, StreamlitApp]]:
    env = {
        "WHATIF_STORE": str(store),
        "WHATIF_BROKER_URL": broker,
        "WHATIF_KEY_PREFIX": prefix,
        "WHATIF_API_SECRET": SECRET,
        "WHATIF_BUILD_SAMPLES": "false",
    }
    secrets_file = root / "secrets.toml"
    secrets_file.write_text(f'[connections.whatif_db]\nurl = "{postgres_url}"\n')
    started: list[Process] = []
    apps: list[StreamlitApp] = []
    try:
        started.append(start_worker(env, root, name="worker"))
        api = start_api(env, root, name="api")
        started.append(api)
        for name in ("replica-a", "replica-b"):
            apps.append(
                start_app(
                    name,
                    root,
                    env_profile(api.origin + PREDICT, SECRET),
                    extra_args=("--secrets.files", str(secrets_file)),
                )
            )
        yield apps[0], apps[1]
    finally:
        for app in apps:
            app.stop()
        for process in reversed(started):
            process.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_a_run_made_on_one_replica_shows_on_the_other_and_its_share_link_opens_there(
    page: Page, replicas: tuple[StreamlitApp, StreamlitApp], screenshots: Path
) -> None:
    replica_a, replica_b = replicas
    open_app(page, replica_a)
    expect(page.get_by_role("combobox", name="API")).to_have_value(ENV_PROFILE)
    type_number(page, "age", "63", "63")
    type_number(page, "fare", "77.5", "77.5")
    predict(page, runs_after=1)
    link = page.url
    run_on_a = runs_table(page).locator("tbody tr").nth(0).inner_text()
    score = re.findall(r"0\.\d+", run_on_a)
    assert score, run_on_a
    assert "age=63" in link and "fare=77.5" in link
    shoot(page, screenshots, "40-replica-a-run")

    open_app(page, replica_b)
    expect(page.get_by_role("combobox", name="API")).to_have_value(ENV_PROFILE)
    # replica B's session is another browser session: the run is listed as another session's
    only_mine = page.get_by_role("checkbox", name=re.compile("^Only my runs"))
    if only_mine.count():
        only_mine.uncheck()
        wait_for_run(page)
    expect(runs_table(page)).to_have_attribute("aria-rowcount", "2")
    expect(runs_table(page).locator("tbody tr").nth(0)).to_contain_text(score[0])
    shoot(page, screenshots, "41-replica-b-sees-the-run")

    open_app(page, replica_b, link.removeprefix(replica_a.url))
    expect(page.get_by_role("textbox", name="age")).to_have_value("63")
    expect(page.get_by_role("textbox", name="fare")).to_have_value("77.5")
    expect(page.get_by_role("alert")).to_have_count(0)
    assert "Traceback" not in replica_a.log() + replica_b.log()
