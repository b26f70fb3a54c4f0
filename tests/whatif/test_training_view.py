"""What the Saved models page says about a training CSV, its metrics against the baseline, and versions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from whatif.client import ModelVersion
from whatif.schema_infer import read_training_csv
from whatif.training_view import (
    MAX_TRAIN_ROWS,
    column_note,
    compare_metrics,
    guess_target_column,
    held_out_note,
    not_better_than_baseline,
    saved_when,
    size_problems,
    versions_table,
)

TITANIC = Path(__file__).resolve().parents[2] / "whatif" / "server" / "data" / "titanic3.csv"


def test_a_column_in_a_few_words() -> None:
    frame = read_training_csv(TITANIC.read_bytes())
    assert len(frame) == 1_309 and "survived" in frame.columns
    assert frame["age"].isna().sum() == 263 and pd.api.types.is_numeric_dtype(frame["age"])
    assert column_note(frame["age"]) == "e.g. 18, 45, 17 · 98 distinct · 20% missing"
    assert column_note(frame["fare"]).endswith("under 1% missing")


def test_the_target_is_guessed_as_an_analyst_would() -> None:
    titanic = read_training_csv(TITANIC.read_bytes())
    assert guess_target_column(titanic) == ("survived", "it holds only 0 and 1, like an outcome")
    assert guess_target_column(pd.DataFrame({"Label": ["a"], "x": [1]}))[0] == "Label"
    assert guess_target_column(pd.DataFrame({"x": [1.5], "price": [3.0]})) == ("price", "it is the last column")


def test_too_many_rows_is_said_before_anything_is_sent() -> None:
    frame = pd.DataFrame({"x": range(MAX_TRAIN_ROWS + 1)})
    assert size_problems(b"x", frame) == [f"The file has {MAX_TRAIN_ROWS + 1:,} rows; training takes up to 100,000."]
    assert size_problems(b"x", frame.head(10)) == []


def test_metrics_beside_the_baseline_know_which_way_is_better() -> None:
    shown = compare_metrics(
        {"log_loss": 0.43, "accuracy": 0.812, "roc_auc": 0.86},
        {"accuracy": 0.618, "roc_auc": 0.5, "log_loss": 0.66},
    )
    assert [m.title for m in shown] == ["Accuracy", "ROC AUC", "Log loss"]
    accuracy, _, log_loss = shown
    assert accuracy.sentence == "Accuracy 0.812 vs 0.618 baseline"
    assert accuracy.delta_text == "+0.194 vs baseline 0.618" and accuracy.beats_baseline
    assert log_loss.delta_text == "-0.23 vs baseline 0.66" and log_loss.beats_baseline and log_loss.lower_is_better
    worse = compare_metrics({"r2": -0.01, "mae": 70.0}, {"r2": 0.0, "mae": 64.0})
    assert not_better_than_baseline(worse) == ["R²", "MAE"]
    assert compare_metrics({"accuracy": 0.9}, {})[0].delta_text is None  # an uploaded model: no baseline


def test_where_the_metrics_come_from() -> None:
    assert held_out_note("classification", 1_047, 262) == (
        "Measured on 262 held-out rows the model did not see in training (trained on 1,047); "
        "the baseline always predicts the most common class."
    )


def test_versions_side_by_side_newest_first_with_the_baseline_where_known() -> None:
    sample = ModelVersion(1, "1/4/model-groups/7/1.json", "b", "classification", "y", "2026-11-26T14:03:22+00:00",
                          metrics={"accuracy": 0.7, "test_rows": 328})  # fmt: skip
    trained = ModelVersion(2, "1/4/model-groups/7/2.json", "b", "classification", "y", "2026-11-27T09:00:00+00:00",
                           metrics={"accuracy": 0.8, "roc_auc": 0.85}, baseline={"accuracy": 0.6},
                           rows_trained=1_047, rows_held_out=262)  # fmt: skip
    table = versions_table([sample, trained])
    assert list(table["Version"]) == [2, 1]
    assert list(table["Saved"]) == ["2026-11-27 09:00 UTC", "2026-11-26 14:03 UTC"]
    assert list(table.columns[:7]) == [
        "Version", "Saved", "Rows trained", "Rows held out", "accuracy", "accuracy baseline", "roc_auc"
    ]  # fmt: skip
    assert table["accuracy baseline"].tolist()[0] == 0.6 and pd.isna(table["accuracy baseline"].tolist()[1])
    assert list(table["Rows trained"]) == ["1,047", ""] and list(table["Rows held out"]) == ["262", "328"]
    assert "test_rows" not in table.columns  # a count, not a metric


def test_saved_times_read_as_written_or_left_alone() -> None:
    assert saved_when("2026-11-26T14:03:22Z") == "2026-11-26 14:03 UTC"
    assert saved_when("2026-11-26T14:03:22") == "2026-11-26 14:03"
    assert saved_when("yesterday") == "yesterday" and saved_when("") == ""
