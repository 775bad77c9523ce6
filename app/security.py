"""Hardening for a public deployment: request-shape checks, size limits, security headers, no tracebacks."""
from __future__ import annotations

import logging

from dash import Dash
from flask import Response, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("lookinside")

UPDATE_PATH = "/_dash-update-component"
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
    """Dash's on_error: log the failure and leave the page as it was (the outputs get no update)."""
    log.error("callback failed: %s: %s", type(err).__name__, err, exc_info=err)


def _is_prop(item) -> bool:
    return isinstance(item, dict) and "id" in item and isinstance(item.get("property"), str)


def _valid_props(items) -> bool:
    # An input is {"id", "property", "value"}, or for pattern-matching ALL a list of those.
    return isinstance(items, list) and len(items) <= 2000 and all(
        _is_prop(i) or (isinstance(i, list) and len(i) <= 2000 and all(_is_prop(j) for j in i)) for i in items)


def check_update_request(body, known_outputs) -> str | None:
    """Why a callback request is malformed, or None if its shape is one Dash can dispatch."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in known_outputs:
        return "unknown output"
    if not _valid_props(body.get("inputs")) or not _valid_props(body.get("state", [])):
        return "inputs and state must be lists of {id, property, value}"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds must be a list of strings"
    return None


def harden(app: Dash) -> None:
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = UPLOAD_BODY

    @server.before_request
    def _check_shape():
        if request.content_length is not None and request.content_length > MAX_BODY \
                and not (request.path == UPDATE_PATH and request.method == "POST"):
            return Response("request too large\n", status=413, mimetype="text/plain")
        if request.path != UPDATE_PATH or request.method != "POST":
            return None
        body = request.get_json(silent=True)
        if request.content_length is not None and request.content_length > MAX_BODY and not (
                isinstance(body, dict) and isinstance(body.get("output"), str)
                and UPLOAD_OUTPUT in body["output"]):
            return Response("request too large\n", status=413, mimetype="text/plain")
        problem = check_update_request(body, app.callback_map)
        if problem:
            return Response(f"bad request: {problem}\n", status=400, mimetype="text/plain")
        return None

    @server.after_request
    def _headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @server.errorhandler(Exception)
    def _no_traceback(err):
        if isinstance(err, HTTPException):
            return err
        log.error("request to %s failed", request.path, exc_info=err)
        # A request the shape check let through but Dash could not dispatch is still the client's fault.
        status = 400 if request.path == UPDATE_PATH else 500
        return Response("bad request\n" if status == 400 else "internal error\n", status=status,
                        mimetype="text/plain")
