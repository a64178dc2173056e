// Grids: the header checkbox ticks every row of the page. Without script the "Select all
// on this page" link does the same by reloading the page with every row ticked.
document.querySelectorAll("input.select-all").forEach(function (all) {
  var table = all.closest("table");
  all.hidden = false;
  all.addEventListener("change", function () {
    table.querySelectorAll("input.row-select").forEach(function (box) {
      box.checked = all.checked;
    });
  });
});
