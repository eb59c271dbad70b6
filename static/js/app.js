// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Add-account form: fill in a known provider's servers as the address is typed.
  function prefillProviders() {
    var form = document.getElementById("account-add-form");
    var data = document.getElementById("known-providers");
    if (!form || !data) return;
    var providers = JSON.parse(data.textContent);
    var email = form.querySelector("[name=email]");
    var protocol = form.querySelector("[name=protocol]");
    function field(name) { return form.querySelector("[name=" + name + "]"); }
    function fill() {
      var domain = (email.value.split("@")[1] || "").trim().toLowerCase();
      var known = providers[domain];
      if (!known) return;
      var incoming = known[protocol.value] || known.imap;
      if (!incoming[0]) return;
      field("host").value = incoming[0];
      field("port").value = incoming[1];
      field("security").value = "tls";
      field("smtp_host").value = known.smtp[0];
      field("smtp_port").value = known.smtp[1];
      field("smtp_security").value = known.smtp[2];
    }
    email.addEventListener("change", fill);
    protocol.addEventListener("change", fill);
  }

  document.addEventListener("DOMContentLoaded", prefillProviders);
})();
