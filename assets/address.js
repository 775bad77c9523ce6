// Writes the view on screen into the address bar (read back by app/panels/address.py).
// Each card that owns some of the address writes its own keys (the shell: dataset, network, cell, image,
// timeline position and units off; the heatmap: counts and view; the cell list: sort; the weights: colours;
// the data card: seed), so a card that is not on screen keeps what the address says for it. A click sets
// off a few callbacks; the address is written once they settle (a short debounce), as a new history entry.
// While a page opens or back/forward restores a view, the writes only replace the current entry, so
// history never fills with half-restored views; a view that already matches the address writes nothing.
(function () {
  const SETTLE_MS = 400;
  const ORDER = ["dataset", "model", "counts", "view", "sort", "cell", "sample", "t", "colours", "split", "class", "seed",
                 "gallery", "off", "unit"];
  let timer = null;
  let restoring = true; // until the first settled write after the page opens or back/forward
  let parts = read(window.location.search);

  function read(search) {
    const found = {};
    const query = new URLSearchParams(search);
    ORDER.forEach(function (key) {
      const all = query.getAll(key);
      if (all.length) found[key] = all[all.length - 1];
    });
    return found;
  }

  function query() {
    const kept = ORDER.filter(function (key) { return parts[key] !== undefined && parts[key] !== null; });
    return kept.length ? "?" + kept.map(function (k) { return k + "=" + encodeURIComponent(parts[k]); }).join("&") : "";
  }

  let moved = false; // whether the address has changed from outside since the page was built
  window.addEventListener("popstate", function () {
    moved = true;
    restoring = true;
    parts = read(window.location.search);
    // A restore that changes nothing on the page writes nothing; do not wait for it forever.
    setTimeout(function () { restoring = false; }, 3000);
    // dcc.Location compares the address with its own copy, which our pushState calls never updated:
    // back to the address the page opened with would look like no change to it. Tell it directly,
    // and tell it all of the address: given the search alone, it found its stale href different
    // from the address bar's and pushed that href, the opening address, as a new entry, which lost
    // the entry Back had just stepped to and every Forward.
    const here = window.location;
    window.dash_clientside.set_props("url", {href: here.href, pathname: here.pathname, search: here.search,
                                             hash: here.hash});
  });

  // Set some keys (a null value removes one) and write the address once the page settles.
  function set(values) {
    Object.keys(values).forEach(function (key) { parts[key] = values[key]; });
    clearTimeout(timer);
    timer = setTimeout(function () {
      const wanted = query();
      if (wanted !== window.location.search) {
        const url = window.location.pathname + wanted;
        if (restoring) window.history.replaceState(null, "", url);
        else window.history.pushState(null, "", url);
        // No event: the callbacks that read the address must hear only of addresses that come
        // from outside (a link, back/forward), never of this echo of the page's own state,
        // which a click still on its way to the server may already have made stale.
      }
      restoring = false;
      if (window.lookinsideViews) window.lookinsideViews.links();
    }, SETTLE_MS);
    return window.dash_clientside.no_update;
  }

  const when = function (ok, value) { return ok ? value : null; };

  // A link may name a card to bring into view once the page has loaded (the chapter guide's links do):
  // wait until the card has content, scroll to it once, and leave the page alone after that.
  const SHOW = {heatmap: ".card-confusion", weights: ".card-weights", mistakes: "#mistakes-card",
                data: "#data-card", explain: "#explain-card", samples: ".card-samples", diagram: "#diagram-card"};
  const show = new URLSearchParams(window.location.search).get("show");
  if (SHOW[show]) {
    let tries = 0;
    const look = setInterval(function () {
      const card = document.querySelector(SHOW[show]);
      tries += 1;
      if (card && card.tagName === "DETAILS" && !card.open) card.open = true;  // a card drawn once it is opened
      const ready = card && !card.classList.contains("hidden") && !card.querySelector(".hint, ._dash-loading") &&
        card.querySelector("img, .js-plotly-plot .heatmaplayer, .js-plotly-plot .scatterlayer .trace");
      if (ready || tries > 60) {
        clearInterval(look);
        // Once more after the other cards above have settled their height.
        if (card) setTimeout(function () { card.scrollIntoView({block: "start"}); }, 300);
        if (card) card.scrollIntoView({block: "start"});
      }
    }, 250);
  }

  window.lookinsideAddress = {query: query, set: set, moved: function () { moved = true; }};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside: Object.assign({}, (window.dash_clientside || {}).lookinside, {
      // The address, for the server's readers of it, once it changed from outside the page (back/forward, a
      // view's tab); the location's first report, of the address the layout was built from, is not news.
      addressChanged: function (path, search, built) {
        if (!moved && built === (path || "") + (search || "")) return window.dash_clientside.no_update;
        moved = true;
        return {path: path || "/", search: search || "", at: Date.now()};
      },
      writeShell: function (dataset, arch, cell, sample, position, off, last) {
        const hasCell = cell && Number.isInteger(cell.actual) && Number.isInteger(cell.predicted);
        return set({
          dataset: dataset || null, model: arch || null,
          cell: when(hasCell, hasCell ? cell.actual + "-" + cell.predicted : null),
          sample: when(Number.isInteger(sample), sample),
          t: when(Number.isInteger(position) && Number.isInteger(last) && position < last, position),
          // First-layer units switched off, for the network they were switched off in, numbered as the page
          // numbers them ("off=1,4": units 1 and 4; app/query.py reads it).
          off: when(off && off.network === arch && Array.isArray(off.units) && off.units.length,
                    off && Array.isArray(off.units) ? off.units.map(function (u) { return u + 1; }).join(",") : null),
        });
      },
      writeHeatmap: function (mode, view) {
        return set({counts: when(mode && mode !== "counts", mode), view: when(view && view !== "numbers", view)});
      },
      writeSort: function (sort) {
        return set({sort: when(sort && sort !== "predicted", sort)});
      },
      // The weights' colour map, where it is not the dataset's own default (colour for those listed).
      writeColours: function (colours, dataset, colourSets) {
        const own = (colourSets || []).indexOf(dataset) >= 0 ? "rgb" : "diverging";
        return set({colours: when(colours && colours !== own, colours)});
      },
      writeSeed: function (seed) {
        return set({seed: when(Number.isInteger(seed) && seed > 0, seed)});
      },
      // The data card's split and class, and the mistakes card's mode, where they are not the defaults.
      writeData: function (split, cls) {
        return set({split: when(split === "train", split), class: when(typeof cls === "string" && /^\d+$/.test(cls), cls)});
      },
      writeGallery: function (mode) {
        return set({gallery: when(mode === "unsure", mode)});
      },
      // The unit view's unit, numbered as the page numbers it ("unit=2.4": layer 2, unit 4).
      writeUnit: function (layer, unit) {
        const ok = /^\d+$/.test(layer || "") && /^\d+$/.test(unit || "");
        return set({unit: ok ? layer + "." + unit : null});
      },
    }),
  });
})();
