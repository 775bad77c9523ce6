"""The hover tooltip's strips: a cell's most confident images, side by side, served as a cached PNG."""
import io

import numpy as np
import pytest
from PIL import Image

from app.main import create_app
from app.strips import GAP, STRIP
from models import datasets
from tests.conftest import quick_trained


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with quick_trained(tmp_path_factory.mktemp("strips"), [("mnist", "linear")]) as (settings, zoo):
        app = create_app(settings)
        yield app.server.test_client(), zoo


def test_a_strip_holds_the_cells_most_confident_images_in_order(served):
    client, zoo = served
    ev = zoo.evaluation("mnist", "linear")
    a = p = int(np.argmax(np.diag(ev.confusion)))
    reply = client.get(f"/strip/mnist/linear/{a}-{p}.png?c={ev.checkpoint_id}")
    assert reply.status_code == 200 and reply.mimetype == "image/png"
    assert "immutable" in reply.headers["Cache-Control"]  # the address names the checkpoint
    strip = np.asarray(Image.open(io.BytesIO(reply.data)))
    top = ev.cell(a, p)[:STRIP]
    assert strip.shape == (28, len(top) * (28 + GAP) - GAP)
    images = datasets.load("mnist", False, zoo.settings).images
    for i, n in enumerate(top):
        assert np.array_equal(strip[:, i * (28 + GAP):i * (28 + GAP) + 28], images[int(n), 0].numpy())
    assert client.get(f"/strip/mnist/linear/{a}-{p}.png").headers["Cache-Control"] == "no-cache"


def test_forged_strip_addresses_get_404(served):
    client, _ = served
    for path in ("/strip/mnist/linear/10-0.png", "/strip/../linear/1-1.png", "/strip/mnist/resnet/1-1.png",
                 "/strip/cifar10/linear/1-1.png"):
        reply = client.get(path)
        assert reply.status_code == 404 and b"Traceback" not in reply.data, path
    # Not a cell at all: the route does not match, and Dash answers with its page, never an image.
    assert client.get("/strip/mnist/linear/-1-1.png").mimetype != "image/png"
    # A position past the timeline's end is the finished network.
    assert client.get("/strip/mnist/linear/1-1.png?t=99999999").mimetype == "image/png"
