"""RunStore: the what-if runs of every history in one SQL table, per ``HistoryKey``, oldest first."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from whatif.history.csv_format import cell, parse_cell, runs_csv
from whatif.history.database import DatabaseStore, HistoryUnavailable
from whatif.history.records import (
    PROBABILITY_PREFIX,
    SOURCES,
    HistoryKey,
    Run,
    as_utc,
    dumps,
    input_column,
    json_values,
    normalised,
    parse_time,
)
from whatif.history.schema import open_schema, runs_table

_JSON_COLUMNS = ("inputs", "row", "prediction", "probabilities")


def _raw(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """A column as the database gives it: times are made aware UTC in bulk, not per value."""
    return sa.type_coerce(column, sa.Text).label(column.name) if column.name == "created_at" else column


_RUN_SELECT = tuple(_raw(c) for c in runs_table.c)
# frame()'s columns; the first four are the ones that can change and are re-read every time.
_FRAME_SELECT = tuple(
    _raw(runs_table.c[name])
    for name in (
        "id",
        "created_at",
        "name",
        "is_baseline",
        "label",
        "prediction",
        "score",
        "session_id",
        "source",
        "inputs",
        "probabilities",
    )
)


class RunStore(DatabaseStore):
    """What-if runs in one SQL table, per ``HistoryKey``, oldest first.

    ``RunStore(engine)`` uses the app's ``st.connection(...).engine``; ``RunStore.from_url(url)``
    makes its own engine (``close()`` releases it). Either creates the tables, or upgrades them
    to this release's schema version, when needed (``whatif.history.schema``). On SQLite every
    connection gets WAL mode and a 30 s busy timeout, so sessions writing at once wait for each
    other instead of failing with "database is locked".
    """

    def _set_up(self, engine: sa.Engine) -> None:
        open_schema(engine)

    @staticmethod
    def default_url(home: Path) -> str:
        """The SQLite file under the data folder, creating the folder."""
        home = Path(home).expanduser()
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryUnavailable(f"in the data folder {home}", exc.strerror or str(exc)) from exc
        return f"sqlite:///{home}/history.sqlite"

    # -- writing ---------------------------------------------------------------------------------
    def add(
        self,
        key: HistoryKey,
        *,
        inputs: Mapping[str, Any],
        row: Mapping[str, Any],
        prediction: Any,
        label: str,
        score: float,
        probabilities: Mapping[Any, float],
        task_id: str,
        elapsed_ms: float | None,
        model_name: str,
        model_version: int | None,
        name: str = "",
        source: str = "form",
        session_id: str = "",
    ) -> Run:
        """Save one run and return it as it will be read back (JSON-normalised values)."""
        values = _insert_values(
            key,
            {
                "inputs": inputs,
                "row": row,
                "prediction": prediction,
                "label": label,
                "score": score,
                "probabilities": probabilities,
                "task_id": task_id,
                "elapsed_ms": elapsed_ms,
                "model_name": model_name,
                "model_version": model_version,
                "name": name,
                "source": source,
                "session_id": session_id,
            },
            default_source="form",
        )
        with self._database() as conn:
            result = conn.execute(sa.insert(runs_table).values(values))
            primary_key = result.inserted_primary_key
            assert primary_key is not None  # an INSERT of one row always has one
            run_id = int(primary_key[0])
        return _run_from(dict(values, id=run_id), key)

    def add_many(self, key: HistoryKey, runs: Sequence[Mapping[str, Any]]) -> int:
        """Save many runs (an import) in one transaction: all of them or none; returns how many.

        Each mapping has the keyword arguments of ``add`` (``inputs``, ``prediction``,
        ``label`` and ``score`` required), optionally ``created_at``; ``source`` defaults
        to "import". Baseline marks are not imported: the pinned run stays this history's choice.
        """
        rows = [
            _insert_values(key, run, default_source="import", index=i, normalise=False) for i, run in enumerate(runs, 1)
        ]
        if not rows:
            return 0
        with self._database() as conn:
            conn.execute(sa.insert(runs_table), rows)
        return len(rows)

    def add_new(self, key: HistoryKey, runs: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        """``add_many`` of the runs that are not here yet; returns (added, skipped).

        A run is here already when this history has one with the same inputs, the same answer
        (prediction, label, score) and the same time: importing an export twice adds nothing.
        Runs without a time (rows predicted now) are always new. Duplicates within ``runs``
        count once.
        """
        times = {as_utc(t) for run in runs if isinstance(t := _time_of(run), datetime)}
        seen = set()
        for chunk in _chunks(sorted(times), 500):  # only the stored runs made at those times are read
            stmt = sa.select(
                _raw(runs_table.c.created_at),
                runs_table.c.inputs,
                runs_table.c.prediction,
                runs_table.c.label,
                runs_table.c.score,
            ).where(_key_filter(key), runs_table.c.created_at.in_(chunk))
            with self._database(write=False) as conn:
                stored = list(conn.execute(stmt).all())
            if stored:
                columns = _columns(stored)
                seen |= {_identity(t, i, p, lbl, s) for t, i, p, lbl, s in zip(*columns.values(), strict=True)}
        fresh: list[Mapping[str, Any]] = []
        for run in runs:
            when = _time_of(run)
            if isinstance(when, datetime):
                identity = _identity(when, run["inputs"], run["prediction"], run["label"], run["score"])
                if identity in seen:
                    continue
                seen.add(identity)
            fresh.append(run)
        return self.add_many(key, fresh), len(runs) - len(fresh)

    def set_baseline(self, key: HistoryKey, run_id: int) -> None:
        """Pin ``run_id`` as this history's baseline, unpinning any other; no-op if it is not here.

        One UPDATE over the key's runs, so two sessions pinning at once still leave exactly
        one pinned run (on PostgreSQL too, where the second statement re-reads locked rows).
        """
        t = runs_table
        target = sa.select(t.c.id).where(_key_filter(key), t.c.id == run_id).exists()
        stmt = (
            sa.update(t)
            .where(_key_filter(key), target)
            .values(is_baseline=sa.case((t.c.id == run_id, sa.true()), else_=sa.false()))
        )
        with self._database() as conn:
            conn.execute(stmt)

    def rename(self, run_id: int, name: str) -> None:
        """Give a run a name (shown in the chart and the table); no-op if the run is gone."""
        with self._database() as conn:
            conn.execute(sa.update(runs_table).where(runs_table.c.id == run_id).values(name=str(name)))

    def delete(self, run_id: int) -> None:
        """Delete one run; no-op if it is already gone. Deleting the pinned run unpins."""
        with self._database() as conn:
            conn.execute(sa.delete(runs_table).where(runs_table.c.id == run_id))

    def clear(self, key: HistoryKey, session_id: str | None = None) -> int:
        """Delete this key's runs (with ``session_id``: only that session's; no other history is
        touched); returns how many."""
        with self._database() as conn:
            deleted = int(conn.execute(sa.delete(runs_table).where(_key_filter(key, session_id))).rowcount)
        return deleted

    # -- reading ---------------------------------------------------------------------------------
    def runs(self, key: HistoryKey, limit: int | None = None) -> list[Run]:
        """This key's runs, oldest first; with ``limit``, only the newest ``limit`` of them."""
        stmt = sa.select(*_RUN_SELECT).where(_key_filter(key))
        if limit is None:
            stmt = stmt.order_by(runs_table.c.id)
        elif limit <= 0:
            return []
        else:
            stmt = stmt.order_by(runs_table.c.id.desc()).limit(limit)
        with self._database(write=False) as conn:
            found = _decoded_runs(conn.execute(stmt).all(), key)
        return found if limit is None else found[::-1]

    def count(self, key: HistoryKey, session_id: str | None = None) -> int:
        """How many runs this key has (with ``session_id``: made by that session)."""
        with self._database(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(_key_filter(key, session_id))).scalar_one())

    def newest_of_session(self, key: HistoryKey, session_id: str) -> Run | None:
        """The newest run that ``session_id`` made in this history, or None."""
        stmt = sa.select(*_RUN_SELECT).where(_key_filter(key, session_id)).order_by(runs_table.c.id.desc()).limit(1)
        with self._database(write=False) as conn:
            found = _decoded_runs(conn.execute(stmt).all(), key)
        return found[0] if found else None

    def others_since(self, key: HistoryKey, session_id: str, after_id: int) -> tuple[int, int]:
        """(how many runs other sessions added after run ``after_id``, the newest id of this history)."""
        t = runs_table
        others = sa.func.count().filter(t.c.id > after_id, t.c.session_id != session_id)
        stmt = sa.select(others, sa.func.max(t.c.id)).where(_key_filter(key))
        with self._database(write=False) as conn:
            count, newest = conn.execute(stmt).one()
        return int(count or 0), int(newest or 0)

    def get(self, run_id: int) -> Run | None:
        """One run by id, or None when it does not exist (deleted in another session)."""
        with self._database(write=False) as conn:
            found = _decoded_runs(conn.execute(sa.select(*_RUN_SELECT).where(runs_table.c.id == run_id)).all())
        return found[0] if found else None

    def baseline(self, key: HistoryKey) -> Run | None:
        """The run others are compared with: the pinned one, else the first, else None."""
        t = runs_table
        pinned = sa.select(t.c.id).where(_key_filter(key), t.c.is_baseline).limit(1).scalar_subquery()
        first = sa.select(sa.func.min(t.c.id)).where(_key_filter(key)).scalar_subquery()
        stmt = sa.select(*_RUN_SELECT).where(t.c.id == sa.func.coalesce(pinned, first))
        with self._database(write=False) as conn:
            found = _decoded_runs(conn.execute(stmt).all(), key)
        return found[0] if found else None

    def frame(self, key: HistoryKey, limit: int | None = None, session_id: str | None = None) -> pd.DataFrame:
        """This key's runs as a table for charts, oldest first (with ``limit``: the newest N).

        Columns: id, seq, created_at, name, is_baseline, label, prediction, score, session_id,
        source, one column per input feature (``input_<feature>`` when a feature's name is one
        of the columns before), then ``probability_<class>``. ``seq`` is the run's position in
        the whole history, so run 9,501 is called 9,501 in a window of the newest 500, and a
        session's own runs keep the numbers everybody sees (with ``session_id``: only its runs).

        One statement, ordered and limited in SQL: the page reads only the window it draws.
        """
        if limit is not None and limit <= 0:
            return _runs_frame([], [])
        if session_id is None:
            total = sa.select(sa.func.count()).where(_key_filter(key)).scalar_subquery().label("total")
            stmt = sa.select(*_FRAME_SELECT, total).where(_key_filter(key)).order_by(runs_table.c.id.desc())
        else:  # the numbers in the whole history, counted in SQL over the key's index
            numbered = (
                sa.select(
                    *_FRAME_SELECT,
                    sa.func.row_number().over(order_by=runs_table.c.id).label("seq"),
                    runs_table.c.session_id.label("owner"),
                )
                .where(_key_filter(key))
                .subquery()
            )
            stmt = (
                sa.select(*(c for c in numbered.c if c.name != "owner"))
                .where(numbered.c.owner == session_id)
                .order_by(numbered.c.id.desc())
            )
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._database(write=False) as conn:
            rows = list(conn.execute(stmt).all())
        rows.reverse()
        if session_id is not None:
            return _runs_frame(rows, [int(r.seq) for r in rows])
        # One statement, so the count and the rows agree even while others write.
        first_seq = (int(rows[0].total) - len(rows) + 1) if rows else 1
        return _runs_frame(rows, list(range(first_seq, first_seq + len(rows))))

    def export_csv(self, key: HistoryKey) -> str:
        """This key's runs as CSV text for a download (``csv_format.runs_csv``); ``parse_runs_csv`` reads it back."""
        return runs_csv(self.runs(key))


