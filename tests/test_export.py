"""Downloads read back with the csv module: they must hold exactly what the evaluation says."""
from __future__ import annotations

import csv
import io

import numpy as np

from app import export
from models.evaluate import Evaluation


def evaluation() -> Evaluation:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(300, 3)) + 2 * np.eye(3)[rng.integers(0, 3, 300)]
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    return Evaluation("mnist", "linear", ("cat, the first", "dog", "bird"), "id", rng.integers(0, 3, 300), probs)


def test_confusion_csv_round_trips():
    ev = evaluation()
    rows = list(csv.reader(io.StringIO(export.confusion_csv(ev))))
    assert rows[0] == ["actual \\ predicted", "cat, the first", "dog", "bird"]  # commas quoted, not split
    assert [r[0] for r in rows[1:]] == list(ev.classes)
    assert np.array_equal(np.array([[int(v) for v in r[1:]] for r in rows[1:]]), ev.confusion)


def test_cell_csv_lists_every_image_in_the_chosen_order():
    ev = evaluation()
    for sort in ("predicted", "true", "margin"):
        rows = list(csv.DictReader(io.StringIO(export.cell_csv(ev, 0, 1, sort))))
        assert [int(r["index"]) for r in rows] == ev.sorted_cell(0, 1, sort)[0].tolist()
        assert len(rows) == ev.confusion[0, 1]
        for r in rows:
            n = int(r["index"])
            assert r["true"] == "cat, the first" and r["predicted"] == "dog"
            assert float(r["probability"]) == round(float(ev.probs[n, 1]), 6)
            assert float(r["true_class_probability"]) == round(float(ev.probs[n, 0]), 6)


def test_file_names_are_safe():
    assert export.filename("mnist", "linear", "", "confusion") == "mnist-linear-confusion"
    assert export.filename("../../etc", "a b") == "etc-a-b"
