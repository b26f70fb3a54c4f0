"""Run DiCE (dice-ml 0.12) on scenarios against the prediction API; run INSIDE bench/.venv-dice only.

bench/counterfactuals.py starts it as ``bench/.venv-dice/bin/python bench/_dice_worker.py JOB OUT``.
JOB is a JSON file: the server (predict URL, secret, user, email, model path, bucket), the
training data (a CSV path, its continuous and categorical columns, the outcome), the method,
how many alternatives, the features DiCE may vary, the one-hot groups, the class to answer for
rows the API would refuse, the scenarios (request rows) and a per-scenario time limit.
OUT gets one JSON line per scenario: alternatives (request rows, as DiCE returned them), predict
calls, tasks, rows sent, rows refused, wall time, error.

DiCE's model is ``ApiModel``: ``predict_proba(df)`` POSTs the rows as ONE task and polls the
info route until SUCCESS (long poll ``wait=``, as our client does), signing each request with an
HS256 JWT (PyJWT). A row the API would refuse (a one-hot group with more than one 1) is not sent:
it is answered as the scenario's class with probability 1, so DiCE never keeps it, and counted.

Wall time per scenario is measured HERE, around ``generate_counterfactuals`` only: the worker's
start-up, imports, reading the data and building DiCE's explainer are not counted. Only this
file's standard library, pandas, numpy, requests, jwt and dice_ml are used: the project's own
code needs pandas 3, DiCE pandas 2.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import sys
import time
import warnings
from typing import Any

import jwt
import numpy as np
import pandas as pd
import requests

REQUEST_TIMEOUT_S = 60.0
LONG_POLL_S = 10.0
TASK_DEADLINE_S = 600.0


class ScenarioTimeout(Exception):
    """A scenario took longer than its time limit."""


class ApiModel:
    """What DiCE's sklearn backend calls (``predict_proba``, ``predict``), answered by the prediction API."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.url = job["predict_url"]
        self.secret = job["secret"]
        self.claims = {"userId": str(job["user"]), "email": job["email"]}
        self.params = {"path": job["path"], "bucket": job["bucket"], "return_only_prediction": "True"}
        self.columns: list[str] = list(job["columns"])
        self.integer_columns = set(job["integer_columns"])
        self.one_hot_groups: list[list[str]] = [list(g) for g in job["one_hot_groups"]]
        self.classes: list[int] = [int(c) for c in job["classes"]]
        self.refused_class = int(job["refused_class"])
        self.session = requests.Session()
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.tasks = 0
        self.rows = 0
        self.refused = 0

    def _token(self) -> str:
        now = int(time.time())
        return jwt.encode({**self.claims, "iat": now, "exp": now + 3600}, self.secret, algorithm="HS256")

    def request_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """DiCE's rows as the API takes them: the request columns, categories (strings to DiCE) as numbers,
        integer columns whole."""
        out = pd.DataFrame(index=range(len(frame)))
        for column in self.columns:
            values = pd.to_numeric(pd.Series(np.asarray(frame[column], dtype=object)), errors="coerce").astype(float)
            out[column] = values.round().astype("int64") if column in self.integer_columns else values
        return out

    def accepted(self, rows: pd.DataFrame) -> np.ndarray:
        """True for rows the API accepts as far as DiCE can break them: at most one 1 per one-hot group."""
        ok = np.ones(len(rows), dtype=bool)
        for group in self.one_hot_groups:
            ok &= rows[group].sum(axis=1).to_numpy() <= 1
        return ok

    def predict_proba(self, frame: Any) -> np.ndarray:
        self.calls += 1
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(np.asarray(frame), columns=self.columns)
        rows = self.request_rows(frame)
        ok = self.accepted(rows)
        out = np.zeros((len(rows), len(self.classes)))
        out[:, self.classes.index(self.refused_class)] = 1.0
        self.refused += int((~ok).sum())
        if ok.any():
            out[ok] = self._ask(rows.loc[ok])
        return out

    def predict(self, frame: Any) -> np.ndarray:
        return np.asarray(self.classes)[np.argmax(self.predict_proba(frame), axis=1)]

    def _ask(self, rows: pd.DataFrame) -> np.ndarray:
        """One task: submit the rows, poll until SUCCESS, the class probabilities in row order."""
        records = [{c: (v.item() if hasattr(v, "item") else v) for c, v in r.items()} for r in rows.to_dict("records")]
        headers = {"authorization": f"Bearer {self._token()}", "content-type": "application/json;charset=UTF-8"}
        answer = self.session.post(
            self.url, params=self.params, data=json.dumps(records), headers=headers, timeout=REQUEST_TIMEOUT_S
        )
        answer.raise_for_status()
        task_id = answer.json()["id"]
        self.tasks += 1
        self.rows += len(records)
        deadline = time.monotonic() + TASK_DEADLINE_S
        while True:
            info = self.session.get(
                f"{self.url}/info/{task_id}",
                params={"wait": str(LONG_POLL_S)},
                headers={"authorization": f"Bearer {self._token()}"},
                timeout=REQUEST_TIMEOUT_S + LONG_POLL_S,
            ).json()
            if info.get("state") == "SUCCESS":
                break
            if info.get("state") != "STARTED" or time.monotonic() > deadline:
                raise RuntimeError(f"task {task_id} ended in {info.get('state')}: {str(info)[:300]}")
        result = pd.DataFrame.from_records(info["result"])
        return result[[f"probability_{c}" for c in self.classes]].to_numpy(dtype=float)


