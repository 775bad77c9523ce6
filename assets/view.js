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
      onScreen: function (resolved, trained, value, last, dataset, network, now) {
        const triggered = window.dash_clientside.callback_context.triggered || [];
        const moved = triggered.some(function (t) { return t.prop_id.split(".")[0] === "timeline-slider"; });
        // Only the slider moves the position. A new network (or a new checkpoint of it) opens finished:
        // the slider still shows the old network's position until the timeline catches up.
        const position = moved && Number.isInteger(value) && Number.isInteger(last) && value < last ? value : null;
        const view = screen(resolved, trained, dataset, network, position);
        return same(view, now === undefined ? null : now) ? window.dash_clientside.no_update : view;
      },
    },
  });
})();
