// The map of a layer (app/panels/embedding.py), in the browser: the highlights of a selected cell, of the
// table's filter and of the selected image; the hover card; and the box or lasso selection as test-set
// indices. The server sends the map once per layer; none of these asks it for anything.
(function () {
  const DTYPES = {i1: Int8Array, u1: Uint8Array, i2: Int16Array, u2: Uint16Array, i4: Int32Array,
                  u4: Uint32Array, f4: Float32Array, f8: Float64Array};
  let source = null; // what lights up the map: "cell", "table" or nothing

  // A figure array as Plotly sends numpy arrays ({dtype, bdata}: base64 typed arrays), or a plain array.
  function decode(spec) {
    if (Array.isArray(spec) || ArrayBuffer.isView(spec)) return spec;
    if (!spec || typeof spec.bdata !== "string" || !DTYPES[spec.dtype]) return [];
    const raw = atob(spec.bdata);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new DTYPES[spec.dtype](bytes.buffer);
  }

  function el(type, props) {
    return {type: type, namespace: "dash_html_components", props: props};
  }

  function isMap(figure) {
    return figure && figure.layout && figure.layout.meta && Array.isArray(figure.layout.meta.pred) &&
      Array.isArray(figure.data);
  }

  function triggers() {
    const triggered = window.dash_clientside.callback_context.triggered || [];
    return new Set(triggered.map(function (t) { return t.prop_id.split(".")[0]; }));
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_map: {
      highlight: function (base, cell, rows, sample) {
        if (!isMap(base)) return base || window.dash_clientside.no_update;
        const fired = triggers();
        // A map just drawn (its view mounted, or another layer): light up what is selected now, which may
        // have been chosen while the map was not on screen; the selected cell first.
        if (fired.has("state-embedding-base") || fired.size === 0 || fired.has("")) {
          source = cell ? "cell" : (rows && Array.isArray(rows.indices) ? "table" : null);
        }
        if (fired.has("state-cell")) source = cell ? "cell" : (source === "cell" ? null : source);
        if (fired.has("state-highlight")) {
          source = rows && Array.isArray(rows.indices) ? "table" : (source === "table" ? null : source);
        }
        const meta = base.layout.meta;
        let member = null; // (test-set index, the trace's true class) -> lit up or not
        if (source === "cell" && cell && Number.isInteger(cell.actual) && Number.isInteger(cell.predicted)) {
          member = function (index, actual) {
            return actual === cell.actual && meta.pred[index] === cell.predicted;
          };
        } else if (source === "table" && rows && Array.isArray(rows.indices)) {
          const lit = new Uint8Array(meta.pred.length);
          rows.indices.forEach(function (i) { if (Number.isInteger(i) && i >= 0 && i < lit.length) lit[i] = 1; });
          member = function (index) { return lit[index] === 1; };
        }
        const annotations = [];
        const data = base.data.map(function (trace) {
          const copy = Object.assign({}, trace);
          if (!trace.meta || trace.customdata === undefined) return copy;
          const custom = decode(trace.customdata);
          if (member) {
            const chosen = [];
            for (let k = 0; k < custom.length; k++) {
              if (member(custom[k], trace.meta["class"])) chosen.push(k);
            }
            copy.selectedpoints = chosen;
          }
          if (Number.isInteger(sample)) {
            const at = Array.prototype.indexOf.call(custom, sample);
            if (at >= 0) {
              annotations.push({x: decode(trace.x)[at], y: decode(trace.y)[at], text: "#" + sample, showarrow: true,
                                arrowhead: 2, arrowwidth: 2, arrowcolor: "#111", ax: 34, ay: -34,
                                bgcolor: "#fff", bordercolor: "#111", borderpad: 3, font: {size: 12}});
            }
          }
          return copy;
        });
        const layout = Object.assign({}, base.layout, {annotations: annotations});
        return {data: data, layout: layout};
      },

      tip: function (hover, base) {
        const none = window.dash_clientside.no_update;
        const point = hover && hover.points && hover.points[0];
        const trace = point && isMap(base) ? base.data[point.curveNumber] : null;
        if (!trace || !trace.meta || trace.customdata === undefined) return [false, none, none];
        const index = decode(trace.customdata)[point.pointNumber];
        if (index === undefined) return [false, none, none];
        const meta = base.layout.meta;
        const actual = trace.meta["class"], predicted = meta.pred[index];
        const right = actual === predicted;
        return [true, point.bbox, [
          el("Img", {src: "/image/" + encodeURIComponent(meta.dataset) + "/" + index + ".png",
                     className: "map-tip-img", alt: "test image " + index}),
          el("Div", {className: "map-tip-text", children: [
            el("Div", {className: "tip-head", children: "test image #" + index}),
            el("Div", {children: ["true ", el("B", {children: meta.classes[actual]})]}),
            el("Div", {className: right ? "key-correct" : "key-wrong", children: [
              "predicted ", el("B", {children: meta.classes[predicted]}),
              " (" + (meta.prob[index] / 10).toFixed(1) + "%)" + (right ? "" : ": a mistake")]})]})]];
      },

      // A clicked point opens its explanation: its test-set index becomes the selected image.
      click: function (clicked, base) {
        const point = clicked && clicked.points && clicked.points[0];
        const trace = point && isMap(base) ? base.data[point.curveNumber] : null;
        if (!trace || !trace.meta || trace.customdata === undefined) return window.dash_clientside.no_update;
        const index = decode(trace.customdata)[point.pointNumber];
        return Number.isInteger(index) ? index : window.dash_clientside.no_update;
      },

      // The box or lasso selection as test-set indices (a double-click clears it).
      pick: function (selected, base) {
        const found = picked(selected, base);
        if (window.lookinsideCells) window.lookinsideCells.picked(Array.isArray(found) && found.length > 0);
        return found;
      },
    },
  });

  // The selection's test-set indices (null: none).
  function picked(selected, base) {
    if (!selected || !Array.isArray(selected.points) || !isMap(base)) return null;
    const customs = {};
    const found = [];
    selected.points.forEach(function (p) {
      const trace = base.data[p.curveNumber];
      if (!trace || !trace.meta || trace.customdata === undefined) return;
      customs[p.curveNumber] = customs[p.curveNumber] || decode(trace.customdata);
      const index = customs[p.curveNumber][p.pointNumber];
      if (index !== undefined) found.push(index);
    });
    return found;
  }
})();
