// The weights card, drawn here in the browser from the data the server sends once per network, colour map
// and page (app/panels/weights.py `_panel`): its notes, tile grids, and the charts of the deeper weights.
// A selected cell marks its two classes: the class templates get an outline and a role (the others fade),
// the output-weight bars of the two classes stay vivid under bold titles, and the output-weight matrix
// outlines their rows. The units switched off are marked on their switches, and a click on a switch writes
// the units store from here. So neither a cell click nor a switch asks the server anything for this card.
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
  // The card mounts with them as the address says (app/panels/weights.py `colormap_of`, the same rule).
  function colours(options, colourSets, fired, dataset, changed, current) {
    const colour = colourSets.indexOf(dataset) >= 0;
    const offered = options.map(function (o) { return o.value === "rgb" ? Object.assign({}, o, {disabled: !colour}) : o; });
    const here = fired.has("state-address") ? (changed && changed.search) : null;
    let wanted = null;
    if (typeof here === "string" && here.length <= 500) {
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

  // Whether a chart is drawn yet (Plotly.react may finish after the call that starts it).
  function drawn(gd) { return !!(gd && gd._fullLayout && gd.data && window.Plotly); }

  function bars(card, marked, names) {
    const gd = card.querySelector("#weights-bars");
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
    let done = true;
    card.querySelectorAll(".weights-matrix").forEach(function (gd) {
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

  // The card's elements, from its data: set as properties, never as HTML.
  const IMAGE = /^data:image\/png;base64,[A-Za-z0-9+\/=]*$/;

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined && text !== null) made.textContent = String(text);
    return made;
  }

  function tile(entry) {
    if (!entry || typeof entry.src !== "string" || !IMAGE.test(entry.src)) return null;
    const figure = element("figure", "weight-tile");
    if (Number.isInteger(entry.class)) figure.dataset.class = String(entry.class);
    const img = element("img", "weight-img");
    img.src = entry.src;
    img.alt = "weights of " + entry.label;
    const caption = element("figcaption", null, entry.label);
    if (Number.isInteger(entry.class)) caption.append(element("span", "role"));
    figure.append(img, caption);
    if (typeof entry.inspect === "string" && /^\d+\.\d+$/.test(entry.inspect)) {
      // Opens the unit view on this unit (assets/views.js moves there without reloading the page).
      const link = element("a", "unit-link", "inside");
      link.setAttribute("data-path", "/layers");
      link.setAttribute("data-unit", entry.inspect);
      link.href = "/layers" + (window.lookinsideViews ? window.lookinsideViews.withKeys(
        window.lookinsideAddress ? window.lookinsideAddress.query() : window.location.search,
        {unit: entry.inspect}) : "?unit=" + entry.inspect);
      link.title = "What makes it fire: its top images, its classes, the input that drives it hardest";
      figure.append(link);
    }
    if (Number.isInteger(entry.unit)) {
      const button = element("button", "unit-toggle", "on");
      button.type = "button";
      button.dataset.unit = String(entry.unit);
      button.title = "Switch unit " + (entry.unit + 1) + " off";
      figure.append(button);
    }
    return figure;
  }

  // A chart's box; Plotly draws into it once it is in the page, where it can measure its width.
  function chart(part) {
    const box = element("div", part.graph === "bars" ? "weights-bars" : "weights-matrix");
    if (part.graph === "bars") box.id = "weights-bars";
    return [box, part.figure || {}];
  }

  function draw(box, data) {
    const made = [], charts = [];
    if (!data || typeof data !== "object") {
      made.push(element("p", "hint", "Loading…"));
    } else if (typeof data.message === "string") {
      made.push(element("p", "hint", data.message));
    } else {
      (Array.isArray(data.notes) ? data.notes : []).forEach(function (note, i) {
        made.push(element("p", i === 0 ? "explain" : "hint", note));
      });
      (Array.isArray(data.parts) ? data.parts : []).forEach(function (part) {
        if (!part || typeof part !== "object") return;
        if (part.title) made.push(element("h3", "sub", part.title));
        if (part.note) made.push(element("p", "hint", part.note));
        if (Array.isArray(part.tiles)) {
          const grid = element("div", part.small ? "weight-grid small" : "weight-grid");
          if (part.scale && typeof part.scale.value === "number" && SCALES[part.scale.mode]) {
            grid.dataset.scale = String(part.scale.value);
            grid.dataset.mode = part.scale.mode;
          }
          grid.append.apply(grid, part.tiles.map(tile).filter(Boolean));
          made.push(grid);
        } else if ((part.graph === "bars" || part.graph === "matrix") && window.Plotly) {
          const c = chart(part);
          charts.push(c);
          made.push(c[0]);
        }
      });
    }
    if (window.Plotly) box.querySelectorAll(".js-plotly-plot").forEach(function (gd) { window.Plotly.purge(gd); });
    box.replaceChildren.apply(box, made);
    charts.forEach(function (c) {
      window.Plotly.react(c[0], c[1].data || [], c[1].layout || {}, {displayModeBar: false, responsive: true});
    });
    box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1);  // which drawing is on screen
  }

  // The units switched off in the network on screen (none for another network's store).
  function unitsOff(off, data) {
    if (!off || !data || off.network !== data.network || !Array.isArray(off.units)) return [];
    return off.units.filter(function (u) { return Number.isInteger(u) && u >= 0 && u < (data.switches || 0); });
  }

  function switches(card, units) {
    card.querySelectorAll(".unit-toggle").forEach(function (button) {
      const unit = Number(button.dataset.unit);
      const off = units.indexOf(unit) >= 0;
      button.classList.toggle("off", off);
      button.textContent = off ? "off" : "on";
      button.title = "Switch unit " + (unit + 1) + (off ? " back on" : " off");
    });
  }

  // What the card shows now, for a switch's click to start from.
  const shown = {data: null, off: null};

  // A unit's switch: the units store, with that unit flipped (the server checks the store again wherever it
  // reads it, app/moves.py `units_off`).
  function flipped(off, data, unit) {
    if (!data || !Number.isInteger(unit) || unit < 0 || unit >= (data.switches || 0)) return undefined;
    const units = unitsOff(off, data);
    const next = units.indexOf(unit) >= 0 ? units.filter(function (u) { return u !== unit; }) : units.concat([unit]);
    next.sort(function (a, b) { return a - b; });
    return next.length ? {network: data.network, units: next} : null;
  }

  // A tile opened large (click it): at least 8 times its size, pixelated, with the colour map's scale bar where
  // the tiles share one scale. Esc, the button or a click beside it closes it.
  const SCALES = {
    diverging: ["linear-gradient(90deg, rgb(179,88,6), rgb(241,163,64), rgb(247,247,247), rgb(153,142,195), rgb(84,39,136))",
                "orange lowers the score, purple raises it"],
    grayscale: ["linear-gradient(90deg, #000, #808080, #fff)", "black lowers the score, white raises it"],
    rgb: ["linear-gradient(90deg, #000, #808080, #fff)", "each colour channel: dark lowers the score, bright raises it"],
  };

  function number(v) { return Math.abs(v) >= 0.01 ? v.toFixed(3) : v.toExponential(1); }

  function zoom(img) {
    const figure = img.closest(".weight-tile"), grid = img.closest(".weight-grid");
    let dialog = document.getElementById("weight-zoom");
    if (!dialog) {
      dialog = element("dialog", "weight-zoom");
      dialog.id = "weight-zoom";
      dialog.addEventListener("click", function (e) { if (e.target === dialog) dialog.close(); });
      document.body.append(dialog);
    }
    const side = Math.max(8 * (img.naturalWidth || 28), 256);
    const big = element("img", "weight-zoom-img");
    big.src = img.src;
    big.alt = img.alt;
    big.style.width = "min(" + side + "px, 80vw, 70vh)";
    const caption = figure ? figure.querySelector("figcaption") : null;
    const made = [element("h3", "sub", "Weights of " + (caption ? caption.firstChild.textContent : img.alt)), big];
    const scale = grid ? Number(grid.dataset.scale) : NaN, look = grid ? SCALES[grid.dataset.mode] : null;
    if (look && isFinite(scale)) {
      const bar = element("div", "scale-bar");
      bar.style.background = look[0];
      const ticks = element("div", "scale-ticks");
      ticks.append(element("span", null, "−" + number(scale)), element("span", null, "0"),
                   element("span", null, "+" + number(scale)));
      made.push(bar, ticks, element("p", "hint", "Weight per pixel: " + look[1] + ". The ends are the 99th " +
                                    "percentile of |w| over all tiles; larger weights are drawn at the ends."));
    } else {
      made.push(element("p", "hint", "Stretched to its own range, so that its pattern shows."));
    }
    const close = element("button", "link-button", "Close");
    close.type = "button";
    close.addEventListener("click", function () { dialog.close(); });
    made.push(close);
    dialog.replaceChildren.apply(dialog, made);
    if (!dialog.open) dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    const picture = event.target instanceof Element ? event.target.closest("#weights-panel .weight-img") : null;
    if (picture) zoom(picture);
  });

  document.addEventListener("click", function (event) {
    const target = event.target instanceof Element ? event.target.closest("#weights-panel .unit-toggle") : null;
    if (!target) return;
    const found = flipped(shown.off, shown.data, Number(target.dataset.unit));
    if (found !== undefined) window.dash_clientside.set_props("state-units-off", {data: found});
  });

  let pending = null; // the retry of an earlier marking, cancelled by a newer one

  window.lookinsideWeights = {colours: colours, flipped: flipped};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_weights: {
      draw: function (data, cell, off, dataset, classes) {
        const card = document.querySelector(".card-weights");
        const box = document.getElementById("weights-panel");
        if (!card || !box) return window.dash_clientside.no_update;
        const triggered = (window.dash_clientside.callback_context.triggered || []).map(function (t) { return t.prop_id; });
        if (box.dataset.drawn === undefined || triggered.indexOf("state-weights.data") >= 0) draw(box, data);
        shown.data = data;
        shown.off = off;
        switches(card, unitsOff(off, data));
        const names = classes && Object.prototype.hasOwnProperty.call(classes, dataset) ? classes[dataset] : [];
        const marked = roles(cell, names.length);
        clearTimeout(pending);
        let tries = 0;
        const apply = function () {  // once Plotly has drawn the charts
          tiles(card, marked);
          const done = [bars(card, marked, names), matrix(card, marked, names)].every(Boolean);
          if (!done && ++tries < 50) pending = setTimeout(apply, 60);
        };
        apply();
        return window.dash_clientside.no_update;
      },
    },
  });
})();
