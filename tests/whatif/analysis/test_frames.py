"""The column-wise request frame of analyses is exactly what ``to_row`` makes row by row, on random schemas."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatif.analysis.frames import request_frame, value_text
from whatif.analysis.grids import jitter, to_request_frame
from whatif.schema import Feature, FeatureSchema

KINDS = ["number", "integer", "categorical", "boolean", "one_hot", "one_hot_none"]


@st.composite
def schemas(draw: st.DrawFn) -> FeatureSchema:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=8))
    features = []
    for i, kind in enumerate(kinds):
        name = f"f{i}"
        if kind == "number":
            low = draw(st.floats(-1e4, 1e4))
            features.append(Feature(name, "number", low, low + draw(st.floats(0, 1e4)), low))
        elif kind == "integer":
            low = draw(st.integers(-100, 100))
            features.append(Feature(name, "integer", low, low + draw(st.integers(0, 50)), low))
        elif kind == "categorical":
            codes = draw(st.integers(1, 6))
            features.append(Feature(name, "integer", 0, codes - 1, 0, {str(k): f"L{k}" for k in range(codes)}))
        elif kind == "boolean":
            features.append(Feature(name, "boolean", default=False))
        else:
            labels = [f"A{k}" for k in range(draw(st.integers(1, 4)))]
            columns = {label: f"{name}_{label}" for label in labels}
            features.append(
                Feature(
                    name,
                    "one_hot",
                    default=labels[0],
                    columns=columns,
                    none_label="none" if kind == "one_hot_none" else None,
                )
            )
    return FeatureSchema(tuple(features))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schemas(), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_request_frame_equals_to_row_row_by_row(schema: FeatureSchema, n: int, seed: int) -> None:
    rows = jitter(schema, schema.defaults(), n, 0.7, np.random.default_rng(seed), categorical_flip_p=0.5)
    columns = {f.name: [row[f.name] for row in rows] for f in schema.features}

    mine = request_frame(schema, columns)

    expected = to_request_frame(schema, rows)
    assert list(mine.columns) == schema.input_columns
    pd.testing.assert_frame_equal(mine, expected, check_dtype=False)
    assert all(mine[c].dtype.kind == expected[c].dtype.kind for c in mine.columns), "ints stay ints, flags stay 0/1"


def test_values_read_as_the_page_writes_them() -> None:
    code = Feature("pclass", "integer", 0, 2, 0, {"0": "1st", "1": "2nd", "2": "3rd"})
    assert value_text(code, 2) == "3rd"
    assert value_text(Feature("fare", "number"), 211.3375) == "211.3375"
    assert value_text(Feature("age", "number"), 29.0) == "29"
    assert value_text(Feature("alone", "boolean"), True) == "true"
