"""The layer maps, nearest training images, switched-off units and the predictions table, through the app's
callbacks on quickly trained networks; every result is checked against the network computed another way."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from dash import no_update

from app import figures
from app.panels import table
from models import datasets, layers
from models.compare import difference
from models.evaluate import Evaluation
from models.train import predict_proba
from tests.conftest import callbacks_of
from tests.test_app_callbacks import array, find, run_job, shown_view, text_of, triggered
from dash import html


@pytest.fixture(scope="module")
def cb(tmp_path_factory):
    with callbacks_of(tmp_path_factory.mktemp("maps"), (("mnist", "linear"), ("mnist", "mlp"), ("cifar10", "cnn"))) \
            as found:
        yield found


@pytest.fixture(autouse=True)
def _no_rate_limits(monkeypatch):
    monkeypatch.setattr("app.access.Limits.check", lambda self, name: None)


def points(figure: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """(index, x, y, true class) of every point of a map figure, in test-set order."""
    rows = []
    for trace in figure["data"]:
        if not trace.get("meta"):
            continue
        index = array(trace["customdata"]).astype(int)
        x, y = array(trace["x"]), array(trace["y"])
        rows += [(i, a, b, trace["meta"]["class"], trace["meta"]["mistakes"]) for i, a, b in zip(index, x, y)]
    rows.sort()
    return (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
            [(r[3], r[4]) for r in rows])


def test_the_map_places_every_test_image_by_the_chosen_layers_pca(cb):
    store = shown_view(cb, "mnist", "mlp")
    options, value = cb["embedding_layers"](store, None)
    assert [o["value"] for o in options] == ["input", "hidden1", "logits"] and value == "hidden1"
    view = cb["service"].shown(store)
    ev = view.evaluation
    for layer in ("input", "hidden1", "logits"):
        base, note, separation, button = cb["embedding"](store, layer, "pca")
        index, x, y, classes = points(base)
        assert index.tolist() == list(range(ev.n))  # every image once
        assert [c for c, _ in classes] == ev.labels.tolist()
        assert [m for _, m in classes] == (ev.labels != ev.preds).tolist()
        # The coordinates are the layer's own PCA: the network's forward pass, then numpy's SVD.
        test = datasets.load("mnist", False, cb["settings"])
        x_all = layers.pixels(test.images).numpy() if layer == "input" else \
            layers.features(view.checkpoint.model, test.images, view.checkpoint.normalization)[layer]
        centred = x_all - x_all.mean(0)
        u, s, _ = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
        np.testing.assert_allclose(np.abs(x), np.abs(u[:, 0] * s[0]), rtol=1e-3, atol=1e-3 * s[0])
        np.testing.assert_allclose(np.abs(y), np.abs(u[:, 1] * s[1]), rtol=1e-3, atol=1e-3 * s[0])
        meta = base["layout"]["meta"]
        assert meta["pred"] == ev.preds.tolist()
        assert meta["prob"] == [round(1000 * float(ev.probs[i, p])) for i, p in enumerate(ev.preds)]
        assert base["layout"]["xaxis"]["title"]["text"].startswith("PC 1 (")
        assert note is None and button.endswith("hidden")
    # The separation figure: nearest-class-mean accuracy of each layer, computed here by brute force.
    train = datasets.load("mnist", True, cb["settings"])
    n = min(20_000, len(train))
    train_x = layers.features(view.checkpoint.model, train.images[:n], view.checkpoint.normalization)
    test_x = layers.features(view.checkpoint.model, test.images, view.checkpoint.normalization)
    want = []
    for key in ("input", "hidden1", "logits"):
        a = layers.pixels(train.images[:n]).numpy() if key == "input" else train_x[key]
        b = layers.pixels(test.images).numpy() if key == "input" else test_x[key]
        labels = train.labels[:n].numpy()
        means = np.stack([a[labels == c].mean(0) for c in range(10)])
        nearest = np.argmin(((b[:, None, :] - means[None]) ** 2).sum(2), axis=1)
        want.append(100 * (nearest == test.labels.numpy()).mean())
    np.testing.assert_allclose(array(separation["data"][0]["x"]), want, atol=1e-6)


def test_a_forged_layer_or_method_draws_nothing_new(cb):
    store = shown_view(cb, "mnist", "mlp")
    assert cb["embedding"](store, "hidden9", "pca")[0] is no_update
    assert cb["embedding"](store, {"x": 1}, "pca")[0] is no_update
    base = cb["embedding"](store, "logits", "nonsense")[0]
    assert base["layout"]["xaxis"]["title"]["text"].startswith("PC 1")


@pytest.mark.parametrize("network, units", [("mlp-1-sigmoid", 1), ("mlp-2-relu", 2)])
def test_a_layer_of_one_or_two_units_is_mapped(cb, network, units):
    """One unit has no second direction: its map is a line, x its value less the mean; two units are a plane."""
    cb["zoo"].evaluation("mnist", network)
    store = shown_view(cb, "mnist", network)
    view = cb["service"].shown(store)
    base = cb["embedding"](store, "hidden1", "pca")[0]
    go.Figure(base)  # plotly accepts it as a figure
    index, x, y, _ = points(base)
    assert index.tolist() == list(range(view.evaluation.n))
    test = datasets.load("mnist", False, cb["settings"])
    hidden = layers.features(view.checkpoint.model, test.images, view.checkpoint.normalization)["hidden1"]
    assert hidden.shape[1] == units
    u, s, _ = np.linalg.svd((hidden - hidden.mean(0)).astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(np.abs(x), np.abs(u[:, 0] * s[0]), rtol=1e-3, atol=1e-3 * s[0])
    titles = base["layout"]["xaxis"]["title"]["text"], base["layout"]["yaxis"]["title"]["text"]
    if units == 1:
        np.testing.assert_allclose(x, hidden[:, 0] - hidden[:, 0].mean(), atol=1e-5)  # the unit itself, not flipped
        assert not y.any() and titles == ("the layer's one unit, less its mean", figures.ONE_UNIT)
    else:
        np.testing.assert_allclose(np.abs(y), np.abs(u[:, 1] * s[1]), rtol=1e-3, atol=1e-3 * s[0])
        assert titles[0].startswith("PC 1 (") and titles[1].startswith("PC 2 (")


def test_a_box_selection_lists_exactly_its_images(cb):
    store = shown_view(cb, "mnist", "mlp")
    ev = cb["service"].shown(store).evaluation
    picked = [5, 17, 3, 90, 17]
    children, tiles, more, summary = cb["samples"](None, 24, "true", store, picked)[:4]
    assert summary is None  # a pick has no cell to summarise
    assert text_of(children[0]).startswith("4 images selected on the map")
    shown = [t[0] for t in tiles]
    want = sorted({5, 17, 3, 90}, key=lambda i: (ev.probs[i, ev.labels[i]], i))  # least like its label first
    assert shown == want
    assert more.endswith("hidden")
    for forged in ([10_000], [-1], ["3"], [True], "5", [1.5]):
        children, _, _, _ = cb["samples"](None, 24, "predicted", store, forged)[:4]
        assert "selected on the map" not in text_of(children)


def switched_off_oracle(cb, store, units) -> Evaluation:
    """The evaluation of a copy of the network whose switched-off units' outgoing weights are zero."""
    view = cb["service"].shown(store)
    model = copy.deepcopy(view.checkpoint.model)
    with torch.no_grad():
        model.outgoing()[:, list(units)] = 0
    probs = predict_proba(model, view.images.images, view.checkpoint.normalization)
    ev = view.evaluation
    return Evaluation(ev.dataset, ev.arch, ev.classes, ev.checkpoint_id, ev.labels, probs)


