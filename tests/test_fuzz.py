"""Forged callback requests against a live server: 4xx or an unchanged page, never a 500 or a traceback."""
from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from werkzeug.serving import make_server

from app.jobs import Queue
from app.main import create_app
from app.state import screen
from models.evaluate import SORTS
from tests.conftest import quick_trained

N_EXAMPLES = 1000
PAIRS = [(d, a) for d in ("mnist", "cifar10") for a in ("linear", "mlp", "cnn")]
NASTY = ["../../etc/passwd", "/etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
         "mnist", "cifar10", "kmnist", "linear", "mlp", "cnn", "<script>alert(1)</script>", "", "\x00", "ready",
         "sample-tile", "state-cell", "9" * 400, "9" * 5000]
# JSON has no bound on an integer: a browser's JSON.parse makes these Infinity, Python keeps them whole.
BEYOND_64_BITS = [10 ** 400, -10 ** 400, 2 ** 64, -2 ** 64 - 1, 2 ** 63, 10 ** 20]
SCALARS = (st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63) | st.sampled_from(BEYOND_64_BITS)
           | st.floats(allow_nan=True) | st.text(max_size=40) | st.sampled_from(NASTY))
# Lists and dicts go wherever a value goes: where a dropdown's string, a slider's number or a store's dict is due.
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=6)
                      | st.dictionaries(st.sampled_from(["dataset", "arch", "status", "actual", "predicted",
                                                         "points", "x", "y", "index", "checkpoint", "message",
                                                         "network", "units", "position", "filterModel", "sortModel",
                                                         "startRow", "endRow", "filter", "type", "filterType"])
                                        | st.text(max_size=8), inner, max_size=6), max_leaves=25)
HUGE = st.lists(st.integers(-10, 10 ** 6), min_size=500, max_size=3000)
# What every value of every callback is replaced with in turn, at every place in it: an integer beyond 64 bits,
# something unhashable (a list of a dict) and a float no int() takes; in a string's place, more digits than
# int() reads.
FORGERIES = [10 ** 400, [{"x": 1}], float("inf")]
LONG_DIGITS = "9" * 5000
UPDATE = "/_dash-update-component"


