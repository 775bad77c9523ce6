"""A table of every prediction: the test images as rows, sorted, filtered and paged on the server
(dash-ag-grid's infinite row model), so the browser only ever holds the page on screen. A row opens its
explanation; a filter lights up its rows on the map."""
from __future__ import annotations

import json
import math
from typing import Optional

import dash_ag_grid as dag
import numpy as np
import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update

from models.suspects import likely_label_errors

from .. import ids
from ..service import Service, View

PAGE = 50
MAX_BLOCK = 200  # rows one request may ask for
NUMBER = "agNumberColumnFilter"
TEXT = "agTextColumnFilter"
NUMBER_OPTIONS = {"filterOptions": ["lessThan", "greaterThan", "inRange", "equals", "notEqual",
                                    "lessThanOrEqual", "greaterThanOrEqual"], "maxNumConditions": 1}
TEXT_OPTIONS = {"filterOptions": ["equals", "notEqual", "contains", "startsWith"], "maxNumConditions": 1}


# Numbers are right-aligned in their cells, their heads left-aligned like the others': AG Grid's numericColumn
# also right-aligns the head, which puts its filter icon on the left, against the column before it.
NUMBER_CELL = {"textAlign": "right", "fontVariantNumeric": "tabular-nums"}


def _number(field: str, name: str, digits: int, width: int, tip: str) -> dict:
    return {"field": field, "headerName": name, "filter": NUMBER, "filterParams": NUMBER_OPTIONS, "minWidth": width,
            "flex": 1, "headerTooltip": tip, "cellStyle": NUMBER_CELL,
            "valueFormatter": {"function": f"params.value == null ? '' : d3.format('.{digits}f')(params.value)"}}


COLUMNS = [
    {"field": "index", "headerName": "#", "filter": NUMBER, "filterParams": NUMBER_OPTIONS, "width": 100,
     "headerTooltip": "the test image's index in the dataset", "cellStyle": NUMBER_CELL},
    {"field": "image", "headerName": "image", "cellRenderer": "TestImage", "sortable": False, "filter": False,
     "width": 84},
    {"field": "true", "headerName": "true class", "filter": TEXT, "filterParams": TEXT_OPTIONS, "minWidth": 130,
     "flex": 1},
    {"field": "predicted", "headerName": "predicted", "filter": TEXT, "filterParams": TEXT_OPTIONS, "minWidth": 130,
     "flex": 1},
    {"field": "correct", "headerName": "right?", "filter": TEXT, "filterParams": TEXT_OPTIONS, "width": 100,
     "headerTooltip": "no for a mistake: filter it to list the mistakes"},
    _number("p_pred", "p(predicted) %", 1, 170, "the probability of the predicted class, in percent"),
    _number("p_true", "p(true) %", 1, 120, "the probability of the true class, in percent"),
    _number("margin", "margin", 1, 110, "top probability minus the runner-up's, in percentage points"),
    _number("loss", "loss", 3, 100, "cross-entropy: −ln p(true)"),
    {"field": "label_error", "headerName": "likely label error", "filter": TEXT, "filterParams": TEXT_OPTIONS,
     "minWidth": 170, "flex": 1, "headerTooltip": "yes when every trained network of this dataset confidently "
                                                  "agrees on another class (the label-errors card)"},
]
FIELDS = {c["field"]: c for c in COLUMNS}
FILTER_TYPES = {NUMBER: "number", TEXT: "text"}  # the filterType the grid sends for each column's filter


def layout() -> html.Section:
    return html.Section(className="card card-table", children=[
        html.H2("Every prediction"),
        html.P(className="explain", children=(
            "Every test image of the network on screen, one row each. Sort by a column's head, filter with "
            "its menu (e.g. p(true) below 10, or predicted equals 7); the rows a filter keeps light up on the map. "
            "Click a row to see why the network said what it did (right? equals no lists the mistakes).")),
        html.Div(id=ids.TABLE_NOTE, className="status"),
        dag.AgGrid(id=ids.TABLE, className="ag-theme-alpine predictions-grid", columnDefs=COLUMNS,
                   rowModelType="infinite", getRowId="params.data.id",
                   defaultColDef={"sortable": True, "resizable": True, "floatingFilter": False},
                   dashGridOptions={"pagination": True, "paginationPageSize": PAGE, "cacheBlockSize": PAGE,
                                    "maxBlocksInCache": 20, "rowHeight": 40, "tooltipShowDelay": 300,
                                    "paginationPageSizeSelector": False, "animateRows": False}),
        dcc.Store(id=ids.TABLE_SINK),
    ])


