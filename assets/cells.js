// Selecting a heatmap cell happens here, in the browser: a click sets the selected-cell store at once,
// and the one server request a click costs is for the cell's images. The same rules as before it
// moved here: the address names a cell (a shared link, back/forward), a new dataset clears it, another
// network of the same dataset keeps it, and a click off the grid (the margins) changes nothing.
(function () {
  const CELL = /^(\d{1,7})-(\d{1,7})$/;

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

  // No cell is null, or undefined in a store the layout left empty.
  function same(a, b) {
    return a === b || (a == null && b == null) || (a && b && a.actual === b.actual && a.predicted === b.predicted);
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

  // The selected cell's outline: a box drawn over the plot from Plotly's own axes, as the keyboard's cursor
  // is (assets/keyboard.js). Moving it costs no redraw of the heatmap; it is drawn again after every redraw
  // (another network, a toggle, a resize), so it always sits on the cell.
  let selected = null;

  // Redraw after each of the graph's redraws; a graph not yet made is watched for.
  function follow(box) {
    const gd = box.querySelector(".js-plotly-plot");
    if (gd && gd.on) {
      if (!gd.__outlined) {
        gd.__outlined = true;
        gd.on("plotly_afterplot", function () { drawOutline(box); });
        requestAnimationFrame(function () { drawOutline(box); });
      }
      return gd;
    }
    if (!box.__watched) {
      box.__watched = new MutationObserver(function () {
        if (box.querySelector(".js-plotly-plot")) {
          box.__watched.disconnect();
          box.__watched = null;
          follow(box);
        }
      });
      box.__watched.observe(box, {childList: true, subtree: true});
    }
    return null;
  }

  // How many classes a drawn heatmap has (its rows, less the precision margin); 0 for any other figure.
  function classCount(gd) {
    const layout = gd && gd._fullLayout;
    const heatmap = gd && Array.isArray(gd._fullData) && gd._fullData.some(function (t) { return t.type === "heatmap"; });
    if (!heatmap || !layout.yaxis) return 0;
    return (layout.yaxis._categories || []).filter(function (c) { return c !== "precision"; }).length;
  }

  // The box `className` over `cell` of the heatmap `gd` in `box` (made on first use), or none if `cell` is null.
  function place(box, gd, className, cell) {
    let mark = box.querySelector("." + className);
    const k = classCount(gd);
    if (!cell || cell.actual >= k || cell.predicted >= k) {
      if (mark) mark.remove();
      return;
    }
    if (!mark) {
      mark = document.createElement("div");
      mark.className = className;
      box.appendChild(mark);
    }
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const w = Math.abs(xa.d2p(1) - xa.d2p(0)), h = Math.abs(ya.d2p(1) - ya.d2p(0));
    const gbox = gd.getBoundingClientRect(), bbox = box.getBoundingClientRect();
    mark.style.left = (gbox.left - bbox.left + xa._offset + xa.d2p(cell.predicted) - w / 2) + "px";
    mark.style.top = (gbox.top - bbox.top + ya._offset + ya.d2p(cell.actual) - h / 2) + "px";
    mark.style.width = w + "px";
    mark.style.height = h + "px";
    mark.dataset.actual = String(cell.actual);
    mark.dataset.predicted = String(cell.predicted);
  }

  function drawOutline(box) {
    place(box, follow(box), "cell-outline", selected);
  }

  window.addEventListener("resize", function () {
    const box = document.getElementById("confusion-keys");
    if (box) drawOutline(box);
  });

  // A new cell ends the map's box or lasso selection (the list shows the cell's images). It is cleared by
  // the same step that writes the cell, so that the cell's one request waits on nothing else.
  let picking = false;  // whether the map's selection is in the store, as its writers last left it

  function unpicked(changed, pick) {
    picking = Array.isArray(pick) && pick.length > 0;
    if (!(changed && picking)) return window.dash_clientside.no_update;
    picking = false;
    return null;
  }

  // The keyboard's Enter selects a cell from the page (assets/keyboard.js): the selection ends there too.
  function selectFromPage(cell) {
    if (picking) window.dash_clientside.set_props("state-map-pick", {data: null});
    picking = false;
    window.dash_clientside.set_props("state-cell", {data: cell});
  }

  window.lookinsideCells = {choose: choose, classCount: classCount, place: place, select: selectFromPage,
                            selected: function () { return selected; },
                            picked: function (made) { picking = made; }};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_cells: {
      selectCell: function (dataset, search, current, classes, pick) {
        const triggered = window.dash_clientside.callback_context.triggered || [];
        const triggers = new Set(triggered.map(function (t) { return t.prop_id.split(".")[0]; }));
        const found = choose(triggers, null, dataset, search, current, classes);
        const changed = found !== undefined && !same(found, current);  // a new dataset with no cell: nothing
        return [changed ? found : window.dash_clientside.no_update, unpicked(changed, pick)];
      },
      clickCell: function (click, current, classes, dataset, pick) {
        const found = choose(new Set(["confusion-graph"]), click, dataset, null, current, classes);
        const changed = found !== undefined && !same(found, current);
        return [changed ? found : window.dash_clientside.no_update, unpicked(changed, pick)];
      },
      // The selected cell's outline (the output is never updated).
      outline: function (cell) {
        selected = cell && Number.isInteger(cell.actual) && Number.isInteger(cell.predicted) ? cell : null;
        const box = document.getElementById("confusion-keys");
        if (box) drawOutline(box);
        return window.dash_clientside.no_update;
      },
    },
  });
})();