class Records(logging.Handler):
    """What the dashboard logs, caught at its own logger (so that nothing set on the root logger, or a
    logger that stops propagating, can hide a failing callback from the fuzz)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def failures(self, since: int = 0) -> list[str]:
        """Callback failures and tracebacks logged since record `since`."""
        return [r.getMessage()[:300] for r in self.records[since:]
                if r.getMessage().startswith("callback failed") or r.exc_info or r.levelno > logging.WARNING]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with quick_trained(tmp_path_factory.mktemp("fuzz"), PAIRS) as (settings_, _):
        # Forged "Watch it train" requests queue jobs: recorded here, never started.
        app = create_app(settings_, queue=Queue(settings_.model_dir.parent / "jobs", launch=lambda q, job: None))
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.server_port
        deps = json.loads(_request(port, "GET", "/_dash-dependencies")[1])
        yield port, deps, plausible(app.lookinside_service)
        server.shutdown()


def plausible(service) -> dict[str, list]:
    """Values the page itself sends, by "id.property". A forged request forges one value and sends these for
    the rest, so that the forgery gets past the other values' checks (a store naming a ready network, a cell
    of it) to the code that reads it."""
    states = [service.resolve(d, a) for d, a in PAIRS]
    for d, a in PAIRS[:2]:
        service.snapshot(d, a, 0)  # a timeline position that is evaluated, for the view stores below
    # mnist/mlp first, finished then at a timeline position: a network with a hidden layer, its units, its map.
    views = [screen(service.resolve(d, a), None, d, a, p)
             for d, a, p in (("mnist", "mlp", None), ("mnist", "mlp", 0), *((d, a, None) for d, a in PAIRS))]
    picture = io.BytesIO()
    Image.new("L", (28, 28), 40).save(picture, "PNG")
    address = ["?dataset=mnist&model=mlp&counts=percent&view=images&cell=3-5&sample=7&t=0&seed=3&sort=margin"
               "&colours=grayscale&off=1-2", "?dataset=cifar10&model=cnn&colours=rgb", ""]
    job = [{"id": "0" * 32, "mode": "map"}, None]
    rows = [{"startRow": 0, "endRow": 50, "sortModel": [{"colId": "loss", "sort": "desc"}],
             "filterModel": {"p_true": {"filterType": "number", "type": "lessThan", "filter": 10},
                             "predicted": {"filterType": "text", "type": "equals", "filter": "7"}}},
            {"startRow": 50, "endRow": 100,
             "filterModel": {"index": {"filterType": "number", "type": "inRange", "filter": 3, "filterTo": 40}}}]
    return {
        "dataset-dropdown.value": ["mnist", "cifar10"], "model-dropdown.value": ["linear", "mlp", "cnn", "mlp-8-tanh"],
        "state-view.data": views, "state-resolved.data": states, "state-trained.data": [*states, None],
        "explain-ask.data": [{"index": 7, "view": v} for v in views],
        "state-snapshot-ask.data": [{"position": 0}, {"position": 1}],
        "state-cell.data": [{"actual": 1, "predicted": 1}, {"actual": 3, "predicted": 5}, None],  # the first has images
        "state-sample.data": [7, None], "state-shown.data": [24, 48], "state-map-pick.data": [None, [1, 5, 9]],
        "state-units-off.data": [None, {"network": "mlp", "units": [0, 2]}, {"network": "cnn", "units": [1]}],
        "off-ask.data": [{"network": "mlp", "units": [0, 2]}, {"network": "cnn", "units": [1]}],
        "state-address.data": [{"path": p, "search": s} for p in ("/", "/layers", "/predictions") for s in address],
        "url.search": address, "state-view-path.data": ["/", "/layers"],
        "confusion-mode.value": ["counts", "percent"], "confusion-view.value": ["numbers", "images"],
        "samples-sort.value": list(SORTS), "weights-colormap.value": ["diverging", "grayscale", "rgb"],
        "weights-page.value": ["0", "1"], "embedding-layer.value": ["hidden1", "input", "pooled", "logits"],
        "embedding-method.value": ["pca", "umap"], "gallery-mode.value": ["mistakes", "unsure"],
        "data-split.value": ["test", "train"], "data-class.value": ["all", "3"], "state-data-seed.data": [5],
        "compare-a.value": ["linear", "mlp:0"], "compare-b.value": ["mlp", "cnn"],
        "compare-a.options": [[{"label": "one", "value": "linear"}, {"label": "two", "value": "mlp"}]],
        "compare-graph.clickData": [{"points": [{"x": "3", "y": "5"}]}],
        "state-compare-cell.data": [{"actual": 1, "predicted": 1}, {"actual": 3, "predicted": 5}, None],
        "ladder-graph.clickData": [{"points": [{"customdata": ["mnist", "mlp-50-relu"]}]}],
        "predictions-table.getRowsRequest": rows, "state-highlight.data": [None, {"indices": [1], "key": "{}"}],
        "draw-pixels.data": [[0] * 300 + [255] * 184 + [0] * 300], "state-own-source.data": ["draw", "upload"],
        "state-upload.data": [{"contents": "data:image/png;base64," + base64.b64encode(picture.getvalue()).decode(),
                               "name": "grey.png"}, {"error": "That file is too big."}],
        "build-hidden.value": ["100", "32,16"], "build-activation.value": ["relu", "tanh"],
        "admin-input.value": ["not the token"], "state-admin-token.data": [None, "not the token"],
        "state-job.data": job, "state-embedding-job.data": job, "state-off-job.data": job,
        "state-ladder-job.data": job, "state-frame-seen.data": [None, 1],
    }


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


def _paths(value, path=()):
    """Every place in a JSON value: the value itself, and each of its items (the first few of a long list)."""
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value[:6]) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, (*path, key))


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


def _at(value, path):
    for key in path:
        value = value[key]
    return value


def _examples(spec, examples) -> list:
    """The values the page sends for an input or state (for a pattern-matching ALL input, no components)."""
    prop = spec["property"]
    if spec["id"].startswith("{"):
        return [[]]
    return examples.get(f"{spec['id']}.{prop}") or {"n_clicks": [1, 2], "n_intervals": [1, 3], "n_submit": [1]}.get(
        prop, [None])


def _usual(spec, examples, which: int):
    """The page's `which`-th value for an input or state (its last, for one with fewer)."""
    found = _examples(spec, examples)
    return found[min(which, len(found) - 1)]


def _body(dep, values: list, changed: int) -> dict:
    """A callback request as the renderer sends it: `values` for the inputs then the states, `changed` fired
    (the first input if it is a state)."""
    specs, inputs = [*dep["inputs"], *dep["state"]], len(dep["inputs"])
    props = [{"id": spec["id"], "property": spec["property"], "value": value} for spec, value in zip(specs, values)]
    fired = specs[changed if changed < inputs else 0]
    return {"output": dep["output"], "outputs": _output_spec(dep["output"]), "inputs": props[:inputs],
            "state": props[inputs:], "changedPropIds": [f"{fired['id']}.{fired['property']}"]}


def _server_side(deps) -> list:
    return [d for d in deps if not d.get("clientside_function")]


@st.composite
def forged(draw, plausible: list):
    """A plausible value with one part (or the whole) forged, or a forged value outright."""
    if draw(st.booleans()):
        return draw(VALUES | HUGE)
    value = draw(st.sampled_from(plausible))
    return _replaced(value, draw(st.sampled_from(list(_paths(value)))), draw(st.sampled_from(FORGERIES) | VALUES))


