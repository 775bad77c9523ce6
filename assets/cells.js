// Selecting a heatmap cell happens here, in the browser: a click sets the selected-cell store at once,
// and the one server request a click costs is for the cell's images. The same rules as before it
// moved here: the address names a cell (a shared link, back/forward), a new dataset clears it, another
// network of the same dataset keeps it, and a click off the grid (the margins) changes nothing.
(function () {
  const CELL = /^(\d{1,7})-(\d{1,7})$/;
  const SELECTED = "selected-cell"; // the outline's name among the heatmap's shapes (app/figures.py)

  // A {"actual", "predicted"} pair inside a k x k matrix, or null.
  function parseCell(actual, predicted, k) {
    return Number.isInteger(actual) && Number.isInteger(predicted) && actual >= 0 && predicted >= 0 &&
      actual < k && predicted < k ? {actual: actual, predicted: predicted} : null;
  }

  // The cell the address names, as app/panels/address.py reads it (the last "cell=" wins).
  function fromAddress(search, k) {
    if (typeof search !== "string" || search.length > 500) return null;
    const found = new URLSearchParams(search).getAll("cell");
    const match = found.length ? CELL.exec(found[found.length - 1]) : null;
    return match ? parseCell(Number(match[1]), Number(match[2]), k) : null;
  }

  // dcc.Graph reports a heatmap point by its axis labels; the margins' labels are not classes.
  function fromClick(click, names) {
    const point = click && Array.isArray(click.points) ? click.points[0] : null;
    if (!point || point.x === undefined || point.y === undefined) return null;
    return parseCell(names.indexOf(String(point.y)), names.indexOf(String(point.x)), names.length);
  }

  function same(a, b) {
    return a === b || (a && b && a.actual === b.actual && a.predicted === b.predicted);
  }

  // What the selected-cell store becomes, given the ids that triggered the callback (undefined: unchanged).
  function choose(triggers, click, dataset, search, current, classes) {
    const names = classes && Object.prototype.hasOwnProperty.call(classes, dataset) ? classes[dataset] : null;
    if (triggers.has("url")) {
      const cell = names ? fromAddress(search, names.length) : null;
      return same(cell, current) ? undefined : cell;
    }
    if (triggers.has("dataset-dropdown")) return null; // the old cell means nothing there
    if (!triggers.has("confusion-graph") || !names) return undefined;
    return fromClick(click, names) || undefined;
  }

  window.lookinsideCells = {choose: choose};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_cells: {
      selectCell: function (dataset, search, current, classes) {
        const triggered = window.dash_clientside.callback_context.triggered || [];
        const triggers = new Set(triggered.map(function (t) { return t.prop_id.split(".")[0]; }));
        const found = choose(triggers, null, dataset, search, current, classes);
        return found === undefined ? window.dash_clientside.no_update : found;
      },
      clickCell: function (click, current, classes, dataset) {
        const found = choose(new Set(["confusion-graph"]), click, dataset, null, current, classes);
        return found === undefined || same(found, current) ? window.dash_clientside.no_update : found;
      },
      // The selected cell's outline, moved in the figure on screen (app/figures.py with_selection draws
      // the same one on the server). Only the layout's shapes change: Plotly redraws them alone.
      outline: function (cell, figure) {
        if (!figure || !figure.layout || !Array.isArray(figure.data) ||
            !figure.data.some(function (t) { return t.type === "heatmap"; })) {
          return window.dash_clientside.no_update;
        }
        const shapes = (figure.layout.shapes || []).filter(function (s) { return s.name !== SELECTED; });
        if (cell && Number.isInteger(cell.actual) && Number.isInteger(cell.predicted)) {
          const i = cell.actual, j = cell.predicted;
          shapes.push({type: "rect", name: SELECTED, x0: j - 0.5, x1: j + 0.5, y0: i - 0.5, y1: i + 0.5, xref: "x",
                       yref: "y", line: {color: "#111", width: 3}, fillcolor: "rgba(0,0,0,0)"});
        }
        return Object.assign({}, figure, {layout: Object.assign({}, figure.layout, {shapes: shapes})});
      },
    },
  });
})();
