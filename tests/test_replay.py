"""Replayed callback responses (app/replay.py): byte-identical while true, never once the network changed."""
from __future__ import annotations

import gzip
import io
import json
from dataclasses import replace

import pytest

from app.main import create_app
from app.replay import Replay
from app.state import screen
from bench.load import HEATMAP_STATE, heatmap_inputs
from tests.conftest import quick_config, quick_trained


def request(output: str, inputs: list[tuple[str, str, object]], state: list[tuple[str, str, object]] = ()) -> bytes:
    """A callback request as the page sends it: one output ("id.property") or several ("..a.b...c.d..")."""
    names = output.strip(".").split("...")
    outputs = [dict(zip(("id", "property"), name.rsplit(".", 1))) for name in names]
    return json.dumps({
        "output": output, "outputs": outputs[0] if len(outputs) == 1 else outputs,
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"]}).encode()


def body(dataset: str, arch: str, state: dict | None, mode: str = "counts") -> bytes:
    """The heatmap request for the network on screen (the view store the page holds for `state`)."""
    return request("..confusion-graph.figure...off-note.children...off-reset.className...confusion-drawn.data..",
                   heatmap_inputs(screen(state, None, dataset, arch), mode), HEATMAP_STATE)


def weights_body(dataset: str, arch: str, state: dict | None) -> bytes:
    """The weights panel's request."""
    return request("..state-weights.data...weights-page.options...weights-pager.className..", [
        ("state-view", "data", screen(state, None, dataset, arch)), ("weights-colormap", "value", "diverging"),
        ("weights-page", "value", "0")])


class Counting:
    """The WSGI app behind the replay, counting the requests that reach it."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with quick_trained(tmp_path_factory.mktemp("replay"), [("mnist", "linear")]) as (settings, zoo):
        app = create_app(settings)
        inner = Counting(app.lookinside_replay.app)
        app.lookinside_replay.app = inner
        yield app, inner, zoo, settings


def post(app, data: bytes, gzip_ok: bool = True):
    headers = {"Content-Type": "application/json", **({"Accept-Encoding": "gzip"} if gzip_ok else {})}
    return app.server.test_client().post("/_dash-update-component", data=data, headers=headers)


def response_of(response) -> dict:
    raw = gzip.decompress(response.data) if response.headers.get("Content-Encoding") == "gzip" else response.data
    return json.loads(raw)["response"]


def figure_of(response) -> dict:
    return response_of(response)["confusion-graph"]["figure"]


def test_a_repeated_request_gets_the_same_bytes_without_reaching_dash(served):
    app, inner, _, _ = served
    state = app.lookinside_callbacks["resolve"]("mnist", "linear")["resolved"]
    request = body("mnist", "linear", state, "percent")
    first = post(app, request)
    calls = inner.calls
    again = post(app, request)
    assert first.status_code == again.status_code == 200 and inner.calls == calls
    assert again.data == first.data and again.headers.get("Content-Encoding") == "gzip"
    assert again.headers.get("X-Content-Type-Options") == "nosniff"  # the security headers came along
    # Without gzip the client gets plain JSON with the same content, kept apart from the gzipped answer.
    plain = post(app, request, gzip_ok=False)
    assert plain.headers.get("Content-Encoding") is None and figure_of(plain) == figure_of(first)
    # A request that differs in any byte is answered fresh.
    post(app, body("mnist", "linear", state, "counts"))
    assert inner.calls == calls + 2


def test_a_retrained_network_is_never_answered_from_the_replay(served):
    app, inner, zoo, settings = served
    old_state = app.lookinside_callbacks["resolve"]("mnist", "linear")["resolved"]
    request = weights_body("mnist", "linear", old_state)
    before = post(app, request)
    # A different network in the checkpoint file, as a training job in another process would write it.
    zoo.train("mnist", "linear", config=replace(quick_config("mnist", "linear"), epochs=1))
    calls = inner.calls
    after = post(app, request)
    assert inner.calls == calls + 1
    # The oracle: an app without any memory of the old network answers the same request the same way.
    fresh = create_app(settings)
    assert response_of(after) == response_of(post(fresh, request))
    assert response_of(after) != response_of(before)  # the new weights, drawn


def test_only_ready_pairs_and_listed_outputs_are_kept(served):
    app, _, _, _ = served
    replay = app.lookinside_replay
    kept = len(replay.store)
    untrained = app.lookinside_callbacks["resolve"]("mnist", "mlp")["resolved"]
    assert untrained["status"] == "untrained"
    assert post(app, body("mnist", "mlp", untrained)).status_code == 200
    resolve = json.dumps({
        "output": "state-resolve-answer.data", "outputs": {"id": "state-resolve-answer", "property": "data"},
        "inputs": [{"id": "dataset-dropdown", "property": "value", "value": "mnist"},
                   {"id": "model-dropdown", "property": "value", "value": "linear"},
                   {"id": "watch-button", "property": "n_clicks", "value": 0},
                   {"id": "state-resolve-kick", "property": "data", "value": None},
                   {"id": "train-it", "property": "n_clicks", "value": 0}],
        "state": [{"id": "state-admin-token", "property": "data", "value": None}],
        "changedPropIds": ["dataset-dropdown.value"]}).encode()
    assert post(app, resolve).status_code == 200
    ready = app.lookinside_callbacks["resolve"]("mnist", "linear")["resolved"]
    forged = body("mnist", "linear", ready).replace(b'"mnist"', b'"../../etc"')
    assert post(app, forged).status_code in (200, 204, 400)
    assert post(app, b"{not json").status_code == 400
    assert len(replay.store) == kept
    assert post(app, body("mnist", "linear", ready, "percent")).status_code == 200
    assert len(replay.store) == kept + 1  # the same request for the ready network is kept


def fake_app(environ, start_response):
    """100 bytes naming the request; "fail" gets a 400 and "big" 300 bytes."""
    request = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
    status = "400 BAD REQUEST" if request["extra"] == "fail" else "200 OK"
    start_response(status, [("Content-Type", "application/json")])
    return [f"{request['n']} {request['extra']}".encode().ljust(300 if request["extra"] == "big" else 100)]


def call(replay: Replay, data: bytes) -> bytes:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/_dash-update-component", "CONTENT_LENGTH": str(len(data)),
               "wsgi.input": io.BytesIO(data)}
    return b"".join(replay(environ, lambda status, headers, exc_info=None: None))


def request_for(n: int, extra: str = "") -> bytes:
    return json.dumps({"output": "x.y", "n": n, "extra": extra,
                       "inputs": [{"id": "state-view", "property": "data",
                                   "value": {"dataset": "mnist", "network": "linear"}}]}).encode()


def test_the_store_keeps_to_its_byte_budget_dropping_the_least_recent():
    replay = Replay(fake_app, ["x.y"], lambda dataset, arch: "rev", max_bytes=350, max_entry=200)
    for n in range(3):
        call(replay, request_for(n))
    call(replay, request_for(0))  # used again: now the most recent
    call(replay, request_for(3))  # 4 x 100 bytes > 350: the least recently used (1) goes
    assert replay.store.bytes <= 350 and len(replay.store) == 3
    hits = replay.hits
    call(replay, request_for(0))
    call(replay, request_for(1))
    assert replay.hits == hits + 1
    # Failures and answers too large for one entry are never kept.
    kept = dict(replay.store.entries)
    assert call(replay, request_for(9, "fail")).startswith(b"9 fail")
    assert call(replay, request_for(10, "big")).startswith(b"10 big")
    assert replay.store.entries == kept


def test_odd_requests_pass_through_with_their_body_intact():
    seen = []

    def app(environ, start_response):
        seen.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response("200 OK", [])
        return [b"ok"]

    replay = Replay(app, ["x.y"], lambda dataset, arch: "rev")
    odd = [b"{not json", b"[1]", b'{"output": ["x.y"]}', b'{"output": {"a": 1}}', b'{"output": "x.y"}',
           b'{"output": "x.y", "state": [{"id": "state-view", "property": "data", "value": ["mnist"]}]}',
           b'{"output": "x.y", "inputs": [{"id": "state-view", "property": "data", "value": {"dataset": 1}}]}',
           request_for(1).replace(b'"x.y"', b'"other.prop"')]
    for data in odd:
        assert call(replay, data) == b"ok"
    assert seen == odd and not len(replay.store)
    never = Replay(app, ["x.y"], lambda dataset, arch: None)  # a pair that is not ready
    call(never, request_for(1))
    call(never, request_for(1))
    assert not len(never.store) and len(seen) == len(odd) + 2
