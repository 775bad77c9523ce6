"""A confusion cell as the page names it ({"actual": i, "predicted": j}), checked; shared by the panels."""
from __future__ import annotations

from typing import Optional


def parse_cell(cell, k: int) -> Optional[dict]:
    """A {"actual", "predicted"} pair inside a k x k matrix, or None for anything else."""
    try:
        actual, predicted = int(cell["actual"]), int(cell["predicted"])
    except (TypeError, KeyError, ValueError, OverflowError):
        return None
    if 0 <= actual < k and 0 <= predicted < k:
        return {"actual": actual, "predicted": predicted}
    return None


def parse_click(click, classes) -> Optional[dict]:
    """The cell a heatmap click names, or None for the margins and anything malformed.

    dcc.Graph reports a heatmap point by its axis labels (x, y); it drops a heatmap's customdata.
    The browser does the same for the main heatmap (assets/cells.js); this is the compare card's.
    """
    try:
        point = click["points"][0]
        actual, predicted = classes.index(str(point["y"])), classes.index(str(point["x"]))
    except (TypeError, KeyError, IndexError, ValueError, AttributeError):
        return None
    return {"actual": actual, "predicted": predicted}
