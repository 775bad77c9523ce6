"""Downloads: the confusion matrix and a cell's image list as CSV text (pure functions, no Dash)."""
from __future__ import annotations

import csv
import io
import re

from models.evaluate import Evaluation


def _text(rows) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def confusion_csv(ev: Evaluation) -> str:
    """Rows are actual classes, columns predicted classes, as counts (the heatmap's numbers)."""
    header = ["actual \\ predicted", *ev.classes]
    return _text([header, *([name, *map(int, row)] for name, row in zip(ev.classes, ev.confusion))])


def cell_csv(ev: Evaluation, actual: int, predicted: int, sort: str = "predicted") -> str:
    """Every image of a cell in the order on screen: test index, true and predicted class, probabilities."""
    indices, _ = ev.sorted_cell(actual, predicted, sort)
    rows = [["index", "true", "predicted", "probability", "true_class_probability"]]
    rows += [[int(n), ev.classes[actual], ev.classes[predicted], f"{float(ev.probs[n, predicted]):.6f}",
              f"{float(ev.probs[n, actual]):.6f}"] for n in indices]
    return _text(rows)


def view_filename(dataset: str, arch: str, step, *parts) -> str:
    """A download's file name: the pair, the timeline step when it is not the finished network, then `parts`."""
    return filename(dataset, arch, "" if step is None else f"step{step}", *parts)


def filename(*parts) -> str:
    """A safe file name (no extension) from its parts: letters, digits and single dashes only."""
    return re.sub(r"[^A-Za-z0-9]+", "-", "-".join(str(p) for p in parts if p != "")).strip("-")
