// condensebench leaderboard: client-side sorting and filtering, no dependencies.
// Tables stay complete and readable without this script.
(function () {
  "use strict";
  function cellKey(row, col) {
    var cell = row.cells[col];
    if (!cell) return null;
    if (cell.hasAttribute("data-value")) {
      var v = cell.getAttribute("data-value");
      return v === "" ? null : parseFloat(v);
    }
    return cell.textContent.trim().toLowerCase();
  }
  function sortTable(table, col, th) {
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a, col), y = cellKey(b, col);
      if (x === null && y === null) return 0;
      if (x === null) return 1;            // missing values always last
      if (y === null) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sort");
      th.title = "sort by " + th.textContent.trim();
      th.addEventListener("click", function () { sortTable(table, col, th); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortTable(table, col, th); }
      });
    });
  });
  document.querySelectorAll(".filters").forEach(function (box) {
    var table = document.getElementById(box.getAttribute("data-for"));
    if (!table) return;
    box.hidden = false;
    var text = box.querySelector(".filter-text");
    var kinds = box.querySelectorAll(".filter-kind");
    function apply() {
      var q = text ? text.value.trim().toLowerCase() : "";
      var shown = {};
      kinds.forEach(function (k) { shown[k.value] = k.checked; });
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var kind = row.getAttribute("data-kind");
        var okKind = !kind || !(kind in shown) || shown[kind];
        var okText = !q || row.textContent.toLowerCase().indexOf(q) !== -1;
        row.hidden = !(okKind && okText);
      });
    }
    if (text) text.addEventListener("input", apply);
    kinds.forEach(function (k) { k.addEventListener("change", apply); });
  });
})();