# ---- rows in, runs out -------------------------------------------------------------------------------
def _key_filter(key: HistoryKey, session_id: str | None = None) -> sa.ColumnElement[bool]:
    t = runs_table
    where = sa.and_(
        t.c.connection == key.connection,
        t.c.user_id == key.user_id,
        t.c.bucket == key.bucket,
        t.c.path == key.path,
        t.c.schema_fingerprint == key.schema,
    )
    return where if session_id is None else sa.and_(where, t.c.session_id == session_id)


def _insert_values(
    key: HistoryKey, run: Mapping[str, Any], *, default_source: str, index: int | None = None, normalise: bool = True
) -> dict[str, Any]:
    """The table row for one run; with ``normalise``, JSON values as they will read back."""
    missing = [k for k in ("inputs", "prediction", "label", "score") if k not in run]
    if missing:
        where = f"Run {index}" if index is not None else "The run"
        raise ValueError(f"{where} lacks {', '.join(missing)}.")
    source = str(run.get("source") or default_source)
    if source not in SOURCES:
        raise ValueError(f"A run's source is 'form' or 'import', not {source!r}.")
    created_at = run.get("created_at")
    if isinstance(created_at, str):
        created_at = parse_time(created_at)
    version = run.get("model_version")
    elapsed = run.get("elapsed_ms")
    probabilities = run.get("probabilities") or {}
    as_stored = normalised if normalise else _unchanged
    return {
        "connection": key.connection,
        "user_id": key.user_id,
        "bucket": key.bucket,
        "path": key.path,
        "schema_fingerprint": key.schema,
        "session_id": str(run.get("session_id") or ""),
        "created_at": as_utc(created_at) if isinstance(created_at, datetime) else datetime.now(UTC),
        "model_name": str(run.get("model_name") or ""),
        "model_version": None if version is None else int(version),
        "inputs": as_stored(dict(run["inputs"])),
        "row": as_stored(dict(run.get("row") or {})),
        "prediction": as_stored(run["prediction"]),
        "label": str(run["label"]),
        "score": float(run["score"]),
        "probabilities": {str(k): float(v) for k, v in probabilities.items()},
        "task_id": str(run.get("task_id") or ""),
        "elapsed_ms": None if elapsed is None else float(elapsed),
        "name": str(run.get("name") or ""),
        "is_baseline": False,
        "source": source,
    }


