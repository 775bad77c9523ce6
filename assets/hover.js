// The heatmap's hover tooltip: the cell's counts and its top images, most confident first, as the
// chapter's demo shows them. Built in the browser from what the hover reports; the images are one small
// strip per cell (app/strips.py), an image address the browser caches, so hovering across the grid
// sends no callback at all.
(function () {
  function el(type, props) {
    return {type: type, namespace: "dash_html_components", props: props};
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_hover: {
      cellTip: function (hover, view, figure) {
        const none = window.dash_clientside.no_update;
        const point = hover && hover.points && hover.points[0];
        // dcc.Graph drops a heatmap's customdata from hover events: find the cell's in the figure.
        const trace = point && figure && figure.data && figure.data[point.curveNumber];
        let cell = null;
        if (trace && Array.isArray(trace.x) && Array.isArray(trace.y) && Array.isArray(trace.customdata)) {
          const row = trace.customdata[trace.y.indexOf(point.y)];
          cell = Array.isArray(row) ? row[trace.x.indexOf(point.x)] : null;
        }
        if (!view || view.status !== "ready" || !Array.isArray(cell) || cell[0] === null || cell[0] === undefined) {
          return [false, none, none]; // off the grid, or on the recall and precision margins
        }
        const count = Number(cell[2]);
        const head = el("Div", {className: "tip-head", children: [
          "actual ", el("B", {children: String(point.y)}), ", predicted ", el("B", {children: String(point.x)}),
          ": " + count + " image" + (count === 1 ? "" : "s") + " (" + cell[3] + "% of actual " + point.y + ")"]});
        if (count === 0) return [true, point.bbox, [head]];
        // The network on screen (the view store), at its timeline position.
        let src = "/strip/" + encodeURIComponent(view.dataset) + "/" + encodeURIComponent(view.network) + "/" +
          cell[0] + "-" + cell[1] + ".png";
        const params = [];
        if (view.checkpoint) params.push("c=" + encodeURIComponent(view.checkpoint));
        if (Number.isInteger(view.position)) params.push("t=" + view.position);
        if (params.length) src += "?" + params.join("&");
        const shown = Math.min(count, 6);
        return [true, point.bbox, [
          head,
          el("Img", {src: src, className: "tip-strip", alt: "the cell's " + shown + " most confident images"}),
          el("Div", {className: "tip-note", children: "most confident first; click the cell for all of them"})]];
      },
    },
  });
})();
