// Keyboard use of the confusion heatmap: Tab to it, arrow keys move a cursor over the cells,
// Enter (or Space) opens the cell under it, as a click would. The cursor is an outline drawn
// over the plot from plotly's own axes, so it survives every redraw of the figure.
(function () {
  let cursor = null; // {actual, predicted}

  function graph(box) { return box.querySelector(".js-plotly-plot"); }

  function selected() {
    // Start the cursor on the selected cell (assets/cells.js outlines it).
    const cell = window.lookinsideCells.selected();
    return cell ? {actual: cell.actual, predicted: cell.predicted} : null;
  }

  // The cursor, placed as the selected cell's outline is (assets/cells.js); none when the box is not focused.
  function draw(box) {
    const gd = graph(box);
    const shown = gd && cursor && document.activeElement === box ? cursor : null;
    window.lookinsideCells.place(box, gd, "cell-cursor", shown);
  }

  const MOVES = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};

  document.addEventListener("keydown", function (event) {
    const box = event.target.closest && event.target.closest(".confusion-keys");
    if (!box) return;
    const gd = graph(box);
    const k = window.lookinsideCells.classCount(gd);
    if (!k) return;
    if (!cursor || cursor.actual >= k || cursor.predicted >= k) cursor = selected() || {actual: 0, predicted: 0};
    if (MOVES[event.key]) {
      const [da, dp] = MOVES[event.key];
      cursor = {actual: Math.min(k - 1, Math.max(0, cursor.actual + da)),
                predicted: Math.min(k - 1, Math.max(0, cursor.predicted + dp))};
      event.preventDefault();
    } else if (event.key === "Enter" || event.key === " ") {
      window.lookinsideCells.select({actual: cursor.actual, predicted: cursor.predicted});
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

// The admin token's form (app/panels/model.py) exists for the browser's sake: Enter hands the token to Dash
// (the input's debounce), and must not also send the form and load the page again.
document.addEventListener("submit", function (event) {
  if (event.target instanceof Element && event.target.closest(".admin-form")) event.preventDefault();
});
