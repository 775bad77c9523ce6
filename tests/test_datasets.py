"""Dataset adapters read through the real loading code, on synthetic files in the real formats."""
from __future__ import annotations

import functools
import http.server
import pickle
import threading

import numpy as np
import pytest
import torch
from torchvision import datasets as tvd

from models import datasets
from models.config import Settings
from models.errors import DataError
from tests import synthetic


def test_mnist_offline_unpacks_and_keeps_order(synth_root, synth_settings):
    written = synthetic.make_images(synthetic.N_TEST, (1, 28, 28), 2)
    test = datasets.load("mnist", False, synth_settings)
    assert test.images.dtype == torch.uint8 and test.images.shape == (synthetic.N_TEST, 1, 28, 28)
    assert np.array_equal(test.images.numpy(), written[0])
    assert np.array_equal(test.labels.numpy(), written[1])
    assert test.classes == tuple(str(d) for d in range(10))
    assert len(datasets.load("mnist", True, synth_settings)) == synthetic.N_TRAIN


def test_cifar_loads_channel_first_in_file_order(synth_root, synth_settings):
    written = synthetic.make_images(synthetic.N_TRAIN, (3, 32, 32), 3)
    train = datasets.load("cifar10", True, synth_settings)
    assert train.images.shape == (synthetic.N_TRAIN, 3, 32, 32) and train.images.dtype == torch.uint8
    assert np.array_equal(train.images.numpy(), written[0])
    assert np.array_equal(train.labels.numpy(), written[1])


def test_missing_data_offline_names_folder_files_and_fix(tmp_path):
    settings = Settings(data_dir=tmp_path, offline=True)
    with pytest.raises(DataError) as err:
        datasets.load("fashion-mnist", False, settings)
    msg = str(err.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "t10k-images-idx3-ubyte.gz" in msg and "--data-dir" in msg and "without --offline" in msg
    with pytest.raises(DataError, match="cifar-10-batches-py.*test_batch"):
        datasets.load("cifar10", False, settings)


def test_corrupt_gz_is_reported_not_unpacked(synth_root, synth_settings):
    gz = synth_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:200])
    with pytest.raises(DataError, match="corrupt.*wrong checksum"):
        datasets.load("mnist", False, synth_settings)


def test_corrupt_unpacked_idx_file_is_reported(synth_root, synth_settings):
    datasets.load("mnist", False, synth_settings)  # unpacks
    datasets.forget()
    (synth_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match="corrupt"):
        datasets.load("mnist", False, synth_settings)


def test_cifar_wrong_checksum_is_corrupt(synth_root, synth_settings):
    batch = synth_root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes() + b"tampered")
    with pytest.raises(DataError, match="corrupt.*wrong checksum: test_batch"):
        datasets.load("cifar10", False, synth_settings)


class _Exploit:
    """Pickles to a call of os.system: loading it with plain pickle would run the command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_malicious_cifar_pickle_runs_nothing(synth_root, synth_settings, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    batch = synth_root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": [1]}, protocol=3))
    # Give it a matching checksum, so only the restricted unpickler stands between it and execution.
    monkeypatch.setattr(datasets.SafeCIFAR10, "test_list", [["test_batch", synthetic.md5(batch)]])
    with pytest.raises(DataError, match="refused to load (posix|os)\\.system"):
        datasets.load("cifar10", False, synth_settings)
    assert not marker.exists()
    # The same bytes through plain pickle would have run the command: the test's payload is real.
    pickle.loads(batch.read_bytes())
    assert marker.exists()


def test_unknown_dataset_is_one_clear_error(synth_settings):
    with pytest.raises(DataError, match="unknown dataset 'svhn'.*mnist"):
        datasets.load("svhn", False, synth_settings)


@pytest.fixture
def http_server(tmp_path):
    """Serves a folder on 127.0.0.1 on a free port; yields (folder, base_url)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_mnist_download_from_local_mirror(http_server, tmp_path, monkeypatch):
    served, url = http_server
    written = synthetic.write_mnist(served)
    monkeypatch.setattr(tvd.MNIST, "resources", synthetic.mnist_resources(served))
    monkeypatch.setattr(tvd.MNIST, "mirrors", [url])
    root = tmp_path / "fresh"
    test = datasets.load("mnist", False, Settings(data_dir=root, offline=False))
    assert np.array_equal(test.labels.numpy(), written["t10k-labels-idx1-ubyte"])
    assert (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()
    # Downloaded once: the offline mode now finds everything locally.
    datasets.forget()
    assert len(datasets.load("mnist", True, Settings(data_dir=root, offline=True))) == synthetic.N_TRAIN


def test_cifar_download_from_local_server(http_server, tmp_path, monkeypatch):
    served, url = http_server
    folder = tmp_path / "build" / "cifar-10-batches-py"
    written = synthetic.write_cifar(folder)
    archive = synthetic.cifar_targz(folder, served / "cifar-10-python.tar.gz")
    for name, value in synthetic.cifar_lists(folder).items():
        monkeypatch.setattr(datasets.SafeCIFAR10, name, value)
    monkeypatch.setattr(datasets.SafeCIFAR10, "url", url + archive.name)
    monkeypatch.setattr(datasets.SafeCIFAR10, "tgz_md5", synthetic.md5(archive))
    test = datasets.load("cifar10", False, Settings(data_dir=tmp_path / "fresh", offline=False))
    assert np.array_equal(test.images.numpy(), written["test_x"])


def test_failed_download_is_one_clear_error(http_server, tmp_path, monkeypatch):
    served, url = http_server  # serves an empty folder: every file is a 404
    monkeypatch.setattr(tvd.MNIST, "mirrors", [url])
    with pytest.raises(DataError, match="not available in .*MNIST.*check the network"):
        datasets.load("mnist", False, Settings(data_dir=tmp_path / "fresh", offline=False))


def test_channel_stats_match_numpy():
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    mean, std = datasets.channel_stats(images)
    x = images.numpy().astype(np.float64) / 255
    assert np.allclose(mean, x.mean(axis=(0, 2, 3)))
    assert np.allclose(std, x.std(axis=(0, 2, 3)))


def test_a_split_is_loaded_once_per_process_whether_or_not_downloads_were_allowed(synth_root):
    """The service reads with downloads off and the zoo may not: one copy of a split between them (two were
    kept, 47 to 154 MB each), and `read` keeps none."""
    offline = datasets.load("mnist", True, Settings(data_dir=synth_root, offline=True))
    assert datasets.load("mnist", True, Settings(data_dir=synth_root, offline=False)) is offline
    assert datasets.load("mnist", False, Settings(data_dir=synth_root, offline=True)) is not offline  # the other split
    again = datasets.read("mnist", True, Settings(data_dir=synth_root, offline=True))
    assert again is not offline and torch.equal(again.images, offline.images)
