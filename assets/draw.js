// The drawing area: a 28x28 grid shown 10x larger, drawn with a soft round brush in light ink on
// black, like MNIST's digits. While a stroke goes on, the pixels are sent a few times a second
// (to the "draw-pixels" store), so the probabilities follow the pen.
(function () {
  const N = 28;
  const SEND_MS = 150;
  const grid = new Float32Array(N * N);
  let drawing = false, last = null, lastSent = 0, pending = null;

  function canvas() { return document.getElementById("draw-canvas"); }

  function render() {
    const c = canvas();
    if (!c) return;
    const ctx = c.getContext("2d"), cell = c.width / N;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, c.width, c.height);
    for (let i = 0; i < N * N; i++) {
      if (grid[i] <= 0) continue;
      const v = Math.round(grid[i]);
      ctx.fillStyle = "rgb(" + v + "," + v + "," + v + ")";
      ctx.fillRect((i % N) * cell, Math.floor(i / N) * cell, cell, cell);
    }
  }

  function stamp(x, y) {
    // A soft disc about 2.5 pixels across: full ink at the centre, fading over the edge.
    for (let r = Math.floor(y - 2); r <= Math.ceil(y + 2); r++) {
      for (let q = Math.floor(x - 2); q <= Math.ceil(x + 2); q++) {
        if (r < 0 || q < 0 || r >= N || q >= N) continue;
        const d = Math.hypot(q + 0.5 - x, r + 0.5 - y);
        const ink = 255 * Math.max(0, Math.min(1, 1.6 - d));
        grid[r * N + q] = Math.max(grid[r * N + q], ink);
      }
    }
  }

  function point(event) {
    const c = canvas(), box = c.getBoundingClientRect();
    return [(event.clientX - box.left) / box.width * N, (event.clientY - box.top) / box.height * N];
  }

  function send(now) {
    clearTimeout(pending);
    if (!now && Date.now() - lastSent < SEND_MS) {
      pending = setTimeout(function () { send(true); }, SEND_MS);
      return;
    }
    lastSent = Date.now();
    const pixels = Array.from(grid, function (v) { return Math.round(v); });
    window.dash_clientside.set_props("draw-pixels", {data: pixels.some(function (v) { return v > 0; }) ? pixels : null});
  }

  function line(to) {
    const from = last || to;
    const steps = Math.max(1, Math.ceil(Math.hypot(to[0] - from[0], to[1] - from[1]) / 0.25));
    for (let s = 1; s <= steps; s++) {
      stamp(from[0] + (to[0] - from[0]) * s / steps, from[1] + (to[1] - from[1]) * s / steps);
    }
    last = to;
    render();
    send(false);
  }

  document.addEventListener("pointerdown", function (event) {
    if (event.target.id !== "draw-canvas") return;
    drawing = true;
    last = null;
    event.target.setPointerCapture(event.pointerId);
    line(point(event));
    event.preventDefault();
  });
  document.addEventListener("pointermove", function (event) {
    if (drawing && event.target.id === "draw-canvas") line(point(event));
  });
  document.addEventListener("pointerup", function () {
    if (!drawing) return;
    drawing = false;
    send(true);
  });
  document.addEventListener("click", function (event) {
    if (event.target.id !== "draw-clear") return;
    grid.fill(0);
    render();
    send(true);
  });
  // The canvas is created by Dash after this script runs: paint it black once it appears.
  new MutationObserver(function () {
    const c = canvas();
    if (c && !c.dataset.ready) { c.dataset.ready = "1"; render(); }
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
