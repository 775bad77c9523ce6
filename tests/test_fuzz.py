"""Forged callback requests against a live server: 4xx or an unchanged page, never a 500 or a traceback."""
from __future__ import annotations

import http.client
import json
import logging
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server

from app.jobs import Queue
from app.main import create_app
from tests.conftest import quick_trained

N_EXAMPLES = 1000
NASTY = ["../../etc/passwd", "/etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
         "mnist", "cifar10", "kmnist", "linear", "mlp", "cnn", "<script>alert(1)</script>", "", "\x00", "ready",
         "sample-tile", "state-cell", "9" * 400]
SCALARS = (st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63) | st.floats(allow_nan=True)
           | st.text(max_size=40) | st.sampled_from(NASTY))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=6)
                      | st.dictionaries(st.sampled_from(["dataset", "arch", "status", "actual", "predicted",
                                                         "points", "x", "y", "index", "checkpoint", "message"])
                                        | st.text(max_size=8), inner, max_size=6), max_leaves=25)
HUGE = st.lists(st.integers(-10, 10 ** 6), min_size=500, max_size=3000)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    pairs = [(d, a) for d in ("mnist", "cifar10") for a in ("linear", "mlp", "cnn")]
    with quick_trained(tmp_path_factory.mktemp("fuzz"), pairs) as (settings_, _):
        # Forged "Watch it train" requests queue jobs: recorded here, never started.
        app = create_app(settings_, queue=Queue(settings_.model_dir.parent / "jobs", launch=lambda q, job: None))
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.server_port
        deps = json.loads(_request(port, "GET", "/_dash-dependencies")[1])
        yield port, deps, deps
        server.shutdown()


def _request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _assert_safe(status: int, text: str) -> None:
    assert status in (200, 204) or 400 <= status < 500, (status, text[:500])
    assert "Traceback" not in text and 'File "' not in text, text[:500]
    assert "root:x:0:0" not in text  # nothing from /etc/passwd ever comes back


def _output_spec(output: str):
    """The `outputs` field the renderer sends for a callback's output string."""
    def one(text):
        ident, prop = text.rsplit(".", 1)
        if ident.startswith("{"):  # pattern-matching ALL: one entry per matching component (none here)
            return []
        return {"id": ident, "property": prop}
    if output.startswith(".."):
        return [one(part) for part in output[2:-2].split("...")]
    return one(output)


