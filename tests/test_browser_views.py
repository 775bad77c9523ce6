"""The views in a real browser: each mounts its own cards, the tabs keep the address, back and forward step
between views, and Play runs through a fresh network's timeline without a limit, every panel at one moment."""
from __future__ import annotations

import time

import numpy as np
import pytest

from app.main import create_app
from app import query
from app.panels import timeline
from app.panels.weights import colormap_of, colormap_options
from models.train import TrainConfig
from tests.conftest import quick_trained
from tests.test_browser import click_cell, wait_until

pytestmark = pytest.mark.browser

# What each view holds (one selector each), and what no other view may hold.
CARDS = {"core": "#confusion-graph", "layers": "#embedding-graph", "training": "#ladder-graph",
         "predictions": "#predictions-table"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    with quick_trained(tmp_path_factory.mktemp("views"), [("mnist", "linear"), ("mnist", "mlp")]) as found:
        yield found


def mounted(dash_duo) -> set:
    return {name for name, selector in CARDS.items() if dash_duo.driver.find_elements("css selector", selector)}


def test_each_view_mounts_only_its_cards_and_the_tabs_keep_the_address(dash_duo, trained):
    settings, zoo = trained
    dash_duo.start_server(create_app(settings))
    dash_duo.driver.get(f"{dash_duo.server_url}/?dataset=mnist&model=mlp")
    dash_duo.wait_for_element("#confusion-graph .heatmaplayer", timeout=30)
    click_cell(dash_duo, 1, 1)
    dash_duo.wait_for_contains_text("#cell-samples", "actual 1, predicted 1", timeout=20)
    wait_until(lambda: "cell=1-1" in dash_duo.driver.current_url, what="the address to name the cell")
    bar = dash_duo.driver.execute_script("return document.querySelector('.bar').getBoundingClientRect().height")
    for name in ("layers", "training", "predictions", "core"):
        dash_duo.find_element(f"#view-link-{name}").click()
        wait_until(lambda: mounted(dash_duo) == {name}, what=f"only the {name} view's cards")
        url = dash_duo.driver.current_url
        assert "dataset=mnist" in url and "model=mlp" in url and "cell=1-1" in url, url
        assert dash_duo.find_element(f"#view-link-{name}").get_attribute("aria-current") == "page"
        assert dash_duo.driver.execute_script(
            "return document.querySelector('.bar').getBoundingClientRect().height") == bar  # nothing jumps
    # The layers view lists the cell's images beside the map; the explanation of one brings its nearest.
    dash_duo.find_element("#view-link-layers").click()
    dash_duo.wait_for_contains_text("#cell-samples", "actual 1, predicted 1", timeout=20)
    # Back and forward step between the views, and a link opens the view it names.
    dash_duo.driver.back()
    wait_until(lambda: mounted(dash_duo) == {"core"}, what="back to the first view")
    dash_duo.driver.forward()
    wait_until(lambda: mounted(dash_duo) == {"layers"}, what="forward to the layers")
    link = dash_duo.driver.current_url
    assert "/layers?" in link
    dash_duo.driver.get(dash_duo.server_url)
    dash_duo.driver.get(link)
    wait_until(lambda: mounted(dash_duo) == {"layers"}, what="the linked view")
    dash_duo.wait_for_contains_text("#cell-samples", "actual 1, predicted 1", timeout=20)
    assert dash_duo.get_logs() == []


# One reading of the page: the timeline's note, the accuracy, the heatmap's counts, the cell list's heading.
READ = """
const gd = document.querySelector('#confusion-graph .js-plotly-plot');
const heat = gd && gd._fullData ? gd._fullData.filter(t => t.type === 'heatmap').slice(0, 2).map(
    t => Array.from(t.z).slice(0, 10).map(row => Array.from(row).slice(0, 10))) : [];
const head = document.querySelector('#cell-samples h3');
return [document.getElementById('timeline-note').textContent, document.getElementById('accuracy').textContent,
        heat, head ? head.textContent : '', !!document.querySelector('#refusal-notice.shown')];
"""


def test_play_runs_every_snapshot_of_a_fresh_network_with_every_panel_at_the_same_moment(dash_duo, tmp_path):
    """Each snapshot is evaluated once, by one step, before any panel draws it: no 429, no console error, and
    whenever the page is still, the heatmap, the cell list and the accuracy are that snapshot's."""
    with quick_trained(tmp_path, []) as (settings, zoo):
        zoo.train("mnist", "linear", config=TrainConfig(epochs=3, batch_size=16, lr=5e-3))
        ckpt = zoo.load("mnist", "linear")
        zoo.evaluation("mnist", "linear")
        snaps = zoo.timeline(ckpt)
        assert len(snaps) >= 4 and all(zoo.cached_evaluation(zoo.snapshot(ckpt, i)) is None for i in range(len(snaps)))
        dash_duo.start_server(create_app(settings))
        dash_duo.driver.get(f"{dash_duo.server_url}/?dataset=mnist&model=linear")
        dash_duo.wait_for_element("#confusion-graph .heatmaplayer", timeout=30)
        click_cell(dash_duo, 1, 1)
        dash_duo.wait_for_contains_text("#cell-samples", "actual 1, predicted 1", timeout=20)
        dash_duo.find_element("#timeline-play").click()
        seen, last, deadline = {}, None, time.time() + 60
        while time.time() < deadline:
            reading = dash_duo.driver.execute_script(READ)
            assert not reading[4], "a limit refused the player"
            if reading == last and "(" in reading[0]:  # still for a moment: the page has settled
                seen[reading[0]] = reading
            last = reading
            if "(final)" in reading[0] and "Play" in dash_duo.find_element("#timeline-play").text:
                break
            time.sleep(0.15)
        evaluations = [zoo.cached_evaluation(zoo.snapshot(ckpt, i)) for i in range(len(snaps))]
        assert all(ev is not None for ev in evaluations)  # the player evaluated every snapshot
        evaluations.append(zoo.cached_evaluation(ckpt))
        positions = set()
        for note, accuracy, heat, head, _ in seen.values():
            at = int(note.rsplit("(", 1)[1].split(" of ")[0]) - 1
            positions.add(at)
            ev = evaluations[at]
            assert f"{100 * ev.accuracy:.2f}%" in accuracy, (note, accuracy)
            counts = np.nan_to_num(np.array(heat[0], float)) + np.nan_to_num(np.array(heat[1], float))
            assert np.array_equal(counts, ev.confusion), note
            assert f": {ev.confusion[1, 1]} image" in head, (note, head)
        assert len(positions) >= len(evaluations) - 1, f"saw positions {sorted(positions)} of {len(evaluations)}"
        assert dash_duo.get_logs() == []


def test_the_slider_the_player_and_an_address_in_the_browser(dash_duo, trained):
    """assets/view.js's timeline control, on the real state of a trained network: the player steps and stops,
    a link's position is taken, back and forward move only the slider, and a forged position is clamped."""
    settings, zoo = trained
    app = create_app(settings)
    st = app.lookinside_callbacks["resolve"]("mnist", "linear")["resolved"]
    last = len(st["timeline"]) - 1
    assert last >= 2
    dash_duo.start_server(app)
    dash_duo.wait_for_element("#confusion-graph .heatmaplayer", timeout=30)

    def control(fired, value=None, stopped=True, changed=None, opened=None, network="linear"):
        return dash_duo.driver.execute_script(
            "const r = window.lookinsideView.control(new Set(arguments[0]), arguments[1], null, arguments[2], "
            "arguments[3], 'mnist', arguments[4], arguments[5], arguments[6]);"
            "return r.map(v => v === undefined ? 'unchanged' : v);", fired, st, value, stopped, network, changed,
            opened)

    first = control(["state-resolved"], 0)
    assert first[0] == last and first[2] == last and first[3] is True and first[5] == "timeline"
    assert first[1]["0"] == "start" and first[1][str(last)] == "end"
    play = control(["timeline-play"], last)
    assert play[2] == 0 and play[3] is False and "Pause" in play[4]  # from the end it starts over
    tick = control(["timeline-tick"], 0, stopped=False)
    assert tick[2] == 1 and tick[3] is False and tick[0] == "unchanged"
    end = control(["timeline-tick"], last - 1, stopped=False)
    assert end[2] == last and end[3] is True and "Play" in end[4]
    pause = control(["timeline-play"], 2, stopped=False)
    assert pause[2] == 2 and pause[3] is True
    assert control(["state-resolved"], 10 ** 6)[2] == last  # forged: the finished network
    assert control([""], None, opened="?dataset=mnist&t=1")[2] == 1  # the page opened on a link's position
    assert control(["state-address"], 0, changed={"search": "?t=99"})[2] == last  # past the end: finished
    assert control(["state-address"], 1, changed={"search": "?t=1"}) == ["unchanged"] * 6  # nothing to redo
    assert control(["state-resolved"], 0, network="mlp")[5] == "timeline no-timeline hidden"  # not its state
    # The layout draws the slider by the same rule (app/panels/timeline.py), so the first call changes nothing.
    drawn = timeline.slider(st)
    assert [drawn["max"], {str(k): v for k, v in drawn["marks"].items()}, drawn["value"], drawn["box"]] == \
        [first[0], first[1], first[2], first[5]]
    assert timeline.slider(st, 1)["value"] == 1 and timeline.slider(st, last + 5)["value"] == last
    assert timeline.slider(None)["box"] == "timeline no-timeline hidden"

    # assets/weights.js's colour map: colour for colour data, what a link names unless it is colour on grey.
    def colours(fired, dataset, current, changed=None):
        return dash_duo.driver.execute_script(
            "return window.lookinsideWeights.colours(arguments[0], ['cifar10'], new Set(arguments[1]), "
            "arguments[2], arguments[3], arguments[4])", colormap_options(None), fired, dataset, changed, current)

    options, value = colours(["dataset-dropdown"], "cifar10", "diverging")
    assert value == "rgb" and not options[-1]["disabled"]
    options, value = colours(["dataset-dropdown"], "mnist", "rgb")
    assert value == "diverging" and options[-1]["disabled"]
    assert colours(["dataset-dropdown"], "mnist", "grayscale")[1] == "grayscale"
    back = "state-address"  # back or forward
    assert colours([back], "mnist", "diverging", {"search": "?colours=grayscale"})[1] == "grayscale"
    assert colours([back], "mnist", "diverging", {"search": "?colours=rgb"})[1] == "diverging"  # no colour on grey
    assert colours([back], "cifar10", "rgb", {"search": "?colours=grayscale"})[1] == "grayscale"
    # A card mounts with the colour map the layout chose by the same rule (app/panels/weights.py).
    for search in ("?colours=grayscale", "?colours=rgb", "?colours=diverging", "", "?colours=x"):
        for dataset in ("mnist", "cifar10"):
            assert colours([back], dataset, "diverging", {"search": search})[1] == \
                colormap_of(query.parse(search), dataset), (search, dataset)
    assert colours([back], "mnist", "grayscale", {"search": "?colours=" + "x" * 600})[1] == "grayscale"  # forged

    # assets/weights.js's unit switch: flips one unit of the network on screen; another network's units, a unit
    # out of range and a forged store change nothing or are dropped.
    def flipped(off, unit, data=None):  # "unchanged" where the page would write nothing
        return dash_duo.driver.execute_script(
            "const found = window.lookinsideWeights.flipped(arguments[0], arguments[1], arguments[2]);"
            "return found === undefined ? 'unchanged' : found;", off, data or {"network": "mlp", "switches": 10}, unit)

    assert flipped(None, 2) == {"network": "mlp", "units": [2]}
    assert flipped({"network": "mlp", "units": [2]}, 0) == {"network": "mlp", "units": [0, 2]}
    assert flipped({"network": "mlp", "units": [0, 2]}, 2) == {"network": "mlp", "units": [0]}
    assert flipped({"network": "mlp", "units": [0]}, 0) is None  # all back on
    assert flipped({"network": "cnn", "units": [1]}, 0) == {"network": "mlp", "units": [0]}  # another network's
    assert flipped({"network": "mlp", "units": [99, -1, "x", 3]}, 1) == {"network": "mlp", "units": [1, 3]}
    assert flipped(None, 10) == "unchanged" and flipped(None, -1) == "unchanged"  # out of range: no change
    assert flipped(None, 0, {"network": "linear", "switches": 0}) == "unchanged"  # no switches at all
    assert dash_duo.get_logs() == []


def test_an_explanations_hidden_units_and_tiles_open_the_unit_view(dash_duo, trained):
    """Issue 26's ways in from an explanation: a click on a bar of the hidden activations (Plotly's click, as
    the chart emits it) and the "inside" link under a unit's tile move to the layers view on that unit, the
    rest of the address kept, without reloading the page."""
    settings, _ = trained
    dash_duo.start_server(create_app(settings))
    dash_duo.driver.get(dash_duo.server_url + "/?dataset=mnist&model=mlp&sample=3")
    dash_duo.wait_for_element("#explain-hidden .js-plotly-plot", timeout=30)
    dash_duo.driver.execute_script("window.lookinsideNotReloaded = true;")
    dash_duo.driver.execute_script(
        "const gd = document.querySelector('#explain-hidden .js-plotly-plot'); const t = gd._fullData[0];"
        "gd.emit('plotly_click', {points: [{curveNumber: 0, pointNumber: 2, pointIndex: 2, x: t.x[2], y: 0,"
        " customdata: t.customdata[2], data: t, fullData: t}]});")
    dash_duo.wait_for_element("#unit-card .unit-image", timeout=30)
    assert dash_duo.driver.current_url.split("?")[0].endswith("/layers")
    assert "unit=1.3" in dash_duo.driver.current_url
    assert "mlp" in dash_duo.driver.current_url and "sample=3" in dash_duo.driver.current_url
    assert dash_duo.driver.execute_script("return window.lookinsideNotReloaded === true;")
    wait_until(lambda: dash_duo.driver.find_elements("css selector", "#explain-card a.unit-link"), timeout=30)
    link = dash_duo.driver.find_element("css selector", "#explain-card a.unit-link")
    unit = link.get_attribute("data-unit")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
    link.click()
    wait_until(lambda: f"unit={unit}" in dash_duo.driver.current_url, timeout=30)
    assert dash_duo.driver.execute_script("return window.lookinsideNotReloaded === true;")