def test_switching_units_off_turns_the_heatmap_into_the_difference(cb):
    store = shown_view(cb, "mnist", "mlp")
    ev = cb["service"].shown(store).evaluation
    off = {"network": "mlp", "units": [0, 2]}  # as the page's switches write it (assets/weights.js)
    figure = cb["heatmap"](store, "counts", "numbers", off)
    note, reset = cb["switch_note"](store, off)
    oracle = switched_off_oracle(cb, store, [0, 2])
    np.testing.assert_array_equal(array(figure["data"][0]["z"]).reshape(10, 10), difference(ev, oracle))
    assert figure["data"][0]["colorbar"]["title"]["text"] == "off − intact"
    words = text_of(note)
    assert f"{100 * ev.accuracy:.2f}% → {100 * oracle.accuracy:.2f}%" in words
    assert f"{int((oracle.preds != ev.preds).sum()):,} of {ev.n:,}" in words
    assert reset == "link-button"
    # Each unit switched off opens its unit view (layer 1, numbered from 1 as the address numbers it).
    assert [a.to_plotly_json()["props"]["data-unit"] for a in find(note, html.A)] == ["1.1", "1.3"]
    # A cell then lists the images that moved, as the oracle moved them.
    cell = {"actual": 1, "predicted": 1}
    listing, _, _, _ = cb["samples"](cell, 24, "predicted", store, None, off)[:4]
    into = int(((oracle.labels == 1) & (oracle.preds == 1) & (ev.preds != 1)).sum())
    out = int(((ev.labels == 1) & (ev.preds == 1) & (oracle.preds != 1)).sum())
    assert text_of(listing[0]) == f"actual 1, predicted 1: {into:,} moved in with off, {out:,} moved out"
    # The same units in another network's store change nothing there.
    figure = cb["heatmap"](shown_view(cb, "mnist", "linear"), "counts", "numbers", off)
    assert figure["data"][0]["type"] == "heatmap" and "colorbar" not in figure["data"][0]
    note, reset = cb["switch_note"](shown_view(cb, "mnist", "linear"), off)
    assert note is None and reset.endswith("hidden")
    # Forged units change nothing (a unit's switch is flipped in the browser, tests/test_browser_views.py).
    assert cb["switch_note"](store, {"network": "mlp", "units": [99]})[0] is None


