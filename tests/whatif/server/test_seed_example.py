"""The seed page's "Full code example", run as written against the reference server.

PROTOCOL.md section 2: the server is a drop-in for the documented client, so the example
with only its constants filled in must print a successful result. The example is embedded
verbatim below (so the test runs anywhere), and checked against the seed page when the
page is at hand, so the copy cannot drift.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import SEED_TITANIC_ROW
from whatif.server.embedded import EmbeddedServer, start_server
from whatif.server.registry import ModelRegistry, predict_frame
from whatif.server.samples import DEMO_BUCKET, DEMO_EMAIL, DEMO_USER, TITANIC_PATH

SEED_PAGE = Path(os.environ.get("WHATIF_SEED_PAGE", "/work/shared/seed/automodel-apis.txt"))
RESULT_PREFIX = "Prediction result: "
# Wraps requests.get to report each state the documented poll loop sees, then runs the
# example unchanged as __main__.
POLL_RECORDER = """
import runpy, sys
import requests

_get = requests.get

def recording_get(*args, **kwargs):
    response = _get(*args, **kwargs)
    print("poll state:", response.json().get("state"), file=sys.stderr, flush=True)
    return response

requests.get = recording_get
runpy.run_path(sys.argv[1], run_name="__main__")
"""

# The page's "Full code example", character for character (its two trailing blanks as \x20).
SEED_FULL_EXAMPLE = """\
import jwt
import json
import requests
from time import sleep

API_BASE_URL = 'https://api.app.datrics.ai/api/v1/proxy/pipeline/model/predict'

API_SECRET = ""
USER_DATA = {
    "userId": "",
    "email": ""
}

API_RETURN_ONLY_PREDICTIONS=False
MODEL_PATH = ""
MODEL_BUCKET = ""
MODEL_REQUEST_DATA = [
    {
        "pclass": 0,
        "sex": 0,
        "age": 29,
        "sibsp": 0,
        "parch": 0,
        "fare": 211.3375,
        "embarked": 2
    }
]

def main():
    # we generate access token to access API
    token = generate_access_token(USER_DATA, API_SECRET)

    # we start the preiction task and getting back it's ID
    task_id = create_prediction_task(MODEL_REQUEST_DATA, token)
\x20\x20\x20\x20
    # we poll server with this ID to get the prediction result
    if task_id is not None:
        result = poll_task_for_result(task_id, token)
        print(f"Prediction result: {result}")
    else:
        print("Cannot authenticate")

def generate_access_token(user_data, secret):
    return jwt.encode(user_data, secret, algorithm="HS256")

def create_prediction_task(data, token):
    r = requests.post(
        # this URL you can get in datrics in model deployment info
        f'{API_BASE_URL}?path={MODEL_PATH}&bucket={MODEL_BUCKET}&return_only_prediction={API_RETURN_ONLY_PREDICTIONS}',\x20
        data=json.dumps(data),
        headers={
            'authorization': f'Bearer {token}',
            'content-type': 'application/json;charset=UTF-8',
        }
    )
    return r.json().get('id')

def poll_task_for_result(task_id, token):
    while True:
        r = requests.get(
            f'{API_BASE_URL}/info/{task_id}',
            headers={
                'authorization': f'Bearer {token}'
            }
        )
        result = r.json()
        if result.get('state') == 'SUCCESS':
            return result
        elif result.get('state') == 'STARTED':
            sleep(1)
        else:
            return {
                'error': result
            }

if __name__ == '__main__':
    main()
"""


def seed_example() -> str:
    """The page's full code example (the embedded copy, proven equal to the page below)."""
    return SEED_FULL_EXAMPLE


def example_on_the_seed_page() -> str:
    """The page's full code example: from its first import after the heading to the end."""
    text = SEED_PAGE.read_text(encoding="utf-8")
    after_heading = text[text.index("Full code example") :]
    return after_heading[after_heading.index("import jwt") :]


def filled_in(code: str, *, url: str, secret: str, user_id: str = DEMO_USER) -> str:
    """The example with its empty constants filled in, and nothing else changed."""
    constants = {
        "API_BASE_URL = 'https://api.app.datrics.ai/api/v1/proxy/pipeline/model/predict'\n": f"API_BASE_URL = '{url}'\n",  # noqa: E501
        'API_SECRET = ""\n': f"API_SECRET = {json.dumps(secret)}\n",
        '    "userId": "",\n': f'    "userId": {json.dumps(user_id)},\n',
        '    "email": ""\n': f'    "email": {json.dumps(DEMO_EMAIL)}\n',
        'MODEL_PATH = ""\n': f"MODEL_PATH = {json.dumps(TITANIC_PATH)}\n",
        'MODEL_BUCKET = ""\n': f"MODEL_BUCKET = {json.dumps(DEMO_BUCKET)}\n",
    }
    for blank, value in constants.items():
        assert code.count(blank) == 1, f"the seed example no longer has the line {blank!r}"
        code = code.replace(blank, value)
    return code


