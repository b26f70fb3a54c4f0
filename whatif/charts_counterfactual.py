"""The counterfactual chart: which inputs each alternative changes, and from what to what (pure, no Streamlit).

One row per alternative (best first), one column per input that any of them changes; a cell holds
"30 → 12" and is shaded by what the change costs (a number's change in spreads, 1 for a category).
When the search found nothing, the closest candidate it tried is drawn instead, labelled so. The
builder reads only the ``AnalysisResult`` (its ``facts``), as the CSV and the command line's JSON do.
"""

from __future__ import annotations

from typing import Any, cast

import altair as alt
import pandas as pd

from whatif.analysis.result import AnalysisResult
from whatif.analysis.score import format_score

LIGHT_COLOR, DARK_COLOR = "#eef4fa", "#8fb3d9"  # light enough that the black text stays readable
CLOSEST_LABEL = "closest tried"
MAX_SHADE = 2.0  # changes costing more than 2 spreads are shaded alike
SHADE_TITLE = "Size of the change, in spreads (a category: 1)"
DATA_COLUMNS = ["row", "rank", "feature", "change", "before", "after", "cost_of_change", "score", "n_changes"]


def counterfactual_data(result: AnalysisResult) -> pd.DataFrame:
    """One row per (alternative, changed input): the row label, rank (0 for the closest tried), the input, the
    change as text, the values before and after as shown, what it costs, the alternative's score and changes."""
    entries = list(result.facts.get("alternatives") or [])
    closest = result.facts.get("closest")
    if not entries and closest:
        entries = [{**closest, "rank": 0}]
    records = []
    for entry in entries:
        label = _row_label(result, entry)
        for name in entry["changes"]:
            before, after = entry["shown"][name]  # as the page writes them: labels for codes, short numbers
            records.append(
                {
                    "row": label,
                    "rank": entry["rank"],
                    "feature": name,
                    "change": f"{before} → {after}",
                    "before": before,
                    "after": after,
                    "cost_of_change": float(entry["change_costs"][name]),
                    "score": float(entry["score"]),
                    "n_changes": int(entry["n_changes"]),
                }
            )
    return pd.DataFrame.from_records(records, columns=DATA_COLUMNS)


def _row_label(result: AnalysisResult, entry: dict[str, Any]) -> str:
    score = format_score(result.scorer, float(entry["score"]))
    if entry["rank"] == 0:
        return f"{CLOSEST_LABEL} ({score})"
    changes = entry["n_changes"]
    return f"{entry['rank']}. {changes} change{'s' if changes != 1 else ''} ({score})"


def counterfactual_chart(result: AnalysisResult) -> alt.LayerChart:
    """A grid of the alternatives (rows, best first) by the inputs they change (columns, in order of first use),
    each cell "old → new", shaded by the cost of that change; the closest candidate when none reached the goal."""
    data = counterfactual_data(result)
    if data.empty:
        message = pd.DataFrame({"text": ["No change was found or tried."]})
        return cast(
            alt.LayerChart, alt.layer(alt.Chart(message).mark_text(size=14, color="#555555").encode(text="text:N"))
        )
    rows = data.drop_duplicates("row").sort_values("rank")["row"].tolist()
    features = list(dict.fromkeys(data.sort_values("rank", kind="stable")["feature"]))
    data["shade"] = data["cost_of_change"].clip(upper=MAX_SHADE)
    title = result.scorer.title
    score_format = ".0%" if result.scorer.task == "classification" else ",.4~g"
    base = alt.Chart(data).encode(
        x=alt.X("feature:N", sort=features, title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("row:N", sort=rows, title=None),
        tooltip=[
            alt.Tooltip("row:N", title="Alternative"),
            alt.Tooltip("feature:N", title="Input"),
            alt.Tooltip("before:N", title="Now"),
            alt.Tooltip("after:N", title="Change to"),
            alt.Tooltip("cost_of_change:Q", title="Cost (spreads)", format=".2f"),
            alt.Tooltip("score:Q", title=title, format=score_format),
        ],
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2, cornerRadius=3).encode(
        color=alt.Color(
            "shade:Q",
            title=SHADE_TITLE,
            scale=alt.Scale(domain=[0, MAX_SHADE], range=[LIGHT_COLOR, DARK_COLOR]),
            legend=alt.Legend(orient="bottom", format=".1f", gradientLength=160, titleLimit=400),
        )
    )
    texts = base.mark_text(fontSize=12, color="#111111").encode(text="change:N")
    return cast(alt.LayerChart, alt.layer(cells, texts).properties(width=alt.Step(120), height=alt.Step(34)))