def test_the_address_holds_the_units_switched_off(cb):
    off = cb["switch_from_address"]("?dataset=mnist&model=mlp&off=5,2", None)  # units 2 and 5, as the page numbers
    assert off == {"network": "mlp", "units": [1, 4]}
    assert cb["switch_from_address"]("?dataset=mnist&model=mlp&off=5,2", off) is no_update
    assert cb["switch_from_address"]("?dataset=mnist&model=mlp&off=4-1", off) is no_update  # an older link's form
    for forged in ("x", "0", "1,,2", "-1", "1,x"):
        assert cb["switch_from_address"](f"?dataset=mnist&model=mlp&off={forged}", off) is None
    accuracy = cb["status"](shown_view(cb, "mnist", "mlp"), off)[0]
    switched = cb["service"].representations.switched(cb["service"].shown(shown_view(cb, "mnist", "mlp")), (1, 4))
    assert f"{100 * switched.accuracy:.2f}% accuracy with units 2, 5 off (intact: " in text_of(accuracy)


def test_the_weights_panel_puts_a_switch_on_each_first_layer_unit(cb):
    store = shown_view(cb, "mnist", "mlp")
    data = cb["weights"](store, "diverging", "0")[0]
    view = cb["service"].shown(store)
    count = layers.switchable(view.checkpoint.model)
    assert data["network"] == "mlp" and data["switches"] == count
    assert [t["unit"] for t in data["parts"][0]["tiles"]] == list(range(count))
    linear = cb["weights"](shown_view(cb, "mnist", "linear"), "diverging", "0")[0]
    assert linear["switches"] == 0  # no hidden units: no switches
    assert all(t["unit"] is None for p in linear["parts"] for t in p.get("tiles", []))


def test_nearest_training_images_are_the_brute_force_ones(cb):
    store = shown_view(cb, "mnist", "mlp")
    view = cb["service"].shown(store)
    train = datasets.load("mnist", True, cb["settings"])
    test = datasets.load("mnist", False, cb["settings"])
    rows = layers.features(view.checkpoint.model, train.images, view.checkpoint.normalization)["hidden1"]
    query = layers.features(view.checkpoint.model, test.images[7:8], view.checkpoint.normalization)["hidden1"][0]
    cosine = 1 - rows @ query / (np.linalg.norm(rows, axis=1).clip(1e-12) * np.linalg.norm(query))
    kth = np.sort(cosine)[7]
    children = cb["nearest"](7, store, "hidden1")
    figures_ = find(children, html.Figure)
    found = [int(f.title.split("#")[1].split(":")[0]) for f in figures_]
    assert len(found) == 8 and np.all(cosine[found] <= kth + 2e-3)
    for f, r in zip(figures_, found):
        assert f.title.startswith(f"training image #{r}: {train.classes[int(train.labels[r])]},")
    assert "nearest training images in the hidden layer 1" in text_of(children[0])
    assert cb["nearest"](10_000, store, "hidden1") is None
    assert len(find(cb["nearest"](7, store, "bogus"), html.Figure)) == 8  # a forged layer: the class scores


