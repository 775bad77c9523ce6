"""The real page in headless Chromium (dash_duo): load, click a cell, switch data and network, toggle."""
from __future__ import annotations

import base64
import csv
import io
import time
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest
from PIL import Image
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys

from app.main import create_app
from tests.conftest import quick_trained

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Synthetic MNIST and CIFAR-10 with linear and mlp trained; convnets train when asked for."""
    pairs = [(d, a) for d in ("mnist", "cifar10") for a in ("linear", "mlp")]
    with quick_trained(tmp_path_factory.mktemp("browser"), pairs) as trained:
        yield trained


@pytest.fixture
def page(dash_duo, trained):
    settings, zoo = trained
    dash_duo.start_server(create_app(settings))
    dash_duo.wait_for_element("#confusion-graph .heatmaplayer", timeout=30)
    # The page has settled once it has written its view into the address bar.
    wait_until(lambda: "dataset=" in dash_duo.driver.current_url, what="the first view to settle")
    return dash_duo, zoo


def texts(dash_duo, selector: str) -> list[str]:
    """Text of every match, read in one script call so a redraw cannot leave stale element handles."""
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)", selector)


def tick_labels(dash_duo, axis: str) -> list[str]:
    return texts(dash_duo, f"#confusion-graph .{axis}tick text")


def cell_texts(dash_duo) -> list[str]:
    return [t for t in texts(dash_duo, "#confusion-graph .heatmaplayer text") if t]


def cell_centre(dash_duo, actual: int, predicted: int) -> tuple[int, int]:
    """A heatmap cell's centre on screen (scrolled into view), located through plotly's own axes."""
    graph = dash_duo.find_element("#confusion-graph .js-plotly-plot")
    x, y = dash_duo.driver.execute_script("""
        const gd = arguments[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        gd.scrollIntoView({block: "center"});
        const box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.d2p(arguments[2]), box.top + ya._offset + ya.d2p(arguments[1])];
    """, graph, actual, predicted)
    return int(x), int(y)


def click_cell(dash_duo, actual: int, predicted: int) -> None:
    """A real mouse click at the centre of a heatmap cell."""
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(*cell_centre(dash_duo, actual, predicted)).click()
    actions.perform()


def tile_indices(dash_duo) -> list[int]:
    """The test-set indices of the cell's tiles on screen, in order (the page draws them: assets/samples.js)."""
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#sample-tiles .tile')).map(t => Number(t.dataset.index))")


