"""'Show code': the exact request of the current form as Python and as curl.

The secret is always the placeholder ``<API_SECRET>``: these texts are shown on the page and
copied around. Each runs as pasted once the secret is set (tests/whatif/test_snippets_run.py runs
them). The Python version is the seed's flow with its bugs fixed (a token that expires, timeouts,
every task state handled, a deadline, long poll where offered); the curl version needs only bash,
curl and python3's standard library.
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


def python_snippet(
    url: str,
    path: str,
    bucket: str,
    rows: Sequence[Mapping[str, Any]],
    user_id: str,
    email: str,
    return_only_prediction: bool = False,
) -> str:
    """A runnable script: sign a token, submit the rows, poll the task until it is ready."""
    rows_text = _python_literal(rows)
    return f'''# needs requests and PyJWT: pip install requests PyJWT
import time

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


def client_snippet(
    url: str, path: str, bucket: str, rows: Sequence[Mapping[str, Any]], user_id: str, email: str
) -> str:
    """The same request through this project's client; its comment says how to install the client."""
    return f"""# Needs this project's whatif package, installed from the repository of this app:
#   pip install /path/to/this/repository    (the folder with pyproject.toml; -e to follow its changes)
# and the API secret in the environment: export WHATIF_API_SECRET='{SECRET_PLACEHOLDER}'
import os

from whatif.client import ModelClient

client = ModelClient({url!r}, secret=os.environ["WHATIF_API_SECRET"], user_id={user_id!r}, email={email!r})
result = client.predict({_python_literal(rows)}, path={path!r}, bucket={bucket!r})
print(result.predictions.to_string(index=False))  # every column: inputs, prediction, probabilities
"""


# Signs an HS256 JWT with python3's standard library alone (no PyJWT to install). Every value comes
# from the environment, so nothing is pasted into the program; it holds no single quote, so the
# shell's single quotes keep it as written.
_SIGN_TOKEN = """
import base64, hashlib, hmac, json, os, time
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
now = int(time.time())
claims = {"userId": os.environ["USER_ID"], "email": os.environ["USER_EMAIL"], "iat": now, "exp": now + 300}
signed = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
signature = hmac.new(os.environ["API_SECRET"].encode(), signed.encode(), hashlib.sha256).digest()
print(signed + "." + b64(signature))
"""

# Prints one field of the JSON object on stdin; fails (and the snippet prints nothing) for anything else.
_JSON_FIELD = 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))'


def curl_snippet(
    url: str,
    path: str,
    bucket: str,
    rows: Sequence[Mapping[str, Any]],
    user_id: str,
    email: str,
    return_only_prediction: bool = False,
    deadline_s: int = 60,
) -> str:
    """A bash script that runs as pasted once the secret is set: sign a token with python3, submit the
    rows with curl, then poll the task until it succeeds or fails, for at most ``deadline_s``."""
    # urlencode leaves only letters, digits, _.-~%+=& : nothing the shell expands inside double quotes
    query = urlencode(_query(path, bucket, return_only_prediction))
    field = f"python3 -c {shlex.quote(_JSON_FIELD)}"
    return f"""# bash, curl and python3 (its standard library only). The API secret: ask your system administrator.
API_SECRET='{SECRET_PLACEHOLDER}'
API_URL={shlex.quote(url)}
USER_ID={shlex.quote(user_id)}
USER_EMAIL={shlex.quote(email)}

# a token (an HS256 JWT with userId, email, iat and exp: valid for 5 minutes) signed with the secret
TOKEN=$(API_SECRET="$API_SECRET" USER_ID="$USER_ID" USER_EMAIL="$USER_EMAIL" python3 -c '{_SIGN_TOKEN}')

# 1. start the task: the answer is {{"id": "<task id>", "state": "STARTED"}}, or {{"detail": "<why not>", ...}}
ANSWER=$(curl -sS --max-time 30 -X POST "$API_URL?{query}" \\
  -H "authorization: Bearer $TOKEN" \\
  -H 'content-type: application/json;charset=UTF-8' \\
  -d {shlex.quote(json.dumps(list(rows)))})
echo "$ANSWER"
TASK_ID=$(printf '%s' "$ANSWER" | {field} id 2>/dev/null)

# 2. poll it until "state" is SUCCESS or FAILURE, for at most {deadline_s} s (wait= answers once it is ready)
DEADLINE=$((SECONDS + {deadline_s}))
while [ -n "$TASK_ID" ]; do
  TASK=$(curl -sS --max-time 45 "$API_URL/info/$TASK_ID?wait=10" -H "authorization: Bearer $TOKEN")
  STATE=$(printf '%s' "$TASK" | {field} state 2>/dev/null)
  case "$STATE" in
    SUCCESS|FAILURE|REVOKED|REJECTED|"") echo "$TASK"; break ;;  # finished, or an error answer
  esac
  if [ "$SECONDS" -ge "$DEADLINE" ]; then echo "task $TASK_ID is still $STATE after {deadline_s} s"; break; fi
  sleep 1
done
"""
