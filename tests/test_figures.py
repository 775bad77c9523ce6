"""Figure builders and image helpers: pure functions checked against direct computation."""
from __future__ import annotations

import base64
import copy
import io

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from PIL import Image

from app import figures
from app.images import DIVERGING_ANCHORS, colorize, png_data_uri, to_display, weight_scale

CLASSES = ("cat", "dog", "eel")
CONF = np.array([[5, 2, 0], [1, 7, 0], [0, 3, 0]])


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_confusion_cells_split_into_correct_and_wrong_traces():
    fig = figures.confusion_figure(CONF, CLASSES, precision=np.array([5 / 6, 7 / 12, np.nan]),
                                   recall=np.array([5 / 7, 7 / 8, 0.0]))
    correct, wrong = _trace(fig, "correct"), _trace(fig, "wrong")
    z_ok, z_bad = np.array(correct.z, dtype=float), np.array(wrong.z, dtype=float)
    for i in range(3):
        for j in range(3):
            if i == j:
                assert z_ok[i, j] == CONF[i, j] and np.isnan(z_bad[i, j])
            else:
                assert z_bad[i, j] == CONF[i, j] and np.isnan(z_ok[i, j])
    assert list(correct.x) == ["cat", "dog", "eel", "recall"] and list(correct.y)[-1] == "precision"
    margins = _trace(fig, "margins")
    assert margins.text[0][3] == "71%" and margins.text[3][2] == "–"  # recall of cat; precision of eel
    assert margins.text[3][3] == "67%"  # overall accuracy 12/18 in the corner
    assert correct.text[1][1] == "7" and wrong.text[1][1] == ""  # each number drawn once


def test_row_percentages_and_normalized_view():
    pct = figures.row_percentages(CONF)
    assert np.allclose(pct[0], [500 / 7, 200 / 7, 0]) and np.allclose(pct[2], [0, 100, 0])
    fig = figures.confusion_figure(CONF, CLASSES, normalize=True)
    assert _trace(fig, "wrong").text[2][1] == "100.0%"
    assert figures.row_percentages(np.zeros((2, 2))).tolist() == [[0, 0], [0, 0]]


def test_top_images():
    uris = [["data:a", None, None], [None, "data:b", None], [None, "data:c", None]]
    fig = go.Figure(figures.confusion_figure(CONF, CLASSES, top_images=uris).to_dict())
    assert sorted(img.source for img in fig.layout.images) == ["data:a", "data:b", "data:c"]
    placed = {(img.y, img.x) for img in fig.layout.images}
    assert placed == {(0, 0), (1, 1), (2, 1)}
    assert not fig.layout.shapes  # the selected cell's outline is drawn by the page, not in the figure


def test_probability_figure_marks_the_prediction():
    fig = figures.probability_figure(np.array([0.1, 0.7, 0.2]), CLASSES, actual=2)
    bar = fig.data[0]
    assert list(bar.x) == [0.1, 0.7, 0.2] and bar.y[2] == "eel (actual)"
    assert bar.marker.color[1] == figures.NEGATIVE  # wrong prediction in the error colour
    right = figures.probability_figure(np.array([0.1, 0.7, 0.2]), CLASSES, actual=1)
    assert right.data[0].marker.color[1] != figures.NEGATIVE


def test_output_weights_one_chart_per_class_with_highlight():
    w = np.arange(30, dtype=float).reshape(3, 10) - 15
    built = figures.output_weights_figure(w, CLASSES)
    assert list(built.data[1].y) == list(w[1])
    base = built.to_dict()
    before = copy.deepcopy(base)
    marked = figures.highlight_classes(base, CLASSES, actual=0, predicted=2)
    fig = go.Figure(marked)  # plotly validates the result
    assert len(fig.data) == 3
    assert [t.opacity for t in fig.data] == [1.0, 0.3, 1.0]
    assert [t["y"] for t in marked["data"]] == [t["y"] for t in base["data"]]
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [f"<b>{CLASSES[0]}</b> (actual)", CLASSES[1], f"<b>{CLASSES[2]}</b> (predicted)"]
    assert pio.to_json(base) == pio.to_json(before)
    same = go.Figure(figures.highlight_classes(base, CLASSES, actual=1, predicted=1))
    assert [a.text for a in same.layout.annotations][1] == f"<b>{CLASSES[1]}</b> (actual = predicted)"
    assert [t.opacity for t in same.data] == [0.3, 1.0, 0.3]


def test_colorize_diverging_keeps_the_sign():
    w = np.zeros((1, 1, 1, 3))
    w[0, 0, 0] = [-1.0, 0.0, 1.0]
    (tile,) = colorize(w, "diverging")
    assert tile.shape == (1, 3, 3)
    assert tuple(tile[0, 1]) == tuple(DIVERGING_ANCHORS[2].astype(np.uint8))  # zero is neutral
    assert tile[0, 0, 0] > tile[0, 0, 2]  # negative: orange (more red than blue)
    assert tile[0, 2, 2] > tile[0, 2, 1]  # positive: purple (more blue than green)


def test_colorize_grayscale_and_rgb_share_one_scale_symmetric_around_zero():
    w = np.stack([np.full((1, 10, 10), -2.0), np.full((1, 10, 10), 2.0), np.zeros((1, 10, 10))])
    w[1, 0, 0, 0] = 50.0  # one extreme weight clips; it does not grey the others out
    low, high, zero = colorize(w, "grayscale")
    assert low.max() == 0 and high.min() == 255 and set(zero.ravel()) == {128}
    assert weight_scale(w, "grayscale") == pytest.approx(np.percentile(np.abs(w.mean(1)), 99))
    # Colour: one scale over the three channels, zero at mid-grey, so a template that is more blue than red
    # shows bluish, however small its weights are next to another template's.
    t = np.zeros((2, 3, 4, 4))
    t[0, 2], t[0, 0] = 0.01, -0.01  # blue up, red down
    t[1] = np.random.default_rng(0).normal(scale=0.02, size=(3, 4, 4))
    bluish, _ = colorize(t, "rgb")
    assert bluish.shape == (4, 4, 3) and (bluish[..., 2] > 128).all() and (bluish[..., 0] < 128).all()
    assert (bluish[..., 1] == 128).all()
    with pytest.raises(ValueError):
        colorize(w, "rainbow")


def test_png_round_trip():
    pixels = np.random.default_rng(1).integers(0, 256, (3, 7, 5), dtype=np.uint8)
    uri = png_data_uri(to_display(pixels))
    decoded = np.array(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert np.array_equal(decoded, pixels.transpose(1, 2, 0))
    gray = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)
    assert to_display(gray).shape == (3, 4)
