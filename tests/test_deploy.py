"""What can be checked of the deployment here, where no Docker engine runs, and the load script's shape."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()
DEPLOYING = (ROOT / "docs" / "deploying.md").read_text()  # where the README sends whoever serves it to others


def test_dockerfile_is_slim_cpu_only_non_root_and_healthchecked():
    assert re.search(r"^FROM python:3\.\d+-slim", DOCKERFILE, re.M)
    assert "download.pytorch.org/whl/cpu" in DOCKERFILE
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in DOCKERFILE and 'VOLUME ["/data", "/models"]' in DOCKERFILE


def test_dockerfile_copies_what_exists_and_serves_the_documented_command():
    for src in re.findall(r"^COPY (\S+)", DOCKERFILE, re.M):
        assert list(ROOT.glob(src.rstrip("/"))), f"COPY {src}: nothing there"
    assert "gunicorn --workers" in DOCKERFILE and "app:server" in DOCKERFILE
    # In the container gunicorn listens on every interface of its own network; outside one it binds loopback
    # behind the proxy. Either way the same settings, and the same gunicorn.conf.py.
    served = re.search(r"gunicorn --workers \S+ --threads 4 --bind 0.0.0.0:8050 --timeout 120 app:server", DOCKERFILE)
    assert served and "gunicorn --workers 3 --threads 4 --bind 127.0.0.1:8050 --timeout 120 app:server" in DEPLOYING
    assert "COPY gunicorn.conf.py" in DOCKERFILE
    assert "celery -A app.worker worker" in DEPLOYING and "docker compose up --build" in DEPLOYING
    assert "docker compose up --build" in README and "docs/deploying.md" in README


def test_compose_publishes_only_the_buffering_proxy():
    compose = (ROOT / "docker-compose.yml").read_text()
    web, nginx = compose.split("  nginx:")
    assert "expose:" in web and "ports:" not in web and "init: true" in web
    assert '"8080:8080"' in nginx and "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server web:8050;" in conf and "proxy_request_buffering on;" in conf and "client_header_timeout" in conf
