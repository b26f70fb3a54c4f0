"""The model store: saved models and their versions, as the seed's "Save model as asset".

Layout under the store root (one folder per bucket)::

    {bucket}/{user}/{project}/model-groups/{group}/{version}.json    the descriptor
    {bucket}/{user}/{project}/model-groups/{group}/{version}.skops   the fitted model
    {bucket}/{user}/{project}/model-groups/{group}/{version}.samples.jsonl   optional: real rows

The descriptor carries the model's name, feature schema (PROTOCOL.md section 3) and metrics.
The optional sample rows are a few real rows the model did not train on (its test split), one
JSON object a line: ``{"row": {<request column>: value}, "target": <true value or null>}``,
each row in request form (one-hot groups as their 0/1 columns), so it can be sent as it is.
Fitted models are saved with skops and loaded with an allow-list of types, never unpickled.

On the command line::

    python -m whatif.server.registry list --store DIR [--user 1]
    python -m whatif.server.registry save --store DIR --bucket B --user 1 --project 4 \\
        --model fitted.skops --schema schema.json --name "My model"      # a new model
    python -m whatif.server.registry save ... --group 2                 # a new version of group 2
    python -m whatif.server.registry save ... --sample-rows test.csv    # with real held-out rows
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whatif import threadsafe_ast
from whatif.config import default_store
from whatif.protocol import NAME_PATTERN, PROBABILITY_PREFIX, is_valid_bucket, is_valid_model_path
from whatif.schema import FeatureSchema, RowValidationError

try:  # POSIX: saves are serialised across processes (API processes and Celery workers share the store)
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process's threads only
    fcntl = None  # type: ignore[assignment]

_FALLBACK_LOCK = threading.Lock()

# Loading a model parses numpy headers with ast.literal_eval in worker threads; on Python 3.11
# that is not safe beside another thread's parse (Streamlit's, another load's): see the module.
threadsafe_ast.install()

DESCRIPTOR_FORMAT = "whatif-model/1"
# Types a saved model may contain: scikit-learn's own, numpy's and scipy's. Anything else
# (a custom class, a builtin like eval) makes the model refuse to load. functools.partial is
# there because scikit-learn builds one itself (histogram gradient boosting with categorical
# features wraps sklearn.utils.validation.check_array in one); skops lists the function a partial
# wraps as a type of its own, so a partial of anything not on this list is still refused.
SAFE_TYPE_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "builtins.slice",
    "collections.OrderedDict",
    "functools.partial",
)
SAMPLE_ROWS_SUFFIX = ".samples.jsonl"  # not .json: the store's descriptors are its only .json files
MAX_SAVED_SAMPLE_ROWS = 100  # a model keeps at most this many sample rows (the first ones given)
_SEGMENT = re.compile(NAME_PATTERN)  # fullmatch: a "$" alone would let a name end in "\n"


class StoreError(Exception):
    """Base of the store's errors; ``code`` is the API's machine code."""

    code = "store_error"


class InvalidLocation(StoreError):
    """A path or bucket that could reach outside the store, or is not a descriptor path."""

    code = "invalid_path"


class ModelNotFound(StoreError):
    """No model at that path in that bucket."""

    code = "model_not_found"


class UnsafeModel(StoreError):
    """A saved model file holds types outside the allow-list."""

    code = "unsafe_model"


class UnreadableModel(StoreError):
    """A saved model file is damaged or not a skops file."""

    code = "model_unreadable"


class NoSampleRows(StoreError):
    """The model exists but was saved without sample rows."""

    code = "no_sample_rows"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to predict: its descriptor, schema and fitted estimator."""

    bucket: str
    path: str
    descriptor: dict[str, Any]
    schema: FeatureSchema
    estimator: Any


@dataclass(frozen=True)
class SampleRows:
    """A model's saved sample rows: request rows and, in the same order, their true targets."""

    rows: list[dict[str, Any]]
    targets: list[Any]  # None where the true value is not known
    target: str  # the target's name, from the model's schema ("" when it names none)


