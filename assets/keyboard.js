// Keyboard use of the confusion heatmap: Tab to it, arrow keys move a cursor over the cells,
// Enter (or Space) opens the cell under it, as a click would. The cursor is an outline drawn
// over the plot from plotly's own axes, so it survives every redraw of the figure.
(function () {
  let cursor = null; // {actual, predicted}

  function graph(box) { return box.querySelector(".js-plotly-plot"); }

  function size(gd) {
    const cats = ((gd._fullLayout || {}).yaxis || {})._categories || [];
    return cats.filter(function (c) { return c !== "precision"; }).length;
  }

  function selected() {
    // Start the cursor on the selected cell (assets/cells.js outlines it).
    const cell = window.lookinsideCells ? window.lookinsideCells.selected() : null;
    return cell ? {actual: cell.actual, predicted: cell.predicted} : null;
  }

  function draw(box) {
    const gd = graph(box);
    let mark = box.querySelector(".cell-cursor");
    if (!gd || !gd._fullLayout || !cursor || document.activeElement !== box) {
      if (mark) mark.remove();
      return;
    }
    if (!mark) {
      mark = document.createElement("div");
      mark.className = "cell-cursor";
      box.appendChild(mark);
    }
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const w = Math.abs(xa.d2p(1) - xa.d2p(0)), h = Math.abs(ya.d2p(1) - ya.d2p(0));
    const gbox = gd.getBoundingClientRect(), bbox = box.getBoundingClientRect();
    mark.style.left = (gbox.left - bbox.left + xa._offset + xa.d2p(cursor.predicted) - w / 2) + "px";
    mark.style.top = (gbox.top - bbox.top + ya._offset + ya.d2p(cursor.actual) - h / 2) + "px";
    mark.style.width = w + "px";
    mark.style.height = h + "px";
  }

  const MOVES = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};

  document.addEventListener("keydown", function (event) {
    const box = event.target.closest && event.target.closest(".confusion-keys");
    if (!box) return;
    const gd = graph(box);
    const k = gd ? size(gd) : 0;
    if (!k) return;
    if (!cursor || cursor.actual >= k || cursor.predicted >= k) cursor = selected() || {actual: 0, predicted: 0};
    if (MOVES[event.key]) {
      const [da, dp] = MOVES[event.key];
      cursor = {actual: Math.min(k - 1, Math.max(0, cursor.actual + da)),
                predicted: Math.min(k - 1, Math.max(0, cursor.predicted + dp))};
      event.preventDefault();
    } else if (event.key === "Enter" || event.key === " ") {
      window.dash_clientside.set_props("state-cell", {data: {actual: cursor.actual, predicted: cursor.predicted}});
      event.preventDefault();
    } else {
      return;
    }
    box.setAttribute("aria-label", "confusion matrix: actual " + cursor.actual + ", predicted " + cursor.predicted);
    draw(box);
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.classList && event.target.classList.contains("confusion-keys")) draw(event.target);
  });
  document.addEventListener("focusout", function (event) {
    if (event.target.classList && event.target.classList.contains("confusion-keys")) {
      setTimeout(function () { draw(event.target); }, 0);
    }
  });
})();
