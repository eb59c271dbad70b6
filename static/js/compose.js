// The compose form, enhanced: the draft is saved every 30 seconds while the writer types,
// and To, Cc and Bcc offer addresses from the address book. Without this file the form
// works the same, with its "Save draft" button.
(function () {
  "use strict";

  function AutosaveError(message) { this.message = message; }


  var AUTOSAVE_MS = 30000;
  var SUGGEST_DELAY_MS = 150;

  // -- autosave -------------------------------------------------------------------------

  function autosave(form) {
    var status = document.getElementById("autosave-status");
    var dirty = false;
    var inflight = null;
    var leaving = false;

    form.addEventListener("input", function () { dirty = true; });

    function save() {
      if (!dirty || inflight || leaving) return;
      if (window.PostfachEditor) window.PostfachEditor.sync();
      var data = new FormData(form);
      // Files are attached by the buttons only; a save sends what is typed.
      ["attachments", "action", "remove"].forEach(function (name) { data.delete(name); });
      dirty = false;
      inflight = fetch(form.dataset.autosaveUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        // Only our own JSON carries a message for the reader; anything else (a proxy's
        // error page, a dropped connection) gets the page's translated text below.
        return response.json().catch(function () { return {}; }).then(function (answer) {
          if (!response.ok || !answer.message) throw new AutosaveError(answer.error || "");
          form.elements.draft_uid.value = answer.draft_uid || "";
          form.elements.draft_uidvalidity.value = answer.draft_uidvalidity || "";
          status.textContent = answer.message;
        });
      }).catch(function (error) {
        dirty = true;
        status.textContent = (error instanceof AutosaveError && error.message) || form.dataset.autosaveFailed;
      }).finally(function () {
        inflight = null;
      });
    }

    window.setInterval(save, AUTOSAVE_MS);

    // A button pressed while a save is on its way waits for it, so that it sends the
    // draft's new UID and the draft just saved is the one replaced (or removed).
    form.addEventListener("submit", function (event) {
      if (inflight) {
        event.preventDefault();
        var submitter = event.submitter;
        inflight.then(function () { form.requestSubmit(submitter); });
        return;
      }
      leaving = true;
    });
  }

  // -- address suggestions (an ARIA 1.2 combobox with a listbox) ---------------------------

  function lastEntry(value) {
    var cut = Math.max(value.lastIndexOf(","), value.lastIndexOf(";"));
    return { head: value.slice(0, cut + 1), typed: value.slice(cut + 1).replace(/^\s+/, "") };
  }

  function suggest(input, url) {
    var list = document.getElementById(input.id + "-suggestions");
    if (!list) return;
    var timer = null;
    var active = -1;
    var asked = "";

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);

    function options() { return Array.prototype.slice.call(list.children); }

    function close() {
      list.hidden = true;
      list.textContent = "";
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      var items = options();
      if (!items.length) return;
      active = (index + items.length) % items.length;
      items.forEach(function (item, i) { item.setAttribute("aria-selected", String(i === active)); });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    }

    function choose(item) {
      var entry = lastEntry(input.value);
      input.value = (entry.head ? entry.head + " " : "") + item.dataset.label + ", ";
      close();
      input.focus();
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function show(results) {
      list.textContent = "";
      results.forEach(function (result, i) {
        var item = document.createElement("li");
        item.id = list.id + "-" + i;
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", "false");
        item.dataset.label = result.label;
        item.textContent = result.label;  // text, never HTML
        item.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(item);
        });
        list.appendChild(item);
      });
      active = -1;
      list.hidden = results.length === 0;
      input.setAttribute("aria-expanded", String(results.length > 0));
    }

    function ask() {
      var typed = lastEntry(input.value).typed;
      if (typed.length < 1 || typed === asked) {
        if (!typed) close();
        return;
      }
      asked = typed;
      fetch(url + "?" + new URLSearchParams({ q: typed }), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        return response.ok ? response.json() : { results: [] };
      }).then(function (answer) {
        if (lastEntry(input.value).typed === typed) show(answer.results || []);
      }).catch(close);
    }

    input.addEventListener("input", function (event) {
      if (event.isTrusted === false && list.hidden) return;  // our own choose()
      window.clearTimeout(timer);
      asked = "";
      timer = window.setTimeout(ask, SUGGEST_DELAY_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) {
        if (event.key === "ArrowDown" && lastEntry(input.value).typed) ask();
        return;
      }
      if (event.key === "ArrowDown") { highlight(active + 1); event.preventDefault(); }
      else if (event.key === "ArrowUp") { highlight(active - 1); event.preventDefault(); }
      else if (event.key === "Enter" && active >= 0) { choose(options()[active]); event.preventDefault(); }
      else if (event.key === "Escape") { close(); event.preventDefault(); }
    });
    input.addEventListener("blur", function () { window.setTimeout(close, 100); });
  }

  // -- the signature follows the identity chosen as From ----------------------------------

  function signatures(form) {
    var data = document.getElementById("identity-signatures");
    var select = form.elements.identity;
    var body = form.elements.body;
    if (!data || !select || !body) return;
    var known = JSON.parse(data.textContent);
    var current = select.value;
    select.addEventListener("change", function () {
      var old = known[current] || "";
      var next = known[select.value] || "";
      current = select.value;
      if (old && body.value.indexOf(old) >= 0) {
        // The old block, with the line break that follows it when there is no new one.
        body.value = next ? body.value.replace(old, next)
          : body.value.replace(new RegExp(old.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "\n*"), "");
      } else if (next && (body.value === "" || body.value.indexOf("\n\n") === 0)) {
        // No signature yet and nothing written at the top: room to write, the signature,
        // then whatever was there (a quote).
        var rest = body.value.replace(/^\n+/, "");
        body.value = "\n\n" + next + "\n" + (rest ? "\n" + rest : "");
      }
    });
  }

  function setUp() {
    var form = document.getElementById("compose-form");
    if (!form) return;
    autosave(form);
    signatures(form);
    form.querySelectorAll("input[data-suggest]").forEach(function (input) {
      suggest(input, form.dataset.suggestUrl);
    });
  }

  document.addEventListener("DOMContentLoaded", setUp);
})();