def test_the_table_sorts_filters_and_pages_as_pandas_does(cb):
    store = shown_view(cb, "mnist", "mlp")
    view = cb["service"].shown(store)
    ev = view.evaluation
    df = pd.DataFrame({"index": np.arange(ev.n), "p_true": 100 * ev.probs[np.arange(ev.n), ev.labels].astype(float),
                       "predicted": np.asarray(ev.classes)[ev.preds], "p_pred": 100 * ev.confidence.astype(float)})
    request = {"startRow": 10, "endRow": 30, "sortModel": [{"colId": "p_true", "sort": "asc"}],
               "filterModel": {"p_pred": {"filterType": "number", "type": "greaterThan", "filter": 30},
                               "predicted": {"filterType": "text", "type": "notEqual", "filter": "3"}}}
    response, lit, note = cb["table_rows"](request, store, None)
    want = df[(df.p_pred > 30) & (df.predicted != "3")].sort_values(["p_true", "index"], kind="stable")
    assert response["rowCount"] == len(want)
    assert [r["index"] for r in response["rowData"]] == want["index"].iloc[10:30].tolist()
    assert response["rowData"][0]["image"] == f"/image/mnist/{response['rowData'][0]['index']}.png"
    assert sorted(lit["indices"]) == sorted(want["index"].tolist()) and lit["checkpoint"] == ev.checkpoint_id
    assert note.startswith(f"{len(want):,} of {ev.n:,}")
    # Another page of the same filter sends no new highlight; no filter clears it.
    assert cb["table_rows"](dict(request, startRow=30, endRow=60), store, lit)[1] is no_update
    assert cb["table_rows"]({"startRow": 0, "endRow": 50}, store, lit)[1] is None
    descending = cb["table_rows"]({"startRow": 0, "endRow": 5, "sortModel": [{"colId": "loss", "sort": "desc"}]},
                                  store, None)[0]
    loss = -np.log(np.clip(ev.probs[np.arange(ev.n), ev.labels].astype(float), 1e-12, None))
    assert [r["index"] for r in descending["rowData"]] == \
        sorted(range(ev.n), key=lambda i: (-loss[i], i))[:5]
    mistakes = cb["table_rows"]({"startRow": 0, "endRow": 200, "filterModel": {
        "correct": {"filterType": "text", "type": "equals", "filter": "no"}}}, store, None)[0]
    assert [r["index"] for r in mistakes["rowData"]] == np.flatnonzero(ev.preds != ev.labels).tolist()[:200]
    # Forged requests: unknown columns and filters are ignored, rows are bounded.
    forged = {"startRow": -5, "endRow": 10**9, "sortModel": [{"colId": "__class__", "sort": "up"}],
              "filterModel": {"p_true": {"filterType": "number", "type": "eval", "filter": "1"},
                              "nope": {"filterType": "text", "type": "equals", "filter": "x"}}}
    response = cb["table_rows"](forged, store, None)[0]
    assert response["rowCount"] == ev.n and len(response["rowData"]) == min(ev.n, table.MAX_BLOCK)


def test_the_tables_label_error_column_is_the_label_error_cards_rule(cb):
    """A row says "yes" exactly when the served networks agree, confidently, on a class other than its label (the
    label-errors card's rule, over the same networks, with no cut-off)."""
    from unittest import mock

    from models.suspects import Suspect, likely_label_errors
    view = cb["service"].shown(shown_view(cb, "mnist", "mlp"))
    evaluations = [ev for _, ev in cb["service"].evaluated("mnist")]
    want = {s.index for s in likely_label_errors(evaluations[0].labels, [ev.probs for ev in evaluations])}
    frame = table.frame(cb["service"], view)
    assert set(frame.loc[frame.label_error == "yes", "index"]) == want
    made = [Suspect(3, 1, 2, (0.01,), (0.9,), 0.89), Suspect(11, 0, 5, (0.02,), (0.8,), 0.78)]
    with mock.patch.object(table, "_label_errors", return_value=made):  # some, whatever the networks agree on
        frame = table._frame(cb["service"], view)
    assert frame.loc[frame.label_error == "yes", "index"].tolist() == [3, 11]
    assert (frame.label_error == "no").sum() == len(frame) - 2


