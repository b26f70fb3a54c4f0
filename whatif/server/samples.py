"""Sample models for the demo user, built deterministically (fixed seeds) into the store.

1. Titanic survival (classification) on titanic3, inputs exactly the seed's
   ``pclass, sex, age, sibsp, parch, fare, embarked``, label-encoded as in the seed's example
   request (pclass 0 = 1st class, sex 0 = female, embarked 2 = Southampton).
2. Credit approval (classification), two versions, on a SYNTHETIC table generated here, with
   the seed's one-hot inputs ``employment_status_Employed/Self-Employed/Contract``.
3. Diabetes progression (regression) on scikit-learn's bundled diabetes data.

Each is saved with ``SAMPLE_ROW_COUNT`` real rows of its test split (the rows it did not train
on) and their true targets, for "start from a real row".
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# scikit-learn is imported inside the builders: a server whose store already holds the samples
# starts without it (about a second less before the app's first page)
from whatif.protocol import DEMO_BUCKET, DEMO_USER
from whatif.protocol import DEMO_EMAIL as DEMO_EMAIL  # re-exported: tests and tools import it from here
from whatif.schema import QUANTILE_KEYS, Feature, FeatureSchema
from whatif.server.registry import ModelRegistry

logger = logging.getLogger(__name__)

DEMO_PROJECT = "4"
TITANIC_PATH = f"{DEMO_USER}/{DEMO_PROJECT}/model-groups/1/1.json"
CREDIT_PATHS = (
    f"{DEMO_USER}/{DEMO_PROJECT}/model-groups/2/1.json",
    f"{DEMO_USER}/{DEMO_PROJECT}/model-groups/2/2.json",
)
DIABETES_PATH = f"{DEMO_USER}/{DEMO_PROJECT}/model-groups/3/1.json"
SAMPLE_PATHS = (TITANIC_PATH, *CREDIT_PATHS, DIABETES_PATH)
SEED = 20261126
SAMPLE_ROW_COUNT = 20  # held-out rows saved with each sample model
TEST_SIZE = 0.25
TITANIC_CSV = Path(__file__).parent / "data" / "titanic3.csv"


def ensure_sample_models(registry: ModelRegistry) -> list[str]:
    """Build the sample models that are missing from the store; return the paths built.

    A store built before sample rows existed gets their files added (about a second, once);
    a complete store costs a few file checks.
    """
    missing = [p for p in SAMPLE_PATHS if not registry.resolve(DEMO_BUCKET, p).is_file()]
    without_rows = [p for p in SAMPLE_PATHS if p not in missing and not registry.has_sample_rows(DEMO_BUCKET, p)]
    if without_rows:
        add_sample_rows(registry, without_rows)
    if not missing:
        return []
    started = time.perf_counter()
    if TITANIC_PATH in missing:
        _save(registry, *titanic_model(), titanic_sample_rows(), group="1", version=1)
    for version, path in enumerate(CREDIT_PATHS, start=1):
        if path in missing:
            _save(registry, *credit_model(version), credit_sample_rows(), group="2", version=version)
    if DIABETES_PATH in missing:
        _save(registry, *diabetes_model(), diabetes_sample_rows(), group="3", version=1)
    logger.info("built %d sample model(s) in %.1f s", len(missing), time.perf_counter() - started)
    return missing


def add_sample_rows(registry: ModelRegistry, paths: list[str]) -> list[str]:
    """Save the held-out rows of sample models that were built without them; return the paths given rows.

    The rows come from the same split with the same seed as the model's training, so they are
    rows it did not train on. A model at a sample's path that is not that sample (another name
    or other inputs) is left alone.
    """
    builders = {
        TITANIC_PATH: ("Titanic survival", titanic_sample_rows),
        DIABETES_PATH: ("Diabetes progression", diabetes_sample_rows),
        **dict.fromkeys(CREDIT_PATHS, ("Credit approval", credit_sample_rows)),
    }
    computed: dict[str, pd.DataFrame] = {}  # the two credit versions share their rows
    given = []
    for path in paths:
        name, build = builders[path]
        if registry.descriptor(DEMO_BUCKET, path).get("name") != name:
            logger.warning("not adding sample rows to %s: it is not the sample model %r", path, name)
            continue
        if name not in computed:
            computed[name] = build()
        try:  # checked against the saved model's own schema: other inputs are refused
            registry.save_sample_rows(DEMO_BUCKET, path, computed[name])
        except ValueError as exc:
            logger.warning("not adding sample rows to %s: %s", path, exc)
            continue
        given.append(path)
    if given:
        logger.info("added sample rows to %d sample model(s) built without them", len(given))
    return given


def _save(
    registry: ModelRegistry,
    estimator: Any,
    schema: FeatureSchema,
    metrics: dict[str, float],
    description: str,
    sample_rows: pd.DataFrame,
    *,
    group: str,
    version: int,
) -> None:
    registry.save(
        estimator,
        schema,
        bucket=DEMO_BUCKET,
        user=DEMO_USER,
        project=DEMO_PROJECT,
        name=schema.name,
        group=group,
        version=version,
        metrics=metrics,
        description=description,
        keep_loaded=True,
        sample_rows=sample_rows,
    )


def _split(x: pd.DataFrame, y: pd.Series, *, stratify: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """The train/test split every sample model uses: a quarter held out, fixed seed."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=SEED, stratify=y if stratify else None
    )
    return x_train, x_test, y_train, y_test


