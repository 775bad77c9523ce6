"""Training on a Celery worker: real redis-server and worker processes, gunicorn web workers, a real browser."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from models.train import TrainConfig
from models.zoo import Zoo
from tests.conftest import CHROMEDRIVER, CHROMIUM, free_port, make_mnist_only, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
REDIS = shutil.which("redis-server")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not REDIS and os.environ.get("LOOKINSIDE_REQUIRE_BROWSER") != "1", reason="redis-server is not installed")]


def _start(cmd, env, log: Path) -> subprocess.Popen:
    out = open(log, "w")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """redis-server, one Celery worker and two gunicorn workers, all on 127.0.0.1, stopped afterwards."""
    settings, env = make_mnist_only(tmp_path, monkeypatch, n_train=12_000)  # training takes a few seconds
    Zoo(settings).train("mnist", "linear", TrainConfig(epochs=1, batch_size=64))
    redis_port, web_port = free_port(), free_port()
    env = {**env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    env.pop("LOOKINSIDE_JOBS_DIR")
    procs = []
    try:
        procs.append(_start([REDIS or "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], env, tmp_path / "redis.log"))
        procs.append(_start([sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--pool", "solo",
                             "--loglevel", "INFO", "--without-gossip", "--without-mingle"], env,
                            tmp_path / "worker.log"))
        web = _start([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{web_port}",
                      "app:server"], env, tmp_path / "web.log")
        procs.append(web)
        wait_for_http(f"http://127.0.0.1:{web_port}/", web)
        yield web_port, settings, tmp_path
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_untrained_network_trains_on_the_celery_worker(stack):
    port, settings, logs = stack
    sys.path.insert(0, str(ROOT / "scripts"))
    from screenshot import chrome
    assert CHROMIUM and CHROMEDRIVER
    driver = chrome(1280, 800)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        deadline = time.time() + 60
        while not driver.find_elements(By.CSS_SELECTOR, "#weights-panel img"):
            assert time.time() < deadline, "the page never drew the linear network"
            time.sleep(0.2)
        driver.find_element(By.CSS_SELECTOR, "#model-dropdown").click()
        next(o for o in driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
             if o.text.startswith("2-layer")).click()
        deadline = time.time() + 60  # choosing it starts nothing; pressing "Train it" does
        while not driver.find_element(By.ID, "train-it").is_displayed():
            assert time.time() < deadline, "the page never offered to train the 2-layer network"
            time.sleep(0.2)
        driver.find_element(By.ID, "train-it").click()
        labels, deadline = set(), time.time() + 180
        while "Output weights" not in driver.find_element(By.ID, "weights-panel").text:
            assert time.time() < deadline, f"training never finished; progress seen: {labels}"
            labels.add(driver.find_element(By.ID, "train-label").text)
            time.sleep(0.1)
        assert any("epoch" in label for label in labels), labels  # progress came back from the worker
        # Errors only, as dash_duo's tests see them: headless Chromium warns about drawing WebGL (the map) in software.
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()
    assert Zoo(settings).has_checkpoint("mnist", "mlp")
    worker_log = (logs / "worker.log").read_text()
    assert "succeeded" in worker_log, worker_log[-2000:]  # the job ran in the Celery worker process
