"""'Show code': the exact request of the current form as Python and as curl.

The secret is always the placeholder ``<API_SECRET>``: these texts are shown on the page and
copied around. The Python version is the seed's flow with its bugs fixed (a token that
expires, timeouts, every task state handled, a deadline, long poll where offered).
"""

from __future__ import annotations

import json
import pprint
import shlex
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

SECRET_PLACEHOLDER = "<API_SECRET>"


def _python_literal(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as Python source (True, not JSON's true), laid out one field a line."""
    return pprint.pformat([dict(r) for r in rows], sort_dicts=False, width=60)


def _query(path: str, bucket: str, return_only_prediction: bool) -> dict[str, str]:
    return {"path": path, "bucket": bucket, "return_only_prediction": str(return_only_prediction)}


def python_snippet(url: str, path: str, bucket: str, rows: Sequence[Mapping[str, Any]], user_id: str,
                   email: str, return_only_prediction: bool = False) -> str:
    """A runnable script: sign a token, submit the rows, poll the task until it is ready."""
    rows_text = _python_literal(rows)
    return f'''import time

import jwt  # PyJWT
import requests

API_URL = {url!r}
API_SECRET = "{SECRET_PLACEHOLDER}"  # ask your system administrator; keep it out of code and logs
USER_DATA = {{"userId": {user_id!r}, "email": {email!r}}}
PARAMS = {_query(path, bucket, return_only_prediction)!r}
ROWS = {rows_text}


def sign_token(lifetime_s: int = 300) -> str:
    now = int(time.time())
    return jwt.encode({{**USER_DATA, "iat": now, "exp": now + lifetime_s}}, API_SECRET, algorithm="HS256")


def predict(rows: list, deadline_s: float = 60) -> list:
    headers = {{"authorization": f"Bearer {{sign_token()}}"}}
    answer = requests.post(API_URL, params=PARAMS, json=rows, headers=headers, timeout=30)
    answer.raise_for_status()
    task_id = answer.json()["id"]
    deadline, pause = time.monotonic() + deadline_s, 0.1
    while True:
        # wait= asks servers that offer long poll to answer as soon as the task is ready
        answer = requests.get(f"{{API_URL}}/info/{{task_id}}", params={{"wait": 10}}, headers=headers, timeout=45)
        answer.raise_for_status()
        task = answer.json()
        state = task.get("state")
        if state == "SUCCESS":
            return task["result"]
        if state in ("FAILURE", "REVOKED", "REJECTED"):
            raise RuntimeError(f"task {{task_id}} ended in {{state}}: {{task.get('error') or task.get('result')}}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {{task_id}} is still {{state}} after {{deadline_s}} s")
        time.sleep(pause)  # PENDING, RECEIVED, STARTED, RETRY: not ready yet
        pause = min(pause * 2, 1.0)


if __name__ == "__main__":
    print(predict(ROWS))
'''


def client_snippet(url: str, path: str, bucket: str, rows: Sequence[Mapping[str, Any]], user_id: str,
                   email: str) -> str:
    """The same request through this project's client."""
    return f'''import os

from whatif.client import ModelClient

client = ModelClient({url!r}, secret=os.environ["WHATIF_API_SECRET"], user_id={user_id!r}, email={email!r})
result = client.predict({_python_literal(rows)}, path={path!r}, bucket={bucket!r})
print(result.predictions)
'''


def curl_snippet(url: str, path: str, bucket: str, rows: Sequence[Mapping[str, Any]], user_id: str,
                 email: str, return_only_prediction: bool = False) -> str:
    """Two curl calls (submit, then poll) with a token signed by a one-line Python command."""
    mint = ("import jwt, time; n = int(time.time()); "
            f"print(jwt.encode({{'userId': {user_id!r}, 'email': {email!r}, 'iat': n, 'exp': n + 300}}, "
            f"'{SECRET_PLACEHOLDER}', algorithm='HS256'))")
    # double quotes read best; fall back to shell quoting when a value holds a character the shell expands
    quoted = f'"{mint}"' if not set(mint) & set('"$`\\!') else shlex.quote(mint)
    submit_url = f"{url}?{urlencode(_query(path, bucket, return_only_prediction))}"
    return f'''TOKEN=$(python3 -c {quoted})

# 1. start the task: the answer is {{"id": "<task id>", "state": "STARTED"}}
curl -sS -X POST {shlex.quote(submit_url)} \\
  -H "authorization: Bearer $TOKEN" \\
  -H 'content-type: application/json;charset=UTF-8' \\
  -d {shlex.quote(json.dumps(list(rows)))}

# 2. poll it until "state" is SUCCESS (wait= answers as soon as it is ready, where supported)
curl -sS {shlex.quote(url + "/info/<task id>?wait=10")} -H "authorization: Bearer $TOKEN"
'''