@pytest.mark.parametrize("spec", [
    {"filterType": "number", "type": "lessThan", "filter": 10 ** 400},  # beyond 64 bits: float() overflows
    {"filterType": "number", "type": "inRange", "filter": 1, "filterTo": -10 ** 400},
    {"filterType": "number", "type": "lessThan", "filter": float("inf")},
    {"filterType": "number", "type": {"x": 1}, "filter": 3},  # unhashable where the operator's name goes
    {"filterType": "text", "type": ["equals"], "filter": "3"},
    {"filterType": "number", "type": "lessThan", "filter": [3]},
    {"filterType": {"x": 1}, "type": "lessThan", "filter": 3},
])
def test_a_forged_table_filter_is_ignored(cb, spec):
    """A filter no grid sends keeps every row, whatever is in it; the rows the real filter keeps stay kept."""
    store = shown_view(cb, "mnist", "mlp")
    n = cb["service"].shown(store).evaluation.n
    response, lit, note = cb["table_rows"]({"startRow": 0, "endRow": 50, "filterModel": {"p_true": spec}}, store, None)
    assert response["rowCount"] == n and len(lit["indices"]) == n and note.startswith(f"{n:,} of {n:,}")
    kept = cb["table_rows"]({"filterModel": {"index": {"filterType": "number", "type": "lessThan", "filter": 7},
                                             "p_true": spec}}, store, None)[0]
    assert [r["index"] for r in kept["rowData"]] == list(range(7))


def test_a_forged_sort_or_column_kind_is_ignored(cb):
    store = shown_view(cb, "mnist", "mlp")
    n = cb["service"].shown(store).evaluation.n
    for sorts in ([{"colId": ["loss"], "sort": "asc"}], [{"colId": {"x": 1}, "sort": "desc"}],
                  [{"colId": "loss", "sort": ["asc"]}]):
        rows = cb["table_rows"]({"startRow": 0, "endRow": 5, "sortModel": sorts}, store, None)[0]["rowData"]
        assert [r["index"] for r in rows] == list(range(5))  # the test set's own order
    # A number filter on a text column would compare class names with a number: not this column's filter.
    text = {"true": {"filterType": "number", "type": "lessThan", "filter": 3}}
    assert cb["table_rows"]({"filterModel": text}, store, None)[0]["rowCount"] == n
    for image in ({"type": "equals", "filter": "x"}, {"filterType": "text", "type": "equals", "filter": "x"}):
        assert cb["table_rows"]({"filterModel": {"image": image}}, store, None)[0]["rowCount"] == n  # no filter
    start = cb["table_rows"]({"startRow": 10 ** 400, "endRow": 2 ** 64}, store, None)[0]
    assert start["rowData"] == [] and start["rowCount"] == n


def test_a_forged_map_method_or_layer_is_refused(cb):
    """The layer and method dropdowns' values, forged as a dict or list (unhashable) or a huge number."""
    store = shown_view(cb, "mnist", "mlp")
    base = cb["embedding"](store, "hidden1", "pca")[0]
    for method in ({"x": 1}, ["umap"], 10 ** 400):
        assert cb["embedding"](store, "hidden1", method)[0] == base  # PCA, as if nothing were chosen
        assert triggered(cb["embedding_ask"], "embedding-method.value", method, method, "hidden1", 0, store) \
            == (no_update, no_update)
    for layer in (["input"], {"x": 1}, 10 ** 400):
        assert cb["embedding"](store, layer, "pca")[0] is no_update
        assert triggered(cb["embedding_ask"], "embedding-method.value", "umap", "umap", layer, 0, store) \
            == (no_update, no_update)
        # The nearest training images fall back to the class scores, the layer every network has.
        assert "class scores" in text_of(cb["nearest"](3, store, layer)[0])


