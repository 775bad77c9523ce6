"""Every dashboard callback called directly, on synthetic data with quickly trained networks."""
from __future__ import annotations

import base64
import re
from contextvars import copy_context

import numpy as np
import plotly.graph_objects as go
import pytest
from dash import dcc, html, no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict

from app.main import create_app
from app.panels import samples as samples_panel
from tests.conftest import quick_trained


@pytest.fixture(scope="module")
def cb(tmp_path_factory):
    """The app's callbacks over three quickly trained pairs; mnist/cnn and cifar10/mlp stay untrained."""
    pairs = (("mnist", "linear"), ("mnist", "mlp"), ("cifar10", "cnn"))
    with quick_trained(tmp_path_factory.mktemp("app"), pairs) as (settings, zoo):
        yield dict(create_app(settings).lookinside_callbacks, zoo=zoo)


def triggered(fn, prop_id, value, *args):
    """Run a callback as if `prop_id` (an 'id.property' string) had just changed to `value`."""
    def run():
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": value}]))
        return fn(*args)
    return copy_context().run(run)


def find(component, kind):
    """All components of a type in a Dash component tree."""
    found = [component] if isinstance(component, kind) else []
    children = getattr(component, "children", None) if not isinstance(component, list) else component
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            found += find(child, kind)
    return found