def _held_out(x: pd.DataFrame, y: pd.Series, target: str, *, stratify: bool) -> pd.DataFrame:
    """The first ``SAMPLE_ROW_COUNT`` rows of the test split, with the true target as column ``target``."""
    _, x_test, _, y_test = _split(x, y, stratify=stratify)
    return x_test.head(SAMPLE_ROW_COUNT).assign(**{target: y_test.head(SAMPLE_ROW_COUNT)}).reset_index(drop=True)


def _range(series: pd.Series, integer: bool = False) -> dict[str, Any]:
    """min, max and median of a training column, as a schema feature's range and default, with its
    5th to 95th percentiles and standard deviation (``quantiles``, ``spread``) for the analyses' grids and noise."""
    lo, hi, mid = float(series.min()), float(series.max()), float(series.median())
    statistics = {
        "quantiles": {key: round(float(series.quantile(int(key[1:]) / 100)), 4) for key in QUANTILE_KEYS},
        "spread": round(float(series.std()), 4),
    }
    if integer:
        return {"min": int(lo), "max": int(hi), "default": int(round(mid)), **statistics}
    return {"min": round(lo, 4), "max": round(hi, 4), "default": round(mid, 4), **statistics}


def _mode(series: pd.Series) -> int:
    return int(series.mode().iloc[0])


# ---- 1. Titanic ---------------------------------------------------------------------------
def titanic_frame() -> pd.DataFrame:
    """titanic3, label-encoded as the seed's example request expects; missing values imputed."""
    raw = pd.read_csv(TITANIC_CSV, na_values="?")
    frame = pd.DataFrame(
        {
            "pclass": raw["pclass"].astype(int) - 1,
            "sex": (raw["sex"] == "male").astype(int),
            "age": raw["age"].fillna(raw["age"].median()),
            "sibsp": raw["sibsp"].astype(int),
            "parch": raw["parch"].astype(int),
            "fare": raw["fare"].fillna(raw["fare"].median()),
            "embarked": raw["embarked"].fillna("S").map({"C": 0, "Q": 1, "S": 2}).astype(int),
            "survived": raw["survived"].astype(int),
        }
    )
    return frame


def titanic_sample_rows() -> pd.DataFrame:
    """Held-out passengers of the Titanic model: request columns and ``survived``."""
    frame = titanic_frame()
    return _held_out(frame.drop(columns="survived"), frame["survived"], "survived", stratify=True)