def test_a_convnet_maps_its_layers_and_switches_filters_off_through_jobs(cb):
    store = shown_view(cb, "cifar10", "cnn")
    view = cb["service"].shown(store)
    base, note, _, button = cb["embedding"](store, "pooled", "pca")
    assert "one pass over the 60,000" in note and button == "more-button"
    assert cb["nearest"](3, store, "pooled")[1].children.startswith("This network's layers are computed once")
    handle, _ = triggered(cb["embedding_ask"], "embedding-compute.n_clicks", 1, "pca", "pooled", 1, store)
    assert handle["mode"] == "features"
    run_job(cb, handle)
    assert cb["embedding_poll"](handle)[5] == handle["id"]
    base, note, separation, button = cb["embedding"](store, "pooled", "pca", handle["id"])
    index, x, _, _ = points(base)
    test = datasets.load("cifar10", False, cb["settings"])
    pooled = layers.features(view.checkpoint.model, test.images, view.checkpoint.normalization)["pooled"]
    u, s, _ = np.linalg.svd(pooled - pooled.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(x), np.abs(u[:, 0] * s[0]), rtol=1e-3, atol=1e-3 * s[0])
    assert len(find(cb["nearest"](3, store, "pooled"), html.Figure)) == 8
    # Filters off: one queued pass, then the difference against the oracle.
    off = {"network": "cnn", "units": [1, 3]}
    assert "in the queue" in text_of(cb["switch_note"](store, off)[0])
    linked = cb["switch_request"]({**off, "asked": False}, store)  # a link named them: nothing queued...
    assert linked[0] is no_update and "This link switched these filters off" in linked[1]
    assert linked[2] == "more-button" and not [j for j in cb["queue"].active() if j.mode == "off"]
    handle, _, shown = cb["switch_request"](off, store)  # ...a click of a filter's switch queues the pass
    assert handle["mode"] == "off" and shown == "more-button hidden"
    run_job(cb, handle)
    figure = cb["heatmap"](store, "counts", "numbers", off, handle["id"])
    oracle = switched_off_oracle(cb, store, [1, 3])
    np.testing.assert_array_equal(array(figure["data"][0]["z"]).reshape(10, 10), difference(view.evaluation, oracle))


def test_umap_of_a_layer_is_a_queued_job_and_then_the_map(cb):
    store = shown_view(cb, "mnist", "mlp")
    base, note, _, _ = cb["embedding"](store, "hidden1", "umap")
    assert note.startswith("UMAP of this layer is being computed")
    assert base["layout"]["xaxis"]["title"]["text"].startswith("PC 1")  # PCA meanwhile
    handle, _ = triggered(cb["embedding_ask"], "embedding-method.value", "umap", "umap", "hidden1", 0, store)
    assert handle["mode"] == "map"
    again, _ = triggered(cb["embedding_ask"], "embedding-method.value", "umap", "umap", "hidden1", 0, store)
    assert again["id"] == handle["id"]  # a second visitor joins the job
    run_job(cb, handle)
    base, note, _, _ = cb["embedding"](store, "hidden1", "umap", handle["id"])
    assert note is None and base["layout"]["xaxis"]["title"]["text"] == "UMAP 1"
    index, x, y, _ = points(base)
    saved = np.load(cb["service"].representations.path(cb["service"].shown(store), "umap", "hidden1"))
    np.testing.assert_array_equal(np.stack([x, y], 1), saved[index])
    assert np.isfinite(saved).all() and saved.std(0).min() > 0


def test_the_new_callbacks_survive_forged_values(cb):
    """Whatever a hand-made request sends these callbacks (forged beside plausible values), none raises."""
    import inspect
    import random
    from app.access import RateLimited
    rng = random.Random(1)
    plausible = [shown_view(cb, "mnist", "mlp"), shown_view(cb, "cifar10", "cnn"), shown_view(cb, "mnist", "mlp", 1),
                 "hidden1", "input", "pooled", "logits", "pca", "umap", [1, 2, 3], {"network": "mlp", "units": [1]},
                 {"network": "cnn", "units": [0]}, {"startRow": 0, "endRow": 50}, {"rowId": "3"}, {"index": 3},
                 {"id": "x", "mode": "map"}, 7, "?dataset=mnist&model=mlp&off=1-2", {"actual": 1, "predicted": 2}]
    forged = [{"a": 1}, [1, [2]], None, "x" * 60, 10 ** 9, -1, True, 3.5, [10 ** 9], {"units": "x", "network": 5},
              {"startRow": "a", "filterModel": {"p_true": {"filterType": "number", "type": "inRange", "filter": 1}},
               "sortModel": [{"colId": "loss"}]}, {"rowId": ["1"]}, {"indices": "x"}]
    triggers = ["embedding-compute.n_clicks", "embedding-method.value", "off-reset.n_clicks", "url.search",
                "predictions-table.getRowsRequest"]
    names = ["embedding_layers", "embedding", "embedding_ask", "embedding_poll", "switch_note",
             "switch_from_address", "switch_request", "switch_poll", "table_rows", "nearest", "samples", "heatmap",
             "weights"]
    for name in names:
        fn = cb[name]
        n = len(inspect.signature(fn).parameters)
        for _ in range(120):
            args = [rng.choice(plausible + forged) for _ in range(n)]
            try:
                triggered(fn, rng.choice(triggers), args[0] if args else None, *args)
            except RateLimited:
                pass
            except Exception as e:  # noqa: BLE001 - the point is to catch anything
                raise AssertionError(f"{name} raised {type(e).__name__}: {e} on {args!r}"[:600]) from None
    for job in cb["queue"].active():  # what the forged requests queued is not run
        cb["queue"].end(job.id, "cancelled")