@st.composite
def payloads(draw, dep, examples):
    """A request for callback `dep`: one of its values forged, the others as the page sends them (or, now and
    then, all of them forged), and now and then the request's own shape broken."""
    specs = [*dep["inputs"], *dep["state"]]
    target = draw(st.sampled_from(range(len(specs)))) if draw(st.integers(0, 4)) else None

    def value(n, spec):
        if spec["id"].startswith("{"):  # a pattern-matching ALL input: one entry per component
            kind = json.loads(spec["id"])["type"]
            return draw(st.lists(st.fixed_dictionaries({
                "id": st.fixed_dictionaries({"type": st.just(kind), "index": st.integers(0, 12) | VALUES}),
                "property": st.just(spec["property"]), "value": st.integers(0, 3) | VALUES}), max_size=5))
        plausible = _examples(spec, examples)
        return draw(forged(plausible)) if target in (n, None) else draw(st.sampled_from(plausible))

    body = _body(dep, [value(n, spec) for n, spec in enumerate(specs)], target or 0)  # the forged input fired
    mutation = draw(st.sampled_from(["none"] * 12 + ["output", "drop", "types", "bytes"]))
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


def test_forged_callback_requests_never_break_the_server(live, monkeypatch):
    """Every server callback, N_EXAMPLES requests in all: a failure in the log fails the example that made it,
    so Hypothesis shows the smallest request that breaks a callback."""
    port, deps, examples = live
    # One client address would spend every rate limit in the first second, and the fuzz would then reach
    # nothing past the limits (their 429 is tested below).
    monkeypatch.setattr("app.access.Limits.check", lambda self, name: None)
    server_side = _server_side(deps)
    records = Records()
    logging.getLogger("lookinside").addHandler(records)
    answered: dict[str, list[int]] = {d["output"]: [] for d in server_side}
    try:
        for dep in server_side:
            @settings(max_examples=max(8, N_EXAMPLES // len(server_side)), deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(payloads(dep, examples))
            def check(raw):
                seen = len(records.records)
                status, text = _request(port, "POST", UPDATE, raw)
                answered[dep["output"]].append(status)
                _assert_safe(status, text)
                # on_error keeps a failing callback's page unchanged, so a failure shows only in the log.
                assert not records.failures(seen), records.failures(seen)

            check()
    finally:
        logging.getLogger("lookinside").removeHandler(records)
    sent = [s for statuses in answered.values() for s in statuses]
    assert len(sent) >= N_EXAMPLES * 0.9
    # Every callback ran on some of them (200, or 204 for one that had nothing to update): none was only refused.
    assert not [o for o, statuses in answered.items() if not {200, 204} & set(statuses)]
    assert any(400 <= s < 500 for s in sent)
    # Every forged request is the client's fault: at most one WARNING line each, never a traceback.
    assert not records.failures()
    refused = [r for r in records.records if r.getMessage().startswith("refused ")]
    assert refused and len(refused) <= len([s for s in sent if s >= 400])


def test_every_value_of_every_callback_forged_in_turn(live, monkeypatch):
    """Each server callback's values as the page sends them (the first of each value's examples, then the
    second: a plain page, then one with a pick, units off, a timeline position), one place in one value
    replaced by each forgery in turn: the callback refuses it (an unchanged page, a sentence) and logs no
    failure. Where the random fuzz above may miss a forgery deep in a value (a table filter's number), this
    reaches every place."""
    port, deps, examples = live
    monkeypatch.setattr("app.access.Limits.check", lambda self, name: None)
    records = Records()
    logging.getLogger("lookinside").addHandler(records)
    failed, sent = [], 0
    try:
        for dep, which in ((dep, which) for which in (0, 1) for dep in _server_side(deps)):
            specs = [*dep["inputs"], *dep["state"]]
            usual = [_usual(spec, examples, which) for spec in specs]
            for n, spec in enumerate(specs):
                for path in _paths(usual[n]) if not spec["id"].startswith("{") else ():
                    for forgery in FORGERIES + ([LONG_DIGITS] if isinstance(_at(usual[n], path), str) else []):
                        values = [*usual[:n], _replaced(usual[n], path, forgery), *usual[n + 1:]]
                        seen = len(records.records)
                        status, text = _request(port, "POST", UPDATE, json.dumps(_body(dep, values, n)).encode())
                        sent += 1
                        if not (status in (200, 204) or 400 <= status < 500) or "Traceback" in text \
                                or records.failures(seen):
                            failed.append((dep["output"][:60], spec["id"], path, repr(forgery)[:12], status,
                                           records.failures(seen)[:1]))
    finally:
        logging.getLogger("lookinside").removeHandler(records)
    assert sent > 2000 and not failed, "\n".join(map(str, failed))


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
    port, deps, _ = live
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
        "output": "state-resolve-answer.data", "outputs": {"id": "state-resolve-answer", "property": "data"},
        "inputs": [{"id": "dataset-dropdown", "property": "value", "value": "mnist"},
                   {"id": "model-dropdown", "property": "value", "value": "linear"},
                   {"id": "watch-button", "property": "n_clicks", "value": 1},
                   {"id": "state-resolve-kick", "property": "data", "value": None},
                   {"id": "train-it", "property": "n_clicks", "value": 0}],
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