def titanic_model() -> tuple[Any, FeatureSchema, dict[str, float], str]:
    """A gradient-boosting survival classifier and its schema."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score

    frame = titanic_frame()
    x, y = frame.drop(columns="survived"), frame["survived"]
    x_train, x_test, y_train, y_test = _split(x, y, stratify=True)
    # histogram boosting: fits and saves in a third of the time of GradientBoosting (first start < 8 s)
    model = HistGradientBoostingClassifier(max_iter=150, max_depth=3, learning_rate=0.05, random_state=SEED)
    model.fit(x_train, y_train)
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, model.predict(x_test))), 4),
        "roc_auc": round(float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])), 4),
        "test_rows": int(len(y_test)),
    }
    features = (
        Feature("pclass", "integer", 0, 2, _mode(x["pclass"]), {"0": "1st", "1": "2nd", "2": "3rd"}, "Ticket class"),
        Feature("sex", "integer", 0, 1, _mode(x["sex"]), {"0": "female", "1": "male"}, "Sex"),
        Feature("age", "number", **_range(x["age"]), description="Age in years", step=1),
        Feature("sibsp", "integer", **_range(x["sibsp"], True), description="Siblings and spouses aboard"),
        Feature("parch", "integer", **_range(x["parch"], True), description="Parents and children aboard"),
        Feature("fare", "number", **_range(x["fare"]), description="Ticket fare in pounds", step=1),
        Feature(
            "embarked",
            "integer",
            0,
            2,
            _mode(x["embarked"]),
            {"0": "Cherbourg", "1": "Queenstown", "2": "Southampton"},
            "Port of embarkation",
        ),
    )
    schema = FeatureSchema(
        features,
        name="Titanic survival",
        version=1,
        task="classification",
        target="survived",
        classes=(0, 1),
        class_labels={"0": "died", "1": "survived"},
    )
    return model, schema, metrics, "Histogram gradient boosting on titanic3 (1,309 passengers)."


# ---- 2. Credit approval (synthetic) -------------------------------------------------------
EMPLOYMENT = ("Employed", "Self-Employed", "Contract")


def credit_frame(rows: int = 4000) -> pd.DataFrame:
    """A SYNTHETIC credit table: no real people. Approval depends on income, amount and job."""
    rng = np.random.default_rng(SEED)
    status = rng.choice([*EMPLOYMENT, "Other"], size=rows, p=[0.55, 0.2, 0.15, 0.1])
    income = np.where(
        status == "Other",
        rng.choice([0.0, 800.0], size=rows, p=[0.6, 0.4]),
        rng.lognormal(mean=8.1, sigma=0.5, size=rows),
    ).round(0)
    amount = rng.lognormal(mean=6.5, sigma=0.8, size=rows).round(0) + 50
    effect = {"Employed": 1.0, "Self-Employed": 0.3, "Contract": 0.5, "Other": -1.0}
    score = (
        1.4 * np.log1p(income) - 1.5 * np.log(amount) + np.vectorize(effect.get)(status) + rng.normal(0, 0.8, size=rows)
    )
    frame = pd.DataFrame({"order_amount": amount, "average_monthly_income": income})
    for name in EMPLOYMENT:
        frame[f"employment_status_{name}"] = (status == name).astype(int)
    frame["approved"] = (score > np.quantile(score, 0.35)).astype(int)
    return frame


def credit_sample_rows() -> pd.DataFrame:
    """Held-out applications of both credit versions: request columns (one-hot as 0/1) and ``approved``."""
    frame = credit_frame()
    return _held_out(frame.drop(columns="approved"), frame["approved"], "approved", stratify=True)


def credit_model(version: int) -> tuple[Any, FeatureSchema, dict[str, float], str]:
    """Version 1: logistic regression; version 2: gradient boosting. Same inputs."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = credit_frame()
    x, y = frame.drop(columns="approved"), frame["approved"]
    x_train, x_test, y_train, y_test = _split(x, y, stratify=True)
    if version == 1:
        model: Any = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        kind = "Logistic regression"
    else:
        model = HistGradientBoostingClassifier(max_iter=120, max_depth=3, random_state=SEED)
        kind = "Histogram gradient boosting"
    model.fit(x_train, y_train)
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, model.predict(x_test))), 4),
        "roc_auc": round(float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])), 4),
        "test_rows": int(len(y_test)),
    }
    status_counts = {name: int(x[f"employment_status_{name}"].sum()) for name in EMPLOYMENT}
    features = (
        Feature("order_amount", "number", **_range(x["order_amount"]), description="Amount of the order", step=50),
        Feature(
            "average_monthly_income",
            "number",
            **_range(x["average_monthly_income"]),
            description="Average monthly income (0 = none)",
            step=100,
        ),
        Feature(
            "employment_status",
            "one_hot",
            default=max(status_counts, key=lambda k: status_counts[k]),
            columns={name: f"employment_status_{name}" for name in EMPLOYMENT},
            none_label="Other",
            description="Employment status (Other = none of the three)",
        ),
    )
    schema = FeatureSchema(
        features,
        name="Credit approval",
        version=version,
        task="classification",
        target="approved",
        classes=(0, 1),
        class_labels={"0": "rejected", "1": "approved"},
    )
    return model, schema, metrics, f"{kind} on a SYNTHETIC table of 4,000 applications (seed {SEED})."


