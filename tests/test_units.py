"""What one unit responds to (models/units.py, the unit view app/panels/unit.py, `python -m models units|flip`):
top images against a brute-force forward pass one image at a time, the 1-layer net's class visualisation against
its closed form, visualisations that beat every test image, and flips that flip in a plain forward pass."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from dash import dcc, html, no_update

from app import query
from models import checkpoint, cli, datasets, kinds, units
from models.config import SHIPPED_DIR, Normalization, Settings
from models.errors import ConfigError
from models.explain import folded_first_layer
from models.nets import CNN, MLP, LinearNet
from tests.conftest import callbacks_of, real_data_dir
from tests.test_app_callbacks import array, drain, find, run_job, shown_view, text_of, weight_tiles

BUILT = kinds.fully_connected((16, 12, 8), "tanh")  # a 3-layer built net whose units go negative


def brute_force(model, images, norm, layer, unit):
    """A unit's activation on each image alone, through forward hooks on the module that makes it (not the
    module's own unit_maps): a hidden layer's output after its activation, a block's ReLU, a class score."""
    seen = []
    if isinstance(model, CNN):
        blocks = [m for m in model.features if isinstance(m, torch.nn.Sequential)]
        target = blocks[layer - 1][2] if layer <= len(blocks) else model.head
    elif isinstance(model, MLP):
        linears = [model.hidden, *model.deeper]
        target = linears[layer - 1] if layer <= len(linears) else model.out
    else:
        target = model.fc
    hidden = isinstance(model, MLP) and layer <= len(model.widths)

    def hook(_, __, output):
        out = model.act(output) if hidden else output
        seen.append(float(out[0, unit].amax()) if out.dim() == 4 else float(out[0, unit]))
    handle = target.register_forward_hook(hook)
    try:
        with torch.no_grad():
            for image in images:
                model.eval()(norm.apply(image[None]))
    finally:
        handle.remove()
    return np.array(seen, dtype=np.float32)


@pytest.fixture(scope="module")
def cb(tmp_path_factory):
    with callbacks_of(tmp_path_factory.mktemp("units"),
                      (("mnist", "linear"), ("mnist", "mlp"), ("mnist", BUILT), ("cifar10", "cnn"))) as found:
        yield found


@pytest.fixture(autouse=True)
def _no_rate_limits(monkeypatch):
    monkeypatch.setattr("app.access.Limits.check", lambda self, name: None)
    monkeypatch.setattr("app.access.Limits.check_once", lambda self, name, key: None)


# The arithmetic

def test_layers_and_units_are_numbered_as_the_page_numbers_them():
    model = MLP((1, 8, 8), 10, (6, 5))
    found = units.unit_layers(model)
    assert [(f.number, f.count, f.noun) for f in found] == [(1, 6, "unit"), (2, 5, "unit"), (3, 10, "class")]
    assert units.find(model, 2, 5) == (found[1], 4)
    for layer, unit in ((0, 1), (4, 1), (2, 6), (2, 0), ("2", 1), (True, 1)):
        with pytest.raises(ConfigError):
            units.find(model, layer, unit)
    conv = units.unit_layers(CNN((3, 12, 12), 10, widths=(4, 6, 8)))
    assert [(f.title, f.count) for f in conv] == [("convolution block 1", 4), ("convolution block 2", 6),
                                                  ("convolution block 3", 8), ("class scores", 10)]
    assert [(f.number, f.noun) for f in units.unit_layers(LinearNet((1, 8, 8), 10))] == [(1, "class")]


