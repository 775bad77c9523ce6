// The chapter guide's list (app/panels/chapter.py), drawn here from its store: a link to the view of each
// figure, what the chapter shows there, and the chapter's number beside ours. Set as properties, never as HTML.
(function () {
  function item(entry, n) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.className = "chapter-link";
    a.href = String(entry.href);
    a.dataset.figure = String(n + 1);
    a.textContent = String(entry.title);
    const numbers = document.createElement("span");
    numbers.className = "chapter-numbers";
    numbers.textContent = entry.numbers ? " (" + entry.numbers + ")" : "";
    li.append(a, " " + String(entry.point), numbers);
    return li;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    lookinside_chapter: {
      draw: function (entries) {
        const list = document.getElementById("chapter-list");
        if (list) {
          const ok = (Array.isArray(entries) ? entries : []).filter(function (e) {
            return e && typeof e.href === "string" && e.href.charAt(0) === "/";  // the page's own views only
          });
          list.replaceChildren.apply(list, ok.map(item));
        }
        return window.dash_clientside.no_update;
      },
    },
  });
})();
