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
      return index === current ? undefined : index;
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

  window.lookinsideSamples = {choose: choose, fromAddress: fromAddress};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_samples: {
      selectSample: function (tiles, suspects, cell, search, gallery, data, current) {
        const triggered = window.dash_clientside.callback_context.triggered || [];
        const found = choose(triggered, search, current);
        return found === undefined ? window.dash_clientside.no_update : found;
      },
      markSelected: function (selected, tiles, suspects, gallery) {
        return [marks(selected, tiles), marks(selected, suspects), marks(selected, gallery)];
      },
    },
  });
})();
