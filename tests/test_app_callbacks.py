"""Every dashboard callback called directly, on synthetic data with quickly trained networks."""
from __future__ import annotations

import base64
import json
import re
from contextvars import copy_context
from unittest import mock
from urllib.parse import parse_qs

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from dash import dcc, html, no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict

from app import runner
from app.access import RateLimited
from app.jobs import Queue
from app.main import create_app
from app.service import UNREADABLE
from app.state import screen
from models import datasets, saliency
from tests.conftest import quick_trained


@pytest.fixture(scope="module")
def cb(tmp_path_factory):
    """The app's callbacks over three quickly trained pairs; mnist/cnn and cifar10/mlp stay untrained.

    Jobs the callbacks queue are recorded, not started: a test runs one with `run_job`.
    """
    pairs = (("mnist", "linear"), ("mnist", "mlp"), ("cifar10", "cnn"))
    root = tmp_path_factory.mktemp("app")
    with quick_trained(root, pairs) as (settings, zoo):
        started = []
        queue = Queue(root / "jobs", launch=lambda q, job: started.append(job.id))
        app = create_app(settings, queue=queue)
        yield dict(app.lookinside_callbacks, zoo=zoo, queue=queue, started=started, service=app.lookinside_service)


def idle(cb) -> None:
    """End the jobs earlier tests queued in passing (they only recorded their start), so the one visitor
    of these tests may start another."""
    for job in cb["queue"].active():
        cb["queue"].end(job.id, "cancelled")


def run_job(cb, handle) -> None:
    """Run a queued job here, as its runner process would."""
    assert handle["id"] in cb["started"]
    runner.run(cb["queue"], handle["id"])


def drain(cb) -> None:
    """Run every job other tests left queued (the forged-value tests queue some), so that a test's own job
    starts at once."""
    for job in cb["queue"].active():
        runner.run(cb["queue"], job.id)


def triggered(fn, prop_id, value, *args, props=None):
    """Run a callback as if `prop_id` (an 'id.property' string) had just changed to `value`; `props`
    receives what it sets with set_props."""
    def run():
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": value}],
                                        updated_props=props if props is not None else {}))
        return fn(*args)
    return copy_context().run(run)


def components(node):
    """Plain element JSON (app/elements.py) read back into dash.html components; anything else as is."""
    if isinstance(node, list):
        return [components(n) for n in node]
    if isinstance(node, dict) and node.get("namespace") == "dash_html_components" and "props" in node:
        props = dict(node["props"])
        if "children" in props:
            props["children"] = components(props["children"])
        return getattr(html, node["type"])(**props)
    children = getattr(node, "children", None)
    if children is not None and not isinstance(children, (str, int, float)):  # a copy: results may be memoised
        return type(node)(**dict(node.to_plotly_json()["props"], children=components(children)))
    return node


def find(component, kind):
    """All components of a type in a Dash component tree."""
    component = components(component)
    found = [component] if isinstance(component, kind) else []
    children = getattr(component, "children", None) if not isinstance(component, list) else component
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            found += find(child, kind)
    return found


def weight_tiles(data: dict) -> list:
    """The tiles of the weights card's data (app/panels/weights.py), all parts together."""
    return [t for part in data.get("parts", []) for t in part.get("tiles", [])]


def text_of(component) -> str:
    component = components(component)
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
    return cb["resolve"](dataset, arch)["resolved"]


def answered(answer) -> tuple:
    """The resolve callback's answer as (the network's state, the queued job's handle or None)."""
    assert set(answer) == {"resolved", "job", "options", "datasets"}
    return answer["resolved"], answer["job"]


def train_it(cb, dataset, arch):
    """What pressing "Train it" beside a network not trained here does: (its state, the job's handle). The
    module's one visitor presses it more often than a person could, so its limits are not counted here."""
    with mock.patch("app.access.Limits.check", lambda self, name: None):
        return answered(triggered(cb["resolve"], "train-it.n_clicks", 1, dataset, arch, 0, None, None, 1))


def shown_view(cb, dataset="mnist", arch="linear", position=None):
    """The view store the page holds for a ready network, at a timeline position (None: the finished one),
    once the snapshot step has evaluated that position, as in the page."""
    if position is not None:
        cb["service"].snapshot(dataset, arch, position)
    return screen(ready(cb, dataset, arch), None, dataset, arch, position)


def test_resolve_ready_untrained_missing_and_forged(cb):
    assert ready(cb)["status"] == "ready"
    st, nothing = answered(cb["resolve"]("cifar10", "mlp"))  # choosing it (or a link to it) queues nothing...
    assert st["status"] == "untrained" and nothing is None and not cb["queue"].active()
    st, request = train_it(cb, "cifar10", "mlp")  # ...pressing "Train it" does
    assert st["status"] == "untrained"
    assert {k: request[k] for k in ("dataset", "network", "mode")} == {"dataset": "cifar10", "network": "mlp",
                                                                      "mode": "train"}
    assert train_it(cb, "cifar10", "mlp")[1] == request  # asking again joins the same job
    cb["queue"].cancel(request["id"])
    st, request = answered(cb["resolve"]("fashion-mnist", "linear"))  # not in the synthetic data dir, offline
    assert st["status"] == "error" and st["message"] == ("Fashion-MNIST is not available on this server: its "
                                                         "files are not here. The other datasets work.")
    assert request is None
    # The dropdown says so before anyone picks it, and an offline server does not offer it.
    offered = {o["value"]: o for o in cb["options"]("mnist")[1]}
    assert offered["fashion-mnist"] == {"label": "Fashion-MNIST (not available here)", "value": "fashion-mnist",
                                        "disabled": True}
    assert offered["mnist"] == {"label": "MNIST", "value": "mnist"}
    for forged in (("../../etc/passwd", "linear"), ("mnist", {"x": 1}), (None, None), ("mnist", "a" * 10_000)):
        st, _ = answered(cb["resolve"](*forged))
        assert st["status"] == "error" and len(st["dataset"]) <= 40 and len(st["arch"]) <= 40


def test_forged_states_are_ignored(cb):
    for forged in ({"dataset": "mnist", "arch": "linear"}, {"dataset": "mnist", "arch": "linear", "status": 1},
                   {"dataset": "mnist", "arch": "linear", "status": "ready", "message": None, "checkpoint": ""}):
        assert screen(forged, forged, "mnist", "linear") is None  # no view is made of them
    real = shown_view(cb)
    for forged in (None, {"dataset": "mnist", "network": "linear", "status": "ready"}, dict(real, position=-1),
                   dict(real, network="../x"), dict(real, position=True), dict(real, message=None), "ready"):
        assert cb["status"](forged) == ("…", "", "status")
        # A forged view draws no weights: the panel says it is preparing, with no image at all.
        assert cb["weights"](forged, "diverging", None)[0] == {"message": "Preparing the network…"}
    assert weight_tiles(cb["weights"](real, "diverging", None)[0])  # the same call with the real store draws
    # A network found ready that can no longer be read (a run removed since): said once, drawn nowhere.
    gone = dict(real, network="linear~run9")
    assert cb["status"](gone) == ("not available", UNREADABLE, "status status-error")
    assert "Nothing to show" in str(cb["heatmap"](gone, "counts", "numbers"))
    assert cb["weights"](gone, "diverging", None)[0] == {"message": "No weights to show for this network."}