def wait_until(condition, timeout=20, what="condition"):
    """The condition's first true value; an element not yet drawn (the page still rendering) counts as false."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            value = condition()
        except (NoSuchElementException, StaleElementReferenceException):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def open_view(dash_duo, name: str, ready: str) -> None:
    """Move to a view with its tab, as a person does, and wait until `ready` (a selector) is on the page."""
    dash_duo.find_element(f"#view-link-{name}").click()
    wait_until(lambda: dash_duo.find_elements(ready), what=f"{ready} in the {name} view")


def choose(dash_duo, dropdown: str, label: str) -> None:
    """Pick an option the way a person does. dash_duo's helper gives up silently when the menu has not
    rendered its options yet (a busy machine), so wait for the option and check the choice took."""
    for _ in range(3):
        dash_duo.find_element(f"#{dropdown}").click()
        option = wait_until(lambda: next((o for o in dash_duo.driver.find_elements(
            "css selector", ".dash-dropdown-options .dash-dropdown-option") if o.text == label), None),
            what=f"the option {label}")
        option.click()
        try:
            wait_until(lambda: dash_duo.find_element(f"#{dropdown}").text.strip() == label, timeout=5,
                       what=f"{label} to be chosen")
            return
        except AssertionError:
            continue
    raise AssertionError(f"could not choose {label} in #{dropdown}")


def test_page_loads_with_a_clean_console(page):
    dash_duo, zoo = page
    ev = zoo.evaluation("mnist", "linear")
    dash_duo.wait_for_contains_text("#accuracy", f"{100 * ev.accuracy:.2f}%", timeout=20)
    assert tick_labels(dash_duo, "x")[:10] == [str(d) for d in range(10)]
    assert len(dash_duo.find_elements("#weights-panel img")) == 10
    assert dash_duo.get_logs() == []


def test_cell_click_lists_images_most_confident_first(page):
    dash_duo, zoo = page
    ev = zoo.evaluation("mnist", "linear")
    a, p = (int(v) for v in np.unravel_index(np.argmax(ev.confusion), ev.confusion.shape))
    click_cell(dash_duo, a, p)
    dash_duo.wait_for_contains_text("#cell-samples", f"actual {a}, predicted {p}: {ev.confusion[a, p]} images",
                                    timeout=20)
    expected = sorted(ev.cell(a, p).tolist(), key=lambda n: (-ev.probs[n, p], n))[:24]
    wait_until(lambda: tile_indices(dash_duo) == expected, what="the cell's tiles, most confident first")
    probs = [float(t.text.rstrip("%")) for t in dash_duo.find_elements("#cell-samples .tile")]
    assert probs == sorted(probs, reverse=True)
    # The weights panel highlights the cell's classes.
    assert dash_duo.find_elements("#weights-panel .mark-actual, #weights-panel .mark-predicted")
    assert dash_duo.get_logs() == []


# Records every callback request the page sends: which outputs, when it left, when its answer came.
RECORD_REQUESTS = """
window.__sent = [];
const original = window.fetch;
window.fetch = function (url, options) {
  if (!String(url).includes("_dash-update-component")) { return original.apply(this, arguments); }
  const entry = {output: JSON.parse(options.body).output, sent: performance.now(), answered: null};
  window.__sent.push(entry);
  return original.apply(this, arguments).then(function (r) { entry.answered = performance.now(); return r; });
};
"""


def test_a_cell_click_costs_one_round_trip(page):
    """The cell is selected in the browser: the request for its images leaves at once, not after another
    server answer, and no request asks the server which cell was clicked."""
    dash_duo, zoo = page
    ev = zoo.evaluation("mnist", "linear")
    dash_duo.driver.execute_script(RECORD_REQUESTS)
    click_cell(dash_duo, 2, 2)
    dash_duo.wait_for_contains_text("#cell-samples", f"actual 2, predicted 2: {ev.confusion[2, 2]} images",
                                    timeout=20)
    sent = wait_until(lambda: (lambda s: s if all(r["answered"] for r in s) else None)(
        dash_duo.driver.execute_script("return window.__sent")), what="every request to be answered")
    outputs = [r["output"] for r in sent]
    # Nor is the heatmap sent or redrawn to move the outline: the page draws it over the plot, on the cell.
    assert not any("state-cell.data" in o or "confusion-graph" in o for o in outputs)
    outline = dash_duo.driver.execute_script("""
        const mark = document.querySelector('#confusion-keys .cell-outline'), box = mark.getBoundingClientRect();
        const gd = document.querySelector('#confusion-graph .js-plotly-plot'), at = gd.getBoundingClientRect();
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        return [mark.dataset.actual, mark.dataset.predicted, box.left + box.width / 2 - at.left - xa._offset - xa.d2p(2),
                box.top + box.height / 2 - at.top - ya._offset - ya.d2p(2)]""")
    assert outline[:2] == ["2", "2"] and max(abs(outline[2]), abs(outline[3])) < 1.5, outline
    images = next(r for r in sent if "state-tiles.data" in r["output"])
    assert images["sent"] <= min(r["answered"] for r in sent)  # it waited for no other answer
    assert sum("state-tiles.data" in o for o in outputs) == 1 and len(outputs) == 1
    wait_until(lambda: len(tile_indices(dash_duo)) == min(24, ev.confusion[2, 2]), what="the tiles drawn")
    wait_until(lambda: "cell=2-2" in dash_duo.driver.current_url, what="the address to name the cell")
    assert dash_duo.get_logs() == []


def test_the_browser_applies_the_servers_rules_for_cells_and_the_view(page):
    """assets/cells.js and assets/view.js against the rules the server applies (app/cells.py, app/state.py)."""
    from app.cells import parse_click
    from app.query import parse
    from app.state import screen
    dash_duo, zoo = page
    run = dash_duo.driver.execute_script
    classes = {"mnist": [str(d) for d in range(10)], "cifar10": ["airplane", "automobile", "bird", "cat", "deer",
                                                                  "dog", "frog", "horse", "ship", "truck"]}

    def choose_js(triggers, click, dataset, search, current):
        found = run("const r = window.lookinsideCells.choose(new Set(arguments[0]), arguments[1], arguments[2], "
                    "arguments[3], arguments[4], arguments[5]); return r === undefined ? 'unchanged' : r;",
                    triggers, click, dataset, search, current, classes)
        return found

    click = {"points": [{"x": "5", "y": "3", "curveNumber": 1}]}
    assert choose_js(["confusion-graph"], click, "mnist", "", None) == {"actual": 3, "predicted": 5}
    assert choose_js(["confusion-graph"], {"points": [{"x": "cat", "y": "dog"}]}, "cifar10", "", None) == \
        {"actual": 5, "predicted": 3}
    for forged in ({"points": [{"x": "recall", "y": "3"}]}, {"points": [{"x": "../../etc/passwd", "y": 1}]},
                   {"points": []}, "junk", None, {"points": [{"x": "5"}]}, {"points": [{"x": 5, "y": 3}]}):
        expected = parse_click(forged, classes["mnist"])
        got = choose_js(["confusion-graph"], forged, "mnist", "", None)
        assert got == (expected or "unchanged"), forged
    assert choose_js(["dataset-dropdown"], click, "cifar10", "", {"actual": 1, "predicted": 1}) is None
    assert choose_js(["model-dropdown"], click, "mnist", "", {"actual": 1, "predicted": 1}) == "unchanged"
    assert choose_js(["confusion-graph"], click, "../x", "", None) == "unchanged"
    for search in ("?cell=2-3", "?cell=12-3", "?cell=a-b", "?cell=2-3&cell=4-4", "?cell=-1-2", "?cell=3", "",
                   "?dataset=mnist&model=linear&cell=9-0&t=1", "?" + "x" * 600):
        wanted = parse(search).get("cell")
        wanted = wanted if wanted and max(wanted.values()) < 10 else None
        assert choose_js(["url"], None, "mnist", search, None) == (wanted or "unchanged"), search
    assert choose_js(["url"], None, "mnist", "?cell=2-3", {"actual": 2, "predicted": 3}) == "unchanged"
    assert choose_js(["url"], None, "mnist", "?cell=12-3", {"actual": 1, "predicted": 1}) is None
    # The view store: the same rule in both languages, for real, forged and mismatched states.
    ready = {"dataset": "mnist", "arch": "linear", "status": "ready", "message": "", "checkpoint": "abc"}
    busy = dict(ready, status="untrained", message="training", checkpoint="")
    cases = [(ready, None, "mnist", "linear", None), (ready, None, "mnist", "linear", 3), (busy, ready, "mnist",
             "linear", 2), (busy, None, "mnist", "linear", 2), (ready, None, "mnist", "mlp", None),
             ({"status": "ready"}, None, "mnist", "linear", None), (None, dict(ready, message=None), "mnist",
             "linear", 1), (ready, None, "mnist", "linear", -1), (ready, busy, "mnist", "linear", 0)]
    for case in cases:
        assert run("return window.lookinsideView.screen(...arguments)", *case) == screen(*case), case
    # The image the address names (assets/samples.js), as the server reads it.
    for search in ("?sample=7", "?sample=7&sample=9", "?sample=1000000", "?sample=999999", "?sample=-3", "?sample=a",
                   "?sample=00012", "?sample=12345678", "", "?dataset=mnist&sample=3&cell=1-1", "?" + "x" * 600):
        wanted = parse(search).get("sample")
        wanted = wanted if isinstance(wanted, int) and wanted < 1_000_000 else None
        assert run("return window.lookinsideSamples.fromAddress(arguments[0])", search) == wanted, search
    assert dash_duo.get_logs() == []


def test_selecting_an_image_explains_it_with_maps(page):
    dash_duo, zoo = page
    ev = zoo.evaluation("mnist", "linear")
    # A mistake if the quick network made one; else a correct cell, explained against the runner-up.
    cells = np.argwhere((ev.confusion > 0) & ~np.eye(10, dtype=bool)).tolist() + [[1, 1]]
    a, p = cells[0]
    click_cell(dash_duo, a, p)
    dash_duo.wait_for_contains_text("#cell-samples", f"actual {a}, predicted {p}", timeout=20)
    first = wait_until(lambda: dash_duo.find_elements("#cell-samples .tile"), what="the tiles")[0]
    index = int(first.find_element("css selector", "img").get_attribute("data-index"))
    first.click()
    dash_duo.wait_for_element("#explain-card:not(.hidden) .map-img", timeout=20)
    dash_duo.wait_for_contains_text("#explain-panel", f"Test image #{index}", timeout=20)
    # The image against all ten templates (each template and its product), then the top two's contrast.
    assert len(dash_duo.find_elements("#explain-panel .map-img")) == 2 * 10 + 1
    assert len(dash_duo.find_elements("#explain-panel .product-tile.winner")) == 1
    assert "z = b + Σ w·x" in dash_duo.find_element("#explain-panel").text
    assert len(dash_duo.find_elements("#explain-probs .bars .point")) == 10
    # The cell's mean image and the two templates sit beside the list.
    assert len(dash_duo.find_elements("#cell-summary .summary-img")) == (2 if a == p else 3)
    # Sorting by ambiguity reorders the tiles, closest call first.
    dash_duo.find_element("#samples-sort input[value='margin']").click()
    dash_duo.wait_for_contains_text("#cell-samples", "gap between the top two classes", timeout=20)
    tiles = wait_until(lambda: [t.text for t in dash_duo.find_elements("#cell-samples .tile")
                                if t.text.startswith("Δ")], what="the tiles in their new order")
    margins = [float(t.split()[1]) for t in tiles]
    assert margins == sorted(margins)
    assert dash_duo.get_logs() == []


def test_switching_dataset_changes_labels_and_weights(page):
    dash_duo, _ = page
    before = dash_duo.find_element("#weights-panel img").get_attribute("src")
    choose(dash_duo, "dataset-dropdown", "CIFAR-10")
    wait_until(lambda: "airplane" in tick_labels(dash_duo, "x"), what="CIFAR-10 labels")
    wait_until(lambda: dash_duo.find_element("#weights-panel img").get_attribute("src") != before,
               what="new weights")
    assert "cat" in tick_labels(dash_duo, "y")
    # Fashion-MNIST is not in the synthetic data dir, and the server is offline: marked, and not offered.
    dash_duo.find_element("#dataset-dropdown").click()
    option = wait_until(lambda: next((o for o in dash_duo.driver.find_elements(
        "css selector", ".dash-dropdown-options .dash-dropdown-option") if "Fashion-MNIST" in o.text), None),
        what="the Fashion-MNIST option")
    assert option.text == "Fashion-MNIST (not available here)"
    option.click()
    time.sleep(0.5)
    assert dash_duo.find_element("#dataset-dropdown").text.strip() == "CIFAR-10"  # it cannot be chosen
    dash_duo.driver.find_element("css selector", "h1").click()  # close the menu
    # A link to it gets one sentence, and the others keep working.
    dash_duo.driver.get(f"{dash_duo.server_url}/?dataset=fashion-mnist&model=linear")
    dash_duo.wait_for_contains_text("#model-status", "Fashion-MNIST is not available on this server", timeout=20)
    assert dash_duo.find_element("#accuracy").text == "not available"
    choose(dash_duo, "dataset-dropdown", "MNIST")
    wait_until(lambda: tick_labels(dash_duo, "x")[:1] == ["0"], what="MNIST labels again")


def test_a_template_opens_large_with_its_scale_bar(page):
    dash_duo, _ = page
    tile = wait_until(lambda: (dash_duo.find_elements("#weights-panel .weight-img") or [None])[0], what="a template")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", tile)
    tile.click()
    dialog = wait_until(lambda: dash_duo.driver.execute_script(
        "const d = document.getElementById('weight-zoom'); return d && d.open ? d : null;"), what="the large view")
    big = dialog.find_element("css selector", ".weight-zoom-img")
    natural, shown = dash_duo.driver.execute_script(
        "return [arguments[0].naturalWidth, arguments[0].getBoundingClientRect().width];", big)
    assert natural == 28 and shown >= 8 * natural  # the 0-neuron at 8x or more
    assert big.get_attribute("src") == tile.get_attribute("src")
    ticks = [t.text for t in dialog.find_elements("css selector", ".scale-ticks span")]
    assert len(ticks) == 3 and ticks[0].startswith("−") and ticks[1] == "0" and ticks[2].startswith("+")
    assert ticks[0][1:] == ticks[2][1:]  # symmetric around zero
    dialog.find_element("css selector", "button").click()
    wait_until(lambda: not dash_duo.driver.execute_script("return document.getElementById('weight-zoom').open"),
               what="the large view to close")
    assert dash_duo.get_logs() == []


def test_switching_to_the_mlp_shows_filters_and_bars(page):
    dash_duo, _ = page
    choose(dash_duo, "model-dropdown", "2-layer (10 hidden units)")
    dash_duo.wait_for_contains_text("#weights-panel", "Output weights", timeout=20)
    assert len(dash_duo.find_elements("#weights-panel .weight-tile img")) == 10
    wait_until(lambda: len(dash_duo.find_elements("#weights-bars .bars .point")) >= 100, what="100 output bars")
    assert dash_duo.get_logs() == []


def test_normalization_toggle_changes_the_numbers(page):
    dash_duo, _ = page
    counts = cell_texts(dash_duo)
    assert counts and not any(t.endswith("%") for t in counts[:100] if t[0].isdigit() and len(t) < 5)
    dash_duo.find_element("#confusion-mode input[value='percent']").click()
    # Row percentages have a decimal (the margins' recall and precision are whole percents in both modes).
    wait_until(lambda: sum("." in t for t in cell_texts(dash_duo)) >= 10,
               what="row percentages")
    assert cell_texts(dash_duo) != counts


def test_untrained_network_trains_in_the_background_with_progress(page):
    dash_duo, zoo = page
    choose(dash_duo, "model-dropdown", "Convnet")
    # Choosing it starts nothing: the bar says so and offers the button; only the press queues the job.
    dash_duo.wait_for_contains_text("#model-status", "is not trained here yet", timeout=20)
    button = dash_duo.wait_for_element("#train-it", timeout=10)
    wait_until(lambda: button.is_displayed() and button.text.startswith("Train it"), what="the Train it button")
    time.sleep(1)
    assert not dash_duo.find_elements("#train-box.active") and not zoo.has_checkpoint("mnist", "cnn")
    button.click()
    dash_duo.wait_for_element("#train-box.active", timeout=20)
    assert "Preparing" in dash_duo.find_element("#train-label").text or \
        "Training" in dash_duo.find_element("#train-label").text
    dash_duo.wait_for_contains_text("#weights-panel", "first convolution", timeout=120)
    wait_until(lambda: not dash_duo.find_elements("#train-box.active"), what="the progress box to close")
    assert zoo.has_checkpoint("mnist", "cnn")
    assert dash_duo.get_logs() == []


def test_watch_it_train_without_the_token_shows_a_new_run_and_its_address_restores_it(page):
    dash_duo, zoo = page
    served = zoo.checkpoint_path("mnist", "linear").read_bytes()
    dash_duo.find_element("#watch-button").click()
    dash_duo.wait_for_element("#train-box.active", timeout=20)
    dash_duo.wait_for_contains_text("#model-dropdown", "visitor run 1", timeout=120)  # the page switched to it
    wait_until(lambda: "model=linear~run1" in dash_duo.driver.current_url.replace("%7E", "~"),
               what="the address to name the run")
    dash_duo.wait_for_contains_text("#accuracy", "accuracy", timeout=30)
    assert zoo.checkpoint_path("mnist", "linear").read_bytes() == served  # what everyone else sees
    link = dash_duo.driver.current_url
    dash_duo.driver.get(dash_duo.server_url)  # a new visit, then the shared link to the run
    dash_duo.wait_for_element("#confusion-graph .heatmaplayer", timeout=30)
    dash_duo.driver.get(link)
    dash_duo.wait_for_contains_text("#model-dropdown", "visitor run 1", timeout=30)
    dash_duo.wait_for_contains_text("#timeline-note", "(final)", timeout=30)
    assert dash_duo.get_logs() == []


def test_timeline_slider_moves_the_heatmap(page):
    dash_duo, zoo = page
    final = cell_texts(dash_duo)
    handle = dash_duo.find_element("#timeline-slider [role='slider']")
    handle.send_keys(Keys.HOME)  # the first snapshot: the network before any training
    dash_duo.wait_for_contains_text("#timeline-note", "untrained", timeout=20)
    start = zoo.evaluate(zoo.snapshot(zoo.load("mnist", "linear"), 0))
    dash_duo.wait_for_contains_text("#accuracy", f"{100 * start.accuracy:.2f}%", timeout=20)
    wait_until(lambda: cell_texts(dash_duo) != final, what="the heatmap of the untrained network")
    handle.send_keys(Keys.END)
    dash_duo.wait_for_contains_text("#timeline-note", "(final)", timeout=20)
    wait_until(lambda: cell_texts(dash_duo) == final, what="the final heatmap again")
    assert dash_duo.get_logs() == []


def test_a_copied_address_restores_the_view_and_back_works(dash_duo, trained):
    settings, zoo = trained
    dash_duo.start_server(create_app(settings))
    ev = zoo.evaluation("mnist", "mlp")
    sample = int(ev.cell(2, 2)[0])
    dash_duo.driver.get(f"{dash_duo.server_url}/?dataset=mnist&model=mlp&counts=percent&cell=2-2&sample={sample}&t=0")
    dash_duo.wait_for_contains_text("#cell-samples", "actual 2, predicted 2", timeout=30)
    dash_duo.wait_for_contains_text("#timeline-note", "untrained", timeout=20)
    dash_duo.wait_for_contains_text("#explain-panel", f"Test image #{sample}", timeout=20)
    assert dash_duo.find_element("#model-dropdown").text.startswith("2-layer")
    assert dash_duo.find_element("#confusion-mode input[value='percent']").is_selected()
    # A click on another cell becomes a new address; back returns to the shared one.
    shared = dash_duo.driver.current_url
    click_cell(dash_duo, 3, 3)
    dash_duo.wait_for_contains_text("#cell-samples", "actual 3, predicted 3", timeout=20)
    wait_until(lambda: "cell=3-3" in dash_duo.driver.current_url, what="the address to follow the click")
    dash_duo.driver.back()
    dash_duo.wait_for_contains_text("#cell-samples", "actual 2, predicted 2", timeout=20)
    assert dash_duo.driver.current_url == shared
    assert dash_duo.get_logs() == []


def test_back_and_forward_step_through_every_click(dash_duo, trained):
    """Five clicks, then Back four times and Forward four times: each press shows exactly the click
    before (after) it, and none is lost (the first Back used to push the opening address instead)."""
    settings, _ = trained
    dash_duo.start_server(create_app(settings))
    dash_duo.driver.get(f"{dash_duo.server_url}/?dataset=mnist&model=linear")
    dash_duo.wait_for_element("#confusion-graph .heatmaplayer", timeout=30)
    cells = [(5, 3), (4, 9), (2, 8), (7, 1), (0, 6)]
    for a, p in cells:
        click_cell(dash_duo, a, p)
        wait_until(lambda: f"cell={a}-{p}" in dash_duo.driver.current_url, what=f"the address to hold {a}-{p}")
        dash_duo.wait_for_contains_text("#cell-samples", f"actual {a}, predicted {p}", timeout=20)
    steps = dash_duo.driver.execute_script("return window.history.length")

    def shows(a, p):
        wait_until(lambda: f"cell={a}-{p}" in dash_duo.driver.current_url, what=f"the address to hold {a}-{p}")
        dash_duo.wait_for_contains_text("#cell-samples", f"actual {a}, predicted {p}", timeout=20)
        time.sleep(0.6)  # longer than the address writer's settling time: nothing may be pushed meanwhile
        assert f"cell={a}-{p}" in dash_duo.driver.current_url

    for a, p in reversed(cells[:-1]):
        dash_duo.driver.back()
        shows(a, p)
    for a, p in cells[1:]:
        dash_duo.driver.forward()
        shows(a, p)
    assert dash_duo.driver.execute_script("return window.history.length") == steps  # nothing was pushed
    assert dash_duo.get_logs() == []


def test_every_chapter_link_restores_its_view(page):
    """Each figure of the chapter guide: its dataset, network, cell, image and view options on screen, and the
    card it names scrolled into view."""
    from app.query import parse
    from app.panels.chapter import SHOW
    dash_duo, zoo = page
    wait_until(lambda: dash_duo.driver.execute_script(
        "return document.querySelectorAll('#chapter-guide a.chapter-link').length") == 14, what="the guide")
    hrefs = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#chapter-guide a.chapter-link')).map(a => a.href)")
    titles = {"mnist": "MNIST", "cifar10": "CIFAR-10"}
    for href in hrefs:
        query = href.split("?", 1)[1]
        view, show = parse(query), parse_qs(query)["show"][0]
        dash_duo.driver.get(href)
        wait_until(lambda: dash_duo.find_element("#dataset-dropdown").text.strip() == titles[view["dataset"]],
                   what=f"the dataset of {href}")
        wait_until(lambda: dash_duo.find_element("#model-dropdown").text.startswith(
            "1-layer" if view["arch"] == "linear" else "2-layer"), what=f"the network of {href}")
        on_core = not href.split("?")[0].endswith("/predictions")
        if "cell" in view and on_core:
            cell = view["cell"]
            dash_duo.wait_for_contains_text("#cell-samples", f"actual {cell['actual']}, predicted {cell['predicted']}",
                                            timeout=20)
        if "sample" in view:
            dash_duo.wait_for_contains_text("#explain-panel", f"Test image #{view['sample']}", timeout=20)
        if "colours" in view and on_core:
            assert dash_duo.find_element(f"#weights-colormap input[value='{view['colours']}']").is_selected()
        if view.get("view") == "images":
            wait_until(lambda: dash_duo.driver.execute_script(
                "return document.querySelectorAll('#confusion-graph .layer-above image, "
                "#confusion-graph image').length") > 0, what="top images in the heatmap")
        selector = SHOW[show]
        if show == "diagram":  # opened by the link, drawn from the network on screen; a pixel lights its edge
            wait_until(lambda: dash_duo.driver.execute_script("""
                const gd = document.querySelector('#diagram-graph .js-plotly-plot');
                return document.getElementById('diagram-card').open && gd && gd._fullData &&
                    gd._fullData.some(t => t.name === 'outputs');"""), what=f"the diagram of {href}")
            if view["arch"] == "linear":  # the mouse over the grid's middle
                grid = dash_duo.find_elements("#diagram-graph .heatmaplayer image")[0]
                dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
                ActionChains(dash_duo.driver).move_to_element(grid).perform()
                wait_until(lambda: dash_duo.driver.execute_script(
                    "return (document.querySelector('#diagram-graph .js-plotly-plot').layout.shapes || []).length")
                    == 3, what="the pixel, its input in the column and its edge lit up")

        def in_view():
            return dash_duo.driver.execute_script("""
                const r = document.querySelector(arguments[0]).getBoundingClientRect();
                return r.height > 0 && r.top >= -2 && r.top < window.innerHeight / 2;""", selector)
        wait_until(in_view, what=f"{selector} in view for {href}")
    assert dash_duo.get_logs() == []


def test_hovering_a_cell_shows_its_top_images(page):
    dash_duo, zoo = page
    ev = zoo.evaluation("mnist", "linear")
    a = p = int(np.argmax(np.diag(ev.confusion)))
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(*cell_centre(dash_duo, a, p))
    actions.perform()
    dash_duo.wait_for_contains_text("#confusion-tip", f"{ev.confusion[a, p]} images", timeout=10)
    # The strip has loaded: as many images as the cell's top six, side by side.
    width = wait_until(lambda: dash_duo.driver.execute_script(
        "const i = document.querySelector('#confusion-tip img.tip-strip');"
        "return i && i.complete && i.naturalWidth;"), what="the strip to load")
    shown = min(6, int(ev.confusion[a, p]))
    assert width == shown * 30 - 2
    assert dash_duo.get_logs() == []


def test_the_data_grid_shows_images_with_their_real_labels(page):
    dash_duo, zoo = page
    test = zoo.evaluation("mnist", "linear").labels
    open_view(dash_duo, "predictions", "#data-grid")
    shown = wait_until(lambda: dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#data-grid img.data-img')).map("
        "i => [Number(i.dataset.index), Number(i.dataset.label), i.complete && i.naturalWidth > 0,"
        " i.parentElement.querySelector('.tile-label').textContent])"), what="the data grid")
    assert len(shown) == min(50, len(test))
    for index, label, loaded, caption in shown:
        assert loaded and label == int(test[index]) and caption == str(label)
    dash_duo.find_element("#data-new").click()  # a new sample: new images, and its seed in the address
    wait_until(lambda: "seed=" in dash_duo.driver.current_url, what="the seed in the address")
    assert dash_duo.get_logs() == []


def test_the_gallery_lists_only_mistakes_by_probability(dash_duo, trained):
    settings, zoo = trained
    dash_duo.start_server(create_app(settings))
    # The untrained start of the timeline: the trained nets make no mistakes on the synthetic data.
    dash_duo.driver.get(f"{dash_duo.server_url}/predictions?dataset=mnist&model=linear&t=0&show=mistakes")
    ev = zoo.evaluate(zoo.snapshot(zoo.load("mnist", "linear"), 0))
    dash_duo.wait_for_element("#gallery .tile", timeout=30)
    wait_until(lambda: "untrained" in dash_duo.find_element("#timeline-note").text, what="the start of training")
    tiles = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#gallery .tile')).map(t => [Number("
        "t.querySelector('img').dataset.index), parseFloat(t.querySelector('.tile-prob').textContent)])")
    assert tiles and all(ev.preds[n] != ev.labels[n] for n, _ in tiles)
    probs = [p for _, p in tiles]
    assert probs == sorted(probs, reverse=True)
    assert all(abs(p - 100 * ev.confidence[n]) < 0.051 for n, p in tiles)
    assert dash_duo.get_logs() == []


def test_a_label_error_explanation_scrolls_into_view(page):
    """Opening an image from far away (the mistakes gallery, the suspects) brings its explanation into view."""
    dash_duo, _ = page
    open_view(dash_duo, "predictions", "#gallery")
    tile = wait_until(lambda: dash_duo.find_elements("#gallery .tile") or dash_duo.find_elements("#gallery .hint"),
                      what="the gallery")[0]
    if "hint" in (tile.get_attribute("class") or ""):  # a perfect network: take a data grid image instead
        tile = wait_until(lambda: dash_duo.find_elements("#data-grid button.tile"), what="the data grid")[0]
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", tile)
    index = tile.find_element("css selector", "img").get_attribute("data-index")
    tile.click()
    dash_duo.wait_for_contains_text("#explain-panel", f"Test image #{index}", timeout=20)
    wait_until(lambda: dash_duo.driver.execute_script(
        "const r = document.getElementById('explain-card').getBoundingClientRect();"
        "return r.top >= -2 && r.top < window.innerHeight / 2;"), what="the explanation in view")
    assert dash_duo.get_logs() == []


def test_arrow_keys_move_through_the_heatmap_and_enter_opens_a_cell(page):
    dash_duo, _ = page
    box = dash_duo.find_element("#confusion-keys")
    dash_duo.driver.execute_script("arguments[0].focus()", box)
    assert dash_duo.driver.switch_to.active_element == box
    keys = ActionChains(dash_duo.driver)
    for key in (Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ARROW_RIGHT, Keys.ARROW_UP, Keys.ARROW_RIGHT,
                Keys.ARROW_RIGHT, Keys.ARROW_LEFT):
        keys.send_keys(key)
    keys.perform()
    assert dash_duo.find_elements("#confusion-keys .cell-cursor")  # the cursor is drawn while focused
    ActionChains(dash_duo.driver).send_keys(Keys.ENTER).perform()
    dash_duo.wait_for_contains_text("#cell-samples", "actual 1, predicted 2", timeout=20)  # down 2, up 1; right 2
    wait_until(lambda: "cell=1-2" in dash_duo.driver.current_url, what="the address to name the cell")
    # Tab reaches the page's controls, each with a visible focus ring.
    dash_duo.driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    # Start tabbing from the top of the page: a click on the title moves the navigation starting point.
    dash_duo.driver.find_element("css selector", "h1").click()
    seen = []
    for _ in range(20):
        ActionChains(dash_duo.driver).send_keys(Keys.TAB).perform()
        tag, name, outline, width = dash_duo.driver.execute_script(
            "const e = document.activeElement, s = getComputedStyle(e);"
            "return [e.tagName, e.id || e.className, s.outlineStyle, parseFloat(s.outlineWidth)]")
        if tag == "BODY":
            continue
        seen.append(name)
        assert outline != "none" and width >= 2, f"{tag} {name} has no visible focus ({outline} {width}px)"
    assert {"dataset-dropdown", "model-dropdown", "confusion-keys", "watch-button", "confusion-csv"} <= set(seen)
    assert dash_duo.get_logs() == []


def test_csv_downloads_hold_the_matrix_and_the_cell(page):
    dash_duo, zoo = page
    ev = zoo.evaluation("mnist", "linear")
    folder = Path(dash_duo.download_path)
    dash_duo.find_element("#confusion-csv").click()
    matrix = wait_until(lambda: next(iter(folder.glob("*confusion.csv")), None), what="the matrix CSV")
    rows = list(csv.reader(io.StringIO(matrix.read_text())))
    assert matrix.name == "mnist-linear-confusion.csv" and rows[0][1:] == list(ev.classes)
    assert np.array_equal(np.array([r[1:] for r in rows[1:]], dtype=int), ev.confusion)
    click_cell(dash_duo, 2, 2)
    dash_duo.wait_for_contains_text("#cell-samples", "actual 2, predicted 2", timeout=20)
    dash_duo.find_element("#samples-csv").click()
    listing = wait_until(lambda: next(iter(folder.glob("*actual2-predicted2.csv")), None), what="the cell CSV")
    got = list(csv.DictReader(io.StringIO(listing.read_text())))
    assert [int(r["index"]) for r in got] == ev.cell(2, 2).tolist()
    assert {r["true"] for r in got} == {"2"} and float(got[0]["probability"]) >= float(got[-1]["probability"])
    # The picture of the matrix is drawn by plotly in the browser.
    dash_duo.find_element("#confusion-svg").click()
    svg = wait_until(lambda: next(iter(folder.glob("mnist-linear-confusion.svg")), None), what="the SVG")
    wait_until(lambda: svg.read_text().rstrip().endswith("</svg>"), what="the SVG to be written")
    assert "<svg" in svg.read_text()[:500] and all(f">{c}<" in svg.read_text() for c in ev.classes)
    dash_duo.find_element("#confusion-png").click()
    png = wait_until(lambda: next(iter(folder.glob("mnist-linear-confusion.png")), None), what="the PNG")
    wait_until(lambda: png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", what="the PNG to be written")
    assert dash_duo.get_logs() == []


def test_a_drawing_produces_a_prediction(page):
    dash_duo, _ = page
    open_view(dash_duo, "predictions", "#draw-canvas")
    canvas = dash_duo.find_element("#draw-canvas")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    left, top = dash_duo.driver.execute_script(
        "const b = arguments[0].getBoundingClientRect(); return [b.left, b.top]", canvas)
    stroke = ActionBuilder(dash_duo.driver)
    stroke.pointer_action.move_to_location(int(left + 40), int(top + 80)).pointer_down()
    for x in range(50, 250, 10):  # a horizontal band, like the synthetic images' classes
        stroke.pointer_action.move_to_location(int(left + x), int(top + 80))
    stroke.pointer_action.pointer_up()
    stroke.perform()
    dash_duo.wait_for_contains_text("#own-result", "Your drawing", timeout=20)
    assert "predicted" in dash_duo.find_element("#own-result").text
    wait_until(lambda: len(dash_duo.find_elements("#own-probs .bars .point")) == 10, what="the probability bars")
    assert len(dash_duo.find_elements("#own-result .map-img")) == 2 * 10 + 1  # explained like a test image
    # What is explained is the stroke: a horizontal band across the image, not a blank one.
    drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(
        dash_duo.find_element("#own-result .explain-img").get_attribute("src").split(",", 1)[1]))).convert("L"))
    inked = np.abs(drawn.astype(int) - np.median(drawn)) > 40
    rows, cols = np.flatnonzero(inked.any(1)), np.flatnonzero(inked.any(0))
    assert len(rows) and rows[-1] - rows[0] < 0.4 * drawn.shape[0] and cols[-1] - cols[0] > 0.5 * drawn.shape[1]
    dash_duo.find_element("#draw-clear").click()
    wait_until(lambda: not dash_duo.find_element("#own-result").text, what="the result to clear")
    assert dash_duo.get_logs() == []


def test_a_network_built_in_the_page_trains_with_progress_then_every_panel_draws_it(page):
    dash_duo, zoo = page
    open_view(dash_duo, "training", "#build-hidden")
    box = dash_duo.find_element("#build-hidden")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("32")
    choose(dash_duo, "build-activation", "tanh")
    dash_duo.find_element("#build-train").click()
    label = "2-layer (32 hidden units, tanh)"
    dash_duo.wait_for_contains_text("#model-dropdown", label, timeout=20)
    dash_duo.wait_for_element("#train-box.active #train-progress", timeout=20)  # the progress bar, while it trains
    wait_until(lambda: not dash_duo.find_elements("#train-box.active"), timeout=180, what="the training to finish")
    assert zoo.has_checkpoint("mnist", "mlp-32-tanh")
    dash_duo.wait_for_contains_text("#accuracy", "accuracy", timeout=30)
    wait_until(lambda: "model=mlp-32-tanh" in dash_duo.driver.current_url, what="the address to name it")
    open_view(dash_duo, "core", "#confusion-graph .heatmaplayer")
    wait_until(lambda: len(dash_duo.find_elements("#weights-panel .weight-img")) == 32, what="its 32 filters")
    open_view(dash_duo, "training", "#build-hidden")
    box = dash_duo.find_element("#build-hidden")
    # Building it again opens it; a shape out of bounds gets one sentence and changes nothing.
    dash_duo.find_element("#build-train").click()
    dash_duo.wait_for_contains_text("#build-note", "Opened 2-layer (32 hidden units, tanh)", timeout=20)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("5,5,5,5")
    dash_duo.find_element("#build-train").click()
    dash_duo.wait_for_contains_text("#build-note", "At most 3 hidden layers (asked for 4).", timeout=20)
    assert dash_duo.find_element("#model-dropdown").text.strip() == label
    # The address restores it on a new visit, with its heatmap and filters.
    link = dash_duo.driver.current_url.replace("/training?", "/?")
    dash_duo.driver.get(dash_duo.server_url)
    dash_duo.wait_for_element("#confusion-graph .heatmaplayer", timeout=30)
    dash_duo.driver.get(link)
    dash_duo.wait_for_contains_text("#model-dropdown", label, timeout=30)
    wait_until(lambda: len(dash_duo.find_elements("#weights-panel .weight-img")) == 32, what="its filters again")
    assert dash_duo.get_logs() == []


LADDER_POINTS = """
    const gd = document.querySelector('#ladder-graph .js-plotly-plot');
    if (!gd || !gd._fullData) return null;
    return gd._fullData.filter(t => t.customdata && t.customdata.length).map(
        t => [t.name, t.xaxis, Array.from(t.x), t.customdata.map(c => c[1])]);
