"""Shared fixtures: synthetic datasets in the real formats, with torchvision's checksums pointed at them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torchvision import datasets as tvd

from models import datasets
from models.config import Settings
from tests import synthetic

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _fresh_dataset_cache():
    datasets._load.cache_clear()
    yield
    datasets._load.cache_clear()


@pytest.fixture
def synth_root(tmp_path, monkeypatch) -> Path:
    """A data dir holding synthetic MNIST (.gz) and CIFAR-10 (pickles) whose checksums torchvision accepts."""
    root = tmp_path / "data"
    synthetic.write_mnist(root / "MNIST" / "raw")
    monkeypatch.setattr(tvd.MNIST, "resources", synthetic.mnist_resources(root / "MNIST" / "raw"))
    folder = root / "cifar-10-batches-py"
    synthetic.write_cifar(folder)
    for name, value in synthetic.cifar_lists(folder).items():
        monkeypatch.setattr(datasets.SafeCIFAR10, name, value)
    return root


@pytest.fixture
def synth_settings(synth_root, tmp_path) -> Settings:
    return Settings(data_dir=synth_root, model_dir=tmp_path / "models", offline=True)


def real_data_dir() -> Path:
    """The prepared copy of the real datasets; tests that need it skip when it is not configured."""
    value = os.environ.get("LOOKINSIDE_DATA_DIR")
    if not value or not (Path(value) / "MNIST" / "raw").is_dir():
        pytest.skip("LOOKINSIDE_DATA_DIR does not point at a prepared copy of the real datasets")
    return Path(value)
