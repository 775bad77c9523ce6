"""The page-state protocol: what the browser keeps about the network on screen, written and read here only.

Two stores say how the chosen network stands: `state-resolved` (what the server found when the
dropdowns changed) and `state-trained` (what a finished training job made). From them and the
timeline's position, one browser-side function (assets/view.js) writes the view store, `state-view`:
the network on screen. Every panel draws from that one store. `screen` below is the same rule, for the
server to draw ahead of a visit; every store that comes back from the browser is checked here.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Optional, Sequence

from models import datasets, kinds
from models.zoo import base_of, is_network, parse_network

READY, UNTRAINED, ERROR = "ready", "untrained", "error"


class _Titles(Mapping):
    """Each dataset's title by name, read from the registered descriptors whenever asked."""

    def __getitem__(self, name: str) -> str:
        return datasets.DATASETS[name].title

    def __iter__(self):
        return iter(datasets.DATASETS)

    def __len__(self) -> int:
        return len(datasets.DATASETS)


DATASET_LABELS = _Titles()
MAX_ID = 40  # the longest dataset or network id a page may send


def network_label(network: str) -> str:
    """A network's name in the page: its kind's label (or its shape's), and for a visitor's run its number."""
    run = parse_network(network)[1]
    return kinds.parse(base_of(network)).label + (f", visitor run {run}" if run else "")


def network_options(networks) -> list[dict]:
    """The network dropdown's options."""
    return [{"label": network_label(n), "value": n} for n in networks]


def valid_pair(dataset, network) -> bool:
    """A known dataset and a well-formed network id (a served network or a visitor's run)."""
    return isinstance(dataset, str) and isinstance(network, str) and dataset in datasets.DATASETS \
        and len(network) <= MAX_ID and is_network(network)


def whole(value, bound: int) -> Optional[int]:
    """A whole number in [0, bound) that the browser sent, else None: never a bool, a float or 10**400."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < bound else None


def whole_text(value, bound: int) -> Optional[int]:
    """The whole number in [0, bound) a dropdown's value names in digits ("3"), else None: a string of
    5,000 digits is refused before int() would raise on it."""
    return whole(int(value), bound) if isinstance(value, str) and value.isdecimal() and len(value) <= 9 else None


def chosen(value, choices, default):
    """A dropdown's or toggle's value if it is one of `choices` (strings), else `default`: a forged dict or
    list is never looked up (it is unhashable) and matches nothing."""
    return value if isinstance(value, str) and value in choices else default


def state(dataset: str, network: str, status: str, message: str = "", checkpoint: str = "",
          timeline: Sequence[str] = ()) -> dict:
    """How one network stands: ready to draw, untrained (a job will make it), or an error to show; a ready
    one carries its timeline's labels (the slider's positions, the finished network last), so the browser
    sets the slider without asking (assets/view.js)."""
    return {"dataset": dataset, "arch": network, "status": status, "message": message, "checkpoint": checkpoint,
            "timeline": list(timeline)}


def _is_state(value) -> bool:
    return isinstance(value, dict) and value.get("status") in (READY, UNTRAINED, ERROR) \
        and all(isinstance(value.get(k), str) for k in ("dataset", "arch", "message", "checkpoint"))


def current(resolved, trained, dataset, network) -> Optional[dict]:
    """The state of the chosen network: a ready state first, else a finished job's, else the first look."""
    matching = [s for s in (trained, resolved) if _is_state(s) and s["dataset"] == dataset and s["arch"] == network]
    ready = [s for s in matching if s["status"] == READY]
    return (ready or matching or [None])[0]


def screen(resolved, trained, dataset, network, position=None) -> Optional[dict]:
    """The view store: the network on screen, its checkpoint and timeline position (None: the finished
    network), and how it stands; None while nothing is known about the chosen network."""
    st = current(resolved, trained, dataset, network)
    if st is None:
        return None
    if st["status"] != READY or not isinstance(position, int) or isinstance(position, bool) or position < 0:
        position = None
    return {"dataset": st["dataset"], "network": st["arch"], "checkpoint": st["checkpoint"],
            "position": position, "status": st["status"], "message": st["message"]}


def on_screen(store) -> Optional[dict]:
    """A view store sent back by the browser if it is shaped like one of ours, else None."""
    if not isinstance(store, dict) or store.get("status") not in (READY, UNTRAINED, ERROR):
        return None
    if not all(isinstance(store.get(k), str) for k in ("dataset", "network", "checkpoint", "message")):
        return None
    position = store.get("position")
    if position is not None and (not isinstance(position, int) or isinstance(position, bool) or position < 0):
        return None
    if store["status"] == READY and not valid_pair(store["dataset"], store["network"]):
        return None
    return store