def _alarm(_signum: int, _frame: Any) -> None:
    raise ScenarioTimeout


def main(job_path: str, out_path: str) -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import dice_ml  # here: its import pulls scikit-learn, and is not timed anyway

    job = json.loads(open(job_path).read())
    train = pd.read_csv(job["train_csv"])
    data = dice_ml.Data(dataframe=train, continuous_features=job["continuous"], outcome_name=job["outcome"])
    model = ApiModel(job)
    dice_model = dice_ml.Model(model=model, backend="sklearn", model_type="classifier")
    signal.signal(signal.SIGALRM, _alarm)
    with open(out_path, "w") as out:
        for index, scenario in enumerate(job["scenarios"]):
            random.seed(index)
            np.random.seed(index)
            explainer = dice_ml.Dice(data, dice_model, method=job["method"])
            query = pd.DataFrame([{c: scenario[c] for c in job["columns"]}])
            for column in job["categorical"]:  # DiCE holds categories as strings
                query[column] = query[column].astype(int).astype(str)
            options: dict[str, Any] = {
                "total_CFs": job["count"],
                "desired_class": "opposite",
                "features_to_vary": job["features_to_vary"],
                "verbose": False,
            }
            if job["method"] == "random":
                options["random_seed"] = index
            model.reset()
            error, frame = None, None
            signal.alarm(int(job["scenario_timeout_s"]))
            started = time.perf_counter()
            try:
                found = explainer.generate_counterfactuals(query, **options)
                example = found.cf_examples_list[0]
                frame = example.final_cfs_df_sparse if example.final_cfs_df_sparse is not None else example.final_cfs_df
            except ScenarioTimeout:
                error = f"stopped after {job['scenario_timeout_s']:g} s"
                model.session.close()
                model.session = requests.Session()  # a poll may have been cut halfway
            except Exception as exc:  # noqa: BLE001 - DiCE's own errors ("no counterfactuals found") are results
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            finally:
                wall = time.perf_counter() - started
                signal.alarm(0)
            alternatives = []
            if frame is not None and len(frame):
                rows = model.request_rows(frame)
                alternatives = [
                    {c: (v.item() if hasattr(v, "item") else v) for c, v in r.items()} for r in rows.to_dict("records")
                ]
            out.write(
                json.dumps(
                    {
                        "index": index,
                        "alternatives": alternatives,
                        "calls": model.calls,
                        "tasks": model.tasks,
                        "rows": model.rows,
                        "refused": model.refused,
                        "wall_s": wall,
                        "error": error,
                    }
                )
                + "\n"
            )
            out.flush()
            print(
                f"dice {job['method']} scenario {index + 1}/{len(job['scenarios'])}: {wall:.2f} s, "
                f"{model.calls} calls{'' if error is None else ', ' + error}",
                file=sys.stderr,
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
