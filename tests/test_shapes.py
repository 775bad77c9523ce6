"""The shape new networks and datasets fit into (issue 24): a dataset unlike ours, registered by its descriptor
alone, and a kind whose layer outputs are tokens (B, N, D), both driven through the page's callbacks."""
from __future__ import annotations

import copy
import gzip

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from dash import html
from torch import nn
from torchvision import datasets as tvd

from app.jobs import Queue
from app.main import create_app
from app.state import screen
from models import datasets, explain as explaining, kinds, layers
from models.config import Normalization, TrainConfig
from models.datasets import DatasetSpec, Own
from models.kinds import Kind, Matrix, Pass, Tiles
from models.nets import Inspectable, Units
from tests import synthetic
from tests.conftest import quick_trained
from tests.test_app_callbacks import array, components, find, text_of, weight_tiles

CLASSES = tuple(f"glyph {c}" for c in range(12))
SHAPE = (1, 16, 16)
N_TRAIN, N_TEST = 1_200, 3_000


class Glyphs12(tvd.MNIST):
    """Twelve classes of 16×16 glyphs in MNIST's files (idx, gzipped): torchvision's reader, other checksums."""
    mirrors: list = []
    resources: list = []  # set once the files are written (their md5s)
    classes = list(CLASSES)


def glyphs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k is a bar: rows for k < 6, columns for k ≥ 6, at place k % 6, over noise. Learnable, unlike digits."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 12, n).astype(np.uint8)
    images = rng.integers(0, 50, (n, 16, 16)).astype(np.uint8)
    for i, k in enumerate(labels):
        at = 1 + 2 * (int(k) % 6)
        if k < 6:
            images[i, at:at + 2, 2:14] = 240
        else:
            images[i, 2:14, at:at + 2] = 240
    return images, labels


def write_glyphs(root) -> list[tuple[str, str]]:
    raw = root / Glyphs12.__name__ / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (train_x, train_y), (test_x, test_y) = glyphs(N_TRAIN, 1), glyphs(N_TEST, 2)
    arrays = {"train-images-idx3-ubyte": train_x, "train-labels-idx1-ubyte": train_y,
              "t10k-images-idx3-ubyte": test_x, "t10k-labels-idx1-ubyte": test_y}
    for name, arr in arrays.items():
        with gzip.open(raw / f"{name}.gz", "wb") as f:
            f.write(synthetic.idx_bytes(arr))
    return [(f"{name}.gz", synthetic.md5(raw / f"{name}.gz")) for name in arrays]


GLYPHS = DatasetSpec("glyphs12", "Glyphs-12", Glyphs12, CLASSES, SHAPE, "idx", "mnist", (N_TRAIN, N_TEST),
                     Own("digit", "Draw a bar, across or down.", draw=True))


class Tokens(nn.Module):
    """A network whose first layer's output is tokens, (B, N, D): 4×4 patches, each embedded in D channels,
    averaged over the tokens, then the classes. Its units are the D channels, never the N tokens."""

    def __init__(self, in_shape, n_classes: int = 10, dim: int = 8, patch: int = 4):
        super().__init__()
        self.in_shape, self.patch = tuple(in_shape), patch
        self.embed = nn.Linear(in_shape[0] * patch * patch, dim)
        self.act = nn.ReLU()
        self.head = nn.Linear(dim, n_classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        patches = nn.functional.unfold(x, self.patch, stride=self.patch).transpose(1, 2)  # (B, N, C·p·p)
        return self.act(self.embed(patches))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.tokens(x).mean(1))

    def layers(self) -> list[tuple[str, str]]:
        return [("tokens", f"tokens, averaged ({self.head.in_features})"), ("logits", "class scores (logits)")]

    def representations(self, x: torch.Tensor) -> list[torch.Tensor]:
        pooled = self.tokens(x).mean(1)
        return [pooled, self.head(pooled)]

    def units(self) -> Units:
        return Units(self.act, -1, self.head.in_features)


def _token_weights(model: Tokens, classes) -> list:
    """No images among its weights: the embedding as a matrix, and the output weights."""
    return [Matrix("embedding", "Each channel's weights over a patch's pixels", model.embed.weight.detach().numpy(),
                   "channel", "pixel of a patch"),
            Matrix("output_weights", "Output weights of each class over the channels", model.head.weight.detach().numpy(),
                   "class", "channel", tuple(classes))]


TOKENS = Kind(name="tokens", label="Tokens (patches)", module=Tokens,
              about="Each 4×4 patch becomes a token of 8 channels; the tokens are averaged, then weighed per class.",
              defaults={"mnist": TrainConfig(epochs=2, batch_size=32, lr=5e-3)}, weights_of=_token_weights,
              explain_with=explaining.convnet, unit="channel", train_rate=None)
NORM = Normalization((0.2,), (0.3,))


def test_tokens_switch_channels_off_not_tokens():
    torch.manual_seed(0)
    model = Tokens(SHAPE, 12).eval()
    assert isinstance(model, Inspectable)
    x = torch.randint(0, 256, (20, *SHAPE), dtype=torch.uint8)
    caught = []
    with layers.silenced(model, [1, 5]):  # a hook registered after the switch's sees what the next layer sees
        handle = model.act.register_forward_hook(lambda _, __, out: caught.append(out))
        try:
            model(NORM.apply(x))
        finally:
            handle.remove()
    out = caught[-1]  # (B, N, D)
    assert out.shape == (20, 16, 8)
    with torch.no_grad():
        intact = model.tokens(NORM.apply(x))
    assert bool((intact[..., [1, 5]] != 0).any())  # they did fire: switching them off changes something
    want = intact.clone()
    want[:, :, [1, 5]] = 0  # channels 1 and 5 off in every token; had tokens 1 and 5 gone, this would differ
    assert torch.equal(out.detach(), want)
    # The oracle: a copy whose channels 1 and 5 can never fire (their embedding rows and biases zero).
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.embed.weight[[1, 5]] = 0
        broken.embed.bias[[1, 5]] = 0
        want = torch.softmax(broken(NORM.apply(x)), 1).numpy()
    np.testing.assert_allclose(layers.probs_without(model, x, NORM, [1, 5], batch=7), want, rtol=1e-5, atol=1e-6)
    assert layers.switchable(model) == 8


