"""The layer map, switching units off and the predictions table in headless Chromium, on the real MNIST test
split with the shipped 2-layer network (10,000 points)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys

from app.jobs import Queue
from app.main import create_app
from models.compare import difference
from models.config import Settings
from models.evaluate import Evaluation
from models.train import predict_proba
from models.zoo import Zoo
from tests.conftest import real_data_dir
from tests.test_browser import click_cell, open_view, wait_until

pytestmark = pytest.mark.browser
SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The shipped MNIST networks in a scratch model folder (the maps' jobs may write beside them), evaluated
    here (a clean clone ships checkpoints only), with a job queue of their own: a job these pages queued must
    never be joined by another test's page (the default queue folder is shared by every process)."""
    data = real_data_dir()
    models = tmp_path_factory.mktemp("shipped")
    for path in [*SHIPPED.glob("mnist-mlp.*"), *SHIPPED.glob("mnist-linear.*")]:
        shutil.copy(path, models / path.name)
    settings = Settings(data_dir=data, model_dir=models, offline=True)
    zoo = Zoo(settings)
    for network in ("linear", "mlp"):  # the page opens on the linear net before the address names the mlp
        zoo.evaluation("mnist", network)
    return settings, zoo, Queue(models / "jobs")


@pytest.fixture
def page(dash_duo, shipped):
    settings, zoo, queue = shipped
    dash_duo.start_server(create_app(settings, queue=queue))
    dash_duo.driver.get(dash_duo.server_url + "/layers?dataset=mnist&model=mlp")  # the view of the map
    wait_until(lambda: map_points(dash_duo) == 10_000, timeout=60, what="the map's 10,000 points")
    return dash_duo, zoo


def map_points(dash_duo) -> int:
    return dash_duo.driver.execute_script("""
        const gd = document.querySelector('#embedding-graph .js-plotly-plot');
        if (!gd || !gd._fullData) return 0;
        return gd._fullData.filter(t => t.meta && t.customdata).reduce((n, t) => n + t.customdata.length, 0);
    """)


def map_data(dash_duo) -> dict:
    """Every point of the map as Plotly holds it: index, x, y, and whether it is highlighted (selectedpoints)."""
    return dash_duo.driver.execute_script("""
        const gd = document.querySelector('#embedding-graph .js-plotly-plot');
        const out = {index: [], x: [], y: [], lit: []};
        gd._fullData.forEach(t => {
            if (!t.meta || !t.customdata) return;
            const sel = t.selectedpoints ? new Set(Array.from(t.selectedpoints)) : null;
            for (let k = 0; k < t.customdata.length; k++) {
                out.index.push(t.customdata[k]); out.x.push(t.x[k]); out.y.push(t.y[k]);
                out.lit.push(sel === null ? null : sel.has(k));
            }
        });
        return out;
    """)


def to_screen(dash_duo, x: float, y: float) -> tuple[int, int]:
    """A data point of the map in the browser's pixels (scrolled into view first)."""
    return tuple(int(v) for v in dash_duo.driver.execute_script("""
        const gd = document.querySelector('#embedding-graph .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(arguments[0]), box.top + ya._offset + ya.l2p(arguments[1])];
    """, x, y))


def scroll_to_map(dash_duo) -> None:
    dash_duo.driver.execute_script(
        "document.querySelector('#embedding-graph').scrollIntoView({block: 'center'})")
    time.sleep(0.3)


def intact_and_oracle(zoo, units):
    """The evaluation of the shipped net, and of a copy whose switched-off units' outgoing weights are zero."""
    ckpt = zoo.load("mnist", "mlp")
    intact = zoo.cached_evaluation(ckpt)
    model = __import__("copy").deepcopy(ckpt.model)
    with torch.no_grad():
        model.outgoing()[:, list(units)] = 0
    from models import datasets
    test = datasets.load("mnist", False, zoo.settings)
    probs = predict_proba(model, test.images, ckpt.normalization)
    return intact, Evaluation("mnist", "mlp", intact.classes, intact.checkpoint_id, intact.labels, probs)


def test_the_map_has_every_test_image_and_a_hover_card(page):
    dash_duo, zoo = page
    found = map_data(dash_duo)
    assert sorted(found["index"]) == list(range(10_000))
    scroll_to_map(dash_duo)
    # Hovering a point shows its image and classes: the right-most point, which has no neighbour to hide behind.
    k = int(np.argmax(found["x"]))
    index = found["index"][k]
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(*to_screen(dash_duo, found["x"][k], found["y"][k]))
    actions.perform()
    tip = wait_until(lambda: dash_duo.driver.find_elements("css selector", ".map-tip-img"), what="the hover card")
    assert tip[0].get_attribute("src").endswith(f"/image/mnist/{index}.png")
    assert f"test image #{index}" in dash_duo.find_element(".map-tip").text
    assert not [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]