"""


def test_the_ladder_shows_every_trained_point_and_a_click_opens_it(page):
    dash_duo, zoo = page
    for network in ("mlp-20-relu", "mlp-100-relu", "mlp-100-100-relu"):
        zoo.evaluation("mnist", network)  # real checkpoints, trained with this test's quick settings
    open_view(dash_duo, "training", "#ladder-graph .js-plotly-plot")
    points = wait_until(lambda: (lambda p: p if p and any(len(x) >= 3 for _, _, x, _ in p) else None)(
        dash_duo.driver.execute_script(LADDER_POINTS)), what="the ladder's points")
    by = {(name, axis): (x, networks) for name, axis, x, networks in points}
    assert by[("MNIST", "x")] == ([10, 20, 100], ["mlp", "mlp-20-relu", "mlp-100-relu"])
    assert by[("MNIST", "x2")] == ([1, 2], ["mlp-100-relu", "mlp-100-100-relu"])  # layers of 100
    assert by[("CIFAR-10", "x")] == ([10], ["mlp"])  # the trained CIFAR-10 networks, on their own line
    assert "Train the 6 missing MNIST networks" in dash_duo.find_element("#ladder-train").text
    x, y = dash_duo.driver.execute_script("""
        const gd = document.querySelector('#ladder-graph .js-plotly-plot'), xa = gd._fullLayout.xaxis,
              ya = gd._fullLayout.yaxis, t = gd._fullData.find(t => t.name === 'MNIST' && t.xaxis === 'x');
        gd.scrollIntoView({block: "center"});
        const box = gd.getBoundingClientRect(), i = Array.from(t.x).indexOf(20);
        return [box.left + xa._offset + xa.d2p(20), box.top + ya._offset + ya.d2p(t.y[i])];
    """)
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(int(x), int(y)).click()
    actions.perform()
    dash_duo.wait_for_contains_text("#model-dropdown", "2-layer (20 hidden units, relu)", timeout=20)
    wait_until(lambda: "model=mlp-20-relu" in dash_duo.driver.current_url, what="the address to name it")
    dash_duo.wait_for_contains_text("#accuracy", "accuracy", timeout=30)
    assert dash_duo.get_logs() == []