def run_example(code: str, tmp_path: Path, record_polls: bool = False) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "seed_example.py"
    script.write_text(code)
    argv = [sys.executable, str(script)]
    if record_polls:
        recorder = tmp_path / "record_polls.py"
        recorder.write_text(POLL_RECORDER)
        argv = [sys.executable, str(recorder), str(script)]
    # loopback must not go through a proxy some CI machine has configured
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=False)


def printed_result(stdout: str) -> dict[str, Any]:
    """The dict the example printed after ``Prediction result:``."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert len(lines) == 1, f"expected one 'Prediction result:' line in:\n{stdout}"
    result: dict[str, Any] = ast.literal_eval(lines[0][len(RESULT_PREFIX) :])
    return result


@pytest.fixture(scope="module")
def expected_titanic(server: EmbeddedServer, model_store: Path) -> dict[str, Any]:
    """What the Titanic model predicts for the seed row, computed in this process."""
    model = ModelRegistry(model_store).load(DEMO_BUCKET, TITANIC_PATH)
    record: dict[str, Any] = predict_frame(model, pd.DataFrame([SEED_TITANIC_ROW])).to_dict("records")[0]
    return record


@pytest.fixture(scope="module")
def slow_server(server: EmbeddedServer, model_store: Path) -> Iterator[EmbeddedServer]:
    """Tasks take 0.3 s, so the documented loop's first poll sees STARTED."""
    running = start_server(model_store, build_samples=False, task_delay_s=0.3)
    yield running
    running.stop()


@pytest.mark.skipif(not SEED_PAGE.is_file(), reason=f"the seed page {SEED_PAGE} is not here")
def test_embedded_example_is_the_seed_pages_text() -> None:
    assert seed_example() == example_on_the_seed_page()


def test_seed_page_example_is_the_documented_client() -> None:
    code = seed_example()
    assert "def poll_task_for_result(task_id, token):" in code
    assert code.rstrip().endswith("main()")
    ast.parse(code)


def test_only_the_constants_are_filled_in() -> None:
    code = seed_example()
    filled = filled_in(code, url="http://127.0.0.1:1/x", secret="s")
    changed = [(a, b) for a, b in zip(code.splitlines(), filled.splitlines(), strict=True) if a != b]
    assert [a.split("=")[0].split(":")[0].strip() for a, _ in changed] == [
        "API_BASE_URL",
        "API_SECRET",
        '"userId"',
        '"email"',
        "MODEL_PATH",
        "MODEL_BUCKET",
    ]


def test_seed_example_prints_a_successful_prediction(
    server: EmbeddedServer, tmp_path: Path, expected_titanic: dict[str, Any]
) -> None:
    done = run_example(filled_in(seed_example(), url=server.predict_url, secret=server.secret), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Prediction result:" in done.stdout and "'state': 'SUCCESS'" in done.stdout, done.stdout
    answer = printed_result(done.stdout)
    assert answer["state"] == "SUCCESS"
    (record,) = answer["result"]
    assert {k: record[k] for k in SEED_TITANIC_ROW} == SEED_TITANIC_ROW, "the inputs come back with the result"
    assert record["prediction"] == expected_titanic["prediction"]
    assert record["probability_0"] + record["probability_1"] == pytest.approx(1, abs=1e-5)
    assert record["probability_1"] == pytest.approx(expected_titanic["probability_1"])


def test_seed_example_waits_through_started_then_succeeds(slow_server: EmbeddedServer, tmp_path: Path) -> None:
    code = filled_in(seed_example(), url=slow_server.predict_url, secret=slow_server.secret)
    done = run_example(code, tmp_path, record_polls=True)
    assert done.returncode == 0, done.stderr
    states = [line.split(":", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("poll state:")]
    assert states[0] == "STARTED" and states[-1] == "SUCCESS", states
    assert set(states) == {"STARTED", "SUCCESS"}, "the documented loop treats any other state as an error"
    answer = printed_result(done.stdout)
    assert answer["state"] == "SUCCESS" and "error" not in answer
    assert answer["result"][0]["prediction"] in (0, 1)


def test_seed_example_with_a_wrong_secret_says_it_cannot_authenticate(server: EmbeddedServer, tmp_path: Path) -> None:
    """The documented client reads ``r.json().get('id')`` even on errors: they must be JSON."""
    code = filled_in(seed_example(), url=server.predict_url, secret="not-the-" + server.secret)
    done = run_example(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Cannot authenticate"


def test_seed_example_for_another_users_model_reports_no_task(server: EmbeddedServer, tmp_path: Path) -> None:
    code = filled_in(seed_example(), url=server.predict_url, secret=server.secret, user_id="2")
    done = run_example(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Cannot authenticate"
