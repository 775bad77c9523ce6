"""Uploads and drawings: refused clearly when wrong, converted like the datasets' images, never written to disk."""
from __future__ import annotations

import base64
import builtins
import io
import tempfile

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app import upload


def data_uri(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode()


def picture(fmt: str = "PNG", size=(200, 300), mode="RGB") -> bytes:
    """A dark vertical stroke on white paper, as a phone photo of a handwritten 1 would be."""
    image = Image.new(mode, size, "white")
    w, h = size
    ImageDraw.Draw(image).rectangle([0.45 * w, 0.2 * h, 0.58 * w, 0.83 * h], fill="black")
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def test_wrong_inputs_get_one_clear_sentence():
    cases = [
        (lambda: upload.decode("hello"), "not a file upload"),
        (lambda: upload.decode("data:image/png;base64,%%%notbase64"), "damaged"),
        (lambda: upload.decode(data_uri(b"x" * (3 * 2**20))), "3.0 MB"),
        (lambda: upload.open_image(b"just some text, not a picture"), "not an image"),
        (lambda: upload.open_image(picture()[:200]), "broken"),
        (lambda: upload.open_image(picture("TIFF")), "TIFF files are not accepted"),
        (lambda: upload.from_pixels([0] * 10), "did not arrive intact"),
        (lambda: upload.from_pixels([True] * 784), "did not arrive intact"),
        (lambda: upload.from_pixels([300] * 784), "did not arrive intact"),
    ]
    for action, words in cases:
        with pytest.raises(upload.UploadError, match=words):
            action()


def test_huge_images_are_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("1", (6000, 5000)).save(buf, format="PNG")  # 30 megapixels in a tiny file
    assert len(buf.getvalue()) < upload.MAX_BYTES
    with pytest.raises(upload.UploadError, match="6000×5000"):
        upload.open_image(buf.getvalue())
    buf = io.BytesIO()
    Image.new("RGBA", (4999, 4999), (9, 9, 9, 255)).save(buf, format="PNG")  # 97 KB that decodes to 100 MB
    with pytest.raises(upload.UploadError, match="4999×4999 pixels; at most 4 megapixels"):
        upload.open_image(buf.getvalue())


def test_an_accepted_picture_is_decoded_small():
    """A picture's cost is bounded by what it decodes to: shrunk to WORK_SIDE, a JPEG decoded at reduced scale."""
    side = int(upload.MAX_PIXELS ** 0.5)
    png = io.BytesIO()
    Image.new("RGBA", (side, side), (200, 30, 30, 255)).save(png, format="PNG")
    image = upload.open_image(png.getvalue())
    assert max(image.size) == upload.WORK_SIDE and image.format == "PNG"
    jpeg = io.BytesIO()
    Image.new("RGB", (4800, 4000), (250, 250, 250)).save(jpeg, format="JPEG")  # 19 MP: accepted as a JPEG
    image = upload.open_image(jpeg.getvalue())
    assert max(image.size) <= upload.WORK_SIDE and image.format == "JPEG"
    assert upload.to_dataset_image(image, (3, 32, 32)).shape == (3, 32, 32)


def test_a_photo_of_dark_ink_becomes_an_mnist_like_digit():
    image = upload.to_dataset_image(upload.open_image(picture("JPEG")), (1, 28, 28))
    assert image.shape == (1, 28, 28) and image.dtype == np.uint8
    ink = image[0].astype(float)
    rows, cols = np.flatnonzero(ink.max(1) > 0), np.flatnonzero(ink.max(0) > 0)
    assert rows[-1] - rows[0] + 1 <= 20 and ink.max() > 200  # light ink, scaled into 20x20
    assert cols[-1] - cols[0] + 1 < rows[-1] - rows[0] + 1  # a tall stroke stays tall: the aspect is kept
    assert ink[0].max() == 0 and ink[:, 0].max() == 0  # black border, as MNIST has
    ys, xs = np.indices(ink.shape)
    assert abs((ys * ink).sum() / ink.sum() - 14) <= 1 and abs((xs * ink).sum() / ink.sum() - 14) <= 1


def test_a_product_photo_becomes_a_fashion_mnist_image():
    """Fashion-MNIST's recipe: trimmed, the longer side scaled to 28 (not MNIST's 20), centred, negated,
    grey levels kept."""
    photo = np.full((120, 200), 250, dtype=np.uint8)  # a wide grey bag on white, with a darker strap
    photo[40:100, 30:170] = 120
    photo[30:40, 80:120] = 40
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    picture_ = upload.open_image(buf.getvalue())
    image = upload.to_dataset_image(picture_, (1, 28, 28), upload.recipe("fashion-mnist", (1, 28, 28)))[0]
    cols = np.flatnonzero(image.max(0) > 0)
    rows = np.flatnonzero(image.max(1) > 0)
    assert cols[0] == 0 and cols[-1] == 27  # the longer side fills all 28 columns
    assert 9 <= len(rows) <= 14 and abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1  # centred, aspect kept
    assert image[0].max() == 0 and image[27].max() == 0  # black above and below, as in Fashion-MNIST
    body, strap = image[rows[-1] - 2, 14], image[rows[0], 14]
    assert 40 < body < 255 and strap > body  # grey levels kept: the darker strap is the brighter one now
    digit = upload.to_dataset_image(picture_, (1, 28, 28), upload.recipe("mnist", (1, 28, 28)))[0]
    assert np.flatnonzero(digit.max(0) > 0).size <= 20  # the digit recipe would have squeezed it into 20


def test_colour_pictures_become_cifar_thumbnails():
    image = upload.to_dataset_image(upload.open_image(picture("WEBP", (64, 48))), (3, 32, 32))
    assert image.shape == (3, 32, 32) and image.dtype == np.uint8 and image.min() < 50 < 200 < image.max()


def test_a_drawing_is_centred_like_mnist():
    pixels = [0] * 784
    for r in range(2, 8):  # a small blob in the top-left corner
        for c in range(2, 6):
            pixels[r * 28 + c] = 255
    image = upload.from_pixels(pixels)[0].astype(float)
    ys, xs = np.indices(image.shape)
    assert abs((ys * image).sum() / image.sum() - 14) <= 1 and abs((xs * image).sum() / image.sum() - 14) <= 1
    assert upload.from_pixels([0] * 784).max() == 0  # an empty drawing stays empty


def test_nothing_is_written_to_disk(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an upload touched the file system")
    contents = data_uri(picture("PNG"))
    monkeypatch.setattr(builtins, "open", refuse)
    for name in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, refuse)
    image = upload.to_dataset_image(upload.open_image(upload.decode(contents)), (1, 28, 28))
    assert image.max() > 0
