"""Shared fixtures: synthetic datasets in the real formats, with torchvision's checksums pointed at them."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import torch
from torchvision import datasets as tvd

from models import datasets
from models.config import Settings
from models.train import TrainConfig
from models.zoo import Zoo
from tests import synthetic

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _fresh_dataset_cache():
    datasets.forget()
    yield
    datasets.forget()


def make_synthetic_root(root: Path, monkeypatch: pytest.MonkeyPatch, n_train: int = synthetic.N_TRAIN) -> Path:
    """Synthetic MNIST (.gz) and CIFAR-10 (pickles) in `root`, with torchvision's checksums pointed at them."""
    synthetic.write_mnist(root / "MNIST" / "raw", n_train)
    monkeypatch.setattr(tvd.MNIST, "resources", synthetic.mnist_resources(root / "MNIST" / "raw"))
    folder = root / "cifar-10-batches-py"
    synthetic.write_cifar(folder)
    for name, value in synthetic.cifar_lists(folder).items():
        monkeypatch.setattr(datasets.SafeCIFAR10, name, value)
    return root


@pytest.fixture
def synth_root(tmp_path, monkeypatch) -> Path:
    return make_synthetic_root(tmp_path / "data", monkeypatch)


def quick_config(family: str, arch: str, dataset=None) -> TrainConfig:
    """Training settings that take seconds on the synthetic data, for every pair."""
    return TrainConfig(epochs=2, batch_size=32, lr=5e-3, arch_args={"widths": (8, 16)} if arch == "cnn" else {})


def quick_shape_config(shape, family: str, dataset=None) -> TrainConfig:
    """Quick settings for a network built in the page, with the constructor arguments its id fixes."""
    return TrainConfig(epochs=2, batch_size=32, lr=5e-3, arch_args=dict(shape.args))


@contextlib.contextmanager
def quick_trained(tmp: Path, pairs) -> Iterator[tuple[Settings, Zoo]]:
    """Synthetic data with `pairs` trained and evaluated; any other pair trains quickly when asked for."""
    with pytest.MonkeyPatch.context() as mp:
        settings = Settings(data_dir=make_synthetic_root(tmp / "data", mp), model_dir=tmp / "models", offline=True)
        mp.setattr("models.zoo.default_config", quick_config)
        mp.setattr("models.zoo.shape_config", quick_shape_config)
        mp.setenv("LOOKINSIDE_JOBS_DIR", str(tmp / "jobs"))
        zoo = Zoo(settings)
        for dataset, arch in pairs:
            zoo.evaluation(dataset, arch)
        yield settings, zoo


@contextlib.contextmanager
def quick_service(tmp: Path, pairs):
    """`quick_trained`'s networks behind the app's Service, its jobs recorded in a queue and never started (a
    test runs one with app.runner.run)."""
    from app.jobs import Queue
    from app.service import Service
    with quick_trained(tmp, pairs) as (settings, _):
        yield Service(settings, queue=Queue(tmp / "jobs", launch=lambda q, job: None))


@contextlib.contextmanager
def callbacks_of(tmp: Path, pairs):
    """The app's callbacks over `quick_trained` networks, with its zoo, queue (jobs recorded, never started:
    a test runs one with tests.test_app_callbacks.run_job), settings and service."""
    from app.jobs import Queue
    from app.main import create_app
    with quick_trained(tmp, pairs) as (settings, zoo):
        started = []
        queue = Queue(tmp / "jobs", launch=lambda q, job: started.append(job.id))
        app = create_app(settings, queue=queue)
        yield dict(app.lookinside_callbacks, zoo=zoo, queue=queue, started=started, settings=settings,
                   service=app.lookinside_service)


@pytest.fixture
def synth_settings(synth_root, tmp_path) -> Settings:
    return Settings(data_dir=synth_root, model_dir=tmp_path / "models", offline=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until `url` answers; fails early, with the process's output, if the process dies."""
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {proc.stdout.read() if proc.stdout else ''}")
            if time.time() > deadline:
                pytest.fail(f"{url} did not answer within {timeout} s")
            time.sleep(0.3)


def make_mnist_only(tmp_path: Path, monkeypatch, n_train: int = synthetic.N_TRAIN) -> tuple[Settings, dict]:
    """Synthetic MNIST, unpacked, so child processes (without this test's checksum patches) can read it.

    Returns the settings and the environment a child process needs to use them.
    """
    root = make_synthetic_root(tmp_path / "data", monkeypatch, n_train)
    settings = Settings(data_dir=root, model_dir=tmp_path / "models", offline=True)
    datasets.load("mnist", False, settings)  # unpacks the .gz files
    env = {**os.environ, "LOOKINSIDE_DATA_DIR": str(root), "LOOKINSIDE_MODEL_DIR": str(settings.model_dir),
           "LOOKINSIDE_OFFLINE": "1", "LOOKINSIDE_JOBS_DIR": str(tmp_path / "jobs"), "PYTHONUNBUFFERED": "1"}
    return settings, env


@pytest.fixture
def mnist_only(tmp_path, monkeypatch):
    return make_mnist_only(tmp_path, monkeypatch)


def real_data_dir() -> Path:
    """The prepared copy of the real datasets; tests that need it skip when it is not configured."""
    value = os.environ.get("LOOKINSIDE_DATA_DIR")
    if not value or not (Path(value) / "MNIST" / "raw").is_dir():
        pytest.skip("LOOKINSIDE_DATA_DIR does not point at a prepared copy of the real datasets")
    return Path(value)


# --- browser tests (dash_duo in headless Chromium) -----------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(os.environ.get("LOOKINSIDE_SCREENSHOT_DIR", Path(__file__).resolve().parent.parent / "screenshots"))


def pytest_setup_options():
    """Chromium flags for this sandbox: no background network, a fixed 1280x800 window."""
    from selenium.webdriver.chrome.options import Options
    options = Options()
    if CHROMIUM:
        options.binary_location = CHROMIUM
    for flag in ("--headless", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1280,800"):
        options.add_argument(flag)
    return options


def pytest_collection_modifyitems(config, items):
    # Without a browser these tests skip, except where LOOKINSIDE_REQUIRE_BROWSER=1 (CI): there they run
    # and fail, so a broken install can never pass as "skipped".
    if (CHROMIUM and CHROMEDRIVER) or os.environ.get("LOOKINSIDE_REQUIRE_BROWSER") == "1":
        return
    skip = pytest.mark.skip(reason="Debian's chromium and chromium-driver are not installed")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "dash_duo" in getattr(item, "funcargs", {}):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            item.funcargs["dash_duo"].driver.save_screenshot(str(SCREENSHOTS / f"{item.name}.png"))
        except Exception:  # a dead browser must not hide the test's own failure
            pass
    return report