def test_a_kind_without_tiles_is_handled():
    model = Tokens(SHAPE, 12)
    assert TOKENS.first_layer(model, CLASSES) is None
    assert all(isinstance(p, Matrix) for p in TOKENS.weights(model, CLASSES))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The app over Glyphs-12 (registered by its descriptor) with the 1-layer, 2-layer and token nets trained."""
    root = tmp_path_factory.mktemp("shapes")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(datasets.DATASETS, GLYPHS.name, GLYPHS)
        mp.setitem(kinds.KINDS, TOKENS.name, TOKENS)
        mp.setattr(Glyphs12, "resources", write_glyphs(root / "data"))
        pairs = (("glyphs12", "linear"), ("glyphs12", "mlp"), ("glyphs12", "tokens"))
        with quick_trained(root, pairs) as (settings, zoo):
            queue = Queue(root / "jobs", launch=lambda q, job: None)
            app = create_app(settings, queue=queue)
            yield dict(app.lookinside_callbacks, zoo=zoo, service=app.lookinside_service)


def view(page, arch: str):
    resolved = page["resolve"]("glyphs12", arch)
    assert resolved["resolved"]["status"] == "ready", resolved
    return screen(resolved["resolved"], None, "glyphs12", arch, None)


def test_the_dataset_is_offered_and_its_heatmap_is_12_by_12(page):
    answer = page["resolve"]("glyphs12", "linear")
    assert any(o["value"] == "glyphs12" and "Glyphs-12" in str(o["label"]) for o in answer["datasets"])
    for arch in ("linear", "mlp", "tokens"):
        fig = go.Figure(page["heatmap"](view(page, arch), "counts", "numbers"))
        ev = page["zoo"].evaluation("glyphs12", arch)
        assert ev.n == N_TEST and ev.confusion.shape == (12, 12) and ev.confusion.sum() == N_TEST
        right, wrong = (array(t.z) for t in fig.data[:2])  # the diagonal and the mistakes, then the totals
        assert right.shape[0] >= 12 and right.shape[1] >= 12
        assert np.array_equal(np.nan_to_num(right[:12, :12]) + np.nan_to_num(wrong[:12, :12]), ev.confusion)
    assert page["zoo"].evaluation("glyphs12", "linear").accuracy > 0.9  # the bars are learnt


def test_cells_weights_map_table_and_data_grid_over_twelve_classes(page):
    store = view(page, "linear")
    ev = page["zoo"].evaluation("glyphs12", "linear")
    head, tiles = page["samples"]({"actual": 11, "predicted": 11}, 24, "predicted", store)[:2]
    assert text_of(head[0]).startswith(f"actual {CLASSES[11]}, predicted {CLASSES[11]}: {ev.confusion[11, 11]} images")
    assert len(tiles) == min(24, ev.confusion[11, 11])
    data = page["weights"](store, "diverging", None)[0]
    assert len(weight_tiles(data)) == 12  # one template per class, all twelve
    base = page["embedding"](store, "input", "pca")[0]
    colours = {t.marker.color for t in go.Figure(base).data if t.type == "scattergl" and t.name in CLASSES}
    assert len(colours) == 12  # each class its own colour on the map
    assert sum(array(t.x).size for t in go.Figure(base).data if t.type in ("scattergl", "scatter")) >= N_TEST
    response = page["table_rows"]({"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}, store, None)[0]
    assert response["rowCount"] == N_TEST and len(response["rowData"]) == 100
    grid = components(page["data_grid"]("glyphs12", "test", "11", 1))
    shown = [int(i.to_plotly_json()["props"]["data-label"]) for i in find(grid, html.Img)]
    assert shown and set(shown) == {11}
    options, value, counts = page["data_classes"]("glyphs12", "11")
    assert len(options) == 13 and value == "11"  # all, and twelve classes


def test_the_token_kind_through_the_page(page):
    store = view(page, "tokens")
    data = page["weights"](store, "diverging", None)[0]
    assert not weight_tiles(data) and data["switches"] == 8 and data.get("parts")
    assert "Each channel of the first layer has a switch" in " ".join(data["notes"])
    note = page["switch_note"](store, {"network": "tokens", "units": [0, 3]})[0]
    text = text_of(note)
    assert "First-layer channels 1, 4 switched off" in text, text
    intact = page["zoo"].evaluation("glyphs12", "tokens")
    switched = page["service"].representations.switched(page["service"].shown(store), (0, 3))
    model = page["zoo"].load("glyphs12", "tokens").model
    x = datasets.load("glyphs12", False, page["zoo"].settings).images
    want = layers.probs_without(model, x, page["zoo"].load("glyphs12", "tokens").normalization, [0, 3])
    np.testing.assert_allclose(switched.probs, want, rtol=1e-5, atol=1e-6)
    assert switched.n == intact.n == N_TEST
    base = page["embedding"](store, "tokens", "pca")[0]  # its layers are computed in the request (Pass.REQUEST)
    assert sum(array(t.x).size for t in go.Figure(base).data if t.type in ("scattergl", "scatter")) >= N_TEST
    assert TOKENS.maps is Pass.REQUEST and not any(isinstance(p, Tiles) for p in TOKENS.weights(model, CLASSES))
