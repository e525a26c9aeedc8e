// The waiting page: ask the server (long-poll) whether the check is still in
// progress and move on the moment it is not. Without JavaScript, the page's
// <noscript> meta refresh does the same, more slowly.
(function () {
  "use strict";
  var el = document.querySelector("[data-status-url]");
  if (!el) return;
  var statusURL = el.getAttribute("data-status-url");
  var nextURL = el.getAttribute("data-next-url");
  var failures = 0;

  function next() { window.location.replace(nextURL); }

  function poll() {
    fetch(statusURL, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error("status " + res.status);
        return res.json();
      })
      .then(function (body) {
        failures = 0;
        if (body.status === "in_progress") { poll(); } else { next(); }
      })
      .catch(function () {
        // Back off on errors, then let the server page explain (503 etc).
        failures++;
        if (failures >= 5) { next(); return; }
        setTimeout(poll, 500 * failures);
      });
  }
  poll();
})();