def test_the_class_visualisation_of_the_1_layer_net_is_its_templates_direction():
    """Maximising a class score within an L2 ball around the mean image: the answer is the mean plus the
    radius along the template (its weights on 0..1 pixels), whatever the per-channel normalisation."""
    torch.manual_seed(0)
    model = LinearNet((3, 6, 6), 10)
    norm = Normalization((0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    mean = np.random.default_rng(0).uniform(0.3, 0.7, (3, 6, 6))
    w, _ = folded_first_layer(model.fc.weight, model.fc.bias, model.in_shape, norm)
    for c in (0, 4, 9):
        found = units.visualise(model, norm, 1, c, steps=50, ball=(mean, 2.0), priors=False)
        away = found.image.reshape(-1) - mean.reshape(-1)
        cosine = away @ w[c].reshape(-1) / np.linalg.norm(away) / np.linalg.norm(w[c])
        assert cosine >= 0.99 and np.linalg.norm(away) == pytest.approx(2.0, rel=1e-3)


def test_only_a_unit_that_goes_negative_has_lowest_images():
    labels = np.arange(40) % 4
    relu = units.profile(np.maximum(np.linspace(-1, 1, 40), 0), labels, 4, top=5)
    assert len(relu.top) == 5 and len(relu.bottom) == 0
    tanh = units.profile(np.tanh(np.linspace(-2, 2, 40)), labels, 4, top=5)
    assert list(tanh.bottom) == [0, 1, 2, 3, 4] and list(tanh.top) == [39, 38, 37, 36, 35]
    np.testing.assert_allclose(tanh.class_means, [np.tanh(np.linspace(-2, 2, 40))[labels == c].mean() for c in range(4)],
                               rtol=1e-6)


@pytest.mark.parametrize("dataset, network, layer, unit", [
    ("mnist", "mlp", 1, 3), ("mnist", BUILT, 2, 7), ("mnist", BUILT, 4, 2), ("cifar10", "cnn", 1, 5),
    ("cifar10", "cnn", 3, 0)])
def test_top_images_and_visualisations_against_a_brute_force_pass(cb, dataset, network, layer, unit):
    ckpt = cb["zoo"].load(dataset, network)
    test = datasets.load(dataset, False, cb["settings"])
    want = brute_force(ckpt.model, test.images, ckpt.normalization, layer, unit)
    got = units.activations(ckpt.model, test.images, ckpt.normalization, layer=layer)[0][:, unit]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    found = units.profile(got, test.labels.numpy(), 10)
    assert np.all(np.diff(want[found.top]) <= 1e-6) and want[found.top[0]] == pytest.approx(want.max(), abs=1e-5)
    made = units.visualise(ckpt.model, ckpt.normalization, layer, unit, steps=64, beat=float(want.max()),
                           around=test.images.float().mean(0).numpy() / 255)
    assert made.activation >= want.max() - 1e-5
    assert made.image.min() >= 0 and made.image.max() <= 1
    with torch.no_grad():  # its activation, measured by the brute force too
        image = torch.as_tensor(np.round(made.image * 255).astype(np.uint8))[None]
        assert brute_force(ckpt.model, image, ckpt.normalization, layer, unit)[0] == \
            pytest.approx(made.activation, rel=0.05, abs=0.05)


def test_a_shipped_convnet_filter_is_driven_harder_than_by_any_test_image(tmp_path):
    """The shipped MNIST convnet's first-block filter 3, on the real test split: ascent on its map's largest value
    once stalled at the map's top edge, where the zero padding caps it (3.12 against the best test image's 4.42);
    the steps that follow the priors now raise the map's centre."""
    settings = Settings.resolve(real_data_dir(), tmp_path, offline=True)
    ckpt = checkpoint.load(SHIPPED_DIR / "mnist-cnn.pt")
    test = datasets.load("mnist", False, settings)
    best = float(units.activations(ckpt.model, test.images, ckpt.normalization, layer=1)[0][:, 2].max())
    made = units.visualise(ckpt.model, ckpt.normalization, 1, 2, beat=best, seconds=120,
                           around=test.images.float().mean(0).numpy() / 255)
    assert made.activation >= best


def test_a_fooling_image_is_what_the_network_calls_the_class_with_99_percent(cb):
    ckpt = cb["zoo"].load("mnist", "mlp")
    model = copy.deepcopy(ckpt.model)
    with torch.no_grad():  # two epochs on synthetic data leave it unsure of everything: make it as sure as a real one
        model.out.weight.mul_(30)
    image, probs, steps = units.fooling_image(model, ckpt.normalization, 3)
    assert probs.argmax() == 3 and probs[3] >= 0.99 and 0 <= image.min() and image.max() <= 1
    with torch.no_grad():  # a plain forward pass of the image as returned, not the optimiser's own numbers
        z = model((torch.as_tensor(image)[None] - torch.tensor(ckpt.normalization.mean).view(1, -1, 1, 1))
                       / torch.tensor(ckpt.normalization.std).view(1, -1, 1, 1))
    assert int(z.argmax()) == 3


# The page

def test_the_address_names_a_unit_as_the_page_numbers_it():
    assert query.parse("unit=2.4") == {"unit": [2, 4]}
    for forged in ("unit=0.4", "unit=2.0", "unit=2", "unit=2.4.1", "unit=a.b", "unit=" + "9" * 9 + ".1"):
        assert "unit" not in query.parse(forged)


def test_the_unit_view_of_a_2_layer_unit_matches_the_brute_force_pass(cb):
    store = shown_view(cb, "mnist", "mlp")
    layer_options, layer, unit_options, unit = cb["unit_menus"](store, "1", "4")
    assert (layer, unit) == ("1", "4") and [o["value"] for o in layer_options] == ["1", "2"]
    assert len(unit_options) == 10
    body, handle, note = cb["unit_draw"](store, "1", "4")
    assert handle is no_update and note is None  # a fully connected unit's passes run here
    ckpt = cb["zoo"].load("mnist", "mlp")
    test = datasets.load("mnist", False, cb["settings"])
    want = brute_force(ckpt.model, test.images, ckpt.normalization, 1, 3)
    shown = [int(b.to_plotly_json()["props"]["data-index"]) for b in find(body, html.Button)]
    assert shown == list(np.argsort(-want, kind="stable")[:24])  # ReLU: no lowest images
    text = text_of(body)
    assert "Layer 1 (hidden layer 1), unit 4" in text and "the best test image reaches" in text
    pictures = [i.src for i in find(body, html.Img) if "unit-big" in getattr(i, "className", "")]
    assert len(pictures) == 2  # its filter and its visualisation
    visual = cb["service"].representations.visualisation(cb["service"].shown(store), 1, 4)
    assert visual["activation"] >= want.max() - 1e-5
    # The class scores' menu names classes; a class's view adds noise the network calls that class.
    _, _, options, _ = cb["unit_menus"](store, "2", "1")
    assert options[3]["label"] == "class 3"
    body, _, _ = cb["unit_draw"](store, "2", "4")
    assert "Layer 2 (class scores), class 3" in text_of(body) and "A fooling image" in text_of(body)
    visual = cb["service"].representations.visualisation(cb["service"].shown(store), 2, 4)
    with torch.no_grad():  # the probabilities shown are the network's own for that image
        z = ckpt.model((torch.as_tensor(visual["fooling"])[None] - torch.tensor(ckpt.normalization.mean).view(1, -1, 1, 1))
                       / torch.tensor(ckpt.normalization.std).view(1, -1, 1, 1))
    np.testing.assert_allclose(torch.softmax(z, 1)[0].numpy(), visual["fooling_probs"], atol=1e-5)


def test_a_built_3_layer_nets_deep_unit_has_its_lowest_images_and_next_layers_weights(cb):
    store = shown_view(cb, "mnist", BUILT)
    body, _, _ = cb["unit_draw"](store, "2", "7")
    ckpt = cb["zoo"].load("mnist", BUILT)
    test = datasets.load("mnist", False, cb["settings"])
    want = brute_force(ckpt.model, test.images, ckpt.normalization, 2, 6)
    shown = [int(b.to_plotly_json()["props"]["data-index"]) for b in find(body, html.Button)]
    assert shown[:24] == list(np.argsort(-want, kind="stable")[:24])
    assert shown[24:] == list(np.argsort(want, kind="stable")[:24])  # tanh goes negative: its lowest too
    assert "drive it lowest" in text_of(body)
    bars = [g.figure for g in find(body, dcc.Graph)][0]["data"][0]  # into each unit of layer 3
    np.testing.assert_allclose(array(bars["y"]), ckpt.model.deeper[1].weight.detach().numpy()[:, 6], rtol=1e-6)


def test_a_convnets_filter_is_a_queued_job_then_its_view(cb):
    store = shown_view(cb, "cifar10", "cnn")
    body, handle, _ = cb["unit_draw"](store, "1", "6")
    assert "one pass of the network" in text_of(body) and handle["mode"] == "unit"
    run_job(cb, handle)
    assert cb["unit_poll"](handle)[5] == handle["id"]
    body, again, _ = cb["unit_draw"](store, "1", "6", handle["id"])
    assert again is no_update
    ckpt = cb["zoo"].load("cifar10", "cnn")
    test = datasets.load("cifar10", False, cb["settings"])
    want = brute_force(ckpt.model, test.images, ckpt.normalization, 1, 5)
    shown = [int(b.to_plotly_json()["props"]["data-index"]) for b in find(body, html.Button)]
    assert shown == list(np.argsort(-want, kind="stable")[:24])
    assert "Layer 1 (convolution block 1), filter 6" in text_of(body)
    assert "the best test image reaches" in text_of(body)  # the job made its visualisation too
    # Another filter of the same network reuses the pass and queues only its visualisation.
    _, handle, _ = cb["unit_draw"](store, "2", "3")
    run_job(cb, handle)
    assert "Layer 2 (convolution block 2), filter 3" in text_of(cb["unit_draw"](store, "2", "3")[0])


def test_the_weights_card_links_each_template_and_filter_to_its_unit(cb):
    data, _, _ = cb["weights"](shown_view(cb, "mnist", "mlp"), "diverging", "0")
    assert [t["inspect"] for t in weight_tiles(data)] == [f"1.{i}" for i in range(1, 11)]
    data, _, _ = cb["weights"](shown_view(cb, "mnist", "linear"), "diverging", "0")
    assert [t["inspect"] for t in weight_tiles(data)] == [f"1.{i}" for i in range(1, 11)]  # classes: its only layer


@pytest.mark.parametrize("layer, unit", [("9", "1"), ("1", "99"), (None, None), ({"x": 1}, "1"), ("1" * 50, "1")])
def test_a_forged_unit_gets_one_sentence(cb, layer, unit):
    store = shown_view(cb, "mnist", "mlp")
    body, handle, _ = cb["unit_draw"](store, layer, unit)
    assert isinstance(body, html.P)
    assert body.children.startswith(("This network has layers 1 to 2", "Layer 1 (hidden layer 1) has units 1 to 10"))
    assert handle is no_update
    _, layer_value, _, unit_value = cb["unit_menus"](store, layer, unit)  # the menus fall back to unit 1.1
    assert layer_value in ("1", "2") and unit_value.isdecimal()


def test_the_unit_view_follows_the_timeline(cb):
    early, final = shown_view(cb, "mnist", "mlp", 0), shown_view(cb, "mnist", "mlp")
    a, b = text_of(cb["unit_draw"](early, "1", "2")[0]), text_of(cb["unit_draw"](final, "1", "2")[0])
    assert "of its training" in a and "of its training" not in b
    service = cb["service"]
    va = service.representations.visualisation(service.shown(early), 1, 2)
    vb = service.representations.visualisation(service.shown(final), 1, 2)
    assert not np.allclose(va["image"], vb["image"])


# Fool it for a drawing

def test_fool_it_flips_a_drawing_in_a_plain_forward_pass(cb):
    from app import upload
    store = shown_view(cb, "mnist", "linear")
    side = upload.DRAW_SIDE
    box = np.zeros((side, side))  # a drawn ring, light ink on black as the canvas sends it
    box[side // 5:4 * side // 5, side // 4:3 * side // 4] = 255
    box[side // 5 + 3:4 * side // 5 - 3, side // 4 + 3:3 * side // 4 - 3] = 0
    pixels = box.astype(int).reshape(-1).tolist()
    found, queued = cb["own_fool"](1, "nearest", "draw", pixels, None, store)
    assert queued is no_update  # a 1-layer net's change is exact, in the request
    text = text_of(found)
    assert "makes it say" in text and "exact" in text
    view = cb["service"].shown(store)
    image = upload.from_pixels(pixels, (1, 28, 28), upload.recipe("mnist", (1, 28, 28)))
    with torch.no_grad():
        before = int(view.checkpoint.model(view.checkpoint.normalization.apply(torch.as_tensor(image)[None])).argmax())
    assert f"instead of {view.checkpoint.classes[before]}" in text
    assert "Draw something first" in text_of(cb["own_fool"](1, "nearest", "draw", None, None, store)[0])


def test_a_convnets_fool_it_for_an_upload_is_a_queued_job_on_the_kept_image(cb):
    """An upload to the convnet: the press keeps the converted image under its digest and queues a "fool" job;
    its end draws the change, which flips the network in a plain forward pass."""
    import base64
    import io

    from PIL import Image

    from app import upload
    from tests.test_app_callbacks import triggered
    store = shown_view(cb, "cifar10", "cnn")
    picture = np.zeros((32, 32, 3), dtype=np.uint8)
    picture[8:24, 8:24] = (200, 40, 40)
    data = io.BytesIO()
    Image.fromarray(picture).save(data, format="PNG")
    uploaded = {"name": "square.png", "contents": "data:image/png;base64," + base64.b64encode(data.getvalue()).decode()}
    drain(cb)
    note, handle = triggered(cb["own_fool"], "own-fool-button.n_clicks", 1, 1, "nearest", "upload", None, uploaded,
                             store)
    assert "in the queue" in text_of(note) and handle["id"] in cb["started"]
    run_job(cb, handle)
    *_, done = cb["own_fool_poll"](handle)
    result, _ = triggered(cb["own_fool"], "state-own-fool-done.data", done, 1, "nearest", "upload", None, uploaded,
                          store, done)
    assert "makes it say" in text_of(result)
    view = cb["service"].shown(store)
    image = upload.to_dataset_image(upload.open_image(data.getvalue()), (3, 32, 32), upload.recipe("cifar10", (3, 32, 32)))
    from app.representations import image_digest
    change = cb["service"].representations.change(view, f"d{image_digest(image)}.n")
    with torch.no_grad():
        x = torch.as_tensor(change.changed, dtype=torch.float32)[None]
        norm = view.checkpoint.normalization
        said = int(view.checkpoint.model.eval()((x - torch.tensor(norm.mean).view(1, -1, 1, 1))
                                                / torch.tensor(norm.std).view(1, -1, 1, 1)).argmax())
    assert said == change.target
    # Another image on screen by then: its end draws nothing there.
    other = dict(uploaded, contents="data:image/png;base64," + base64.b64encode(_png(255 - picture)).decode())
    assert triggered(cb["own_fool"], "state-own-fool-done.data", done, 1, "nearest", "upload", None, other, store,
                     done) == (no_update, no_update)


def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image
    data = io.BytesIO()
    Image.fromarray(array).save(data, format="PNG")
    return data.getvalue()


# The command line

def run_cli(cb, capsys, *args) -> tuple[int, str, str]:
    code = cli.main([*args, "--offline", "--data-dir", str(cb["settings"].data_dir), "--model-dir",
                     str(cb["settings"].model_dir)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_units_command_prints_the_brute_force_top_images(cb, capsys):
    code, out, _ = run_cli(cb, capsys, "units", "--dataset", "mnist", "--arch", "mlp", "--hidden", "16,12,8",
                           "--activation", "tanh", "--layer", "3", "--unit", "2", "--top", "5", "--json")
    assert code == 0
    found = json.loads(out)
    ckpt = cb["zoo"].load("mnist", BUILT)
    test = datasets.load("mnist", False, cb["settings"])
    want = brute_force(ckpt.model, test.images, ckpt.normalization, 3, 1)
    assert found["layer"] == 3 and found["unit"] == 2 and found["top"] == list(np.argsort(-want, kind="stable")[:5])
    assert found["bottom"] == list(np.argsort(want, kind="stable")[:5])
    np.testing.assert_allclose(found["activations"], want, atol=1e-5)
    labels = test.labels.numpy()
    np.testing.assert_allclose(found["class_means"], [want[labels == c].mean() for c in range(10)], atol=1e-5)
    code, _, err = run_cli(cb, capsys, "units", "--dataset", "mnist", "--arch", "mlp", "--layer", "1", "--unit", "11")
    assert code == 2 and err.count("\n") == 1 and "units 1 to 10" in err


@pytest.mark.parametrize("arch, to", [("linear", None), ("linear", 2), ("mlp", None), ("cnn", None)])
def test_the_flip_command_flips_in_a_plain_forward_pass(cb, capsys, arch, to):
    dataset = "cifar10" if arch == "cnn" else "mnist"
    args = ["flip", "--dataset", dataset, "--arch", arch, "--index", "5", "--json"] + ([] if to is None else ["--to", str(to)])
    code, out, err = run_cli(cb, capsys, *args)
    ckpt = cb["zoo"].load(dataset, arch)
    test = datasets.load(dataset, False, cb["settings"])
    with torch.no_grad():
        before = int(ckpt.model(ckpt.normalization.apply(test.images[5:6])).argmax())
    if to == before:
        assert code == 2 and "already says" in err
        return
    assert code == 0, err
    found = json.loads(out)
    assert found["index"] == 5 and found["from"] == before and found["to"] != before
    assert to is None or found["to"] == to
    image = np.array(found["image"], dtype=np.float64).reshape(ckpt.model.in_shape)
    assert image.min() >= 0 and image.max() <= 1
    original = test.images[5].numpy() / 255.0
    assert np.linalg.norm(image - original) == pytest.approx(found["l2"], rel=1e-3, abs=1e-4)
    mean = torch.tensor(ckpt.normalization.mean).view(1, -1, 1, 1)
    std = torch.tensor(ckpt.normalization.std).view(1, -1, 1, 1)
    with torch.no_grad():
        z = ckpt.model((torch.as_tensor(image, dtype=torch.float32)[None] - mean) / std)[0]
    assert int(z.argmax()) == found["to"]
    assert int(np.argmax(found["probabilities"])) == found["to"] and sum(found["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert found["changed_pixels"] >= 1


def test_the_flip_command_refuses_what_it_cannot_do_in_one_line(cb, capsys):
    for extra in (["--index", "999999"], ["--index", "0", "--to", "10"]):
        code, _, err = run_cli(cb, capsys, "flip", "--dataset", "mnist", "--arch", "linear", *extra)
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")