def test_status_shows_accuracy_and_errors(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    accuracy, message, cls = cb["status"](shown_view(cb))
    assert f"{100 * ev.accuracy:.2f}%" in text_of(accuracy) and message == ""
    err = cb["resolve"]("fashion-mnist", "linear")["resolved"]
    _, message, cls = cb["status"](screen(err, None, "fashion-mnist", "linear"))
    assert "not available" in message and "status-error" in cls


def test_heatmap_draws_the_evaluation(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    fig = go.Figure(cb["heatmap"](shown_view(cb), "counts", "numbers"))
    z = np.nan_to_num(array(fig.data[0].z)[:10, :10]) + np.nan_to_num(array(fig.data[1].z)[:10, :10])
    assert np.array_equal(z, ev.confusion)
    pct = go.Figure(cb["heatmap"](shown_view(cb), "percent", "numbers"))
    assert pct.data[0].text[0][0].endswith("%")
    images = go.Figure(cb["heatmap"](shown_view(cb), "counts", "images"))
    assert len(images.layout.images) == int((ev.confusion > 0).sum()) and not images.layout.shapes
    stale = go.Figure(cb["heatmap"](screen(ready(cb), None, "mnist", "mlp"), "counts", "numbers"))  # another pair
    assert not any(t.type == "heatmap" for t in stale.data)


def test_samples_most_confident_first_with_indices(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    a, p = np.unravel_index(np.argmax(ev.confusion), ev.confusion.shape)
    head, tiles, more, summary = cb["samples"]({"actual": int(a), "predicted": int(p)}, 24, "predicted",
                                               shown_view(cb))[:4]
    assert find(summary, html.Figcaption)  # the cell's summary comes with its images: one request
    heading = text_of(head[0])
    assert heading.startswith(f"actual {a}, predicted {p}: {ev.confusion[a, p]} images")
    shown = [t[0] for t in tiles]
    assert all(t[1].startswith("data:image/png;base64,") and t[2].endswith("%") for t in tiles)
    # Oracle: this cell's samples sorted by predicted probability, highest first.
    members = [n for n in range(ev.n) if ev.labels[n] == a and ev.probs[n].argmax() == p]
    expected = sorted(members, key=lambda n: (-ev.probs[n, p], n))[:24]
    assert shown == expected
    assert ("hidden" in more) == (len(members) <= 24)


def test_empty_cell_says_so(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    empty = np.argwhere(ev.confusion == 0)
    a, p = (int(v) for v in empty[0])
    children, tiles, _, _ = cb["samples"]({"actual": a, "predicted": p}, 24, "predicted", shown_view(cb))[:4]
    assert "0 images" in text_of(children[0]) and "this cell is empty" in text_of(children) and tiles == []
    nothing, tiles, _, _ = cb["samples"]({"actual": 99, "predicted": -1}, 24, "margin", shown_view(cb))[:4]
    assert "Click a cell" in text_of(nothing) and tiles == []


def test_the_gallery_lists_only_mistakes_most_confident_first(cb):
    zoo = cb["zoo"]  # the untrained start of the timeline: the trained net makes no mistakes on this data
    ev = zoo.evaluate(zoo.snapshot(zoo.load("mnist", "linear"), 0))
    shown = find(components(cb["gallery"]("mistakes", shown_view(cb, position=0))), html.Button)
    picked = [int(b.id["index"]) for b in shown]
    wrong = np.flatnonzero(ev.preds != ev.labels)
    assert picked and set(picked) <= set(wrong.tolist())
    want = sorted(wrong.tolist(), key=lambda n: (-ev.confidence[n], n))[:len(picked)]
    assert picked == want and len(picked) == min(24, len(wrong))
    unsure = [int(b.id["index"]) for b in find(components(cb["gallery"]("unsure", shown_view(cb, position=0))),
                                               html.Button)]
    right = np.flatnonzero(ev.preds == ev.labels)
    assert unsure == sorted(right.tolist(), key=lambda n: (ev.confidence[n], n))[:24]
    assert "Waiting" in text_of(cb["gallery"]("mistakes", None))


def test_the_data_grid_is_a_labelled_seeded_sample(cb):
    test = datasets.load("mnist", False, cb["zoo"].settings)
    grid = components(cb["data_grid"]("mnist", "test", "all", 7))
    images = [i for i in find(grid, html.Img)]
    shown = [(int(i.to_plotly_json()["props"]["data-index"]), int(i.to_plotly_json()["props"]["data-label"]))
             for i in images]
    assert len(shown) == min(50, len(test.labels)) and len(set(shown)) == len(shown)
    assert all(int(test.labels[n]) == label for n, label in shown)  # every label is the real one
    def indices(seed):
        return [int(i.to_plotly_json()["props"]["data-index"]) for i in find(
            components(cb["data_grid"]("mnist", "test", "all", seed)), html.Img)]
    assert indices(7) == indices(7) == [n for n, _ in shown] and indices(8) != indices(7)  # the seed decides
    only3 = [int(i.to_plotly_json()["props"]["data-label"]) for i in find(
        components(cb["data_grid"]("mnist", "test", "3", 1)), html.Img)]
    assert only3 and set(only3) == {3}
    train = components(cb["data_grid"]("mnist", "train", "all", 1))
    assert not find(train, html.Button) and find(train, html.Img)  # shown, not clickable
    full = datasets.load("mnist", True, cb["zoo"].settings)
    for img in find(train, html.Img):
        props = img.to_plotly_json()["props"]
        assert int(full.labels[int(props["data-index"])]) == int(props["data-label"])
    # The split, the class and the mistakes' mode are in the address: a link opens them, back and forward restore them.
    from app.panels import gallery as gallery_panel
    from app.query import parse as parse_address
    wanted = parse_address("?dataset=mnist&split=train&class=3&gallery=unsure")
    assert {k: wanted[k] for k in ("split", "class", "gallery")} == {"split": "train", "class": "3", "gallery": "unsure"}
    card = gallery_panel.data_layout(wanted)
    values = {c.id: c.value for c in find(card, (dcc.RadioItems, dcc.Dropdown))}
    assert values == {"data-split": "train", "data-class": "3"}
    assert find(gallery_panel.gallery_layout(wanted), dcc.RadioItems)[0].value == "unsure"
    assert cb["data_from_address"]({"search": "?split=train&class=3&gallery=unsure"}, "test", "all", "mistakes") == \
        ("train", "3", "unsure")
    assert cb["data_from_address"]({"search": "?class=x&split=../"}, "train", "3", "unsure") == \
        ("test", "all", "mistakes")  # forged keys are the defaults
    options, value, counts = cb["data_classes"]("mnist", "3")
    assert value == "3" and len(options) == 11
    totals = [th.children for th in find(counts, html.Th)][-3:]
    assert totals == ["all", f"{len(full.labels):,}", f"{len(test.labels):,}"]
    per_class = [[td.children for td in find(row, html.Td)] for row in find(counts, html.Tr)[1:-1]]
    assert per_class[3] == ["3", f"{int((full.labels == 3).sum()):,}", f"{int((test.labels == 3).sum()):,}"]
    for forged in ("../x", None, {"a": 1}):
        assert cb["data_grid"](forged, "test", "all", 1) is None
    # The seed: from a link, or new with "New sample" (then written into the address by the page).
    back = "state-address.data"  # back or forward (a link's seed is in the layout it opens with)
    assert triggered(cb["data_seed"], back, {"search": "?seed=42"}, None, {"search": "?seed=42"}, 0) == 42
    assert triggered(cb["data_seed"], back, {"search": "?seed=42"}, None, {"search": "?seed=42"}, 42) is no_update
    assert triggered(cb["data_seed"], back, {"search": "?seed=x"}, None, {"search": "?seed=x"}, 5) == 0
    fresh = triggered(cb["data_seed"], "data-new.n_clicks", 1, 1, None, 42)
    assert isinstance(fresh, int) and 0 < fresh < 10**6
    forged_view = [int(i.to_plotly_json()["props"]["data-index"]) for i in find(
        components(cb["data_grid"]("mnist", "test", "99", -5)), html.Img)]
    assert forged_view == indices(0)  # a forged class or seed: all classes, seed 0


@pytest.mark.parametrize("arch", ["linear", "mlp"])
def test_explanation_shows_exact_sums_that_match_the_logits(cb, arch):
    ev = cb["zoo"].evaluation("mnist", arch)
    wrong = np.flatnonzero(ev.preds != ev.labels)
    index = int(wrong[0]) if len(wrong) else 0
    children, cls = cb["explanation"](index, shown_view(cb, arch=arch))
    assert cls == "card card-explain"
    text = text_of(children)
    assert f"Test image #{index}" in text and f"true class {ev.classes[ev.labels[index]]}" in text
    probs = find(children, dcc.Graph)[0].figure
    assert np.allclose(list(probs.data[0].x), ev.probs[index])
    maps = [img for img in find(children, html.Img) if "map-img" in img.className]
    if arch == "linear":
        # The chapter's pixel × weight: the image against all ten templates, highest score first, each sum the
        # network's own score (to 3 decimals), the winner the prediction; then the contrast of the top two.
        logits = np.asarray(cb["service"].explanation(cb["service"].shown(shown_view(cb, arch=arch)), index).logits)
        tiles = [f for f in find(children, html.Figure) if "product-tile" in (f.className or "")]
        assert len(tiles) == 10 and len(maps) == 2 * 10 + 1
        totals = [float(re.search(r"= (-?\d+\.\d{3})$", text_of(t.children[1].children[2])).group(1)) for t in tiles]
        assert totals == sorted(totals, reverse=True)
        np.testing.assert_allclose(sorted(totals, reverse=True), np.sort(logits)[::-1], atol=1.5e-3)
        assert "winner" in tiles[0].className and sum("winner" in t.className for t in tiles) == 1
        assert text_of(tiles[0]).startswith(f"{ev.classes[int(np.argmax(logits))]}  #1 of 10")
    else:
        # Every score line shows the parts' sum and the network's own logit: they must agree to 3 decimals.
        sums = re.findall(r"= (-?\d+\.\d{3}) \(network: (-?\d+\.\d{3})\)", text)
        assert len(sums) == 2 and all(a == b for a, b in sums)
        assert len(maps) == 2
    if arch == "mlp":
        assert "Activations of the hidden layer" in str(find(children, dcc.Graph)[1].figure.layout.title.text)


def test_explanation_of_a_convnet_is_labelled_an_approximation(cb):
    view = shown_view(cb, "cifar10", "cnn")
    children, cls = cb["explanation"](3, view)
    assert "approximation: Integrated Gradients" in text_of(children) and cls == "card card-explain"
    assert len([img for img in find(children, html.Img) if img.className == "map-img"]) == 2
    for method, label in saliency.METHODS.items():  # the menu's methods, each named as what it is
        children, _ = cb["explanation"](3, view, method)
        assert f"approximation: {label}" in text_of(children)
    ask = {"index": 3, "view": view}
    assert "hidden" not in cb["explain"](ask, "occlusion")[2]  # the menu shows for a convnet...
    assert "hidden" in cb["explain"]({"index": 3, "view": shown_view(cb)}, "occlusion")[2]  # ...not for exact maps
    for forged in ("deeplift", ["ig"], 7):
        children, _ = cb["explanation"](3, view, forged)
        assert "There is no attribution method" in text_of(children)


def test_can_i_trust_this_map_randomises_the_layers_from_the_top(cb):
    view = shown_view(cb, "cifar10", "cnn")
    children = cb["sanity"](1, {"index": 3, "view": view}, "gradcam")
    tiles = find(children, html.Figure)
    assert len(tiles) == 1 + len(cb["zoo"].load("cifar10", "cnn").model.unit_layers())
    assert "class scores randomised" in text_of(children) and "rank correlation" in text_of(children)
    assert "Grad-CAM" in text_of(children) and ("survives" in text_of(children) or "passes" in text_of(children))
    linear = cb["sanity"](1, {"index": 3, "view": shown_view(cb)}, "occlusion")  # exact maps: no choice
    assert "The exact map (x × w)" in text_of(linear) and len(find(linear, html.Figure)) == 2
    mlp = cb["sanity"](1, {"index": 3, "view": shown_view(cb, "mnist", "mlp")}, None)
    assert "Gradient × input of the class score" in text_of(mlp)
    assert cb["sanity"](1, {"index": 10 ** 9, "view": view}, "ig") is None
    assert "There is no attribution method" in text_of(cb["sanity"](1, {"index": 3, "view": view}, "lime"))


def test_explanation_ignores_forged_indices(cb):
    for forged in (-1, 10 ** 9, "7", None, True, [1]):
        assert cb["explanation"](forged, shown_view(cb)) == (no_update, "card card-explain hidden")


def test_sorting_and_the_cell_summary(cb):
    ev = cb["zoo"].evaluation("mnist", "linear")
    a = int(np.argmax(np.diag(ev.confusion)))
    children, tiles, _, _ = cb["samples"]({"actual": a, "predicted": a}, 24, "true", shown_view(cb))[:4]
    shown = [t[0] for t in tiles]
    members = [n for n in range(ev.n) if ev.labels[n] == a and ev.probs[n].argmax() == a]
    assert shown == sorted(members, key=lambda n: (ev.probs[n, a], n))[:24]
    assert "lowest first" in text_of(children)
    summary = cb["summary"]({"actual": a, "predicted": a}, shown_view(cb))
    captions = [text_of(f) for f in find(summary, html.Figcaption)]
    assert captions[0] == f"mean of this cell ({len(members):,})" and captions[1] == f"template {a}"
    wrong = np.argwhere((ev.confusion > 0) & ~np.eye(10, dtype=bool))
    if len(wrong):
        i, j = (int(v) for v in wrong[0])
        summary = cb["summary"]({"actual": i, "predicted": j}, shown_view(cb, arch="mlp"))
        assert [text_of(f) for f in find(summary, html.Figcaption)][1:] == \
            [f"mean of all {i} (actual)", f"mean of all {j} (predicted)"]
    assert cb["summary"](None, shown_view(cb)) is None


def test_suspects_open_on_demand_and_name_the_models(cb):
    assert cb["suspects"](0, shown_view(cb)) == (None, "Find them")
    assert cb["suspects"](2, shown_view(cb)) == (None, "Find them")
    listing, label = cb["suspects"](1, shown_view(cb))
    assert label == "Hide them"
    text = text_of(listing)
    assert "Based on" in text and "1-layer" in text and "2-layer" in text
    # Every suspect the networks agree on is listed, most suspicious first, each tile opening its image.
    from models.suspects import Suspect, likely_label_errors
    evaluations = [ev for _, ev in cb["service"].evaluated("mnist")]
    want = likely_label_errors(evaluations[0].labels, [ev.probs for ev in evaluations], limit=60)
    assert [t.id["index"] for t in find(listing, html.Button)] == [w.index for w in want]
    # and a suspect is drawn as one (the synthetic networks may agree on none: one is made up here)
    made = [Suspect(7, 1, 2, (0.01, 0.02), (0.9, 0.8), 0.78)]
    with mock.patch("app.panels.suspects.suspects_of", return_value=(["linear", "mlp"], made)):
        listing, _ = cb["suspects"](1, shown_view(cb))
    tiles = find(listing, html.Button)
    assert [t.id for t in tiles] == [{"type": "suspect-tile", "index": 7}]
    assert find(tiles[0], html.Img)[0].to_plotly_json()["props"]["data-index"] == "7"
    assert "label ≤ 2.0%, theirs ≥ 80%" in text_of(tiles[0])


def test_show_more_grows_the_list_and_a_new_cell_order_or_pick_resets_it(cb):
    """How many images the list shows: one more page per press up to the cap, kept while only the network
    or its switches change (Play), else one page."""
    from app.panels.samples import MAX_SHOWN, PAGE, shown_count
    assert shown_count(PAGE, more=True, kept=False) == 2 * PAGE
    assert shown_count(MAX_SHOWN, more=True, kept=False) == MAX_SHOWN
    assert shown_count(4 * PAGE, more=False, kept=False) == PAGE  # a new cell, order or selection on the map
    assert shown_count(3 * PAGE, more=False, kept=True) == 3 * PAGE  # another moment of the timeline
    assert shown_count("forged", more=True, kept=False) == 2 * PAGE
    assert shown_count(10 ** 9, more=False, kept=True) == MAX_SHOWN and shown_count(True, False, True) == PAGE
    # Through the callback: "show more" sends one more page and says so; a new cell goes back to one page.
    # (A selection on the map: the synthetic set's cells hold fewer than two pages.)
    ev, store = cb["zoo"].evaluation("mnist", "linear"), shown_view(cb)
    pick = list(range(min(ev.n, 3 * PAGE)))
    assert len(pick) > 2 * PAGE
    more = triggered(cb["samples"], "samples-more.n_clicks", 1, None, PAGE, "predicted", store, pick, None, None, 1)
    assert len(more[1]) == 2 * PAGE and more[4] == 2 * PAGE and more[3] is no_update  # no summary asked again
    again = triggered(cb["samples"], "state-map-pick.data", pick[1:], None, 2 * PAGE, "predicted", store, pick[1:])
    assert len(again[1]) == PAGE and again[4] == PAGE
    played = triggered(cb["samples"], "state-view.data", store, None, 2 * PAGE, "predicted", store, pick)
    assert len(played[1]) == 2 * PAGE and played[4] is no_update


def test_weights_for_each_network(cb):
    linear = cb["weights"](shown_view(cb), "diverging")[0]
    tiles = weight_tiles(linear)
    assert len(tiles) == 10 and all(t["src"].startswith("data:image/png;base64,") for t in tiles)
    # Each template carries its class, for the browser to mark a selected cell's (assets/weights.js).
    assert [t["class"] for t in tiles] == list(range(10))
    assert [t["label"] for t in tiles] == [str(c) for c in range(10)]
    mlp = cb["weights"](shown_view(cb, arch="mlp"), "grayscale", None)[0]
    assert len(weight_tiles(mlp)) == 10 and any(p["title"].startswith("Output weights") for p in mlp["parts"])
    assert [p["graph"] for p in mlp["parts"] if "graph" in p] == ["bars"]
    cnn = cb["weights"](shown_view(cb, "cifar10", "cnn"), "rgb", None)[0]
    assert len(weight_tiles(cnn)) == 8  # the synthetic convnet's 8 first-layer filters
    waiting = cb["weights"](screen(cb["resolve"]("cifar10", "mlp")["resolved"], None, "cifar10", "mlp"), "diverging", None)[0]
    assert "Preparing" in waiting["message"]


def test_the_chapter_guide_links_every_figure_to_a_view(cb):
    from app.query import parse
    from app.panels.chapter import FIGURES, SHOW
    from app.panels.chapter import layout as guide_of
    store = find(guide_of(cb["service"]), dcc.Store)[0]  # the list, drawn in the browser (assets/chapter.js)
    links = [entry["href"] for entry in store.data]
    assert len(links) == len(FIGURES) == 14
    views = [parse(a.split("?", 1)[1]) for a in links]
    assert all(v.get("dataset") and v.get("arch") for v in views)
    assert all(parse_qs(a.split("?", 1)[1])["show"][0] in SHOW for a in links)
    assert views[0] == {"dataset": "mnist", "arch": "linear"} and "show=diagram" in links[0]
    assert views[1] == {"dataset": "mnist", "arch": "linear", "cell": {"actual": 0, "predicted": 0},
                        "colours": "grayscale"}
    assert views[4]["cell"] == {"actual": 3, "predicted": 5} and views[5]["view"] == "images"
    assert views[9]["arch"] == "mlp" and "show=diagram" in links[9]
    pixel = views[11]  # pixel × weight: the test 3 that the 1-layer net is surest of and reads right
    ev = cb["zoo"].evaluation("mnist", "linear")
    assert ev.labels[pixel["sample"]] == 3 == ev.preds[pixel["sample"]] and pixel["cell"]["actual"] == 3
    threes = np.flatnonzero((ev.labels == 3) & (ev.preds == 3))
    assert ev.confidence[pixel["sample"]] == ev.confidence[threes].max()
    mistake = views[12]  # its most confident mistake, where there is one (this synthetic data may have none)
    wrong = np.flatnonzero(ev.preds != ev.labels)
    if len(wrong):
        assert mistake["sample"] == wrong[np.argmax(ev.confidence[wrong])]
        assert mistake["cell"] == {"actual": int(ev.labels[mistake["sample"]]), "predicted": int(ev.preds[mistake["sample"]])}
    else:  # none to show: the link opens the mistakes card, which says so
        assert "sample" not in mistake and links[12].startswith("/predictions?") and "show=mistakes" in links[12]
    text = " ".join(entry["numbers"] for entry in store.data)  # our numbers beside the chapter's, from the networks
    assert "chapter: about 90% and 37%" in text
    assert f"here: {int(ev.confusion[3, 5])} test 3s called 5" in text


def test_training_job_reports_progress_and_makes_the_pair_ready(cb):
    idle(cb)
    handle = train_it(cb, "mnist", "cnn")[1]
    queued = triggered(cb["poll"], "state-job.data", handle, handle, None, None, "cnn")
    assert queued[5] == "train-box active" and queued[6] is False and queued[7] is True  # polling, Watch disabled
    theirs = cb["queue"].submit("cifar10", "mlp", "train", {}, visitor="someone else")[0].handle()
    watching = triggered(cb["poll"], "state-job.data", theirs, theirs, None, None, "mlp")
    assert watching[5] == "train-box active watching"  # another visitor's job: watched, without Stop
    cb["queue"].cancel(theirs["id"])
    run_job(cb, handle)
    job = cb["queue"].get(handle["id"])
    assert job.state == "done" and job.progress["step"] == job.progress["total"] > 1
    frame = json.loads(job.frame)
    assert job.frame_no >= 2 and frame["figure"]["data"] and frame["images"][0].startswith("data:image/png")
    assert frame["labels"][:2] == ["filter 1", "filter 2"] and len(frame["labels"]) == len(frame["images"])
    props = {}
    done = triggered(cb["poll"], "train-poll.n_intervals", 5, handle, 5, job.frame_no, "linear", "mnist", props=props)
    assert done[8]["status"] == "ready" and done[8]["arch"] == "cnn" and done[6] is True  # polling stops
    assert props == {}  # the visitor moved on to another network meanwhile: the page stays there
    assert ready(cb, "mnist", "cnn")["status"] == "ready"
    for forged in ("forged", {"id": "x" * 32}, {"error": 5}, None):
        assert triggered(cb["poll"], "state-job.data", forged, forged, 1, None, "cnn")[6] is True


def test_watch_says_how_long_training_takes():
    from app.panels.bar import watch_text
    assert watch_text(None)[0] == "Watch it train" and watch_text(3.4)[0] == "Watch it train"
    label, title = watch_text(287)
    assert label == "Watch it train (about 5 min)" and "5 minutes" in title
    assert "34 seconds" in watch_text(34)[1]


def test_timeline_slider_moves_every_panel(cb):
    st = ready(cb)
    # The state carries the slider's positions (the browser sets the slider from them: test_browser_views.py).
    labels = st["timeline"]
    last = len(labels) - 1
    assert last >= 2 and "(final)" in labels[-1] and labels[0].startswith("untrained")
    store = shown_view(cb)  # as assets/view.js writes it (tests/test_browser.py compares the two)
    assert store == {"dataset": "mnist", "network": "linear", "checkpoint": st["checkpoint"], "position": None,
                     "status": "ready", "message": ""}
    assert "(final)" in cb["timeline_note"](store)
    early_view = dict(store, position=0)
    assert cb["timeline_note"](early_view).startswith("untrained")
    # Until the snapshot step has evaluated it, no panel draws (nor evaluates) the snapshot.
    zoo = cb["zoo"]
    first = zoo.snapshot(zoo.load("mnist", "linear"), 0)
    zoo._eval_path("mnist", "linear", first.id).unlink(missing_ok=True)  # as if nobody had looked at it yet
    assert "Nothing to show" in str(cb["heatmap"](early_view, "counts", "numbers"))
    assert zoo.cached_evaluation(first) is None
    made = cb["timeline_snapshot"]({"position": 0, "at": 1}, st, None, "mnist", "linear")
    assert made == {"dataset": "mnist", "network": "linear", "checkpoint": st["checkpoint"], "position": 0}
    for forged in (None, {"position": -1}, {"position": True}, {"position": "0"}, "0", {"position": 10 ** 400},
                   {"position": len(st["timeline"])}, {"position": float("inf")}):
        assert cb["timeline_snapshot"](forged, st, None, "mnist", "linear") is no_update
    start = go.Figure(cb["heatmap"](early_view, "counts", "numbers"))
    end = go.Figure(cb["heatmap"](store, "counts", "numbers"))
    untrained = np.nan_to_num(array(start.data[0].z)[:10, :10]) + np.nan_to_num(array(start.data[1].z)[:10, :10])
    trained = np.nan_to_num(array(end.data[0].z)[:10, :10]) + np.nan_to_num(array(end.data[1].z)[:10, :10])
    assert untrained.sum() == trained.sum() and np.trace(untrained) < np.trace(trained)
    accuracy, _, _ = cb["status"](early_view)
    assert text_of(accuracy) != text_of(cb["status"](store)[0])  # the snapshot's own accuracy
    w0 = cb["weights"](early_view, "diverging", None)[0]
    w1 = cb["weights"](store, "diverging", None)[0]
    assert weight_tiles(w0)[0]["src"] != weight_tiles(w1)[0]["src"]
    # The selected cell's images follow the slider too.
    cell = {"actual": 1, "predicted": 1}
    _, early, _, _ = cb["samples"](cell, 24, "predicted", early_view)[:4]
    _, late, _, _ = cb["samples"](cell, 24, "predicted", store)[:4]
    ev_early = zoo.evaluate(zoo.snapshot(zoo.load("mnist", "linear"), 0))
    ev_late = zoo.evaluation("mnist", "linear")

    def shown(tiles):
        return [t[0] for t in tiles]
    assert shown(early) == ev_early.cell(1, 1)[:24].tolist() and shown(late) == ev_late.cell(1, 1)[:24].tolist()
    assert shown(early) != shown(late)  # the two moments differ, so a list that ignored the slider fails


def test_watch_it_train_without_the_token_trains_a_new_run_beside_the_served_one(cb, monkeypatch):
    idle(cb)
    monkeypatch.setattr("app.access.Limits.check", lambda self, name: None)  # earlier tests' presses count too
    st = ready(cb, "mnist", "mlp")
    served = cb["zoo"].checkpoint_path("mnist", "mlp").read_bytes()
    found, handle = answered(triggered(cb["resolve"], "watch-button.n_clicks", 1, "mnist", "mlp", 1,
                                       "a guessed token"))
    assert found == st and handle["mode"] == "run" and handle["network"] == "mlp~run1"
    again = triggered(cb["resolve"], "watch-button.n_clicks", 2, "mnist", "mlp", 2, None)["job"]
    assert again == handle  # a second watcher joins the same run
    run_job(cb, handle)
    props = {}
    done = triggered(cb["poll"], "train-poll.n_intervals", 3, handle, 3, None, "mlp", "mnist", props=props)
    assert done[8]["arch"] == "mlp~run1" and props["model-dropdown"] == {"value": "mlp~run1"}  # the page shows it
    elsewhere = {}  # a visitor who has moved on to another dataset is not pulled back
    triggered(cb["poll"], "train-poll.n_intervals", 4, handle, 4, None, "linear", "cifar10", props=elsewhere)
    assert elsewhere == {}
    assert cb["zoo"].checkpoint_path("mnist", "mlp").read_bytes() == served
    run = ready(cb, "mnist", "mlp~run1")
    assert run["status"] == "ready" and run["checkpoint"] != st["checkpoint"]
    assert {"label": "2-layer (10 hidden units), visitor run 1", "value": "mlp~run1"} in cb["options"]("mnist")[0]
    compare_options = cb["compare_choices"]("mnist", None, None, None)[0]
    assert {"label": "2-layer (10 hidden units), visitor run 1, trained", "value": "mlp~run1"} in compare_options
    labels = cb["timeline_note"](shown_view(cb, "mnist", "mlp~run1", 0))
    assert labels.startswith("untrained")  # its own timeline, from a blank start
    assert ready(cb, "mnist", "mlp~run7")["status"] == "error"  # a run that does not exist is not trained on demand

def test_address_is_parsed_strictly():
    from app.query import parse
    assert parse("?dataset=cifar10&model=mlp&counts=percent&view=images&sort=margin&cell=3-5&sample=42&t=2") == {
        "dataset": "cifar10", "arch": "mlp", "mode": "percent", "view": "images", "sort": "margin",
        "cell": {"actual": 3, "predicted": 5}, "sample": 42, "position": 2}
    assert parse("") == {} and parse(None) == {} and parse("?" + "x" * 600) == {}
    for forged in ("?dataset=../../etc", "?model=evil", "?cell=3", "?cell=-1-2", "?cell=a-b", "?sample=1e9",
                   "?t=-3", "?sample=99999999999", "?counts=<script>"):
        assert parse(forged) == {}, forged


def test_address_restores_the_view(cb):
    search = "?dataset=cifar10&model=cnn&counts=percent&view=images&sort=true&cell=2-3&sample=7&t=1"
    assert cb["from_address"](search, "mnist", "linear") == ("cifar10", "cnn")
    # Only what differs is set again; each card reads its own keys.
    assert cb["from_address"]("?dataset=mnist&model=linear", "mnist", "linear") == (no_update,) * 2
    assert cb["toggles_from_address"](search, "counts", "numbers") == ("percent", "images")
    assert cb["toggles_from_address"]("?counts=percent", "percent", "numbers") == (no_update,) * 2
    assert cb["sort_from_address"](search, "predicted") == "true"
    assert cb["sort_from_address"]("", "predicted") is no_update


def test_compare_two_networks_and_the_images_that_moved(cb):
    options, a, _, b = cb["compare_choices"]("mnist", None, None, None)
    values = [o["value"] for o in options]
    assert a == "linear" and b == "mlp" and "linear:0" in values  # snapshots can be compared too
    fig, listing, note = cb["compare"]("linear", "mlp", None, "mnist", options)
    la, lb = cb["zoo"].evaluation("mnist", "linear"), cb["zoo"].evaluation("mnist", "mlp")
    assert np.array_equal(array(go.Figure(fig).data[0].z), lb.confusion - la.confusion)
    changed = int((la.preds != lb.preds).sum())
    assert "Click a cell" in text_of(listing) and f"{changed:,} of {la.n:,} test images change" in note
    cell = triggered(cb["compare_select"], "compare-graph.clickData", {"points": [{"x": "2", "y": "1"}]},
                     {"points": [{"x": "2", "y": "1"}]}, "mnist", "linear", "mlp")
    assert cell == {"actual": 1, "predicted": 2}
    _, listing, _ = cb["compare"]("linear:0", "linear", {"actual": 1, "predicted": 1}, "mnist", options)
    into = [int(img.to_plotly_json()["props"]["data-index"]) for img in find(listing[1], html.Img)]
    start = cb["zoo"].evaluate(cb["zoo"].snapshot(cb["zoo"].load("mnist", "linear"), 0))
    expected = [n for n in range(la.n) if la.labels[n] == 1 and la.preds[n] == 1 and start.preds[n] != 1]
    assert into == sorted(expected, key=lambda n: (-la.probs[n, 1], n))[:24]
    for forged in ("../x", "linear:x", "linear@0", None, 5, "a" * 100):
        assert cb["compare"](forged, "mlp", None, "mnist", options)[1] is None


def independent_ece(ev, n=15) -> float:
    """15 equal-width bins of the top probability, recomputed here from the evaluation's probabilities."""
    confidence, right = ev.probs.max(1), ev.probs.argmax(1) == ev.labels
    edges = np.linspace(0, 1, n + 1)
    total = 0.0
    for lo, hi in zip(edges, edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return total


def test_compare_sets_the_two_networks_calibration_side_by_side(cb):
    fig, note = cb["compare_calibration"]("linear", "mlp", "mnist")
    la, lb = cb["zoo"].evaluation("mnist", "linear"), cb["zoo"].evaluation("mnist", "mlp")
    ea, eb = independent_ece(la), independent_ece(lb)
    assert f"A {100 * ea:.2f}%, B {100 * eb:.2f}%" in note
    titles = [a.text for a in go.Figure(fig).layout.annotations]
    assert titles == [f"A: ECE {100 * ea:.2f}%", f"B: ECE {100 * eb:.2f}%"]
    bars = [t for t in go.Figure(fig).data if t.type == "bar"]
    assert len(bars) == 2 and sum(int(c[2]) for c in bars[0].customdata) == la.n
    assert cb["compare_calibration"]("../x", "mlp", "mnist")[1] is None


def test_downloads(cb):
    st = ready(cb)
    ev = cb["zoo"].evaluation("mnist", "linear")
    st = shown_view(cb)
    sent = cb["confusion_csv"](1, st)
    assert sent["filename"] == "mnist-linear-confusion.csv" and sent["type"] == "text/csv"
    rows = [r.split(",") for r in sent["content"].strip().split("\n")]
    assert np.array_equal(np.array(rows[1:])[:, 1:].astype(int), ev.confusion)
    early = cb["confusion_csv"](1, shown_view(cb, position=0))
    assert early["filename"] == "mnist-linear-step0-confusion.csv"
    listing = cb["samples_csv"](1, {"actual": 1, "predicted": 1}, "margin", st)
    indices = [int(r.split(",")[0]) for r in listing["content"].strip().split("\n")[1:]]
    assert indices == ev.sorted_cell(1, 1, "margin")[0].tolist()
    assert cb["samples_csv"](1, None, "margin", st) is no_update
    assert cb["confusion_csv"](0, st) is no_update


def test_own_drawing_and_upload(cb):
    from tests.test_upload import data_uri, picture
    st = shown_view(cb, arch="mlp")
    pixels = [0] * 784
    for c in range(4, 24):
        pixels[7 * 28 + c] = pixels[8 * 28 + c] = 230  # a band like the synthetic class 3's
    own = lambda trigger, value, *args: triggered(cb["own_predict"], trigger, value, *args)  # noqa: E731
    result, message, cls, source = own("draw-pixels.data", pixels, pixels, None, st, None)
    assert source == "draw" and message == "" and "Your drawing" in text_of(result)
    probs = find(result, dcc.Graph)[0].figure.data[0].x
    assert abs(sum(probs) - 1) < 1e-6 and "(network: " in text_of(result)
    # An upload: converted, explained, and described in one line.
    good = {"contents": data_uri(picture()), "name": "one.png"}
    result, message, cls, source = own("state-upload.data", good, None, good, st, "draw")
    assert source == "upload" and "Read one.png (200×300 PNG)" in message and "one.png" in text_of(result)
    for bad, words in (({"error": "\"big.png\" is 9.0 MB; images of at most 2 MB are accepted."}, "9.0 MB"),
                       ({"contents": data_uri(b"%PDF-1.4 not an image"), "name": "x.pdf"}, "not an image"),
                       ("forged", "Choose a picture")):
        result, message, cls, _ = own("state-upload.data", bad, None, bad, st, None)
        assert result is None and words in message and "status-error" in cls
    # A model switch re-runs the last input; drawing is for the grey 28x28 sets only.
    result, _, _, _ = own("state-view.data", shown_view(cb), pixels, good, shown_view(cb), "upload")
    assert "z = b + Σ w·x" in text_of(result)  # now explained by the 1-layer net
    st_cifar = shown_view(cb, "cifar10", "cnn")
    _, message, _, _ = own("draw-pixels.data", pixels, pixels, None, st_cifar, None)
    assert "the grey datasets" in message
    assert cb["own_drawing_area"]("cifar10")[0] == "own-draw hidden" and cb["own_drawing_area"]("mnist")[0] == "own-draw"
    # The card asks for what the dataset holds: no digits on Fashion-MNIST or CIFAR-10.
    assert "digit" in cb["own_drawing_area"]("mnist")[1]
    assert "digit" not in cb["own_drawing_area"]("fashion-mnist")[1] and "clothing" in cb["own_drawing_area"](
        "fashion-mnist")[1]
    assert "digit" not in cb["own_drawing_area"]("cifar10")[1] and "photo" in cb["own_drawing_area"]("cifar10")[1]
    missing = cb["resolve"]("fashion-mnist", "linear")["resolved"]  # not in the synthetic data dir
    result, message, _, _ = own("draw-pixels.data", pixels, pixels, None,
                                screen(missing, None, "fashion-mnist", "linear"), None)
    assert result is None and "No network is ready" in message
    options = cb["compare_choices"]("fashion-mnist", None, None, None)[0]
    assert options == [] and "nothing to compare" in cb["compare"](None, None, None, "fashion-mnist", options)[2]


def test_every_callback_survives_forged_values(cb):
    """Whatever the browser sends (every argument forged at once, in every shape JSON allows), no
    callback raises: the fuzz test over HTTP found these one at a time, this finds them all at once."""
    import inspect
    forged_values = ({"a": 1}, [1, [2]], None, "x" * 60, 10 ** 9, -1, True, 3.5, {"actual": [], "predicted": {}},
                     10 ** 400, [{"x": 1}], float("inf"), "9" * 5000)  # beyond 64 bits, unhashable, beyond int()
    for name, fn in cb.items():
        if name in ("zoo", "queue", "started", "service"):
            continue
        n = len(inspect.signature(fn).parameters)
        for forged in forged_values:
            for trigger in ("url.search", "confusion-graph.clickData", "draw-pixels.data", "state-upload.data",
                            "timeline-play.n_clicks", "timeline-tick.n_intervals", "watch-button.n_clicks"):
                try:
                    triggered(fn, trigger, forged, *[forged] * n)
                except RateLimited:  # a deliberate 429 for whoever presses too often
                    pass
                except Exception as e:  # noqa: BLE001 - the point is to catch anything
                    raise AssertionError(f"{name} raised {type(e).__name__}: {e} on {forged!r}") from None


def test_every_callback_survives_forged_values_mixed_with_real_ones(cb):
    """Forged values beside plausible ones, drawn at random (seeded): the combinations the page never
    sends but a hand-made request can."""
    import inspect
    import random
    rng = random.Random(0)
    plausible = [ready(cb), ready(cb, "mnist", "mlp"), shown_view(cb), shown_view(cb, "mnist", "mlp", 1), "mnist",
                 "cifar10", "linear", "mlp", "cnn",
                 {"actual": 1, "predicted": 2}, 0, 1, 2, "predicted", "margin", "?dataset=mnist&cell=1-1&t=0",
                 [0, 1], "draw", "upload", "counts", "percent", "images", "linear:0", "mlp:1", "linear@0",
                 [{"value": "linear", "label": "x"}], [0] * 784, {"contents": "data:image/png;base64,AAAA"}]
    forged = [{"a": 1}, [1, [2]], None, "x" * 60, 10 ** 9, -1, True, 3.5, {"actual": [], "predicted": {}},
              [{"value": {"a": 1}, "label": []}], {"error": 5}, [300] * 784, 10 ** 400, -2 ** 64, [{"x": 1}],
              float("inf"), "9" * 5000, {"startRow": 2 ** 64, "filterModel": {"loss": {
                  "filterType": "number", "type": "lessThan", "filter": 10 ** 400}}, "sortModel": [{"colId": []}]}]
    triggers = ["url.search", "confusion-graph.clickData", "compare-graph.clickData", "draw-pixels.data",
                "state-upload.data", "timeline-play.n_clicks", "timeline-tick.n_intervals", "watch-button.n_clicks",
                "state-cell.data", "samples-more.n_clicks", '{"index":7,"type":"suspect-tile"}.n_clicks']
    for name, fn in cb.items():
        if name in ("zoo", "queue", "started", "service"):
            continue
        n = len(inspect.signature(fn).parameters)
        for _ in range(150):
            args = [rng.choice(plausible + forged) for _ in range(n)]
            trigger = rng.choice(triggers)
            try:
                triggered(fn, trigger, args[0] if args else None, *args)
            except RateLimited:
                pass
            except Exception as e:  # noqa: BLE001
                raise AssertionError(f"{name} raised {type(e).__name__}: {e} on {args!r}"[:600]) from None


def test_a_truncated_evaluation_is_recomputed_and_a_truncated_timeline_reported(cb):
    idle(cb)
    zoo = cb["zoo"]
    path = zoo.settings.model_dir / "mnist-mlp.eval.npz"
    path.write_bytes(path.read_bytes()[:1000])
    st, handle = train_it(cb, "mnist", "mlp")
    assert st["status"] == "untrained" and "mnist-mlp.eval.npz is damaged" in st["message"]
    assert "recomputing" in st["message"] and handle["mode"] == "train"
    # One bad file disables nothing else: the other network, comparing, finding label errors.
    linear = ready(cb, "mnist", "linear")
    assert linear["status"] == "ready"
    assert [o["value"] for o in cb["compare_choices"]("mnist", None, None, None)[0]][0] == "linear"
    found = triggered(cb["suspects"], "suspects-button.n_clicks", 1, 1, shown_view(cb))
    assert "Based on" in text_of(found[0])
    run_job(cb, handle)
    assert ready(cb, "mnist", "mlp")["status"] == "ready" and evaluation_is_whole(path)
    timeline = zoo.settings.model_dir / "mnist-linear.timeline.pt"
    whole = timeline.read_bytes()
    try:
        timeline.write_bytes(whole[: len(whole) // 2])
        note = cb["timeline_note"](shown_view(cb, position=0))
        assert "mnist-linear.timeline.pt is damaged" in note and "No timeline was recorded" not in note
    finally:
        timeline.write_bytes(whole)


def evaluation_is_whole(path) -> bool:
    with np.load(path) as z:
        return z["probs"].shape[0] == z["labels"].shape[0] > 0


def test_a_network_built_in_the_page_is_trained_once_then_offered_paged_and_explained(cb, monkeypatch):
    idle(cb)
    counted = []  # earlier tests used up this one visitor's training limit: count here instead
    monkeypatch.setattr("app.access.Limits.check", lambda self, name: counted.append(name))
    network, label = "mlp-120-20-tanh", "3-layer (120 + 20 hidden units, tanh)"
    props = {}
    note, cls = triggered(cb["build"], "build-train.n_clicks", 1, 1, None, "120, 20", "tanh", "mnist", props=props)
    assert props["model-dropdown"]["value"] == network and cls == "status status-busy" and label in note
    assert {"label": label, "value": network} in props["model-dropdown"]["options"]
    # Pressing "Build and train" queued its one job (choosing it alone would queue nothing).
    handle = props["state-job"]["data"]
    assert cb["resolve"]("mnist", network)["job"] is None
    assert handle["network"] == network and handle["mode"] == "train"
    assert counted == ["train"]  # a build counts against the visitor's training limit
    assert {"label": label, "value": network} in cb["options"]("mnist")[0]  # offered to all while it trains
    run_job(cb, handle)
    assert cb["queue"].get(handle["id"]).state == "done"
    def build(hidden, activation):
        return triggered(cb["build"], "build-train.n_clicks", 2, 2, None, hidden, activation, "mnist")

    assert build("120,20", "tanh")[0] == f"Opened {label}: it was trained before."
    assert build("5,5,5,5", "tanh") == ("At most 3 hidden layers (asked for 4).", "status status-error")
    assert build("0", "relu")[0].startswith("Opened 1-layer (linear)")

    view = shown_view(cb, arch=network)
    # 120 first-layer filters: the first 100, then the rest on the second page, each under its own number.
    data, pages, pager = cb["weights"](view, "diverging", "0")
    assert [p["value"] for p in pages] == ["0", "1"] and pager == "pager"
    tiles = weight_tiles(data)
    assert len(tiles) == 100 and tiles[0]["label"] == "1"
    data, _, _ = cb["weights"](view, "diverging", "1")
    assert [t["label"] for t in weight_tiles(data)] == [str(u) for u in range(101, 121)]
    assert [t["unit"] for t in weight_tiles(data)] == list(range(100, 120))  # each with its unit's switch
    # Layer 2's weights over layer 1, and the output weights over 20 units: heatmaps, their rows the classes
    # (the browser marks a selected cell's two, tests/test_browser.py).
    layer2, out = [p["figure"] for p in data["parts"] if "graph" in p]
    model = cb["zoo"].load("mnist", network).model
    assert np.allclose(array(layer2["data"][0]["z"]), model.deeper[0].weight.detach().numpy())
    assert list(out["data"][0]["y"]) == [str(c) for c in range(10)] and not out["layout"].get("shapes")
    # The explanation: the last layer's exact shares add up to the network's own logits.
    children, _ = cb["explanation"](7, view)
    text = text_of(children)
    sums = re.findall(r"= (-?\d+\.\d{3}) \(network: (-?\d+\.\d{3})\)", text)
    assert len(sums) == 2 and all(a == b for a, b in sums)
    assert "The first hidden layer: its 4 most active units, input × filter" in text
    assert network in [o["value"] for o in cb["compare_choices"]("mnist", None, None, None)[0]]  # and compare offers it


def test_the_ladder_trains_its_missing_networks_as_one_job_and_draws_each_as_a_point(cb, monkeypatch):
    from models import ladder
    idle(cb)
    monkeypatch.setattr("app.access.Limits.check", lambda self, name: None)
    figure, button, disabled = cb["ladder_figure"]("mnist")
    missing = ladder.missing(cb["zoo"], "mnist")
    assert button.startswith(f"Train the {len(missing)} missing MNIST networks (about ") and not disabled
    said = [a["text"] for a in figure["layout"].get("annotations", []) if "not trained here yet" in a["text"]]
    assert said and said[0].startswith(f"MNIST: {len(missing)} of the ladder's {len(ladder.networks())} networks")
    handle, note = triggered(cb["climb"], "ladder-train.n_clicks", 1, 1, "mnist")
    assert handle["mode"] == "ladder" and note == "Queued…"
    # Anyone else pressing it joins that one job.
    again = cb["queue"].submit("mnist", "ladder", "ladder", {}, visitor="another visitor")[0]
    assert again.id == handle["id"]
    run_job(cb, handle)
    polled = triggered(cb["ladder_poll"], "ladder-poll.n_intervals", 3, handle, 3, None)
    assert polled[3] == f"Trained {len(missing)} networks." and polled[4] is True and polled[5] == handle["id"]
    assert ladder.missing(cb["zoo"], "mnist") == []
    figure, button, disabled = cb["ladder_figure"]("mnist")
    assert disabled and button == "Every network of the ladder is trained on MNIST"
    assert not any("not trained here yet" in a["text"] for a in figure["layout"].get("annotations", []))
    lines = {(t["name"], t.get("xaxis", "x")): t for t in figure["data"] if t.get("customdata")}
    width, depth = lines[("MNIST", "x")], lines[("MNIST", "x2")]
    assert list(array(width["x"])) == list(ladder.WIDTHS) and list(array(depth["x"])) == [1, 2, 3]
    points = {p.network: p for p in ladder.points(cb["zoo"], "mnist")}
    assert [c[1] for c in width["customdata"]] == ladder.by_width()
    assert np.allclose(array(width["y"]), [points[n].accuracy for n in ladder.by_width()])
    assert width["text"] == [f"{points[n].seconds:.0f} s" for n in ladder.by_width()]  # each labelled with its time
    # A click on a point opens that network, on its dataset.
    props = {}
    click = {"points": [{"customdata": ["mnist", "mlp-50-relu"]}]}
    assert triggered(cb["open_point"], "ladder-graph.clickData", click, click, props=props).startswith("Opened 2-layer (50")
    assert props["model-dropdown"]["value"] == "mlp-50-relu" and props["dataset-dropdown"] == {"value": "mnist"}
    assert triggered(cb["open_point"], "ladder-graph.clickData", 1, {"points": [{"customdata": ["mnist", "cnn"]}]}) \
        is no_update  # only the ladder's networks


def test_a_damaged_checkpoint_is_told_by_its_name_not_the_servers_path(cb, monkeypatch):
    """A network's file damaged after it was opened: the map job that needs it fails, and the page's sentence
    names the network, never the model folder or what the file reader raised (the log keeps those)."""
    idle(cb)
    monkeypatch.setattr("app.access.Limits.check", lambda self, name: None)
    network = "mlp-3-tanh"  # on no other test's list, nor on the ladder's
    cb["zoo"].evaluation("mnist", network)
    store = shown_view(cb, "mnist", network)
    handle, _ = triggered(cb["embedding_ask"], "embedding-method.value", "umap", "umap", "hidden1", 0, store)
    assert handle["mode"] == "map"
    path = cb["zoo"].checkpoint_path("mnist", network)
    saved = path.read_bytes()
    try:
        path.write_bytes(b"garbage bytes, not a checkpoint")
        run_job(cb, handle)
        note = cb["embedding_poll"](handle)[3]
    finally:
        path.write_bytes(saved)
    assert note == "The saved network mnist/mlp-3-tanh is damaged and cannot be read."
    assert str(path.parent) not in note and "Unpickling" not in note


def test_the_network_diagrams_are_drawn_from_the_weights_with_an_image_through_them(cb):
    """The 1-layer net: output 0's weights as the grid and unrolled into the input column, 784 edges into it,
    coloured by weight; the 2-layer net: its 10 units as their filters; an image gives every output its score."""
    assert cb["diagram"](False, shown_view(cb), None, "auto") == (no_update, no_update, no_update)  # closed: nothing
    fig = go.Figure(cb["diagram"](True, shown_view(cb), None, "auto")[0])
    ckpt = cb["zoo"].load("mnist", "linear")
    w0 = ckpt.model.templates().numpy()[0, 0]
    grid = next(t for t in fig.data if t.name == "grid")
    np.testing.assert_allclose(array(grid.z)[::-1], w0, rtol=1e-6)  # row 0 at the top
    column = next(t for t in fig.data if t.name == "column")
    np.testing.assert_allclose(array(column.z)[::-1, 0], w0.reshape(-1), rtol=1e-6)  # the same weights, unrolled
    edges = sum(len([v for v in t.x if v is None]) for t in fig.data if t.name == "edges")
    assert edges == 784  # one edge per input into the chosen output
    meta = fig.layout.meta["diagram"]
    assert meta["n"] == 784 and meta["h"] == meta["w"] == 28
    # An image passed through: its pixels beside the column, and each output's score, the network's own.
    ev = cb["zoo"].evaluation("mnist", "linear")
    index = 5
    fig = go.Figure(cb["diagram"](True, shown_view(cb), index, "auto")[0])
    outputs = next(t for t in fig.data if t.name == "outputs")
    view = cb["service"].shown(shown_view(cb))
    logits = cb["service"].explanation(view, index).logits
    scores = [float(re.search(r"z = (-?\d+\.\d\d)", label).group(1)) for label in outputs.text]
    np.testing.assert_allclose(scores, logits, atol=6e-3)
    assert f"<b>{ev.classes[int(ev.preds[index])]}</b>" in outputs.text[int(ev.preds[index])]
    assert any(t.name == "pixels" for t in fig.data)
    figure, options, shown = cb["diagram"](True, shown_view(cb, arch="mlp"), index, "auto")
    mlp = go.Figure(figure)
    assert len(mlp.layout.images) == 1 + 10 and shown == "toggles hidden"  # the image and 10 filters
    assert sum(len([v for v in t.x if v is None]) for t in mlp.data if t.name == "edges") == 10 * 10
    convnet = cb["diagram"](True, shown_view(cb, "cifar10", "cnn"), None, "auto")[0]
    assert "fully connected" in str(convnet)


def test_fool_it_finds_the_smallest_change_and_says_it_in_words(cb):
    """The explanation card's "Fool it": for the 1-layer net the exact smallest change, its images and the
    changed image's probabilities; a new image clears it; a class it says already is refused."""
    from models import adversarial
    ask = {"index": 3, "view": shown_view(cb)}
    cleared, options, _ = triggered(cb["fool"], "explain-ask.data", ask, 0, ask, "nearest")
    assert cleared is None and [o["value"] for o in options][:2] == ["nearest", "0"] and len(options) == 11
    result, _, _ = triggered(cb["fool"], "fool-button.n_clicks", 1, 1, ask, "nearest")
    text = text_of(result)
    view = cb["service"].shown(shown_view(cb))
    image = view.images.images[3].numpy()
    want = adversarial.fool(view.checkpoint.model, image, view.checkpoint.normalization)
    assert f"by a total of {want.size:.2f}" in text and "exact: no smaller change does it" in text
    assert f"makes it say {view.checkpoint.classes[want.target]}" in text
    assert len([i for i in find(result, html.Img) if "map-img" in i.className]) == 3  # image, change, changed
    predicted = int(view.evaluation.preds[3])
    same, _, _ = triggered(cb["fool"], "fool-button.n_clicks", 2, 2, ask, str(predicted))
    assert "already" in text_of(same)
    for forged in ({"index": 10**9, "view": shown_view(cb)}, {"index": "3"}, None):
        assert triggered(cb["fool"], "fool-button.n_clicks", 3, 3, forged, "nearest") == (None, no_update, no_update)


def test_a_convnets_fool_it_is_a_queued_job_whose_change_flips_it(cb):
    """A convnet's search takes seconds: the press queues a "fool" job, its end draws the change, which flips
    the prediction in a plain forward pass; a second press (anyone's) reads the kept result."""
    store = shown_view(cb, "cifar10", "cnn")
    ask = {"index": 5, "view": store}
    drain(cb)
    note, options, handle = triggered(cb["fool"], "fool-button.n_clicks", 1, 1, ask, "nearest")
    assert "in the queue" in text_of(note) and len(options) == 11 and handle["id"] in cb["started"]
    run_job(cb, handle)
    *_, done = cb["fool_poll"](handle)
    assert done == handle["id"]
    # The job's end draws its own image and class, even if the menu was changed meanwhile.
    result, _, again = triggered(cb["fool"], "state-fool-done.data", done, 1, ask, "3", done)
    assert again is no_update and "makes it say" in text_of(result) and "found by search" in text_of(result)
    view = cb["service"].shown(store)
    change = cb["service"].representations.change(view, "5.n")
    with torch.no_grad():
        x = torch.as_tensor(change.changed, dtype=torch.float32)[None]
        mean = torch.tensor(view.checkpoint.normalization.mean).view(1, -1, 1, 1)
        std = torch.tensor(view.checkpoint.normalization.std).view(1, -1, 1, 1)
        said = int(view.checkpoint.model.eval()((x - mean) / std).argmax())
    assert said == change.target != int(view.evaluation.preds[5])
    assert f"makes it say {view.checkpoint.classes[said]}" in text_of(result)
    pressed, _, queued = triggered(cb["fool"], "fool-button.n_clicks", 2, 2, ask, "nearest")
    assert queued is no_update and "makes it say" in text_of(pressed)  # kept: no second job


def test_the_diagram_asks_the_server_only_through_its_open_card(cb):
    ask = {"view": shown_view(cb), "sample": 5, "output": "2"}
    graph, _, _ = cb["diagram_asked"](ask)
    assert graph.id == "diagram-graph" and "edges into 2" in go.Figure(graph.figure).layout.title.text
    for forged in (None, "x", ["view"]):
        assert cb["diagram_asked"](forged) == (no_update, no_update, no_update)
    assert "Preparing the network" in str(cb["diagram_asked"]({"view": "x", "sample": "1", "output": 3})[0])


def test_an_explanations_hidden_units_open_their_unit_view(cb):
    """The 2-layer net's explanation: its unit tiles carry "inside" links, and every bar of its charts names its
    unit ("1.U", as the address does) for a click to open it (assets/views.js openUnit)."""
    children, _ = cb["explanation"](3, shown_view(cb, "mnist", "mlp"))
    links = [a.to_plotly_json()["props"] for a in find(children, html.A)]
    units = [p["data-unit"] for p in links if p.get("className") in ("unit-link", "unit-link-inline")]
    assert units and all(u.startswith("1.") and 1 <= int(u[2:]) <= 10 for u in units)
    charts = [g.figure for g in find(children, dcc.Graph) if g.id in ("explain-hidden", "explain-units")]
    assert len(charts) == 2
    for figure in charts:
        assert list(figure.data[0].customdata) == [f"1.{u + 1}" for u in range(10)]
