"""A person's own image, checked and converted the way the dataset's images are, in memory only (no Dash)."""
from __future__ import annotations

import base64
import binascii
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models import datasets

MAX_BYTES = 2 * 1024 * 1024  # the file itself; its data URI is a third larger
# What a picture may decode to. The networks read 28x28 or 32x32, so a few megapixels is plenty; the cost
# of an upload is bounded by this, not by its file size (a 97 KB one-colour PNG can decode to 25 MP).
MAX_PIXELS = 4_000_000
MAX_JPEG_PIXELS = 25_000_000  # a JPEG decodes at 1/2 to 1/8 scale (draft), so a larger photo still fits
WORK_SIDE = 512  # pictures are shrunk to at most this before any per-pixel work
FORMATS = {"PNG", "JPEG", "GIF", "BMP", "WEBP"}


class UploadError(ValueError):
    """Why an upload was refused, in one sentence a person can act on."""


def decode(contents: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a browser data URI ("data:<type>;base64,<data>"), refusing anything else or too big."""
    if not isinstance(contents, str) or not contents.startswith("data:") or ";base64," not in contents[:200]:
        raise UploadError("That is not a file upload the page understands.")
    payload = contents.split(";base64,", 1)[1]
    if len(payload) * 3 // 4 > max_bytes:
        raise UploadError(f"That file is {len(payload) * 3 / 4 / 2**20:.1f} MB; images of at most "
                          f"{max_bytes / 2**20:.0f} MB are accepted.")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError("That file arrived damaged (its encoding is broken); try again.") from None


def open_image(data: bytes) -> Image.Image:
    """A decoded, verified image of an accepted format; refuses other files and broken or huge images."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in FORMATS:
                raise UploadError(f"{probe.format or 'This'} files are not accepted: use PNG, JPEG, GIF, BMP or WebP.")
            limit = MAX_JPEG_PIXELS if probe.format == "JPEG" else MAX_PIXELS
            if probe.width * probe.height > limit:
                raise UploadError(f"That image is {probe.width}×{probe.height} pixels; at most "
                                  f"{limit / 1e6:.0f} megapixels are accepted{_JPEG_HINT if limit == MAX_PIXELS else ''}.")
            probe.verify()  # checks the file's structure; the image must be opened again to use it
            image = Image.open(io.BytesIO(data))
            if image.format == "JPEG":  # decode at the smallest scale that still covers WORK_SIDE
                image.draft(image.mode, (WORK_SIDE, WORK_SIDE))
            image.load()
            image = _shrink(image)
    except UploadError:
        raise
    except UnidentifiedImageError:
        raise UploadError("That file is not an image (PNG, JPEG, GIF, BMP or WebP).") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            EOFError):
        raise UploadError("That image is broken and cannot be read.") from None
    upright = ImageOps.exif_transpose(image)
    upright.format = image.format  # a turned copy forgets which format it came from
    return upright


_JPEG_HINT = " (a JPEG photo may be larger), or make it smaller first"


