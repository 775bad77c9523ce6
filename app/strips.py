"""A heatmap cell's top images as one small PNG strip, for the hover tooltip (the chapter's demo: "hover your
mouse over each cell to get a sampling of the top instances").

Served as a plain image address, not a Dash callback: hovering across the grid never queues callbacks,
and the browser caches each strip (the address names the checkpoint, so a strip never changes).
"""
from __future__ import annotations

import io

import numpy as np
import torch
from flask import Flask, Response, abort, request
from PIL import Image

from models.errors import LookInsideError

from .images import to_display
from .service import Service
from .state import valid_pair

STRIP = 6  # images per strip: the cell's most confident first
GAP = 2  # pixels between images
PATH = "/strip/<dataset>/<network>/<int:actual>-<int:predicted>.png"
IMAGE = "/image/<dataset>/<int:index>.png"  # one test image


def strip_png(images: np.ndarray) -> bytes:
    """(n, C, H, W) uint8 images side by side on white, as PNG bytes (a 1×1 white pixel for none)."""
    if len(images) == 0:
        canvas = np.full((1, 1), 255, dtype=np.uint8)
    else:
        tiles = [to_display(img) for img in images]
        h, w = tiles[0].shape[:2]
        shape = (h, len(tiles) * (w + GAP) - GAP) + tiles[0].shape[2:]
        canvas = np.full(shape, 255, dtype=np.uint8)
        for i, tile in enumerate(tiles):
            canvas[:, i * (w + GAP):i * (w + GAP) + w] = tile
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def register(server: Flask, service: Service) -> None:
    @server.route(PATH)
    def cell_strip(dataset: str, network: str, actual: int, predicted: int):
        if not valid_pair(dataset, network):
            abort(404)
        position = request.args.get("t", "")
        position = int(position) if position.isdecimal() and len(position) <= 4 else None
        try:
            view = service.view(dataset, network, position)
        except LookInsideError:
            abort(404)  # not ready, or a snapshot nobody has evaluated yet: no strip to show
        ev = view.evaluation
        k = len(ev.classes)
        if not (0 <= actual < k and 0 <= predicted < k):
            abort(404)
        # Drawn on each request (about a millisecond), not memoised: a hundred strips per network would
        # push the heatmaps and panels out of the shared memo, and the browser keeps each strip anyway.
        top = torch.as_tensor(ev.cell(actual, predicted)[:STRIP])
        png = strip_png(view.images.images[top].numpy())
        response = Response(png, mimetype="image/png")
        # The checkpoint id in the address pins the contents; without it, another network may follow.
        fresh = request.args.get("c") == view.checkpoint.id
        response.headers["Cache-Control"] = "public, max-age=86400, immutable" if fresh else "no-cache"
        return response

    @server.route(IMAGE)
    def test_image(dataset: str, index: int):
        """One test image, for the map's hover card and the table's thumbnails: it never changes."""
        if not service.has_data(dataset):
            abort(404)
        thumbnails = service.thumbnails(dataset)
        if not 0 <= index < len(thumbnails.pngs):
            abort(404)
        response = Response(thumbnails.png(index), mimetype="image/png")
        response.headers["Cache-Control"] = "public, max-age=86400, immutable"
        return response
