"""HTML elements as the JSON Dash sends for them, for lists long enough that building components shows.

A `dash.html` component validates every keyword when it is built and walks all of its ~60 prop
names when it is serialised: about 40 µs per component. A cell's 24 image tiles are 96 of them,
1.5 ms of a 2 ms request; the same tiles as plain dicts take 0.2 ms. The page cannot tell the
difference, because this is the form Dash's own `to_plotly_json` gives (tests/test_elements.py
checks each use against Dash's serialisation of the same components).
"""
from __future__ import annotations

NAMESPACE = "dash_html_components"


def element(tag: str, children=None, **props) -> dict:
    """`getattr(dash.html, tag)(children, **props)` as sent to the page; data-* props by their name."""
    return {"type": tag, "namespace": NAMESPACE, "props": {"children": children, **props}}
