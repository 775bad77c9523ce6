// Which test image is explained, chosen in the browser: a click on an image tile, a new cell (none), or the
// address (a shared link, back and forward). The map's points and the table's rows write the same store
// from their own cards. The rules are app/panels/address.py's: the last "sample=" wins, up to 7 digits,
// below 1,000,000.
(function () {
  const SAMPLE = /^\d{1,7}$/;

  function fromAddress(search) {
    if (typeof search !== "string" || search.length > 500) return null;
    const found = new URLSearchParams(search).getAll("sample");
    const value = found.length ? found[found.length - 1] : "";
    return SAMPLE.test(value) && Number(value) < 1000000 ? Number(value) : null;
  }

  // The index of a tile whose click fired the callback, or null (tiles that just appeared have no clicks).
  function clickedTile(triggered) {
    for (const t of triggered) {
      const dot = t.prop_id.lastIndexOf(".");
      const id = t.prop_id.slice(0, dot);
      if (!t.value || id.charAt(0) !== "{") continue;
      let parsed = null;
      try { parsed = JSON.parse(id); } catch (e) { continue; }
      if (parsed && Number.isInteger(parsed.index) && parsed.index >= 0 && parsed.index < 1000000) return parsed.index;
    }
    return null;
  }

  function choose(triggered, search, current) {
    const fired = new Set(triggered.map(function (t) { return t.prop_id.split(".")[0]; }));
    if (fired.has("url")) {
      const index = fromAddress(search);
      return index === current || (index === null && current === undefined) ? undefined : index;
    }
    if (fired.has("state-cell")) return current === null || current === undefined ? undefined : null;
    const tile = clickedTile(triggered);
    return tile === null ? undefined : tile;
  }

  function marks(selected, tiles) {
    return (Array.isArray(tiles) ? tiles : []).map(function (t) {
      return t && t.index === selected ? "tile selected" : "tile";
    });
  }

  // A cell's tiles, drawn from the data the server sent ([index, image, value, title] each): buttons whose
  // image and caption the stylesheet lays out. Set as properties, never as HTML.
  const IMAGE = /^data:image\/png;base64,[A-Za-z0-9+\/=]*$/;

  function tile(entry, selected) {
    if (!Array.isArray(entry) || entry.length !== 4) return null;
    const [index, src, shown, title] = entry;
    if (!Number.isInteger(index) || index < 0 || typeof src !== "string" || !IMAGE.test(src)) return null;
    const button = document.createElement("button");
    button.type = "button";
    button.className = index === selected ? "tile selected" : "tile";
    button.title = String(title);
    button.dataset.caption = "#" + index;
    button.dataset.index = String(index);
    const img = document.createElement("img");
    img.className = "tile-img";
    img.src = src;
    img.alt = "test image " + index;
    img.dataset.index = String(index);
    button.append(img, String(shown));
    return button;
  }

  function draw(box, tiles, selected) {
    const made = (Array.isArray(tiles) ? tiles : []).map(function (t) { return tile(t, selected); });
    box.replaceChildren.apply(box, made.filter(Boolean));
    box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1); // which drawing is on screen
  }

  function mark(box, selected) {
    box.querySelectorAll(".tile").forEach(function (t) {
      t.classList.toggle("selected", Number(t.dataset.index) === selected);
    });
  }

  // A click on a tile explains its image: one listener for every tile the page will ever draw.
  document.addEventListener("click", function (event) {
    const target = event.target instanceof Element ? event.target.closest("#sample-tiles .tile") : null;
    if (!target || target.classList.contains("selected")) return;
    const index = Number(target.dataset.index);
    if (Number.isInteger(index) && index >= 0) window.dash_clientside.set_props("state-sample", {data: index});
  });

  window.lookinsideSamples = {choose: choose, fromAddress: fromAddress};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_samples: {
      selectSample: function (suspects, cell, search, gallery, data, current) {
        const triggered = window.dash_clientside.callback_context.triggered || [];
        const found = choose(triggered, search, current);
        return found === undefined ? window.dash_clientside.no_update : found;
      },
      markSelected: function (selected, suspects, gallery) {
        return [marks(selected, suspects), marks(selected, gallery)];
      },
      tiles: function (data, selected) {
        const box = document.getElementById("sample-tiles");
        if (box) {
          const triggered = window.dash_clientside.callback_context.triggered || [];
          const byData = !triggered.length || triggered.some(function (t) { return t.prop_id === "state-tiles.data"; });
          if (byData) draw(box, data, selected); else mark(box, selected);
        }
        return window.dash_clientside.no_update;
      },
    },
  });
})();
