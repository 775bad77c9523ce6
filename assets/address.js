// Writes the view on screen into the address bar (read back by app/panels/address.py).
// A click sets off a cascade of callbacks; the address is written once it settles (a short
// debounce), as a new history entry. While a page opens or back/forward restores a view, the
// cascade only replaces the current entry, so history never fills with half-restored views;
// a view that already matches the address writes nothing.
(function () {
  const SETTLE_MS = 400;
  let timer = null;
  let restoring = true; // until the first settled write after the page opens or back/forward
  window.addEventListener("popstate", function () {
    restoring = true;
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

  function query(dataset, arch, mode, view, sort, cell, sample, position, last, colours, seed, off) {
    const parts = [];
    const add = (key, value) => parts.push(key + "=" + encodeURIComponent(value));
    if (dataset) add("dataset", dataset);
    if (arch) add("model", arch);
    if (mode && mode !== "counts") add("counts", mode);
    if (view && view !== "numbers") add("view", view);
    if (sort && sort !== "predicted") add("sort", sort);
    if (cell && Number.isInteger(cell.actual) && Number.isInteger(cell.predicted)) {
      add("cell", cell.actual + "-" + cell.predicted);
    }
    if (Number.isInteger(sample)) add("sample", sample);
    if (Number.isInteger(position) && Number.isInteger(last) && position < last) add("t", position);
    // The weights' colour map, where it is not the dataset's own default (colour for CIFAR-10).
    if (colours && colours !== (dataset === "cifar10" ? "rgb" : "diverging")) add("colours", colours);
    if (Number.isInteger(seed) && seed > 0) add("seed", seed);
    // First-layer units switched off, for the network they were switched off in.
    if (off && off.network === arch && Array.isArray(off.units) && off.units.length) add("off", off.units.join("-"));
    return parts.length ? "?" + parts.join("&") : "";
  }

  // A link may name a card to bring into view once the page has loaded (the chapter guide's links do):
  // wait until the card has content, scroll to it once, and leave the page alone after that.
  const SHOW = {heatmap: ".card-confusion", weights: ".card-weights", mistakes: "#mistakes-card",
                data: "#data-card", explain: "#explain-card", samples: ".card-samples"};
  const show = new URLSearchParams(window.location.search).get("show");
  if (SHOW[show]) {
    let tries = 0;
    const look = setInterval(function () {
      const card = document.querySelector(SHOW[show]);
      tries += 1;
      const ready = card && !card.classList.contains("hidden") && !card.querySelector(".hint, ._dash-loading") &&
        card.querySelector("img, .js-plotly-plot .heatmaplayer");
      if (ready || tries > 60) {
        clearInterval(look);
        // Once more after the other cards above have settled their height.
        if (card) setTimeout(function () { card.scrollIntoView({block: "start"}); }, 300);
        if (card) card.scrollIntoView({block: "start"});
      }
    }, 250);
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside: Object.assign({}, (window.dash_clientside || {}).lookinside, {
      writeAddress: function (dataset, arch, mode, view, sort, cell, sample, position, colours, seed, off, last) {
        const wanted = query(dataset, arch, mode, view, sort, cell, sample, position, last, colours, seed, off);
        clearTimeout(timer);
        timer = setTimeout(function () {
          if (wanted !== window.location.search) {
            const url = window.location.pathname + wanted;
            if (restoring) window.history.replaceState(null, "", url);
            else window.history.pushState(null, "", url);
            // No event: the callbacks that read the address must hear only of addresses that come
            // from outside (a link, back/forward), never of this echo of the page's own state,
            // which a click still on its way to the server may already have made stale.
          }
          restoring = false;
        }, SETTLE_MS);
        return window.dash_clientside.no_update;
      },
    }),
  });
})();
