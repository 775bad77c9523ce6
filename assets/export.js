// The confusion heatmap as a PNG or SVG file, drawn by plotly in the browser from the figure on screen.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  lookinside_export: {
    heatmapImage: function (pngClicks, svgClicks, view) {
      const triggered = (window.dash_clientside.callback_context.triggered || [])[0];
      if (!triggered || !triggered.value) return window.dash_clientside.no_update;
      const format = triggered.prop_id.startsWith("confusion-svg") ? "svg" : "png";
      const graph = document.querySelector("#confusion-graph .js-plotly-plot");
      if (graph && window.Plotly) {
        window.Plotly.downloadImage(graph, {
          format: format, filename: [view && view.dataset, view && view.network, "confusion"].filter(Boolean).join("-"),
          width: graph.offsetWidth || 800, height: graph.offsetHeight || 700,
        });
      }
      return window.dash_clientside.no_update;
    },
  },
});
