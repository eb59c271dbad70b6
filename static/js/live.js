// Unread counts without a page load: while the tab is visible, ask the index
// (GET /mail/counts/, no mail server involved) every few seconds, update the sidebar's
// badges and put the unread count of all inboxes in the tab's title. Progressive
// enhancement only: without this file the page shows the counts of its last load.
(function () {
  "use strict";

  function setUp() {
    var nav = document.querySelector("[data-live-counts]");
    if (!nav || !window.fetch) return;
    var url = nav.getAttribute("data-live-counts");
    var accountId = Number(nav.getAttribute("data-live-account"));
    var seconds = Number(nav.getAttribute("data-live-seconds")) || 15;
    var base = nav.getAttribute("data-title-base") || document.title;
    var timer = null;

    function show(counts) {
      var total = counts.total_unread || 0;
      document.title = total > 0 ? "(" + total + ") " + base : base;
      each("[data-unread-total]", function (badge) {
        setBadge(badge, total);
      });
      (counts.accounts || []).forEach(function (account) {
        each('[data-unread-account="' + account.account_id + '"]', function (badge) {
          setBadge(badge, account.unread_inbox);
        });
        if (account.account_id !== accountId) return;
        each("[data-unread-folder]", function (badge) {
          var name = badge.getAttribute("data-unread-folder");
          if (Object.prototype.hasOwnProperty.call(account.folders, name)) {
            setBadge(badge, account.folders[name]);
          }
        });
      });
    }

    function each(selector, fn) {
      Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
    }

    function setBadge(badge, count) {
      badge.textContent = count > 0 ? String(count) : "";
      badge.hidden = !(count > 0);
    }

    function poll() {
      timer = null;
      if (document.visibilityState !== "visible") return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (counts) {
          if (counts) show(counts);
        })
        .catch(function () {})
        .then(schedule);
    }

    function schedule() {
      if (timer === null && document.visibilityState === "visible") {
        timer = window.setTimeout(poll, seconds * 1000);
      }
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        if (timer !== null) window.clearTimeout(timer);
        timer = null;
        poll();
      }
    });
    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
