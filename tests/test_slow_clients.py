"""Slow clients (slowloris) against gunicorn alone and behind the deployment's nginx, with real sockets on loopback."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from models.train import TrainConfig
from models.zoo import Zoo
from tests.conftest import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(not NGINX and os.environ.get("LOOKINSIDE_REQUIRE_BROWSER") != "1",
                                reason="nginx is not installed")
SLOW = 50  # connections that trickle their headers
TRICKLE_S = 12  # how long each keeps trickling (bounded: the test ends by itself)


def _slowloris(port: int, stop: threading.Event) -> list[socket.socket]:
    """Open SLOW connections that send a request line and then one header byte every 2 s."""
    socks = []
    for _ in range(SLOW):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(s)

    def trickle():
        end = time.time() + TRICKLE_S
        while not stop.is_set() and time.time() < end:
            for s in socks:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            stop.wait(2)

    threading.Thread(target=trickle, daemon=True).start()
    return socks


def _timed_get(port: int, timeout: float = 10) -> float:
    """Seconds for a whole normal request of the page, or `timeout` if it did not come back in time."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:100]
    except (socket.timeout, ConnectionError):
        return timeout
    return time.perf_counter() - start


def _nginx_config(tmp: Path, upstream: int, listen: int) -> Path:
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    text = text.replace("server web:8050;", f"server 127.0.0.1:{upstream};")
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    text = text.replace("/tmp/", f"{tmp}/")
    path = tmp / "nginx.conf"
    path.write_text(text)
    return path


def test_fifty_slow_clients_starve_bare_gunicorn_but_not_the_proxied_deployment(mnist_only, tmp_path):
    settings, env = mnist_only
    Zoo(settings).train("mnist", "linear", TrainConfig(epochs=1, batch_size=64))
    app_port, proxy_port = free_port(), free_port()
    procs = []
    try:
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "3", "--threads", "4", "--bind",
                                f"127.0.0.1:{app_port}", "app:server"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(web)
        wait_for_http(f"http://127.0.0.1:{app_port}/", web, timeout=120)
        # The first answer means one worker is up; the attack is only real once all three take connections (a
        # worker still importing takes none, and the normal request then finds it free).
        for _ in range(6):
            _timed_get(app_port, timeout=30)
        time.sleep(2)
        conf = _nginx_config(tmp_path, app_port, proxy_port)
        proxy = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        procs.append(proxy)
        wait_for_http(f"http://127.0.0.1:{proxy_port}/", proxy, timeout=30)

        results = {}
        for name, port in (("gunicorn alone", app_port), ("behind nginx", proxy_port)):
            stop = threading.Event()
            socks = _slowloris(port, stop)
            time.sleep(1)
            results[name] = [_timed_get(port, timeout=5) for _ in range(3)]
            stop.set()
            for s in socks:
                s.close()
            time.sleep(1)
        print(f"normal request with {SLOW} slow clients: " +
              "; ".join(f"{k}: {', '.join(f'{v:.2f}' for v in vs)} s" for k, vs in results.items()))
        # Without the proxy the slow clients hold all 12 threads (the check that the attack is real);
        # behind nginx a normal request still answers in well under a second.
        assert max(results["gunicorn alone"]) >= 1.0
        assert max(results["behind nginx"]) < 1.0
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