def text_of(component) -> str:
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, list):
        return "".join(text_of(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else text_of(children)


def array(value) -> np.ndarray:
    """A figure array, whether plain or in plotly's base64 typed-array form (what to_dict() produces)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.array(value, dtype=float)


def ready(cb, dataset="mnist", arch="linear"):
    return cb["resolve"](dataset, arch)[0]


def test_resolve_ready_untrained_missing_and_forged(cb):
    assert ready(cb)["status"] == "ready"
    st, request = cb["resolve"]("cifar10", "mlp")
    assert st["status"] == "untrained" and request == st
    st, request = cb["resolve"]("fashion-mnist", "linear")  # not in the synthetic data dir, and offline
    assert st["status"] == "error" and "Fashion-MNIST data is not available" in st["message"]
    assert request is no_update
    for forged in (("../../etc/passwd", "linear"), ("mnist", {"x": 1}), (None, None), ("mnist", "a" * 10_000)):
        st, _ = cb["resolve"](*forged)
        assert st["status"] == "error" and len(st["dataset"]) <= 40 and len(st["arch"]) <= 40


def test_forged_states_are_ignored(cb):
    for forged in ({"dataset": "mnist", "arch": "linear"}, {"dataset": "mnist", "arch": "linear", "status": 1},
                   {"dataset": "mnist", "arch": "linear", "status": "ready", "message": None, "checkpoint": ""}):
        assert cb["status"](forged, forged, "mnist", "linear") == ("…", "", "status")
        assert cb["weights"](forged, None, "diverging", None, "mnist", "linear") is not None


def test_status_shows_accuracy_and_errors(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    accuracy, message, cls = cb["status"](ready(cb), None, "mnist", "linear")
    assert f"{100 * ev.accuracy:.2f}%" in text_of(accuracy) and message == ""
    err = cb["resolve"]("fashion-mnist", "linear")[0]
    _, message, cls = cb["status"](err, None, "fashion-mnist", "linear")
    assert "not available" in message and "status-error" in cls


def test_heatmap_draws_the_evaluation(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    fig = go.Figure(cb["heatmap"](ready(cb), None, "counts", "numbers", None, "mnist", "linear"))
    z = np.nan_to_num(array(fig.data[0].z)[:10, :10]) + np.nan_to_num(array(fig.data[1].z)[:10, :10])
    assert np.array_equal(z, ev.confusion)
    pct = go.Figure(cb["heatmap"](ready(cb), None, "percent", "numbers", None, "mnist", "linear"))
    assert pct.data[0].text[0][0].endswith("%")
    images = go.Figure(cb["heatmap"](ready(cb), None, "counts", "images", {"actual": 1, "predicted": 1},
                                     "mnist", "linear"))
    assert len(images.layout.images) == int((ev.confusion > 0).sum()) and len(images.layout.shapes) == 1
    stale = go.Figure(cb["heatmap"](ready(cb), None, "counts", "numbers", None, "mnist", "mlp"))  # another pair
    assert not any(t.type == "heatmap" for t in stale.data)


def test_select_cell_validates_clicks(cb):
    click = {"points": [{"x": "5", "y": "3", "curveNumber": 1}]}
    assert triggered(cb["select_cell"], "confusion-graph.clickData", click, click, "mnist", "linear") == \
        {"actual": 3, "predicted": 5}
    margin = {"points": [{"x": "recall", "y": "3"}]}
    assert triggered(cb["select_cell"], "confusion-graph.clickData", margin, margin, "mnist", "linear") is no_update
    for forged in ({"points": [{"x": "../../etc/passwd", "y": 1}]}, {"points": []}, "junk", None,
                   {"points": [{"x": "5", "y": "3"}]} | {"extra": "x" * 1000}):
        result = triggered(cb["select_cell"], "confusion-graph.clickData", forged, forged, "mnist", "linear")
        assert result is no_update or result == {"actual": 3, "predicted": 5}
    assert triggered(cb["select_cell"], "dataset-dropdown.value", "cifar10", click, "cifar10", "linear") is None


def test_show_more_grows_and_resets(cb):
    assert triggered(cb["shown"], "samples-more.n_clicks", 1, 1, None, "predicted", 24) == 48
    assert triggered(cb["shown"], "samples-more.n_clicks", 2, 2, None, "predicted", samples_panel.MAX_SHOWN) == \
        samples_panel.MAX_SHOWN
    assert triggered(cb["shown"], "state-cell.data", {}, 0, {"actual": 1, "predicted": 1}, "predicted", 96) == 24
    assert triggered(cb["shown"], "samples-sort.value", "margin", 3, None, "margin", 96) == 24
    assert triggered(cb["shown"], "samples-more.n_clicks", 1, 1, None, "predicted", "forged") == 24


def test_samples_most_confident_first_with_indices(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    a, p = np.unravel_index(np.argmax(ev.confusion), ev.confusion.shape)
    children, more = cb["samples"]({"actual": int(a), "predicted": int(p)}, 24, "predicted", None, ready(cb), None,
                                   "mnist", "linear")
    heading = text_of(children[0])
    assert heading.startswith(f"actual {a}, predicted {p}: {ev.confusion[a, p]} images")
    imgs = find(children, html.Img)
    shown = [int(img.to_plotly_json()["props"]["data-index"]) for img in imgs]
    # Oracle: this cell's samples sorted by predicted probability, highest first.
    members = [n for n in range(ev.n) if ev.labels[n] == a and ev.probs[n].argmax() == p]
    expected = sorted(members, key=lambda n: (-ev.probs[n, p], n))[:24]
    assert shown == expected
    assert ("hidden" in more) == (len(members) <= 24)


def test_empty_cell_says_so(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    empty = np.argwhere(ev.confusion == 0)
    a, p = (int(v) for v in empty[0])
    children, _ = cb["samples"]({"actual": a, "predicted": p}, 24, "predicted", None, ready(cb), None, "mnist", "linear")
    assert "0 images" in text_of(children[0]) and "this cell is empty" in text_of(children)
    nothing, _ = cb["samples"]({"actual": 99, "predicted": -1}, 24, "margin", None, ready(cb), None, "mnist", "linear")
    assert "Click a cell" in text_of(nothing)


def test_selecting_a_sample_from_a_cell_or_the_suspects(cb):
    tile = '{"index":7,"type":"sample-tile"}.n_clicks'
    assert triggered(cb["select_sample"], tile, 1, [0, 1], [], None) == 7
    assert triggered(cb["select_sample"], tile, 0, [0, 0], [], None) is no_update  # tile just rendered
    suspect = '{"index":9,"type":"suspect-tile"}.n_clicks'
    assert triggered(cb["select_sample"], suspect, 1, [], [1], None) == 9
    assert triggered(cb["select_sample"], "state-cell.data", {}, [1], [], {"actual": 1, "predicted": 1}) is None
    assert cb["mark_selected"](7, [{"index": 3}, {"index": 7}], [{"index": 7}]) == \
        (["tile", "tile selected"], ["tile selected"])


@pytest.mark.parametrize("arch", ["linear", "mlp"])
def test_explanation_shows_exact_sums_that_match_the_logits(cb, arch):
    ev = cb["zoo"].evaluation("mnist", arch)
    wrong = np.flatnonzero(ev.preds != ev.labels)
    index = int(wrong[0]) if len(wrong) else 0
    children, cls = cb["explanation"](index, ready(cb, arch=arch), None, "mnist", arch)
    assert cls == "card card-explain"
    text = text_of(children)
    assert f"Test image #{index}" in text and f"true class {ev.classes[ev.labels[index]]}" in text
    probs = find(children, dcc.Graph)[0].figure
    assert np.allclose(list(probs.data[0].x), ev.probs[index])
    # Every score line shows the parts' sum and the network's own logit: they must agree to 3 decimals.
    sums = re.findall(r"= (-?\d+\.\d{3}) \(network: (-?\d+\.\d{3})\)", text)
    assert len(sums) == 2 and all(a == b for a, b in sums)
    maps = [img for img in find(children, html.Img) if img.className == "map-img"]
    assert len(maps) == (3 if arch == "linear" else 2)
    if arch == "mlp":
        assert "Hidden activations" in str(find(children, dcc.Graph)[1].figure.layout.title.text)


def test_explanation_of_a_convnet_is_labelled_an_approximation(cb):
    children, cls = cb["explanation"](3, ready(cb, "cifar10", "cnn"), None, "cifar10", "cnn")
    assert "approximation" in text_of(children) and cls == "card card-explain"
    assert len([img for img in find(children, html.Img) if img.className == "map-img"]) == 2


def test_explanation_ignores_forged_indices(cb):
    for forged in (-1, 10 ** 9, "7", None, True, [1]):
        assert cb["explanation"](forged, ready(cb), None, "mnist", "linear") == (no_update, "card card-explain hidden")


def test_sorting_and_the_cell_summary(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    a = int(np.argmax(np.diag(ev.confusion)))
    children, _ = cb["samples"]({"actual": a, "predicted": a}, 24, "true", None, ready(cb), None, "mnist", "linear")
    shown = [int(img.to_plotly_json()["props"]["data-index"]) for img in find(children, html.Img)]
    members = [n for n in range(ev.n) if ev.labels[n] == a and ev.probs[n].argmax() == a]
    assert shown == sorted(members, key=lambda n: (ev.probs[n, a], n))[:24]
    assert "lowest first" in text_of(children)
    summary = cb["summary"]({"actual": a, "predicted": a}, ready(cb), None, "mnist", "linear")
    captions = [text_of(f) for f in find(summary, html.Figcaption)]
    assert captions[0] == f"mean of this cell ({len(members):,})" and captions[1] == f"template {a}"
    wrong = np.argwhere((ev.confusion > 0) & ~np.eye(10, dtype=bool))
    if len(wrong):
        i, j = (int(v) for v in wrong[0])
        summary = cb["summary"]({"actual": i, "predicted": j}, ready(cb, arch="mlp"), None, "mnist", "mlp")
        assert [text_of(f) for f in find(summary, html.Figcaption)][1:] == \
            [f"mean of all {i} (actual)", f"mean of all {j} (predicted)"]
    assert cb["summary"](None, ready(cb), None, "mnist", "linear") is None


def test_suspects_open_on_demand_and_name_the_models(cb):
    assert cb["suspects"](0, "mnist", ready(cb), None, "linear") == (None, "Find them")
    assert cb["suspects"](2, "mnist", ready(cb), None, "linear") == (None, "Find them")
    listing, label = cb["suspects"](1, "mnist", ready(cb), None, "linear")
    assert label == "Hide them"
    text = text_of(listing)
    assert "Based on" in text and "1-layer" in text and "2-layer" in text
    for tile in find(listing, html.Button):
        assert tile.id["type"] == "suspect-tile"


def test_weights_for_each_network(cb):
    linear = cb["weights"](ready(cb), None, "diverging", {"actual": 3, "predicted": 5}, "mnist", "linear")
    tiles = find(linear, html.Figure)
    assert len(tiles) == 10
    assert "mark-actual" in tiles[3].className and "mark-predicted" in tiles[5].className
    assert "faded" in tiles[0].className
    mlp = cb["weights"](ready(cb, arch="mlp"), None, "grayscale", None, "mnist", "mlp")
    assert len(find(mlp, html.Figure)) == 10 and "Output weights" in text_of(mlp)
    cnn = cb["weights"](ready(cb, "cifar10", "cnn"), None, "rgb", None, "cifar10", "cnn")
    assert len(find(cnn, html.Figure)) == 8  # the synthetic convnet's 8 first-layer filters
    waiting = cb["weights"](cb["resolve"]("cifar10", "mlp")[0], None, "diverging", None, "cifar10", "mlp")
    assert "Preparing" in text_of(waiting)


def test_colormap_follows_the_data(cb):
    options, value = cb["colormap_choices"]("cifar10", "diverging")
    assert value == "rgb" and not options[-1]["disabled"]
    options, value = cb["colormap_choices"]("mnist", "rgb")
    assert value == "diverging" and options[-1]["disabled"]
    assert cb["colormap_choices"]("mnist", "grayscale")[1] == "grayscale"


def test_background_training_reports_progress_and_makes_the_pair_ready(cb):
    request = cb["resolve"]("mnist", "cnn")[1]
    reports = []
    result = cb["train"](reports.append, request)
    assert result["status"] == "ready" and result["checkpoint"]
    assert reports[0][2].startswith("Preparing") and any("epoch" in r[2] for r in reports)
    steps = [int(r[0]) for r in reports[1:]]
    assert steps == sorted(steps) and steps[-1] == int(reports[-1][1])
    assert ready(cb, "mnist", "cnn")["status"] == "ready"
    assert cb["train"](reports.append, "forged") is no_update
    assert cb["train"](reports.append, {"dataset": "nope", "arch": "cnn"})["status"] == "error"
