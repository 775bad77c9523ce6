// Cell renderers for the predictions table (app/panels/table.py): a test image by its address.
(function () {
  const funcs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});
  funcs.TestImage = function (props) {
    if (!props.value) return null;
    return React.createElement("img", {src: props.value, className: "grid-img",
                                       alt: "test image " + (props.data ? props.data.index : "")});
  };
})();
