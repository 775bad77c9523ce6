"""Hardening for a public deployment: request-shape checks, size limits, security headers, no tracebacks."""
from __future__ import annotations

import logging

from dash import Dash
from flask import Response, request
from dash.exceptions import DashException
from werkzeug.exceptions import HTTPException

log = logging.getLogger("lookinside")

UPDATE_PATH = "/_dash-update-component"
SUITES_PATH = "/_dash-component-suites/"
MAX_BODY = 256 * 1024  # the largest real request (every sample tile's n_clicks) is a few KiB
# A picture someone uploads travels inside one callback request, as a data URI (a third larger than
# the file); only the callback that reads it may send that much.
UPLOAD_BODY = 4 * 1024 * 1024
UPLOAD_OUTPUT = "own-result.children"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Dash's renderer boots from an inline script, so script-src stays open; framing does not.
    "Content-Security-Policy": "frame-ancestors 'self'; object-src 'none'; base-uri 'self'",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
}


def log_callback_error(err: Exception) -> None:
    """Dash's on_error: log the failure and leave the page as it was (the outputs get no update).

    An HTTP error raised on purpose (a rate limit's 429) goes on to the client as it is.
    """
    if isinstance(err, HTTPException):
        raise err
    log.error("callback failed: %s: %s", type(err).__name__, err, exc_info=err)


def _is_prop(item) -> bool:
    return isinstance(item, dict) and "id" in item and isinstance(item.get("property"), str)


def _valid_props(items) -> bool:
    # An input is {"id", "property", "value"}, or for pattern-matching ALL a list of those.
    return isinstance(items, list) and len(items) <= 2000 and all(
        _is_prop(i) or (isinstance(i, list) and len(i) <= 2000 and all(_is_prop(j) for j in i)) for i in items)


def _output_pairs(key: str) -> list[tuple[str, str]]:
    """The (id, property) pairs a callback's output key names ("id.prop" or "..id.prop...id.prop..")."""
    return [tuple(part.rsplit(".", 1)) for part in key.strip(".").split("...")] if key.startswith("..") \
        else [tuple(key.rsplit(".", 1))]


def _outputs_match(outputs, key: str) -> bool:
    """Whether the request's `outputs` are the ones its callback defines, as Dash checks after parsing."""
    wanted = _output_pairs(key)
    given = outputs if key.startswith("..") else [outputs]
    if not isinstance(given, list) or len(given) != len(wanted):
        return False
    for spec, (cid, prop) in zip(given, wanted):
        if cid.startswith("{"):  # a pattern-matching output: a dict id, or a list of them for ALL
            specs = spec if isinstance(spec, list) else [spec]
            if not all(isinstance(s, dict) and isinstance(s.get("id"), dict) and s.get("property") == prop
                       for s in specs):
                return False
        elif not (isinstance(spec, dict) and spec.get("id") == cid and spec.get("property") == prop):
            return False
    return True


def check_update_request(body, callbacks) -> str | None:
    """Why a callback request is malformed, or None if its shape is one Dash can dispatch."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callbacks:
        return "unknown output"
    inputs, state = body.get("inputs"), body.get("state", [])
    if not _valid_props(inputs) or not _valid_props(state):
        return "inputs and state must be lists of {id, property, value}"
    spec = callbacks[output]
    if isinstance(spec, dict) and "callback" not in spec:
        return "that output is computed in the browser"
    if isinstance(spec, dict) and (len(inputs) != len(spec.get("inputs", inputs))
                                   or len(state) != len(spec.get("state", state))):
        return "inputs and state do not match the callback"
    if not _outputs_match(body.get("outputs"), output):
        return "outputs do not match the callback"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds must be a list of strings"
    return None


def refuse(status: int, reason: str) -> Response:
    """A client's mistake: one log line, no traceback, a plain answer."""
    log.warning("refused %s %s: %d %s", request.method, request.path[:200], status, reason)
    return Response(f"{reason}\n", status=status, mimetype="text/plain")


def harden(app: Dash) -> None:
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = UPLOAD_BODY

    @server.before_request
    def _check_shape():
        if request.content_length is not None and request.content_length > MAX_BODY \
                and not (request.path == UPDATE_PATH and request.method == "POST"):
            return refuse(413, "request too large")
        if request.path != UPDATE_PATH or request.method != "POST":
            return None
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # JSON nested thousands deep
            body = None
        if request.content_length is not None and request.content_length > MAX_BODY and not (
                isinstance(body, dict) and isinstance(body.get("output"), str)
                and UPLOAD_OUTPUT in body["output"]):
            return refuse(413, "request too large")
        problem = check_update_request(body, app.callback_map)
        if problem:
            return refuse(400, f"bad request: {problem}")
        return None

    @server.after_request
    def _headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @server.errorhandler(Exception)
    def _no_traceback(err):
        if isinstance(err, HTTPException):
            if (err.code or 500) < 500:
                return refuse(err.code, err.description or err.name)
            return err
        if isinstance(err, (DashException, RecursionError)) or request.path.startswith(SUITES_PATH):
            # Dash's own checks of a request (a forged callback, a script it does not serve): the client's fault.
            return refuse(404 if request.path.startswith(SUITES_PATH) else 400,
                          "not found" if request.path.startswith(SUITES_PATH) else f"bad request ({type(err).__name__})")
        log.error("request to %s failed", request.path, exc_info=err)
        return Response("internal error\n", status=500, mimetype="text/plain")