def test_a_box_selection_lists_exactly_the_images_inside_it(page):
    dash_duo, zoo = page
    scroll_to_map(dash_duo)
    found = map_data(dash_duo)
    x, y, index = np.array(found["x"]), np.array(found["y"]), np.array(found["index"])
    # A box a few points wide around the right-most tail of the cloud, chosen so that it holds 3 to 24 points.
    order = np.argsort(-x)
    for n in range(6, 40):
        chosen = order[:n]
        x0, x1 = x[chosen].min(), x[chosen].max()
        y0, y1 = y[chosen].min(), y[chosen].max()
        pad_x, pad_y = 0.02 * (x1 - x0 + 1e-6), 0.02 * (y1 - y0 + 1e-6)
        x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        if 3 <= inside.sum() <= 24:
            break
    want = set(index[inside].tolist())
    corner_a, corner_b = to_screen(dash_duo, x0, y1), to_screen(dash_duo, x1, y0)
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(corner_a[0] - 2, corner_a[1] - 2).pointer_down()
    actions.pointer_action.move_to_location((corner_a[0] + corner_b[0]) // 2, (corner_a[1] + corner_b[1]) // 2)
    actions.pointer_action.move_to_location(corner_b[0] + 2, corner_b[1] + 2).pointer_up()
    actions.perform()
    heading = wait_until(lambda: [h.text for h in dash_duo.driver.find_elements("css selector", ".cell-heading")
                                  if "selected on the map" in h.text], what="the selection's heading")[0]
    assert heading.startswith(f"{len(want)} image")
    wait_until(lambda: {int(e.get_attribute("data-index")) for e in dash_duo.driver.find_elements(
        "css selector", "#cell-samples .tile-img")} == want, what="exactly the picked images")
    # Right under the map, the selection says how many it picked; the map offers no cloud upload.
    assert dash_duo.find_element("#embedding-picked").text.startswith(f"{len(want)} image")
    titles = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#embedding-graph .modebar-btn')).map(b => b.dataset.title)")
    assert titles and not [t for t in titles if "Chart Studio" in t or "Share" in t or "cloud" in t.lower()]
    # The selection lasts until a cell is chosen, by the keyboard as by a click: then the list is the cell's.
    open_view(dash_duo, "core", "#confusion-graph .heatmaplayer")
    wait_until(lambda: "selected on the map" in dash_duo.find_element("#cell-samples").text, what="the pick kept")
    box = dash_duo.find_element("#confusion-keys")
    dash_duo.driver.execute_script("arguments[0].focus()", box)
    ActionChains(dash_duo.driver).send_keys(Keys.ENTER).perform()
    dash_duo.wait_for_contains_text("#cell-samples", "actual 0, predicted 0", timeout=20)
    dash_duo.find_element("#samples-sort input[value='true']").click()  # another order: still the cell's images
    wait_until(lambda: dash_duo.find_element(".sort-note").text.startswith("Sorted by probability of the true"),
               what="the new order")
    assert "actual 0, predicted 0" in dash_duo.find_element("#cell-samples").text


def test_a_cell_click_lights_up_that_cells_images_on_the_map(page):
    dash_duo, zoo = page
    ev = zoo.cached_evaluation(zoo.load("mnist", "mlp"))
    open_view(dash_duo, "core", "#confusion-graph .heatmaplayer")
    click_cell(dash_duo, 4, 9)
    want = set(np.flatnonzero((ev.labels == 4) & (ev.preds == 9)).tolist())
    open_view(dash_duo, "layers", "#embedding-graph .js-plotly-plot")  # the cell stays selected across views

    def lit():
        found = map_data(dash_duo)
        if None in found["lit"]:
            return None
        return {i for i, on in zip(found["index"], found["lit"]) if on}
    assert wait_until(lambda: lit() == want and lit(), what="the cell's images lit up") == want


def test_switching_a_unit_off_turns_the_heatmap_into_the_difference(page):
    dash_duo, zoo = page
    open_view(dash_duo, "core", ".unit-toggle")
    toggle = dash_duo.driver.find_elements("css selector", ".unit-toggle")[2]
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", toggle)
    toggle.click()
    wait_until(lambda: "switched off" in dash_duo.find_element("#off-note").text, what="the switched-off note")
    intact, oracle = intact_and_oracle(zoo, [2])
    z = dash_duo.driver.execute_script("""
        const gd = document.querySelector('#confusion-graph .js-plotly-plot');
        return gd._fullData[0].z.map(r => Array.from(r));""")
    np.testing.assert_array_equal(np.array(z), difference(intact, oracle))
    assert f"{100 * oracle.accuracy:.2f}%" in dash_duo.find_element("#off-note").text
    wait_until(lambda: "off=3" in dash_duo.driver.current_url, what="the address to name the unit as the page does")
    assert f"{100 * oracle.accuracy:.2f}% accuracy with unit 3 off" in dash_duo.find_element("#accuracy").text
    assert toggle.text == "off"


def test_a_table_row_opens_its_explanation(page):
    dash_duo, zoo = page
    open_view(dash_duo, "predictions", ".card-table")
    dash_duo.driver.execute_script("document.querySelector('.card-table').scrollIntoView({block: 'center'})")
    cell = wait_until(lambda: dash_duo.driver.find_elements(
        "css selector", "#predictions-table .ag-row[row-index='3'] .ag-cell[col-id='true']"), what="the table's rows")[0]
    cell.click()
    wait_until(lambda: "Test image #3" in dash_duo.find_element("#explain-panel").text, what="the explanation")
    assert "hidden" not in dash_duo.find_element("#explain-card").get_attribute("class")