def _unchanged(value: Any) -> Any:
    return value


def _decoded_runs(rows: Sequence[sa.Row[Any]], key: HistoryKey | None = None) -> list[Run]:
    """Runs from rows of ``_RUN_SELECT``: JSON decoded in bulk, times made aware UTC."""
    if not rows:
        return []
    columns = _columns(rows)
    return [_run_from(dict(zip(columns, values, strict=True)), key) for values in zip(*columns.values(), strict=True)]


def _columns(rows: Sequence[Any]) -> dict[str, list[Any]]:
    """Rows -> one list per column, with JSON and time columns decoded."""
    names = list(rows[0]._fields)
    columns = {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}
    for name in _JSON_COLUMNS:
        if name in columns:
            columns[name] = json_values(columns[name])
    if "created_at" in columns:
        columns["created_at"] = [_db_time(v) for v in columns["created_at"]]
    return columns


def _db_time(value: str | datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite gives text, others a datetime)."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _run_from(r: Mapping[str, Any], key: HistoryKey | None = None) -> Run:
    score = r["score"]
    return Run(
        id=int(r["id"]),
        key=key or HistoryKey(r["connection"], r["user_id"], r["bucket"], r["path"], r["schema_fingerprint"]),
        created_at=r["created_at"],
        model_name=r["model_name"],
        model_version=r["model_version"],
        inputs=r["inputs"],
        row=r["row"],
        prediction=r["prediction"],
        label=r["label"],
        score=math.nan if score is None else float(score),
        probabilities=r["probabilities"],
        task_id=r["task_id"],
        elapsed_ms=r["elapsed_ms"],
        name=r["name"],
        is_baseline=bool(r["is_baseline"]),
        source=r["source"],
        session_id=r["session_id"],
    )