def _shrink(image: Image.Image) -> Image.Image:
    """The image at most WORK_SIDE on its longer side, keeping its format's name."""
    if max(image.size) <= WORK_SIDE:
        return image
    fmt = image.format
    factor = max(1, max(image.size) // WORK_SIDE)
    small = image.reduce(factor) if image.mode not in ("P", "1") and factor > 1 else image.copy()
    small.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    small.format = fmt
    return small


# How a dataset's images were made, and so how a picture is converted for it: its descriptor names the recipe
# (models.datasets.Own).
HOW = {"digit": "light on dark, its ink scaled into the middle 5/7 of the square and centred by mass, as "
                "handwritten digits are for MNIST",
       "garment": "light on dark, trimmed, its longer side scaled to the image's and centred, as product photos "
                  "are for Fashion-MNIST",
       "photo": "centre-cropped and shrunk to the image's size in colour, as photos are for CIFAR-10"}
DRAW_SIDE = 28  # the drawing area's grid (assets/draw.js), converted to the dataset's shape like a picture


def recipe(dataset, shape: tuple[int, int, int]) -> str:
    """The conversion recipe of a dataset ("digit", "garment" or "photo")."""
    spec = datasets.DATASETS.get(dataset) if isinstance(dataset, str) else None
    return spec.own.recipe if spec is not None else ("photo" if shape[0] == 3 else "digit")


def to_dataset_image(image: Image.Image, shape: tuple[int, int, int], how: str = "digit") -> np.ndarray:
    """Convert to the dataset's (C, H, W) uint8 form, the way its images were made (see HOW): a
    centred light-on-dark digit (MNIST, KMNIST), a trimmed and centred product photo (Fashion-MNIST), or
    a centre-cropped colour thumbnail (CIFAR-10)."""
    c, h, w = shape
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        backdrop = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(backdrop, image)  # transparent means paper: white
    if c == 3:
        side = min(image.size)
        image = ImageOps.fit(image.convert("RGB"), (side, side), method=Image.Resampling.BICUBIC)
        small = image.resize((w, h), Image.Resampling.LANCZOS)
        return np.transpose(np.asarray(small, dtype=np.uint8), (2, 0, 1)).copy()
    gray = np.asarray(image.convert("L"), dtype=np.float64)
    return (_like_fashion(gray, h, w) if how == "garment" else _like_mnist(gray, h, w))[None]


def _like_fashion(gray: np.ndarray, h: int, w: int) -> np.ndarray:
    """Fashion-MNIST's recipe (Xiao et al., 2017): the product trimmed from its background, its longer
    side resized to 28, centred, negated (light on black); grey levels are kept, not thresholded."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:  # a product on a white background, as the shop's photos were
        gray = 255 - gray
    background = np.median(border if border.mean() <= 127 else 255 - border)
    mask = gray > background + 20
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    out = np.zeros((h, w), dtype=np.float64)
    if len(rows) == 0:
        return out.astype(np.uint8)
    crop = np.clip(gray[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] - background, 0, 255)
    crop = crop * (255 / max(crop.max(), 1e-6))
    scale = min(h, w) / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray(np.round(crop).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS),
                       dtype=np.float64)
    top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _like_mnist(gray: np.ndarray, h: int, w: int) -> np.ndarray:
    """MNIST's recipe: light ink on black, the ink's bounding box scaled into 20x20 of 28x28 (the same share of
    another size), centred by mass."""
    box = max(1, round(min(h, w) * 20 / 28))
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:  # dark ink on light paper, as photos and scans are: invert
        gray = 255 - gray
    lo, hi = np.percentile(gray, 1), np.percentile(gray, 99.5)
    ink = np.clip((gray - lo) / max(hi - lo, 1e-6), 0, 1)
    ink[ink < 0.15] = 0  # paper texture and shadows are not ink
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    out = np.zeros((h, w), dtype=np.float64)
    if len(rows) == 0:
        return out.astype(np.uint8)
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = box / max(ink.shape)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    glyph = np.asarray(Image.fromarray(np.round(ink * 255).astype(np.uint8)).resize(
        size, Image.Resampling.LANCZOS), dtype=np.float64)
    total = glyph.sum()
    ys, xs = np.indices(glyph.shape)
    cy, cx = ((ys * glyph).sum() / total, (xs * glyph).sum() / total) if total else (glyph.shape[0] / 2,
                                                                                     glyph.shape[1] / 2)
    top = int(np.clip(round(h / 2 - cy), 0, h - glyph.shape[0]))
    left = int(np.clip(round(w / 2 - cx), 0, w - glyph.shape[1]))
    out[top:top + glyph.shape[0], left:left + glyph.shape[1]] = glyph
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def from_pixels(pixels, shape: tuple[int, int, int] = (1, 28, 28), how: str = "digit") -> np.ndarray:
    """The drawing area's pixels (a flat list of DRAW_SIDE² values 0..255, light ink on black) as a (1, H, W)
    uint8 image, scaled and centred as the dataset's images were made, so a small or off-centre drawing reads
    like theirs."""
    c, h, w = shape
    if c != 1 or not isinstance(pixels, list) or len(pixels) != DRAW_SIDE ** 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 255 for v in pixels):
        raise UploadError("The drawing did not arrive intact; clear it and draw again.")
    drawn = np.asarray(pixels, dtype=np.float64).reshape(DRAW_SIDE, DRAW_SIDE)
    return (_like_fashion(drawn, h, w) if how == "garment" else _like_mnist(drawn, h, w))[None]
