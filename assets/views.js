// Moving between the page's views (app/views.py) without reloading it: a tab's click pushes the view's path
// with the address as it stands, and tells Dash's location, whose router mounts that view. Each tab's href
// carries the address too, so a middle click or "copy link" opens the same view in a new tab.
(function () {
  // The address as the page stands now: what the address writer holds, which may not be in the bar yet (it
  // waits for a click's callbacks to settle), so a tab pressed right after a click keeps that click.
  function here() {
    return window.lookinsideAddress ? window.lookinsideAddress.query() : window.location.search;
  }

  function links() {
    document.querySelectorAll("a.view-link").forEach(function (a) {
      const path = a.getAttribute("data-path") || a.getAttribute("href").split("?")[0];
      a.setAttribute("data-path", path);
      a.setAttribute("href", path + here());
    });
  }

  // The address as it stands with some keys set: a unit's link (a weight tile's "look inside") adds its unit.
  function withKeys(search, keys) {
    const query = new URLSearchParams(search);
    Object.keys(keys || {}).forEach(function (k) { query.set(k, keys[k]); });
    const text = query.toString().replace(/%2C/g, ",");
    return text ? "?" + text : "";
  }

  function go(path, search) {
    window.history.pushState(null, "", path + search);
    if (window.lookinsideAddress) window.lookinsideAddress.moved();
    const loc = window.location;
    window.dash_clientside.set_props("url", {href: loc.href, pathname: loc.pathname, search: loc.search,
                                             hash: loc.hash});
    window.scrollTo(0, 0);
  }

  document.addEventListener("click", function (event) {
    const a = event.target.closest && event.target.closest("a.view-link, a.unit-link, a.unit-link-inline");
    if (!a || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    if (a.hasAttribute("data-unit")) {
      go(a.getAttribute("data-path"), withKeys(here(), {unit: a.getAttribute("data-unit")}));
      return;
    }
    links();
    const path = a.getAttribute("data-path");
    if (path === window.location.pathname) return;
    go(path, here());
  });

  window.lookinsideViews = {
    links: links,
    withKeys: withKeys,
    // The unit view on unit "L.U" (a bar of an explanation's hidden activations), in the layers view.
    openUnit: function (unit) {
      if (typeof unit === "string" && /^\d+\.\d+$/.test(unit)) go("/layers", withKeys(here(), {unit: unit}));
    },
    // The tabs' class names: the view on screen is marked (aria-current tells a screen reader).
    marks: function (path, paths) {
      setTimeout(function () {
        links();
        document.querySelectorAll("a.view-link").forEach(function (a) {
          if (a.getAttribute("data-path") === path) a.setAttribute("aria-current", "page");
          else a.removeAttribute("aria-current");
        });
      }, 0);
      return paths.map(function (p) { return p === path ? "view-link current" : "view-link"; });
    },
  };
})();
