// The unit view (app/panels/unit.py): a click on one of a unit's top or bottom test images explains it (the
// explanation card beside the map reads the selected image's store).
(function () {
  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest("#unit-card .unit-image[data-index]") : null;
    if (!button || !window.dash_clientside || !window.dash_clientside.set_props) return;
    const index = Number(button.getAttribute("data-index"));
    if (Number.isInteger(index) && index >= 0) window.dash_clientside.set_props("state-sample", {data: index});
  });
})();
