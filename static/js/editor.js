// The compose form's HTML mode: a small editor of our own (no library, nothing remote).
// A contenteditable area with a toolbar (bold, italic, lists, link, quote) writes its
// HTML into the hidden "html" field whenever the form is sent or saved; the server
// sanitizes that HTML and makes the plain-text alternative from it. Plain text is the
// default, and without this file the form is a plain-text form that works the same.
(function () {
  "use strict";

  var SAFE_LINK = /^(https?:\/\/|mailto:)/i;

  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  // Plain text as editor content: one <div> per line, as the browser itself writes lines.
  function textToHtml(text) {
    return text.replace(/\r\n?/g, "\n").split("\n").map(function (line) {
      return "<div>" + (line ? escapeHtml(line) : "<br>") + "</div>";
    }).join("");
  }

  function setUp() {
    var form = document.getElementById("compose-form");
    var editor = document.getElementById("editor");
    if (!form || !editor) return;
    var area = document.getElementById("editor-area");
    var body = form.querySelector("textarea[name=body]");
    var html = form.querySelector("textarea[name=html]");
    var switcher = form.querySelector("[data-mode-switch]");
    var radios = Array.prototype.slice.call(switcher.querySelectorAll("input[name=mode]"));
    var mode = "text";

    function show(next, fromServer) {
      if (next === "html") {
        area.innerHTML = fromServer && html.value ? html.value : textToHtml(body.value);
        body.hidden = true;
        editor.hidden = false;
      } else {
        if (!fromServer) body.value = area.innerText.replace(/\n$/, "");
        editor.hidden = true;
        body.hidden = false;
      }
      mode = next;
      radios.forEach(function (radio) { radio.checked = radio.value === next; });
    }

    // The server takes the HTML in HTML mode and the text otherwise; the other field
    // goes empty, so a long quote is not sent twice.
    function sync() {
      html.value = mode === "html" ? area.innerHTML : "";
      if (mode === "html") body.value = "";
    }

    switcher.hidden = false;
    show(form.dataset.startMode === "html" ? "html" : "text", true);
    radios.forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (radio.checked && radio.value !== mode) {
          show(radio.value, false);
          (mode === "html" ? area : body).focus();
        }
      });
    });

    editor.querySelectorAll("[data-command]").forEach(function (button) {
      // Keep the selection in the text while a button is pressed.
      button.addEventListener("mousedown", function (event) { event.preventDefault(); });
      button.addEventListener("click", function () {
        var command = button.dataset.command;
        area.focus();
        if (command === "createLink") {
          var url = window.prompt(button.dataset.prompt || "URL", "https://");
          if (!url || !SAFE_LINK.test(url.trim())) return;
          document.execCommand("createLink", false, url.trim());
        } else if (command === "quote") {
          document.execCommand("formatBlock", false, "blockquote");
        } else {
          document.execCommand(command, false, null);
        }
        form.dispatchEvent(new Event("input", { bubbles: true }));
      });
    });

    // Runs before compose.js's own submit handler (this file is loaded first).
    form.addEventListener("submit", sync);
    window.PostfachEditor = { sync: sync };
  }

  document.addEventListener("DOMContentLoaded", setUp);
})();