def frame(service: Service, view: View) -> pd.DataFrame:
    """One row per test image of the network on screen (cached per checkpoint)."""
    return service.cached(view, "table", (), lambda: _frame(service, view))


def _frame(service: Service, view: View) -> pd.DataFrame:
    ev = view.evaluation
    n = ev.n
    rows = np.arange(n)
    p_true = ev.probs[rows, ev.labels]
    top2 = np.sort(ev.probs, axis=1)[:, -2:]
    classes = np.asarray(ev.classes, dtype=object)
    suspects = {s.index for s in _label_errors(service, view)}
    return pd.DataFrame({
        "index": rows,
        "true": classes[ev.labels], "predicted": classes[ev.preds],
        "correct": np.where(ev.labels == ev.preds, "yes", "no"),
        "p_pred": 100 * ev.confidence.astype(np.float64), "p_true": 100 * p_true.astype(np.float64),
        "margin": 100 * (top2[:, 1] - top2[:, 0]).astype(np.float64),
        "loss": -np.log(np.clip(p_true.astype(np.float64), 1e-12, None)),
        "label_error": np.where(np.isin(rows, list(suspects)), "yes", "no"),
    })


def _label_errors(service: Service, view: View) -> list:
    """The label-errors card's rule over the same networks (the served ones), so the column and the card agree."""
    evaluations = [ev for _, ev in service.evaluated(view.checkpoint.dataset)]
    if not evaluations:
        return []
    key = (view.checkpoint.dataset, "label-errors", tuple(ev.checkpoint_id for ev in evaluations))
    return service.cache.get(key, lambda: likely_label_errors(evaluations[0].labels, [ev.probs for ev in evaluations]))


def _condition(column: pd.Series, spec: dict) -> Optional[pd.Series]:
    """The rows one column filter keeps, or None for a filter this table does not offer (ignored)."""
    kind, op = spec.get("filterType"), spec.get("type")
    if not isinstance(op, str):
        return None
    if kind == "number":
        value, upper = _finite(spec.get("filter")), _finite(spec.get("filterTo"))
        if value is None or (op == "inRange" and upper is None):
            return None
        ops = {"equals": column == value, "notEqual": column != value, "lessThan": column < value,
               "lessThanOrEqual": column <= value, "greaterThan": column > value,
               "greaterThanOrEqual": column >= value}
        if op == "inRange":
            return (column >= value) & (column <= upper)
        return ops.get(op)
    if kind == "text":
        value = spec.get("filter")
        if not isinstance(value, str) or len(value) > 40:
            return None
        text, value = column.astype(str).str.lower(), value.lower()
        ops = {"equals": lambda: text == value, "notEqual": lambda: text != value,
               "contains": lambda: text.str.contains(value, regex=False),
               "startsWith": lambda: text.str.startswith(value)}
        return ops[op]() if op in ops else None
    return None


def _finite(value) -> Optional[float]:
    """A filter's number as a float; None for anything else: a bool, a string, infinity, or a JSON integer
    too large for a float (10**400)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def filtered(df: pd.DataFrame, model) -> pd.DataFrame:
    """The rows a grid's filter model keeps (malformed or unknown filters are ignored)."""
    if not isinstance(model, dict):
        return df
    keep = pd.Series(True, index=df.index)
    for field, spec in list(model.items())[:len(FIELDS)]:
        # A column keeps its own kind of filter: "less than 3" of a class name would compare a string with a number.
        kind = FILTER_TYPES.get(FIELDS[field]["filter"]) if field in FIELDS else None
        if kind is None or not isinstance(spec, dict) or spec.get("filterType") != kind:
            continue
        found = _condition(df[field], spec)
        if found is not None:
            keep &= found
    return df[keep]


