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

  window.lookinsideView = {screen: screen};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_view: {
      // The slider moved: the end is the finished network at once (written straight into the snapshot store);
      // a position before it is asked of the server, which evaluates it first (app/panels/timeline.py).
      askSnapshot: function (value, last, view) {
        const none = window.dash_clientside.no_update;
        if (!Number.isInteger(value) || !Number.isInteger(last)) return [none, none];
        if (value < last) return [{position: value, at: Date.now()}, none];
        if (!view || view.position === null) return [none, none];
        return [none, {dataset: view.dataset, network: view.network, checkpoint: view.checkpoint, position: null}];
      },
      onScreen: function (resolved, trained, snapshot, dataset, network, now) {
        const triggered = window.dash_clientside.callback_context.triggered || [];
        const moved = triggered.some(function (t) { return t.prop_id.split(".")[0] === "state-snapshot"; });
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