def check_location(bucket: str, path: str) -> tuple[str, list[str]]:
    """Validate a bucket and a descriptor path as plain names; raise InvalidLocation otherwise."""
    if not is_valid_bucket(bucket):
        raise InvalidLocation(f"bucket {bucket!r} is not a valid bucket name")
    if not path or path.startswith(("/", "\\")) or "\\" in path or ":" in path:
        raise InvalidLocation(f"path {path!r} must be a relative path like 1/4/model-groups/1/1.json")
    segments = path.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise InvalidLocation(f"path {path!r} may not contain empty, '.' or '..' parts")
    odd = next((s for s in segments if not _SEGMENT.fullmatch(s)), None)
    if odd is not None:
        raise InvalidLocation(
            f"path {path!r} has the part {odd!r}; parts may use only letters, digits, '_', '-' "
            "and '.', and may not start with '.' or '-'"
        )
    if not path.endswith(".json") or not is_valid_model_path(path):
        raise InvalidLocation(f"path {path!r} must name a model descriptor ending in .json")
    return bucket, segments


class ModelRegistry:
    """Saved models under one store root; safe to share between threads."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._cache: dict[tuple[str, str], tuple[float, LoadedModel]] = {}
        self._lock = threading.Lock()
        self._load_locks: dict[tuple[str, str], threading.Lock] = {}

    # ---- reading ----
    def resolve(self, bucket: str, path: str) -> Path:
        """The descriptor file for ``path`` in ``bucket``, proven to lie inside the store."""
        bucket, segments = check_location(bucket, path)
        bucket_root = (self.root / bucket).resolve()
        target = bucket_root.joinpath(*segments)
        real = target.resolve()
        if not real.is_relative_to(bucket_root) or not bucket_root.is_relative_to(self.root.resolve()):
            raise InvalidLocation(f"path {path!r} points outside the model store")
        return real

    def descriptor(self, bucket: str, path: str) -> dict[str, Any]:
        """The descriptor of a saved model; ModelNotFound when there is none."""
        file = self.resolve(bucket, path)
        if not file.is_file():
            raise ModelNotFound(f"no model at path {path!r} in bucket {bucket!r}")
        data: dict[str, Any] = json.loads(file.read_text())
        return data

    def load(self, bucket: str, path: str) -> LoadedModel:
        """The model ready to predict, loaded once and kept while its files do not change."""
        file = self.resolve(bucket, path)
        try:
            mtime = file.stat().st_mtime
        except FileNotFoundError:
            raise ModelNotFound(f"no model at path {path!r} in bucket {bucket!r}") from None
        key = (bucket, path)
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[0] == mtime:
                return cached[1]
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:  # sixteen first requests for one model load it once, not sixteen times
            with self._lock:
                cached = self._cache.get(key)
                if cached and cached[0] == mtime:
                    return cached[1]
            return self._load_into_cache(key, file, mtime)

    def _load_into_cache(self, key: tuple[str, str], file: Path, mtime: float) -> LoadedModel:
        bucket, path = key
        descriptor = self.descriptor(bucket, path)
        model_file = file.with_name(str(descriptor.get("model_file", file.stem + ".skops")))
        if model_file.parent != file.parent or not model_file.is_file():
            raise ModelNotFound(f"the model file of {path!r} is missing from bucket {bucket!r}")
        if not model_file.resolve().is_relative_to((self.root / bucket).resolve()):
            raise InvalidLocation(f"the model file of {path!r} points outside the model store")
        loaded = LoadedModel(
            bucket, path, descriptor, FeatureSchema.from_dict(descriptor["schema"]), load_safely(model_file)
        )
        with self._lock:
            self._cache[key] = (mtime, loaded)
        return loaded

    def sample_rows_file(self, bucket: str, path: str) -> Path:
        """Where the sample rows of the model at ``path`` are (or would be) kept."""
        file = self.resolve(bucket, path)
        return file.with_name(file.stem + SAMPLE_ROWS_SUFFIX)

    def has_sample_rows(self, bucket: str, path: str) -> bool:
        """True when the model at ``path`` has a sample-rows file (a stat, nothing read)."""
        return self.sample_rows_file(bucket, path).is_file()

    def sample_rows(self, bucket: str, path: str) -> SampleRows:
        """The model's saved sample rows; ModelNotFound without the model, NoSampleRows without rows."""
        descriptor = self.descriptor(bucket, path)
        file = self.sample_rows_file(bucket, path)
        if not file.is_file():
            raise NoSampleRows(f"model {path!r} has no sample rows saved")
        if not file.resolve().is_relative_to((self.root / bucket).resolve()):
            raise InvalidLocation(f"the sample rows of {path!r} point outside the model store")
        rows, targets = [], []
        try:
            for line in file.read_text().splitlines():
                if line.strip():
                    record = json.loads(line)
                    rows.append(dict(record["row"]))
                    targets.append(record.get("target"))
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"the sample rows of {path!r} cannot be read ({type(exc).__name__})") from None
        return SampleRows(rows, targets, str(descriptor.get("schema", {}).get("target") or ""))

    def list_models(self, user: str | None = None) -> list[dict[str, Any]]:
        """Saved models (groups) with their versions, for one user or for all."""
        groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        for file in sorted(self.root.glob("*/*/*/model-groups/*/*.json")):
            bucket, owner, project, _, group = file.relative_to(self.root).parts[:5]
            if user is not None and owner != str(user):
                continue
            try:  # glob follows symlinks: list only what load() would accept
                self.resolve(bucket, file.relative_to(self.root / bucket).as_posix())
            except InvalidLocation:
                continue
            try:
                descriptor = json.loads(file.read_text())
            except (OSError, ValueError):
                continue
            if descriptor.get("format") != DESCRIPTOR_FORMAT:
                continue
            schema = descriptor.get("schema", {})
            groups.setdefault((bucket, owner, project, group), []).append(
                {
                    "version": int(descriptor.get("version", file.stem if file.stem.isdigit() else 0)),
                    "name": descriptor.get("name", ""),
                    "path": file.relative_to(self.root / bucket).as_posix(),
                    "bucket": bucket,
                    "task": schema.get("task", ""),
                    "target": schema.get("target", ""),
                    "created": descriptor.get("created", ""),
                    "metrics": descriptor.get("metrics", {}),
                    "description": descriptor.get("description", ""),
                    "features": [f.get("name") for f in schema.get("features", [])],
                    **_training_facts(descriptor),
                }
            )
        out = []
        for (bucket, owner, project, group), versions in groups.items():
            versions.sort(key=lambda v: v["version"])
            out.append(
                {
                    "name": versions[-1]["name"],
                    "group": group,
                    "project": project,
                    "user": owner,
                    "bucket": bucket,
                    "versions": versions,
                }
            )
        return sorted(out, key=lambda m: (m["bucket"], m["user"], m["project"], _num(m["group"])))

    # ---- saving ----
    def save(
        self,
        estimator: Any,
        schema: FeatureSchema,
        *,
        bucket: str,
        user: str,
        project: str,
        name: str | None = None,
        group: str | None = None,
        metrics: dict[str, Any] | None = None,
        description: str = "",
        version: int | None = None,
        keep_loaded: bool = False,
        sample_rows: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
        training: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Save a fitted model as a new model (``group=None``) or a new version of ``group``.

        Returns the new version's entry (path, bucket, version...). Files are written to a
        temporary name and renamed, so a reader never sees half a model. ``keep_loaded`` keeps
        the estimator in memory as the loaded model (for models built by the server itself;
        everything else is read back through the allow-list check). ``sample_rows`` are a few
        real rows the model did not train on, in request form, with the schema's target column
        when known (see ``sample_records``); without them the model has no sample rows.
        ``training`` (a trained model's baseline metrics and row counts) is kept in the descriptor.
        Saves into one project are serialised (a lock file), so two saves at once never take
        the same group or version number, in one process or several.
        """
        samples = None if sample_rows is None else sample_records(schema, sample_rows)
        groups_dir = self.root / bucket / str(user) / str(project) / "model-groups"
        check_location(bucket, f"{user}/{project}/model-groups/1/1.json")
        import skops.io as sio  # imported when used: it pulls in all of scikit-learn (~1.5 s)

        model_bytes = sio.dumps(estimator)  # before any folder is made: a model that cannot be saved leaves nothing
        groups_dir.mkdir(parents=True, exist_ok=True)
        with _project_lock(groups_dir):
            return self._save_locked(
                estimator,
                model_bytes,
                schema,
                groups_dir,
                bucket=bucket,
                user=str(user),
                project=str(project),
                name=name,
                group=group,
                metrics=metrics,
                description=description,
                version=version,
                keep_loaded=keep_loaded,
                samples=samples,
                training=training,
            )

    def _save_locked(
        self,
        estimator: Any,
        model_bytes: bytes,
        schema: FeatureSchema,
        groups_dir: Path,
        *,
        bucket: str,
        user: str,
        project: str,
        name: str | None,
        group: str | None,
        metrics: dict[str, Any] | None,
        description: str,
        version: int | None,
        keep_loaded: bool,
        samples: list[dict[str, Any]] | None,
        training: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if group is None:
            existing = [_num(p.name) for p in groups_dir.iterdir() if p.is_dir() and p.name.isdigit()]
            group = str(max(existing, default=0) + 1)
        group_dir = groups_dir / str(group)
        if not group_dir.is_dir() and name is None:
            raise ModelNotFound(f"model group {group} does not exist in project {project}; give a name to create it")
        group_dir.mkdir(parents=True, exist_ok=True)
        versions = [_num(p.stem) for p in group_dir.glob("*.json") if p.stem.isdigit()]
        if version is None:
            version = max(versions, default=0) + 1
        if name is None:
            name = json.loads((group_dir / f"{max(versions)}.json").read_text()).get("name", "")
        schema_dict = schema.to_dict()
        schema_dict.update({"name": name, "version": version})
        descriptor = {
            "format": DESCRIPTOR_FORMAT,
            "name": name,
            "description": description,
            "user": str(user),
            "project": str(project),
            "group": str(group),
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "model_file": f"{version}.skops",
            "estimator": type(estimator).__name__,
            "schema": schema_dict,
            "metrics": metrics or {},
        }
        if training:
            descriptor["training"] = dict(training)
        _atomic_write(group_dir / f"{version}.skops", model_bytes)
        samples_file = group_dir / f"{version}{SAMPLE_ROWS_SUFFIX}"
        if samples is None:  # a version saved again without rows must not keep the old model's rows
            samples_file.unlink(missing_ok=True)
        else:
            _atomic_write(samples_file, _jsonl(samples))
        descriptor_file = group_dir / f"{version}.json"
        _atomic_write(descriptor_file, json.dumps(descriptor, indent=2).encode())
        path = f"{user}/{project}/model-groups/{group}/{version}.json"
        if keep_loaded:  # the caller's own fitted model (sample models): no need to read it back from disk
            with self._lock:
                self._cache[(bucket, path)] = (
                    descriptor_file.stat().st_mtime,
                    LoadedModel(bucket, path, descriptor, FeatureSchema.from_dict(schema_dict), estimator),
                )
        return {"bucket": bucket, "path": path, "group": str(group), "version": version, "name": name}

    def save_sample_rows(self, bucket: str, path: str, rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> int:
        """Give the saved model at ``path`` sample rows (replacing any it had); return how many were kept.

        For models saved before sample rows existed: checked against the model's own schema.
        """
        schema = FeatureSchema.from_dict(self.descriptor(bucket, path)["schema"])
        samples = sample_records(schema, rows)
        _atomic_write(self.sample_rows_file(bucket, path), _jsonl(samples))
        return len(samples)


def sample_records(schema: FeatureSchema, rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sample rows as saved: ``{"row": <request row>, "target": <value or None>}``, the first 100 kept.

    Each row must hold the schema's request columns (one-hot groups as 0/1 columns) and may
    hold its target column; values are checked and coerced as a form's would be, so a saved
    row can always be sent as it is. Raises ValueError (a sentence) for a row that does not fit.
    """
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else [dict(r) for r in rows]
    if not records:
        raise ValueError("The sample rows are empty; give at least one row, or none at all.")
    columns = set(schema.input_columns)
    out = []
    for i, record in enumerate(records[:MAX_SAVED_SAMPLE_ROWS]):
        record = {str(k): _native(v) for k, v in record.items()}
        target = record.pop(schema.target, None) if schema.target else None
        unknown = next((k for k in record if k not in columns), None)
        if unknown is not None:
            raise ValueError(
                f"Sample row {i} has the column {unknown!r}, which is neither an input of the model "
                f"nor its target {schema.target!r}."
            )
        try:
            row = schema.to_row(schema.from_row(record))
        except RowValidationError as exc:
            raise ValueError(f"Sample row {i} does not fit the model's schema ({exc}).") from None
        if isinstance(target, float) and not np.isfinite(target):
            target = None  # an unknown true value is kept as unknown, not as NaN
        out.append({"row": row, "target": target})
    return out


def _jsonl(records: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(record, allow_nan=False) + "\n" for record in records).encode()


def load_safely(model_file: Path) -> Any:
    """Load a skops file whose types are all on the allow-list; raise UnsafeModel otherwise."""
    import skops.io as sio  # imported when used: it pulls in all of scikit-learn (~1.5 s)

    try:
        untrusted = sio.get_untrusted_types(file=model_file)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise UnreadableModel(
            f"the model file {model_file.name} cannot be read ({type(exc).__name__}): it is damaged or not a "
            "skops file; save the model again"
        ) from None
    return sio.load(model_file, trusted=_allowed(untrusted))


def load_bytes_safely(data: bytes) -> Any:
    """``load_safely`` for the bytes of a skops file (an upload), read without touching the disk."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise UnreadableModel(f"the file cannot be read as a skops file ({type(exc).__name__})") from None
    try:
        return sio.loads(data, trusted=_allowed(untrusted))
    except UnsafeModel:
        raise
    except Exception as exc:  # a damaged file fails inside skops with whatever it tripped over
        raise UnreadableModel(f"the skops file is damaged ({type(exc).__name__})") from None


def _allowed(untrusted: list[str]) -> list[str]:
    """The file's types outside skops' defaults, when every one is on the allow-list; UnsafeModel otherwise."""
    refused = [t for t in untrusted if not t.startswith(SAFE_TYPE_PREFIXES)]
    if refused:
        raise UnsafeModel(f"the model file holds types that are not allowed: {', '.join(refused[:5])}")
    return untrusted


def predict_frame(model: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Prediction columns for ``frame``: ``prediction`` and, for classifiers, ``probability_<class>``."""
    estimator = model.estimator
    inputs = frame[model.schema.input_columns]
    if model.schema.task == "classification" and hasattr(estimator, "predict_proba"):
        probabilities = estimator.predict_proba(inputs)
        classes = list(estimator.classes_)
        out = pd.DataFrame({"prediction": np.asarray(classes)[probabilities.argmax(axis=1)]})
        for i, cls in enumerate(classes):
            out[f"{PROBABILITY_PREFIX}{_native(cls)}"] = probabilities[:, i].round(6)
        return out
    return pd.DataFrame({"prediction": np.asarray(estimator.predict(inputs), dtype=float).round(6)})


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _training_facts(descriptor: Mapping[str, Any]) -> dict[str, Any]:
    """A trained version's baseline and row counts, for the list of versions (nothing for other models)."""
    training = descriptor.get("training")
    if not isinstance(training, Mapping):
        return {}
    keys = ("baseline", "rows_trained", "rows_held_out")
    return {key: training[key] for key in keys if key in training}


@contextmanager
def _project_lock(groups_dir: Path) -> Iterator[None]:
    """Hold the project's save lock (an flock on a file beside its groups) while numbers are taken and written."""
    with (groups_dir / ".save.lock").open("a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            with _FALLBACK_LOCK if fcntl is None else nullcontext():
                yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _num(text: str) -> int:
    return int(text) if str(text).isdigit() else 0


def _atomic_write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- command line ---------------------------------------------------------------------------
def _read_sample_rows(file: Path) -> pd.DataFrame | list[dict[str, Any]]:
    """Sample rows from a CSV file or a JSON list of row objects (as a predict request body)."""
    if file.suffix.lower() == ".csv":
        return pd.read_csv(file)
    rows = json.loads(file.read_text())
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{file} must hold a JSON list of row objects, like a predict request body")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """``list`` and ``save`` saved models on the command line."""
    parser = argparse.ArgumentParser(prog="python -m whatif.server.registry", description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=Path(os.environ.get("WHATIF_STORE") or default_store()))
    sub = parser.add_subparsers(dest="command", required=True)
    lister = sub.add_parser("list", help="list saved models and their versions")
    lister.add_argument("--user", help="only this user's models")
    lister.add_argument("--json", action="store_true", help="print JSON")
    saver = sub.add_parser("save", help="save a fitted skops model as a new model or a new version")
    saver.add_argument("--model", type=Path, required=True, help="fitted model saved with skops.io.dump")
    saver.add_argument("--schema", type=Path, required=True, help="feature schema JSON (or a training CSV)")
    saver.add_argument("--target", help="target column, when --schema is a training CSV")
    saver.add_argument("--bucket", required=True)
    saver.add_argument("--user", required=True)
    saver.add_argument("--project", required=True)
    target = saver.add_mutually_exclusive_group(required=True)
    target.add_argument("--name", help="save as a NEW model with this name")
    target.add_argument("--group", help="save as a new VERSION of this model group")
    saver.add_argument("--metrics", type=Path, help="JSON file of metrics")
    saver.add_argument("--description", default="")
    saver.add_argument(
        "--sample-rows",
        type=Path,
        help="CSV or JSON list of a few real held-out rows (request columns, target optional)",
    )
    args = parser.parse_args(argv)
    registry = ModelRegistry(args.store)
    try:
        if args.command == "list":
            models = registry.list_models(args.user)
            if args.json:
                print(json.dumps(models, indent=2))
                return 0
            for m in models:
                where = f"bucket {m['bucket']}, user {m['user']}, project {m['project']}, group {m['group']}"
                print(f"{m['name']}  ({where})")
                for v in m["versions"]:
                    print(f"  v{v['version']}  {v['task']:<14}  {v['path']}  {json.dumps(v['metrics'])}")
            if not models:
                print("No saved models.")
            return 0
        if args.schema.suffix.lower() == ".csv":
            schema = FeatureSchema.from_csv(args.schema, target=args.target)
        else:
            schema = FeatureSchema.from_json(args.schema.read_text())
        estimator = load_safely(args.model)
        metrics = json.loads(args.metrics.read_text()) if args.metrics else {}
        sample_rows = _read_sample_rows(args.sample_rows) if args.sample_rows else None
        saved = registry.save(
            estimator,
            schema,
            bucket=args.bucket,
            user=args.user,
            project=args.project,
            name=args.name,
            group=args.group,
            metrics=metrics,
            description=args.description,
            sample_rows=sample_rows,
        )
        print(f"Saved {saved['name']!r} version {saved['version']}: path={saved['path']} bucket={saved['bucket']}")
        return 0
    except (StoreError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