def _runs_frame(rows: Sequence[Any], seqs: Sequence[int]) -> pd.DataFrame:
    """frame()'s table, built column by column with bulk decoding (10,000 runs in tens of ms)."""
    names = [c.name for c in _FRAME_SELECT]
    # rows end with one more column (the count, or the numbers), which zip leaves out
    columns = dict(zip(names, zip(*rows))) if rows else dict.fromkeys(names, ())  # noqa: B905
    times = list(columns["created_at"])
    data: dict[str, Any] = {
        "id": pd.array(columns["id"], dtype="int64"),
        "seq": pd.array(list(seqs), dtype="int64"),
        # SQLite gives ISO text, parsed in one vectorised call; other databases give datetimes.
        "created_at": pd.to_datetime(times, utc=True, format="ISO8601").as_unit("us"),
        "name": pd.array(columns["name"], dtype="str"),
        "is_baseline": pd.array([bool(b) for b in columns["is_baseline"]], dtype="bool"),
        "label": pd.array(columns["label"], dtype="str"),
        "prediction": pd.Series(json_values(columns["prediction"]), dtype=object),
        "score": pd.array([math.nan if v is None else v for v in columns["score"]], dtype="float64"),
        "session_id": pd.array(columns["session_id"], dtype="str"),
        "source": pd.array(columns["source"], dtype="str"),
    }
    frame = pd.DataFrame(data)
    inputs = pd.DataFrame(json_values(columns["inputs"]), index=frame.index)
    inputs.columns = [input_column(str(c)) for c in inputs.columns]
    probabilities = pd.DataFrame(json_values(columns["probabilities"]), index=frame.index, dtype="float64")
    probabilities.columns = [PROBABILITY_PREFIX + str(c) for c in probabilities.columns]
    return pd.concat([frame, inputs, probabilities], axis=1)


# ---- importing without duplicates --------------------------------------------------------------------
def _time_of(run: Mapping[str, Any]) -> datetime | None:
    created = run.get("created_at")
    return parse_time(created) if isinstance(created, str) else created


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _identity(created_at: datetime, inputs: Mapping[str, Any], prediction: Any, label: Any, score: Any) -> str:
    """What makes two runs the same run: time, inputs and answer, each as an export writes and reads
    it back (1 == 1.0 == "1"), so a run compares equal to itself after a CSV round trip."""

    def plain(value: Any) -> Any:
        return parse_cell(cell(normalised(value)))

    score_value = None if score is None or (isinstance(score, float) and math.isnan(score)) else float(score)
    return dumps(
        [
            as_utc(created_at).isoformat(),
            {str(k): plain(v) for k, v in sorted(inputs.items())},
            plain(prediction),
            str(label),
            score_value,
        ]
    )