@st.composite
def payloads(draw, deps):
    dep = draw(st.sampled_from(deps))

    def prop(spec):
        if isinstance(spec["id"], str) and spec["id"].startswith("{"):  # a pattern-matching ALL input
            return draw(st.lists(st.fixed_dictionaries({
                "id": st.fixed_dictionaries({"type": st.just("sample-tile"), "index": VALUES}),
                "property": st.just(spec["property"]), "value": VALUES}), max_size=5))
        return {"id": spec["id"], "property": spec["property"], "value": draw(VALUES | HUGE)}

    body = {"output": dep["output"], "outputs": _output_spec(dep["output"]), "inputs": [prop(i) for i in dep["inputs"]],
            "state": [prop(s) for s in dep["state"]], "changedPropIds": [f"{i['id']}.{i['property']}"
                                                                        for i in dep["inputs"][:1]]}
    mutation = draw(st.sampled_from(["none", "none", "none", "output", "drop", "types", "bytes"]))
    if mutation == "output":
        body["output"] = draw(st.sampled_from(NASTY) | st.text(max_size=30))
    elif mutation == "drop":
        body.pop(draw(st.sampled_from(sorted(body))))
    elif mutation == "types":
        body[draw(st.sampled_from(sorted(body)))] = draw(VALUES)
    raw = json.dumps(body, allow_nan=True).encode()
    if mutation == "bytes":
        raw = draw(st.sampled_from([raw[: len(raw) // 2], b"{", b"not json", b"[]", b"null", b"\xff\xfe"]))
    return raw


def test_forged_callback_requests_never_break_the_server(live, caplog):
    port, deps, _ = live
    sent = []
    caplog.set_level("WARNING", logger="lookinside")

    @settings(max_examples=N_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(payloads(deps))
    def check(raw):
        status, text = _request(port, "POST", "/_dash-update-component", raw)
        sent.append(status)
        _assert_safe(status, text)

    check()
    assert len(sent) >= N_EXAMPLES
    assert any(s == 200 for s in sent) and any(400 <= s < 500 for s in sent)  # both paths were exercised
    # on_error keeps a failing callback's page unchanged, so a failure shows only in the log: none allowed.
    assert not [r.getMessage() for r in caplog.records if r.getMessage().startswith("callback failed")]
    # Every forged request is the client's fault: at most one WARNING line each, never a traceback.
    assert not [r.getMessage() for r in caplog.records if r.exc_info or r.levelno > logging.WARNING]
    refused = [r for r in caplog.records if r.getMessage().startswith("refused ")]
    assert refused and len(refused) <= len([s for s in sent if s >= 400])


def test_nested_json_and_unknown_scripts_are_client_errors(live, caplog):
    port, _, _ = live
    caplog.set_level("WARNING", logger="lookinside")
    status, text = _request(port, "POST", "/_dash-update-component", b"[" * 10_000)
    assert status == 400, text
    nested = json.dumps({"output": "confusion-graph.figure"})[:-1].encode() + b', "inputs": ' + b"[" * 10_000 + b"}"
    assert _request(port, "POST", "/_dash-update-component", nested)[0] == 400
    for path in ("/_dash-component-suites/dash/nope.js", "/_dash-component-suites/not_a_package/x.js",
                 "/_dash-component-suites/dash/../../../etc/passwd"):
        status, text = _request(port, "GET", path)
        assert status == 404, (path, status, text[:200])
        _assert_safe(status, text)
    assert not [r for r in caplog.records if r.exc_info or r.levelno > logging.WARNING]


def test_huge_and_malformed_bodies(live):
    port, _, _ = live
    status, text = _request(port, "POST", "/_dash-update-component", b"[" + b"1," * 400_000 + b"1]")
    assert status == 413
    # Only the upload's callback may send more than 256 KiB, and nothing may send more than 4 MiB.
    padding = "x" * 600_000
    other = json.dumps({"output": "confusion-graph.figure", "inputs": [], "state": [], "pad": padding})
    assert _request(port, "POST", "/_dash-update-component", other.encode())[0] == 413
    upload = json.dumps({"output": "..own-result.children...", "inputs": "malformed", "pad": padding})
    assert _request(port, "POST", "/_dash-update-component", upload.encode())[0] == 400  # size let through
    assert _request(port, "POST", "/_dash-update-component", b"{" + b" " * (5 * 2**20) + b"}")[0] == 413
    assert _request(port, "POST", "/", b"x" * 300_000)[0] == 413
    for raw in (b"", b"{", b'{"output": "../../etc/passwd", "inputs": [], "state": []}',
                b'{"output": "confusion-graph.figure", "inputs": "x"}'):
        status, text = _request(port, "POST", "/_dash-update-component", raw)
        assert 400 <= status < 500
        _assert_safe(status, text)


def test_forged_training_job_handles_are_answered_safely(live):
    port, _, deps = live
    dep = next(d for d in deps if "state-trained.data" in d["output"])
    for value in ("../../etc/passwd", {"id": "../../etc/passwd"}, {"id": "0" * 32}, {"error": [1]}, [1, 2], None):
        body = {"output": dep["output"], "outputs": _output_spec(dep["output"]),
                "inputs": [{"id": "state-job", "property": "data", "value": value},
                           {"id": "train-poll", "property": "n_intervals", "value": 1}],
                "state": [{**spec, "value": "linear" if spec["id"] == "model-dropdown" else None}
                          for spec in dep["state"]],
                "changedPropIds": ["state-job.data"]}
        status, text = _request(port, "POST", "/_dash-update-component", json.dumps(body).encode())
        assert status == 200, text[:200]
        _assert_safe(status, text)


def test_security_headers(live):
    port, _, _ = live
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/")
    response = conn.getresponse()
    response.read()
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert "frame-ancestors 'self'" in response.getheader("Content-Security-Policy")


def test_pressing_watch_too_often_answers_429_with_a_sentence(live, caplog):
    port, _, _ = live
    caplog.set_level("WARNING", logger="lookinside")
    body = json.dumps({
        "output": "..state-resolved.data...state-job.data..",
        "outputs": [{"id": "state-resolved", "property": "data"}, {"id": "state-job", "property": "data"}],
        "inputs": [{"id": "dataset-dropdown", "property": "value", "value": "mnist"},
                   {"id": "model-dropdown", "property": "value", "value": "linear"},
                   {"id": "watch-button", "property": "n_clicks", "value": 1},
                   {"id": "state-resolve-kick", "property": "data", "value": None}],
        "state": [{"id": "state-admin-token", "property": "data", "value": None}],
        "changedPropIds": ["watch-button.n_clicks"]}).encode()
    answers = []
    for _ in range(4):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/_dash-update-component", body=body, headers={
            "Content-Type": "application/json", "Cookie": "lookinside_visitor=" + "c" * 32})
        response = conn.getresponse()
        answers.append((response.status, response.read().decode()))
        conn.close()
    assert [status for status, _ in answers] == [200, 200, 200, 429]
    assert answers[3][1].strip() == "You have started training too often; wait a minute and try again."
    assert [r for r in caplog.records if "429" in r.getMessage()] and not [r for r in caplog.records if r.exc_info]


def test_who_may_replace_a_served_network():
    from app.access import Access
    assert Access(open=True).is_admin(None)  # python -m app on loopback with no token: one person's own machine
    locked = Access(token=None)
    assert not locked.is_admin(None) and not locked.is_admin("")  # served with no token: nobody
    guarded = Access(token="s3cret")
    assert guarded.is_admin("s3cret") and not guarded.is_admin("s3cre") and not guarded.is_admin(["s3cret"])
    assert not guarded.is_admin("x" * 10_000)
