(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");

  // Sorting: click (or Enter on) a header with data-sort. Cells may carry
  // their own data-sort value; numbers that do not parse sort last.
  function cellValue(row, column, numeric) {
    var cell = row.cells[column];
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort")
                                             : cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    var value = parseFloat(raw);
    return isNaN(value) ? null : value;
  }

  function sortBy(table, head, column) {
    var numeric = head.getAttribute("data-sort") === "number";
    var current = head.getAttribute("aria-sort");
    var first = head.getAttribute("data-first") === "desc" ? "descending" : "ascending";
    var order = current === first
      ? (first === "ascending" ? "descending" : "ascending") : first;
    var sign = order === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, position) {
      return { row: row, key: cellValue(row, column, numeric), position: position };
    });
    keyed.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        if (a.key === b.key) return a.position - b.position;
        return a.key === null ? 1 : -1;
      }
      if (a.key < b.key) return -sign;
      if (a.key > b.key) return sign;
      return a.position - b.position;
    });
    keyed.forEach(function (item) { body.appendChild(item.row); });
    Array.prototype.forEach.call(head.parentNode.cells, function (other) {
      other.removeAttribute("aria-sort");
    });
    head.setAttribute("aria-sort", order);
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"),
    function (table) {
      if (!table.tHead || !table.tBodies.length) return;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (head, column) {
        if (!head.hasAttribute("data-sort")) return;
        head.tabIndex = 0;
        head.addEventListener("click", function () { sortBy(table, head, column); });
        head.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            sortBy(table, head, column);
          }
        });
      });
    });

  // Filtering the examples by verdict: "all", "failing" or any set of verdicts.
  var bar = document.querySelector("#examples .filters");
  var table = document.getElementById("examples-table");
  if (bar && table) {
    var buttons = Array.prototype.slice.call(bar.querySelectorAll("button.filter"));
    var failing = ["oracle disagreement", "discrepancy", "code under test failed"];
    var status = bar.querySelector(".filters-status");
    var apply = function () {
      var chosen = buttons.filter(function (b) {
        return b.getAttribute("aria-pressed") === "true";
      }).map(function (b) { return b.getAttribute("data-filter"); });
      var shown = 0;
      var rows = table.tBodies[0].rows;
      Array.prototype.forEach.call(rows, function (row) {
        var verdict = row.getAttribute("data-verdict");
        var visible = chosen.indexOf("all") >= 0 || chosen.indexOf(verdict) >= 0 ||
          (chosen.indexOf("failing") >= 0 && failing.indexOf(verdict) >= 0);
        row.hidden = !visible;
        if (visible) shown += 1;
      });
      status.textContent = shown === rows.length ? ""
        : "showing " + shown + " of " + rows.length;
    };
    buttons.forEach(function (button) {
      button.addEventListener("click", function () {
        var name = button.getAttribute("data-filter");
        var pressed = button.getAttribute("aria-pressed") === "true";
        if (name === "all" || name === "failing") {
          buttons.forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
          button.setAttribute("aria-pressed", "true");
        } else {
          buttons.forEach(function (b) {
            var other = b.getAttribute("data-filter");
            if (other === "all" || other === "failing") {
              b.setAttribute("aria-pressed", "false");
            }
          });
          button.setAttribute("aria-pressed", pressed ? "false" : "true");
          if (!buttons.some(function (b) {
            return b.getAttribute("aria-pressed") === "true";
          })) {
            var all = bar.querySelector('[data-filter="all"]');
            all.setAttribute("aria-pressed", "true");
          }
        }
        apply();
      });
    });
    bar.hidden = false;
  }
})();
