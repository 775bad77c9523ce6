// The network diagram (app/panels/diagram.py): Dash does not follow a <details>'s toggle, so the card's `open`
// is handed to it here; and hovering a pixel of the 1-layer net's grid lights up its input in the unrolled
// column and its edge into the output (the figure's meta says where they are, app/diagram.py).
(function () {
  document.addEventListener("toggle", function (event) {
    const card = event.target;
    if (!(card instanceof Element) || card.id !== "diagram-card") return;
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("diagram-card", {open: card.open});
    }
    // The graph is in the card from the start and keeps its element through every redraw: wire it once opened
    // (nothing watches the page's other changes, which every click makes many of).
    if (card.open) waitAndWire(0);
  }, true);  // toggle does not bubble

  // The graph arrives with the server's first answer after opening; it keeps its element after that.
  function waitAndWire(tries) {
    const gd = document.querySelector("#diagram-graph .js-plotly-plot");
    if (gd && typeof gd.on === "function") { wire(gd); return; }
    if (tries < 100) setTimeout(function () { waitAndWire(tries + 1); }, 150);
  }

  function highlight(gd, input) {
    const meta = gd.layout && gd.layout.meta && gd.layout.meta.diagram;
    if (!meta || meta.kind !== "linear" || !window.Plotly) return;
    const shapes = [];
    if (Number.isInteger(input)) {
      const per = meta.h * meta.w, pixel = input % per, row = Math.floor(pixel / meta.w), col = pixel % meta.w;
      const dy = meta.h / meta.n, y = meta.h - (input + 0.5) * dy;
      const line = {color: "#111", width: 2};
      shapes.push({type: "rect", x0: col, x1: col + 1, y0: meta.h - row - 1, y1: meta.h - row, line: line},
                  {type: "rect", x0: meta.strip[0] - 0.4, x1: meta.strip[1] + 0.4, y0: y - Math.max(dy, 0.12),
                   y1: y + Math.max(dy, 0.12), line: line},
                  {type: "line", x0: meta.strip[1], y0: y, x1: meta.out[0], y1: meta.out[1], line: line});
    }
    window.Plotly.relayout(gd, {shapes: shapes});
  }

  function wire(gd) {
    if (!gd || gd.dataset.diagramWired === "1" || typeof gd.on !== "function") return;
    gd.dataset.diagramWired = "1";
    gd.on("plotly_hover", function (data) {
      const point = data && data.points && data.points[0];
      if (!point || !point.data || ["grid", "column", "pixels"].indexOf(point.data.name) < 0) return;
      const input = Array.isArray(point.customdata) ? point.customdata[0] : point.customdata;
      highlight(gd, Number(input));
    });
    gd.on("plotly_unhover", function () { highlight(gd, null); });
  }

})();
