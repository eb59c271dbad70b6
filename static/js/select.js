// Selecting messages in the list: "Select all" without a page load, and shift-click to
// tick or untick every box between the last one clicked and this one. Progressive
// enhancement only: without this file the boxes, the "Select all" link (which reloads the
// page with every box ticked) and the action buttons work the same.
(function () {
  "use strict";

  function setUp() {
    var form = document.getElementById("list-actions");
    if (!form) return;
    var boxes = Array.prototype.slice.call(
      form.querySelectorAll("input[type=checkbox][name=uid]")
    );
    var last = null;

    boxes.forEach(function (box) {
      box.addEventListener("click", function (event) {
        if (event.shiftKey && last !== null && last !== box) {
          var from = boxes.indexOf(last);
          var to = boxes.indexOf(box);
          var low = Math.min(from, to);
          var high = Math.max(from, to);
          for (var i = low; i <= high; i++) boxes[i].checked = box.checked;
        }
        last = box;
        updateToggle();
      });
    });

    // The "Select all" link reloads the page; with script a real button does it in place.
    var link = form.querySelector("a[data-select-all]");
    var toggle = null;
    if (link) {
      toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "link-button select-all";
      toggle.dataset.labelAll = link.dataset.labelAll;
      toggle.dataset.labelNone = link.dataset.labelNone;
      link.replaceWith(toggle);
    }
    function allTicked() {
      return boxes.length > 0 && boxes.every(function (box) { return box.checked; });
    }
    function updateToggle() {
      if (!toggle) return;
      toggle.textContent = allTicked() ? toggle.dataset.labelNone : toggle.dataset.labelAll;
    }
    if (toggle) {
      toggle.addEventListener("click", function () {
        var tick = !allTicked();
        boxes.forEach(function (box) { box.checked = tick; });
        last = null;
        updateToggle();
      });
      updateToggle();
    }
  }

  document.addEventListener("DOMContentLoaded", setUp);
})();
