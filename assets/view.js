// The view store (`state-view`): the network on screen, written here and nowhere else. Every panel draws
// from it. It follows the chosen network's state (what the server found, or what a finished training
// job made: a ready one first) and the timeline slider; app/state.py `screen` is the same rule, which
// the server uses to draw ahead, and checks whatever store comes back.
(function () {
  const STATUSES = ["ready", "untrained", "error"];

  function isState(s) {
    return !!s && typeof s === "object" && STATUSES.indexOf(s.status) >= 0 &&
      ["dataset", "arch", "message", "checkpoint"].every(function (k) { return typeof s[k] === "string"; });
  }

  function screen(resolved, trained, dataset, network, position) {
    const matching = [trained, resolved].filter(function (s) {
      return isState(s) && s.dataset === dataset && s.arch === network;
    });
    const st = matching.find(function (s) { return s.status === "ready"; }) || matching[0];
    if (!st) return null;
    const at = st.status === "ready" && Number.isInteger(position) && position >= 0 ? position : null;
    return {dataset: st.dataset, network: st.arch, checkpoint: st.checkpoint, position: at, status: st.status,
            message: st.message};
  }

  function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  // The chosen network's state: a ready one first (app/state.py `current`).
  function current(resolved, trained, dataset, network) {
    const matching = [trained, resolved].filter(function (s) {
      return isState(s) && s.dataset === dataset && s.arch === network;
    });
    return matching.find(function (s) { return s.status === "ready"; }) || matching[0] || null;
  }

  // Slider marks: every snapshot a dot; the start, about six epochs and the end get words.
  function marks(labels) {
    const heads = labels.map(function (label) { return label.split(" · ")[0]; });
    const epochs = [];
    heads.forEach(function (head, i) { if (/^epoch [0-9]+$/.test(head)) epochs.push(i); });
    const step = Math.max(1, Math.floor(epochs.length / 6));
    const named = new Set(epochs.filter(function (_, k) { return k % step === 0; }));
    named.add(0);
    named.add(labels.length - 1);
    const out = {};
    heads.forEach(function (head, i) {
      out[i] = !named.has(i) ? "" : i === 0 ? "start" : i === labels.length - 1 ? "end" : head.replace("epoch ", "e");
    });
    return out;
  }

  // The timeline position an address names ("t=", as app/panels/address.py reads it), or null.
  function positionFrom(search) {
    if (typeof search !== "string" || search.length > 500) return null;
    const found = new URLSearchParams(search).getAll("t");
    const value = found.length ? found[found.length - 1] : "";
    return /^[0-9]{1,7}$/.test(value) ? Number(value) : null;
  }

  const PLAY = "\u25b6 Play", PAUSE = "\u275a\u275a Pause";

  // The slider, the player and a position a link names, for the chosen network: [max, marks, value,
  // player stopped, player label, box class]. undefined stands for "unchanged".
  function control(fired, resolved, trained, value, stopped, dataset, network, changed, opened) {
    const st = current(resolved, trained, dataset, network);
    const ready = !!st && st.status === "ready";
    const labels = ready && Array.isArray(st.timeline) ? st.timeline : [];
    const box = "timeline" + (labels.length ? "" : " no-timeline") + (ready ? "" : " hidden");
    const last = Math.max(0, labels.length - 1);
    const at = Number.isInteger(value) && value >= 0 && value <= last ? value : last;
    const u = undefined;
    if (fired.has("timeline-play") && labels.length) {
      if (stopped === false) return [u, u, at, true, PLAY, box]; // pause where it is
      return [last, marks(labels), at >= last ? 0 : at, false, PAUSE, box]; // from the end it starts over
    }
    if (fired.has("timeline-tick") && labels.length && stopped === false) {
      const next = Math.min(last, at + 1);
      return [u, u, next, next >= last, next >= last ? PLAY : PAUSE, box];
    }
    const first = fired.size === 0 || fired.has("");
    const search = fired.has("state-address") ? (changed && changed.search) : first ? opened : null;
    let position = positionFrom(search);
    position = position !== null && position <= last ? position : null;
    if (fired.has("state-address") && !fired.has("state-resolved") && !fired.has("state-trained")) {
      const wanted = position === null ? last : position; // back/forward within the same network
      return wanted === at ? [u, u, u, u, u, u] : [u, u, wanted, true, PLAY, box];
    }
    // A new network, or a new checkpoint of this one: the finished network, or the position a link names.
    return [last, marks(labels), position === null ? last : position, true, PLAY, box];
  }

  // How networks stood when the server last said so, by "dataset|network": only ready ones, so that choosing
  // one again draws it at once (guess); the server's answer follows and corrects it (answer).
  const known = {};
  let seedsTaken = false;
  let drawnFor = null;  // the state the slider was last drawn from on a choice of network (control)

  function remember(st) {
    if (!isState(st)) return;
    const key = st.dataset + "|" + st.arch;
    if (st.status === "ready") known[key] = st; else delete known[key];
  }

  function guess(dataset, network, resolved, seeded) {
    remember(resolved);
    if (!seedsTaken && seeded && typeof seeded === "object") {  // what the layout knew, taken once
      seedsTaken = true;
      Object.keys(seeded).forEach(function (key) {
        if (!Object.prototype.hasOwnProperty.call(known, key)) remember(seeded[key]);
      });
    }
    const key = dataset + "|" + network;
    return Object.prototype.hasOwnProperty.call(known, key) && !same(known[key], resolved) ? known[key] : undefined;
  }

  window.lookinsideView = {screen: screen, control: control, marks: marks};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_view: {
      control: function (resolved, trained, play, tick, changed, dataset, network, value, stopped, opened, seeded,
                         drawnMax) {
        const triggered = window.dash_clientside.callback_context.triggered || [];
        const fired = new Set(triggered.map(function (t) { return t.prop_id.split(".")[0]; }));
        const unchanged = Array(6).fill(window.dash_clientside.no_update);
        if (fired.has("dataset-dropdown") || fired.has("model-dropdown")) {  // as onScreen: a known network at once
          const found = guess(dataset, network, resolved, seeded);
          if (found === undefined && !current(resolved, trained, dataset, network)) return unchanged;
          fired.add("state-resolved");
          resolved = found === undefined ? resolved : found;
          drawnFor = resolved;
        } else if (fired.size === 1 && fired.has("state-resolved") && same(resolved, drawnFor)) {
          return unchanged;  // the server's answer, for the state the slider was drawn from at the choice
        }
        const found = control(fired, resolved, trained, value, stopped, dataset, network, changed, opened);
        // A new network at the end of its timeline, with the slider already at that end: the slider stays, and
        // asks for no snapshot (askSnapshot).
        if (fired.has("state-resolved") && found[2] === value && value === found[0] && found[0] === drawnMax) {
          found[2] = undefined;
        }
        if ((fired.size === 0 || fired.has("")) && found[0] === drawnMax) {
          // The layout drew the slider for this network (app/panels/timeline.py `slider`): nothing to redraw,
          // but a position before the end a link names is set again, so that its snapshot is asked for.
          return unchanged.map(function (v, i) { return i === 2 && found[2] < found[0] ? found[2] : v; });
        }
        return found.map(function (v) { return v === undefined ? window.dash_clientside.no_update : v; });
      },
      // The slider moved: the end is the finished network at once (written straight into the snapshot store);
      // a position before it is asked of the server, which evaluates it first (app/panels/timeline.py).
      askSnapshot: function (value, last, view) {
        const none = window.dash_clientside.no_update;
        if (!Number.isInteger(value) || !Number.isInteger(last)) return none;
        if (value < last) return {position: value, at: Date.now()};
        if (view && view.position !== null) {
          window.dash_clientside.set_props("state-snapshot", {data: {
            dataset: view.dataset, network: view.network, checkpoint: view.checkpoint, position: null}});
        }
        return none;
      },
      // The server evaluated a position: every panel now draws it (through the view store).
      snapshotAnswer: function (answer) {
        if (answer && typeof answer === "object") window.dash_clientside.set_props("state-snapshot", {data: answer});
        return window.dash_clientside.no_update;
      },
      answer: function (answer, dataset, network, resolved, networks, datasets) {
        if (!answer || typeof answer !== "object") return window.dash_clientside.no_update;
        const found = answer.resolved;
        remember(found);
        // The menus, when they differ from those on screen (the networks only for the dataset chosen).
        if (isState(found) && found.dataset === dataset && Array.isArray(answer.options) &&
            !same(answer.options, networks)) {
          window.dash_clientside.set_props("model-dropdown", {options: answer.options});
        }
        if (Array.isArray(answer.datasets) && !same(answer.datasets, datasets)) {
          window.dash_clientside.set_props("dataset-dropdown", {options: answer.datasets});
        }
        // An answer for a network no longer chosen changes nothing (the newer answer follows).
        if (isState(found) && found.dataset === dataset && found.arch === network && !same(found, resolved)) {
          window.dash_clientside.set_props("state-resolved", {data: found});
        }
        if (answer.job && typeof answer.job === "object") {
          window.dash_clientside.set_props("state-job", {data: answer.job});
        }
        return window.dash_clientside.no_update;
      },
      onScreen: function (resolved, trained, snapshot, dataset, network, now, seeded) {
        const triggered = window.dash_clientside.callback_context.triggered || [];
        const fired = new Set(triggered.map(function (t) { return t.prop_id.split(".")[0]; }));
        const moved = fired.has("state-snapshot");
        if (fired.has("dataset-dropdown") || fired.has("model-dropdown")) {
          // Another network chosen: one the page knows ready is drawn at once, in the same round as the
          // choice (control does the same for the slider); any other keeps the network on screen until the
          // server's answer comes, and writes state-resolved (answer).
          const found = guess(dataset, network, resolved, seeded);
          const view = screen(found === undefined ? resolved : found, trained, dataset, network, null);
          return view === null || same(view, now === undefined ? null : now) ? window.dash_clientside.no_update : view;
        }
        // Only an evaluated snapshot of the network on screen moves the position (app/panels/timeline.py
        // evaluates it once, before any panel draws it). A new network (or a new checkpoint of it) opens
        // finished: the slider still shows the old network's position until the timeline catches up.
        const ours = moved && snapshot && snapshot.dataset === dataset && snapshot.network === network;
        const position = ours && Number.isInteger(snapshot.position) ? snapshot.position : null;
        const view = screen(resolved, trained, dataset, network, position);
        if (ours && view && view.checkpoint !== snapshot.checkpoint) return window.dash_clientside.no_update;
        return same(view, now === undefined ? null : now) ? window.dash_clientside.no_update : view;
      },
    },
  });
})();