def test_the_map_follows_the_timeline(cb):
    """At a timeline position the map is the PCA of that snapshot's layer, not the finished network's."""
    store = shown_view(cb, "mnist", "mlp", 1)
    view = cb["service"].shown(store)
    assert view.checkpoint.metrics.get("label")  # a snapshot
    base, note, _, _ = cb["embedding"](store, "hidden1", "umap")
    assert note.startswith("UMAP is computed for finished networks only")
    _, x, y, _ = points(base)
    test = datasets.load("mnist", False, cb["settings"])
    snap = layers.features(view.checkpoint.model, test.images, view.checkpoint.normalization)["hidden1"]
    u, s, _ = np.linalg.svd(snap - snap.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(x), np.abs(u[:, 0] * s[0]), rtol=1e-3, atol=1e-3 * s[0])
    final = points(cb["embedding"](shown_view(cb, "mnist", "mlp"), "hidden1", "pca")[0])[1]
    assert not np.allclose(np.abs(final), np.abs(x), atol=1e-3)


def test_a_layer_index_is_written_once_and_memory_mapped_after(tmp_path):
    import torch

    from app.representations import shared
    path, built = tmp_path / "maps" / "mnist-input-index.npy", []

    def build():  # two batches of rows, written to the file one at a time
        built.append(1)
        rows = torch.arange(12, dtype=torch.float16).reshape(3, 4)
        yield rows[:2]
        yield rows[2:]
    first = shared(path, 3, build)
    again = shared(path, 3, build)  # another process, or this one after the cache let it go: read, not made
    assert built == [1] and path.is_file() and torch.equal(first, again)
    assert torch.equal(first, torch.arange(12, dtype=torch.float16).reshape(3, 4))
    assert not list(path.parent.glob("*.tmp"))  # no temporary file left behind
    assert str(path) in Path("/proc/self/maps").read_text()  # mapped, not copied
    first = first.clone()
    spare = path.with_suffix(".tmp")
    spare.write_bytes(b"half a file")
    spare.replace(path)  # unsound (files are only ever replaced whole: a mapping of the old one stays valid)
    assert torch.equal(shared(path, 3, build), first) and built == [1, 1]
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    # A folder that cannot be made or written: kept in this process's memory, still right.
    assert torch.equal(shared(blocked / "maps" / "x.npy", 3, build), first)


def test_a_layers_files_are_as_readable_as_the_model_folders_others(tmp_path):
    """app/representations.py writes through models/files.py: a job's files are not mkstemp's private 0600,
    which locked every other user of a shared model folder out of them; a failed stream leaves nothing."""
    import os
    import stat

    from app.representations import _streamed, write
    umask = os.umask(0o022)
    try:
        paths = {"a": tmp_path / "maps" / "a.npy", "b": tmp_path / "maps" / "b.npy"}
        found = _streamed(paths, 4, np.float16, lambda: iter([{"a": np.ones((2, 3)), "b": np.zeros((2, 5))}] * 2))
        write(tmp_path / "maps" / "c.npy", np.ones((2, 2), np.float32))
    finally:
        os.umask(umask)
    assert found["a"].shape == (4, 3) and found["b"].shape == (4, 5) and float(found["a"].sum()) == 12
    for name in ("a.npy", "b.npy", "c.npy"):
        assert stat.S_IMODE((tmp_path / "maps" / name).stat().st_mode) == 0o644

    def broken():
        yield {"d": np.ones((2, 3))}
        raise OSError("disk full")
    assert _streamed({"d": tmp_path / "maps" / "d.npy"}, 4, np.float16, broken) is None
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["a.npy", "b.npy", "c.npy"]
