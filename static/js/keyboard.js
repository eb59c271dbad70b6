// Keyboard shortcuts, as webmail users know them from Gmail and Roundcube. Pages say what
// a key does by marking the link or button with data-key="r"; this file only finds and
// presses it, so every shortcut is also a visible control that works without script.
// j/k move through the message list (or to the next/previous message on a message page);
// "?" opens the list of shortcuts.
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll(".message-row a.row-link"));
  }

  function currentRow(links) {
    var active = document.activeElement;
    var index = links.indexOf(active);
    if (index >= 0) return index;
    var selected = document.querySelector(".message-row.selected a.row-link");
    return selected ? links.indexOf(selected) : -1;
  }

  function moveInList(step) {
    var links = rows();
    if (!links.length) return false;
    var index = currentRow(links);
    var next = index < 0 ? 0 : Math.max(0, Math.min(links.length - 1, index + step));
    links[next].focus();
    links[next].scrollIntoView({ block: "nearest" });
    return true;
  }

  // On a message page the list's buttons come first in the page; the open message's own
  // buttons win. A list action with nothing ticked acts on the row that has the focus.
  function press(key) {
    var selector = '[data-key="' + key + '"]';
    var control = document.querySelector(".message " + selector) || document.querySelector(selector);
    if (!control) return false;
    var form = control.form;
    if (form && form.id === "list-actions" && !form.querySelector("input[name=uid]:checked")) {
      var row = document.activeElement && document.activeElement.closest(".message-row");
      var box = row && row.querySelector("input[name=uid]");
      if (!box) return false;
      box.checked = true;
    }
    if (control.tagName.toLowerCase() === "input" || control.tagName.toLowerCase() === "textarea") {
      control.focus();
    } else {
      control.click();
    }
    return true;
  }

  function help() {
    var dialog = document.getElementById("shortcut-help");
    if (!dialog) return false;
    if (dialog.open) dialog.close(); else dialog.showModal();
    return true;
  }

  function keyName(event) {
    if (event.key === "Enter") return "enter";
    if (event.shiftKey && /^[a-z]$/i.test(event.key)) return "shift+" + event.key.toLowerCase();
    return event.key;
  }

  var opener = document.getElementById("shortcut-help-open");
  if (opener) {
    opener.hidden = false;
    opener.addEventListener("click", help);
  }
  var closer = document.getElementById("shortcut-help-close");
  if (closer) closer.addEventListener("click", function () { document.getElementById("shortcut-help").close(); });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (typing(event.target)) return;
    var key = keyName(event);
    var done = false;
    if (key === "?") done = help();
    else if (key === "j") done = press("next") || moveInList(1);
    else if (key === "k") done = press("previous") || moveInList(-1);
    else if (key === "o" || key === "enter") {
      var links = rows();
      var index = currentRow(links);
      if (key === "o" && index >= 0) { links[index].click(); done = true; }
    } else if (key === "Escape") done = false;
    else done = press(key);
    if (done) event.preventDefault();
  });
})();