def ordered(df: pd.DataFrame, model) -> pd.DataFrame:
    """The rows in a grid's sort model's order; ties by test-set index, so a page is always the same rows."""
    sorts = [s for s in (model if isinstance(model, list) else [])[:3]
             if isinstance(s, dict) and isinstance(s.get("colId"), str) and s["colId"] in FIELDS
             and s["colId"] != "image" and s.get("sort") in ("asc", "desc")]
    if not sorts:
        return df
    by = [s["colId"] for s in sorts] + (["index"] if "index" not in [s["colId"] for s in sorts] else [])
    ascending = [s["sort"] == "asc" for s in sorts] + ([True] if len(by) > len(sorts) else [])
    return df.sort_values(by, ascending=ascending, kind="stable")


def page(df: pd.DataFrame, request, dataset: str) -> dict:
    """The grid's getRowsResponse for one request: the rows from startRow to endRow, and how many there are."""
    request = request if isinstance(request, dict) else {}
    start, end = request.get("startRow"), request.get("endRow")
    start = start if isinstance(start, int) and not isinstance(start, bool) and start >= 0 else 0
    end = end if isinstance(end, int) and not isinstance(end, bool) and end > start else start + PAGE
    end = min(end, start + MAX_BLOCK)
    found = ordered(filtered(df, request.get("filterModel")), request.get("sortModel"))
    rows = found.iloc[start:end].to_dict("records")
    for row in rows:
        row["index"] = int(row["index"])
        row["id"] = str(row["index"])  # the grid's row id, which it wants as a string: a click sends it back
        row["image"] = f"/image/{dataset}/{row['index']}.png"
        for key in ("p_pred", "p_true", "margin", "loss"):
            row[key] = round(float(row[key]), 4)
    return {"rowData": rows, "rowCount": int(len(found))}


def register(app: Dash, service: Service) -> dict:
    @app.callback(Output(ids.TABLE, "getRowsResponse"), Output(ids.STATE_HIGHLIGHT, "data"),
                  Output(ids.TABLE_NOTE, "children"),
                  Input(ids.TABLE, "getRowsRequest"), State(ids.STATE_VIEW, "data"), State(ids.STATE_HIGHLIGHT, "data"))
    def rows(request, store, lit):
        view = service.shown(store)
        if view is None:
            return {"rowData": [], "rowCount": 0}, None, "No network is ready yet."
        df = frame(service, view)
        response = page(df, request, view.checkpoint.dataset)
        model = request.get("filterModel") if isinstance(request, dict) else None
        key = json.dumps(model, sort_keys=True)[:2000] if model else None
        note = f"{response['rowCount']:,} of {len(df):,} test images" + (" match the filter, lit up on the map." if
                                                                          model else ".")
        if key is None:
            return response, (None if lit else no_update), note
        if isinstance(lit, dict) and lit.get("key") == key and lit.get("checkpoint") == view.checkpoint.id:
            return response, no_update, note  # another page of the same filter: the map already shows it
        kept = filtered(df, model)["index"].to_numpy()
        return response, {"indices": kept.tolist(), "key": key, "checkpoint": view.checkpoint.id}, note

    # A new network on screen: the grid drops its pages and asks again (keeping its sort and filter).
    app.clientside_callback(
        """function (store) {
            const api = window.dash_ag_grid && window.dash_ag_grid.getApi ? (function () {
                try { return window.dash_ag_grid.getApi("%s"); } catch (e) { return null; } })() : null;
            if (api && api.purgeInfiniteCache) { api.purgeInfiniteCache(); }
            return window.dash_clientside.no_update;
        }""" % ids.TABLE, Output(ids.TABLE_SINK, "data"), Input(ids.STATE_VIEW, "data"), prevent_initial_call=True)

    # A clicked row opens its explanation: its test-set index (the row's id) becomes the selected image.
    app.clientside_callback(
        """function (clicked) {
            const row = clicked && clicked.rowId;
            return typeof row === "string" && /^[0-9]{1,6}$/.test(row) ? Number(row) : window.dash_clientside.no_update;
        }""", Output(ids.STATE_SAMPLE, "data", allow_duplicate=True), Input(ids.TABLE, "cellClicked"),
        prevent_initial_call=True)

    return {"table_rows": rows}
