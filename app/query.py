"""What a page's address asks for: its query string read into the view it names (a shared link, back and
forward). Every reader of the address uses this one reading; app/panels/address.py is the page's side of it
(the location, and the browser-side writers)."""
from __future__ import annotations

from typing import Optional
from urllib.parse import parse_qs

from models import datasets
from models.evaluate import SORTS
from models.zoo import is_network

MODES = {"counts": "counts", "percent": "percent"}
VIEWS = {"numbers": "numbers", "images": "images"}
COLOURS = ("diverging", "grayscale", "rgb")  # the weights' colour map
SPLITS = ("test", "train")  # the data card's split
GALLERY = ("mistakes", "unsure")  # the mistakes card's mode
MAX_OFF = 100  # units switched off that an address may name


def search_of(changed) -> str:
    """The query string of an address change ({"path", "search"} as the page sends it), or of a query string."""
    return changed.get("search") if isinstance(changed, dict) else changed


def parse(search) -> dict:
    """The view a query string asks for; keys that are missing or malformed are left out."""
    if not isinstance(search, str) or len(search) > 500:
        return {}
    query = {k: v[-1] for k, v in parse_qs(search.lstrip("?"), max_num_fields=20).items()}
    found: dict = {}
    if query.get("dataset") in datasets.DATASETS:
        found["dataset"] = query["dataset"]
    if isinstance(query.get("model"), str) and len(query["model"]) <= 40 and is_network(query["model"]):
        found["arch"] = query["model"]
    if query.get("counts") in MODES:
        found["mode"] = query["counts"]
    if query.get("view") in VIEWS:
        found["view"] = query["view"]
    if query.get("sort") in SORTS:
        found["sort"] = query["sort"]
    if query.get("colours") in COLOURS:
        found["colours"] = query["colours"]
    if query.get("split") in SPLITS:
        found["split"] = query["split"]
    if query.get("gallery") in GALLERY:
        found["gallery"] = query["gallery"]
    if isinstance(query.get("class"), str) and query["class"].isdecimal() and len(query["class"]) <= 4:
        found["class"] = str(int(query["class"]))  # checked against the dataset's classes where it is used
    found.update(_off(query.get("off")))
    found.update(_unit(query.get("unit")))
    for key, name in (("cell", "cell"), ("sample", "sample"), ("t", "position"), ("seed", "seed")):
        value = _ints(query.get(key), 2 if key == "cell" else 1)
        if value is not None:
            found[name] = {"actual": value[0], "predicted": value[1]} if key == "cell" else value[0]
    return found


def _off(text) -> dict:
    """The units switched off, as the page numbers them: "off=1,4" is units 1 and 4 (indices 0 and 3). Links
    written before that name indices joined by dashes ("off=0-3"), read as they meant."""
    if not isinstance(text, str) or not text:
        return {}
    legacy = "-" in text
    parts = text.split("-" if legacy else ",")
    if len(parts) > MAX_OFF or not all(p.isdecimal() and len(p) <= 4 for p in parts):
        return {}
    units = {int(p) - (0 if legacy else 1) for p in parts}
    return {} if min(units) < 0 else {"off": sorted(units)}


def _unit(text) -> dict:
    """The unit view's unit, as the page numbers it: "unit=2.4" is layer 2, unit 4 (checked against the network
    where it is used)."""
    parts = text.split(".") if isinstance(text, str) else []
    if len(parts) != 2 or not all(p.isdecimal() and len(p) <= 5 for p in parts) or min(map(int, parts)) < 1:
        return {}
    return {"unit": [int(parts[0]), int(parts[1])]}


def _ints(text, count: int) -> Optional[list[int]]:
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != count or not all(p.isdecimal() and len(p) <= 7 for p in parts):
        return None
    return [int(p) for p in parts]