# ---- 3. Diabetes progression (regression) -------------------------------------------------
DIABETES_DESCRIPTIONS = {
    "age": "Age in years",
    "sex": "Sex (coded 1 or 2 in the source data)",
    "bmi": "Body mass index",
    "bp": "Average blood pressure",
    "s1": "Total serum cholesterol (tc)",
    "s2": "Low-density lipoproteins (ldl)",
    "s3": "High-density lipoproteins (hdl)",
    "s4": "Total cholesterol / HDL (tch)",
    "s5": "Log of serum triglycerides (ltg)",
    "s6": "Blood sugar level (glu)",
}


def diabetes_data() -> tuple[pd.DataFrame, pd.Series]:
    """scikit-learn's diabetes data, unscaled: the inputs and the progression one year later."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True, scaled=False)
    return data.data, data.target


def diabetes_sample_rows() -> pd.DataFrame:
    """Held-out patients of the diabetes model: request columns and ``progression``."""
    return _held_out(*diabetes_data(), "progression", stratify=False)


def diabetes_model() -> tuple[Any, FeatureSchema, dict[str, float], str]:
    """Gradient-boosting regression of disease progression one year after baseline."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error, r2_score

    x, y = diabetes_data()
    x_train, x_test, y_train, y_test = _split(x, y, stratify=False)
    model = HistGradientBoostingRegressor(max_iter=150, max_depth=2, learning_rate=0.05, random_state=SEED)
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "r2": round(float(r2_score(y_test, predicted)), 4),
        "mae": round(float(mean_absolute_error(y_test, predicted)), 2),
        "test_rows": int(len(y_test)),
    }
    features = []
    for name in x.columns:
        if name == "sex":
            features.append(
                Feature(
                    "sex",
                    "integer",
                    1,
                    2,
                    _mode(x["sex"].astype(int)),
                    {"1": "1", "2": "2"},
                    DIABETES_DESCRIPTIONS["sex"],
                )
            )
        else:
            integer = name == "age"
            features.append(
                Feature(
                    name,
                    "integer" if integer else "number",
                    **_range(x[name], integer),
                    description=DIABETES_DESCRIPTIONS.get(name, ""),
                )
            )
    schema = FeatureSchema(
        tuple(features), name="Diabetes progression", version=1, task="regression", target="progression"
    )
    return model, schema, metrics, "Histogram gradient boosting on scikit-learn's diabetes data (442 patients)."
