// A selected cell marks its two classes in the weights card, here in the browser: the class templates get
// an outline and a role (the others fade), the output-weight bars of the two classes stay vivid under bold
// titles, and the output-weight matrix outlines their rows. The server draws the card once per network and
// colour map, unmarked (app/panels/weights.py), so a cell click sends it nothing.
(function () {
  function roles(cell, k) {
    const found = {};
    if (!cell || !Number.isInteger(cell.actual) || !Number.isInteger(cell.predicted)) return found;
    if (cell.actual === cell.predicted) {
      if (cell.actual < k) found[cell.actual] = "actual = predicted";
      return found;
    }
    if (cell.predicted < k) found[cell.predicted] = "predicted";
    if (cell.actual < k) found[cell.actual] = "actual";
    return found;
  }

  // The colour map's options and value (app/panels/weights.py lists them): the one a link names, unless it
  // is colour on grey data; else colour for colour data, and the signed map instead of colour on grey data.
  function colours(options, colourSets, fired, dataset, changed, current, search) {
    const colour = colourSets.indexOf(dataset) >= 0;
    const offered = options.map(function (o) { return o.value === "rgb" ? Object.assign({}, o, {disabled: !colour}) : o; });
    const mounted = fired.size === 0 || fired.has("");  // the card was just mounted, as the address says
    const byAddress = fired.has("state-address");
    const here = byAddress ? (changed && changed.search) : search;
    let wanted = null;
    if ((byAddress || mounted) && typeof here === "string" && here.length <= 500) {
      const named = new URLSearchParams(here).getAll("colours");
      const last = named.length ? named[named.length - 1] : null;
      wanted = options.some(function (o) { return o.value === last; }) ? last : null;
    }
    if (wanted !== null && !(wanted === "rgb" && !colour)) return [offered, wanted];
    if (colour) return [offered, "rgb"];
    return [offered, current === "rgb" || current === null || current === undefined ? "diverging" : current];
  }

  function tiles(card, marked) {
    const any = Object.keys(marked).length > 0;
    card.querySelectorAll(".weight-tile[data-class]").forEach(function (tile) {
      const role = marked[Number(tile.dataset.class)];
      tile.classList.remove("mark-actual", "mark-predicted", "faded");
      if (role) tile.classList.add("mark-" + role.split(" ")[0]);
      else if (any) tile.classList.add("faded");
      const span = tile.querySelector(".role");
      if (span) span.textContent = role ? " (" + role + ")" : "";
    });
  }

  // Whether a graph is drawn yet (dcc.Graph draws after React mounts it, and loads Plotly on first use).
  function drawn(gd) { return !!(gd && gd._fullLayout && gd.data && window.Plotly); }

  function bars(card, marked, names) {
    const gd = card.querySelector("#weights-bars .js-plotly-plot");
    if (!drawn(gd)) return !card.querySelector("#weights-bars");
    const any = Object.keys(marked).length > 0;
    const opacity = gd.data.map(function (_, c) { return !any || marked[c] ? 1 : 0.3; });
    const update = {};
    (gd.layout.annotations || []).forEach(function (a, c) {
      if (c < names.length) update["annotations[" + c + "].text"] = marked[c] ? "<b>" + names[c] + "</b> (" + marked[c] + ")" : names[c];
    });
    window.Plotly.update(gd, {opacity: opacity}, update);
    return true;
  }

  function matrix(card, marked, names) {
    if (card.querySelectorAll(".weights-matrix").length !== card.querySelectorAll(".weights-matrix .js-plotly-plot").length) {
      return false;
    }
    let done = true;
    card.querySelectorAll(".weights-matrix .js-plotly-plot").forEach(function (gd) {
      if (!drawn(gd)) { done = false; return; }
      const trace = gd.data[0];
      if (!trace || !window.Plotly || !Array.isArray(trace.y) || trace.y.length !== names.length) return;
      const y = names.map(function (n, r) { return marked[r] ? "<b>" + n + "</b> (" + marked[r] + ")" : n; });
      const shapes = Object.keys(marked).map(function (r) {
        return {type: "rect", xref: "paper", x0: 0, x1: 1, yref: "y", y0: Number(r) - 0.5, y1: Number(r) + 0.5,
                line: {color: "#111", width: 2}, fillcolor: "rgba(0,0,0,0)"};
      });
      window.Plotly.update(gd, {y: [y]}, {shapes: shapes});
    });
    return done;
  }

  let pending = null; // the retry of an earlier cell, cancelled by a newer one

  window.lookinsideWeights = {colours: colours};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_weights: {
      mark: function (cell, children, dataset, classes) {
        const names = classes && Object.prototype.hasOwnProperty.call(classes, dataset) ? classes[dataset] : [];
        const marked = roles(cell, names.length);
        // After React has drawn the children this callback was told of, and Plotly its figures.
        clearTimeout(pending);
        let tries = 0;
        const apply = function () {
          const card = document.querySelector(".card-weights");
          if (!card) return;
          tiles(card, marked);
          const done = [bars(card, marked, names), matrix(card, marked, names)].every(Boolean);
          if (!done && ++tries < 50) pending = setTimeout(apply, 60);
        };
        pending = setTimeout(apply, 0);
        return window.dash_clientside.no_update;
      },
    },
  });
})();
