"""The views against Dash's rules for callbacks and absent components, for every callback of the real app.

Dash skips a callback whose outputs are all absent from the page, and one whose inputs are all absent; a
callback that fires with some of its inputs, states or outputs absent is a console error. So while one view is
mounted, every callback must be wholly present or silent. This checks that for each view, from the app's own
callback map and the layouts the router mounts, so a card that moves between views cannot break another.
"""
from __future__ import annotations

import json

import pytest
from dash import html

from app import ids, views
from app.main import create_app, layout

# Components a callback draws inside another component's children, by the container they live in.
INSIDE = {ids.EXPLAIN_PROBS: ids.EXPLAIN, ids.EXPLAIN_HIDDEN: ids.EXPLAIN,
          ids.EXPLAIN_UNITS: ids.EXPLAIN, ids.OWN_PROBS: ids.OWN_RESULT, ids.OWN_HIDDEN: ids.OWN_RESULT,
          ids.OWN_UNITS: ids.OWN_RESULT}


def component_ids(node) -> set:
    found = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        if not hasattr(item, "to_plotly_json"):
            continue
        cid = getattr(item, "id", None)
        if isinstance(cid, str):
            found.add(cid)
        children = getattr(item, "children", None)
        if children is not None:
            stack.append(children)
    return found


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from models.config import Settings
    root = tmp_path_factory.mktemp("views")
    return create_app(Settings(data_dir=root / "data", model_dir=root / "models", offline=True))


def shell_ids() -> set:
    page = layout()
    body = next(c for c in page.children if getattr(c, "id", None) == ids.VIEW_BODY)
    body.children = []
    return component_ids(page)


def parts(key: str, spec: list) -> list:
    return [(s["id"] if isinstance(s["id"], str) else json.dumps(s["id"], sort_keys=True)) for s in spec]


def outputs(key: str) -> list[str]:
    return [part.rsplit(".", 1)[0].split("@")[0] for part in key.strip(".").split("...")]


@pytest.mark.parametrize("view", views.VIEWS, ids=lambda v: v.name)
def test_every_callback_is_wholly_present_or_silent_in_each_view(app, view):
    present = shell_ids() | component_ids(views.body(view, {}))
    present |= {inner for inner, outer in INSIDE.items() if outer in present}
    broken = []
    for key, cb in app.callback_map.items():
        outs = outputs(key)
        singles = [s for s in parts(key, cb["inputs"]) if not s.startswith("{")]
        states = [s for s in parts(key, cb["state"]) if not s.startswith("{")]
        single_outs = [o for o in outs if not o.startswith("{")]
        if singles and not any(s in present for s in singles):
            continue  # every input absent: Dash skips it
        if single_outs and not any(o in present for o in single_outs):
            continue  # every output absent: Dash does not call it
        missing = [c for c in singles + states + single_outs if c not in present]
        if missing:
            broken.append(f"{key[:80]} misses {missing}")
    assert not broken, "\n".join(broken)


def test_each_view_mounts_only_its_own_cards():
    mounted = {v.name: component_ids(views.body(v, {})) for v in views.VIEWS}
    assert ids.CONFUSION in mounted["core"] and ids.WEIGHTS in mounted["core"]
    assert ids.EMBEDDING in mounted["layers"] and ids.EXPLAIN_NEAREST in mounted["layers"]
    assert ids.LADDER_GRAPH in mounted["training"] and ids.COMPARE_GRAPH in mounted["training"]
    assert ids.TABLE in mounted["predictions"] and ids.GALLERY in mounted["predictions"]
    for name, found in mounted.items():
        others = set().union(*(m for n, m in mounted.items() if n != name))
        if name != "core":
            assert ids.CONFUSION not in found and ids.WEIGHTS not in found
        if name != "layers":
            assert ids.EMBEDDING not in found and ids.EXPLAIN_NEAREST not in found
        assert found - others, f"the {name} view has nothing of its own"


def test_a_path_and_a_referrer_pick_the_view():
    assert views.find("/layers").name == "layers"
    assert views.find("/nowhere").name == "core" and views.find(None).name == "core"
    view, wanted, built = views.from_referrer("http://127.0.0.1:8050/predictions?dataset=cifar10&seed=7")
    assert view.name == "predictions" and wanted == {"dataset": "cifar10", "seed": 7}
    assert built == "/predictions?dataset=cifar10&seed=7"  # as the page's location reports it
    assert views.from_referrer(None)[0].name == "core"
    assert views.from_referrer("x" * 3000)[0].name == "core"


def test_the_router_mounts_a_new_view_with_the_address_and_leaves_the_same_view_alone(app):
    route = app.lookinside_callbacks["route"]
    children, path = route({"path": "/layers", "search": "?sort=margin"}, "/")
    assert path == "/layers"
    radio = [c for c in _walk(children) if getattr(c, "id", None) == ids.SAMPLES_SORT]
    assert radio and radio[0].value == "margin"
    assert route({"path": "/layers", "search": "?sort=true"}, "/layers") == (route.__globals__["no_update"],) * 2
    assert route("forged", "/layers")[1] == "/"  # anything else is the first view


def _walk(node):
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from _walk(item)
    elif isinstance(node, html.Div.__mro__[1]) or hasattr(node, "to_plotly_json"):
        yield node
        yield from _walk(getattr(node, "children", None) or [])
