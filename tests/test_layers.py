"""models/layers.py against independent oracles: hand-written forward passes, numpy's SVD, brute-force
search, and networks whose weights were zeroed."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from models import layers
from models.config import Normalization
from models.nets import CNN, MLP, LinearNet

NORM = Normalization(mean=(0.13,), std=(0.31,))


def images(n=64, shape=(1, 28, 28), seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8))


def normalized(x: torch.Tensor, norm=NORM) -> torch.Tensor:
    mean = torch.tensor(norm.mean).view(1, -1, 1, 1)
    std = torch.tensor(norm.std).view(1, -1, 1, 1)
    return (x.double() / 255 - mean) / std


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu"])
def test_every_layer_of_a_fully_connected_net_is_its_own_forward_pass(activation):
    torch.manual_seed(0)
    model = MLP((1, 28, 28), 10, hidden=(12, 7), activation=activation)
    x = images()
    found = layers.features(model, x, NORM, batch=20)  # batches: rows must come back in order
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
           "gelu": torch.nn.functional.gelu}[activation]
    w = {n: p.detach().double() for n, p in model.named_parameters()}
    h1 = act(normalized(x).flatten(1) @ w["hidden.weight"].T + w["hidden.bias"])
    h2 = act(h1 @ w["deeper.0.weight"].T + w["deeper.0.bias"])
    logits = h2 @ w["out.weight"].T + w["out.bias"]
    assert list(found) == ["hidden1", "hidden2", "logits"]
    for key, want in (("hidden1", h1), ("hidden2", h2), ("logits", logits)):
        np.testing.assert_allclose(found[key], want.numpy(), rtol=1e-4, atol=1e-4)
    assert [layer.key for layer in layers.layers(model)] == ["input", "hidden1", "hidden2", "logits"]


def test_the_linear_net_and_the_convnet_layers_are_theirs():
    torch.manual_seed(1)
    x = images(30)
    linear = LinearNet((1, 28, 28), 10)
    found = layers.features(linear, x, NORM)
    want = normalized(x).flatten(1) @ linear.fc.weight.detach().double().T + linear.fc.bias.detach().double()
    np.testing.assert_allclose(found["logits"], want.numpy(), rtol=1e-4, atol=1e-4)
    cnn = CNN((1, 28, 28), 10, widths=(4, 6)).eval()
    found = layers.features(cnn, x, NORM, batch=7)
    with torch.no_grad():
        maps = cnn.features(normalized(x).float())
        pooled = maps.flatten(2).max(2).values  # the head reads each channel's maximum
        logits = pooled @ cnn.head.weight.T + cnn.head.bias
    np.testing.assert_allclose(found["pooled"], pooled.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(found["logits"], logits.numpy(), rtol=1e-5, atol=1e-5)
    assert [layer.key for layer in layers.layers(cnn)] == ["input", "pooled", "logits"]
    np.testing.assert_allclose(layers.pixels(x).numpy(), x.flatten(1).numpy() / 255, rtol=1e-6)


@pytest.mark.parametrize("units", [7, 40, 1100])
def test_pca_matches_numpys_svd(units):
    rng = np.random.default_rng(units)
    # Two strong directions and noise, so the first two components are well defined.
    basis = rng.normal(size=(2, units))
    x = (rng.normal(size=(600, 2)) * [9.0, 4.0]) @ basis + rng.normal(size=(600, units)) + 3.0
    coords, explained = layers.pca(x.astype(np.float32))
    centred = x - x.mean(0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    want = u[:, :2] * s[:2]
    for k in range(2):  # an axis' sign is a convention: ours puts its largest loading positive
        sign = np.sign(vt[k, np.argmax(np.abs(vt[k]))])
        np.testing.assert_allclose(coords[:, k], sign * want[:, k], rtol=1e-3, atol=1e-3 * np.abs(want[:, k]).max())
    np.testing.assert_allclose(explained, (s[:2] ** 2) / (s ** 2).sum(), rtol=1e-4)


def test_pca_of_a_one_unit_layer_has_a_flat_second_axis():
    coords, _ = layers.pca(np.arange(10, dtype=np.float32)[:, None])
    assert coords.shape == (10, 2) and np.all(coords[:, 1] == 0)
    np.testing.assert_allclose(coords[:, 0], np.arange(10) - 4.5, atol=1e-5)


def test_nearest_matches_brute_force_cosine():
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(3000, 24)).astype(np.float32)
    rows[100] = rows[7] * 3  # a duplicate direction: the tie goes to the lower row
    index = layers.unit_rows(torch.from_numpy(rows))
    for query in (rows[7] + 0.01 * rng.normal(size=24), rng.normal(size=24)):
        found, distances = layers.nearest(index, torch.from_numpy(query.astype(np.float32)), 8)
        cosine = rows.astype(np.float64) @ query / (np.linalg.norm(rows, axis=1) * np.linalg.norm(query))
        exact = 1 - cosine
        kth = np.sort(exact)[7]
        assert len(found) == 8 and len(set(found.tolist())) == 8
        # Half-precision rows: every neighbour found is within rounding of the true eighth distance,
        # and its distance is the true one to three decimals.
        assert np.all(exact[found] <= kth + 2e-3)
        np.testing.assert_allclose(distances, exact[found], atol=2e-3)
        assert np.all(np.diff(distances) >= -1e-6)
    found, _ = layers.nearest(index, torch.from_numpy(rows[7]), 2)
    assert found.tolist() == [7, 100]
    x = images(23)  # the input layer's rows, made a batch at a time, are the same rows
    assert torch.equal(torch.cat(list(layers.unit_pixel_batches(x, batch=5))), layers.unit_rows(layers.pixels(x)))


def test_nearest_class_mean_accuracy_matches_brute_force():
    rng = np.random.default_rng(4)
    train = rng.normal(size=(500, 6)).astype(np.float32)
    labels = rng.integers(0, 4, 500)
    train += labels[:, None] * 0.8
    means = layers.Means(4)
    for chunk in range(0, 500, 128):  # summed batch by batch
        means.add(torch.from_numpy(train[chunk:chunk + 128]), torch.from_numpy(labels[chunk:chunk + 128]))
    want_means = np.stack([train[labels == c].mean(0) for c in range(4)])
    np.testing.assert_allclose(means.means(), want_means, rtol=1e-5, atol=1e-6)
    test = rng.normal(size=(5000, 6)).astype(np.float32)  # more rows than one chunk of the search
    test_labels = rng.integers(0, 4, 5000)
    test += test_labels[:, None] * 0.8
    nearest = np.argmin(((test[:, None, :] - want_means[None]) ** 2).sum(2), axis=1)
    assert layers.nearest_mean_accuracy(means.means(), test, test_labels) == pytest.approx((nearest == test_labels).mean())
    batches = (torch.from_numpy(test[i:i + 999]) for i in range(0, len(test), 999))  # the same rows, in batches
    assert layers.nearest_mean_accuracy(means.means(), batches, test_labels) == pytest.approx((nearest == test_labels).mean())
    x = images(50, seed=9)
    assert torch.equal(torch.cat(list(layers.pixel_batches(x, batch=7))), layers.pixels(x))


def zero_outgoing(model, units):
    """The oracle: a copy whose switched-off units reach nothing (their outgoing weights are zero)."""
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.outgoing()[:, list(units)] = 0
    return broken.eval()


@pytest.mark.parametrize("hidden,activation", [((10,), "relu"), ((16, 8), "sigmoid"), ((9, 5, 4), "tanh")])
def test_switching_units_off_equals_zeroing_their_outgoing_weights(hidden, activation):
    torch.manual_seed(2)
    model = MLP((1, 28, 28), 10, hidden=hidden, activation=activation).eval()
    x = images(80)
    first = layers.site_outputs(model, x, NORM, batch=32)
    for units in ([], [0], [1, 3], list(range(hidden[0]))):
        got = layers.logits_without(model, first, units)
        with torch.no_grad():
            want = zero_outgoing(model, units)(NORM.apply(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert layers.switchable(model) == hidden[0]
    assert layers.switchable(LinearNet((1, 28, 28), 10)) == 0


def test_switching_convnet_filters_off_equals_zeroing_what_reads_them():
    torch.manual_seed(5)
    model = CNN((3, 32, 32), 10, widths=(6, 8, 12)).eval()
    norm = Normalization(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = images(40, (3, 32, 32), seed=9)
    done = []
    got = layers.probs_without(model, x, norm, [0, 4], batch=16, on_batch=lambda d, t: done.append((d, t)))
    with torch.no_grad():
        want = torch.softmax(zero_outgoing(model, [0, 4])(norm.apply(x)), 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert done == [(16, 40), (32, 40), (40, 40)]
    with torch.no_grad():  # the hook is gone afterwards: the network is intact again
        intact = torch.softmax(model(norm.apply(x)), 1).numpy()
    assert not np.allclose(intact, want)
    np.testing.assert_allclose(layers.probs_without(model, x, norm, []), intact, rtol=1e-5, atol=1e-6)


def test_units_sent_by_a_page_are_checked():
    assert layers.check_units([3, 1, 3], 10) == (1, 3)
    for forged in ([10], [-1], [True], ["1"], [1.0], "1", None, list(range(11))):
        assert layers.check_units(forged, 10) is None


def test_class_means_summed_a_batch_at_a_time_are_every_layers_means():
    """app/representations.py `train_means`: streamed through the network, the same means as from every layer
    of the split at once (and from a job's features)."""
    from types import SimpleNamespace

    from app import representations
    torch.manual_seed(0)
    model = MLP((1, 28, 28), 10, hidden=(7, 5), activation="tanh")
    n = 2 * layers.BATCH + 500  # three batches, the last a short one
    x, labels = images(n, seed=5), torch.from_numpy(np.random.default_rng(5).integers(0, 10, n))
    ckpt = SimpleNamespace(model=model, normalization=NORM, classes=tuple(str(c) for c in range(10)))
    train = type("Split", (), {"images": x, "labels": labels, "__len__": lambda self: n})()
    whole = layers.features(model, x, NORM)
    want = {key: np.stack([v[labels.numpy() == c].mean(0) if (labels.numpy() == c).any() else np.zeros(v.shape[1])
                           for c in range(10)]) for key, v in whole.items()}
    for found in (representations.train_means(ckpt, train), representations.train_means(ckpt, train, found=whole)):
        assert found.keys() == want.keys()
        for key in want:
            np.testing.assert_allclose(found[key], want[key], rtol=1e-5, atol=1e-6)
