// A request the server refuses on purpose (429: a rate limit) carries one sentence for the visitor.
// Dash drops such answers silently, so show the sentence at the top of the page for a few seconds.
(function () {
  const original = window.fetch;
  let timer = null;
  function show(text) {
    let box = document.getElementById("refusal-notice");
    if (!box) {
      box = document.createElement("div");
      box.id = "refusal-notice";
      box.className = "refusal-notice";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.classList.add("shown");
    clearTimeout(timer);
    timer = setTimeout(function () { box.classList.remove("shown"); }, 8000);
  }
  window.fetch = function () {
    return original.apply(this, arguments).then(function (response) {
      if (response.status === 429) {
        response.clone().text().then(function (text) { show(text.trim()); });
      }
      return response;
    });
  };
})();
