// The waiting page: ask the server (long-poll) whether the check is still in
// progress and move on the moment it is not. While it runs, the server also
// says which of the step's checks the job is on (its stage): the page marks
// it and announces it in a polite live region. Without JavaScript, the
// page's <noscript> meta refresh does the same, more slowly; the script does
// that too when the server asks it to (retry_after: too many polls held
// open).
(function () {
  "use strict";
  var el = document.querySelector("[data-status-url]");
  if (!el) return;
  var statusURL = el.getAttribute("data-status-url");
  var nextURL = el.getAttribute("data-next-url");
  var announce = el.querySelector("[data-announce]");
  var checks = el.querySelectorAll("[data-check]");
  var current = el.querySelector(".check-current");
  var stage = current ? current.getAttribute("data-stage") : "";
  var failures = 0;

  function next() { window.location.replace(nextURL); }

  // show marks check i as running, the ones before it as done, and says so.
  function show(i) {
    Array.prototype.forEach.call(checks, function (li, j) {
      li.classList.toggle("check-done", j < i);
      li.classList.toggle("check-current", j === i);
      if (j === i) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
    });
    if (checks[i] && announce) announce.textContent = checks[i].textContent + "…";
  }

  function poll() {
    var url = statusURL + "?stage=" + encodeURIComponent(stage);
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error("status " + res.status);
        return res.json();
      })
      .then(function (body) {
        failures = 0;
        if (body.status !== "in_progress") { next(); return; }
        if (typeof body.stage === "string" && body.stage !== stage) {
          stage = body.stage;
          show(body.check || 0);
        }
        // The server holds too many polls open (for this session or in
        // all): it answers at once with retry_after. Fall back to what the
        // page does without JavaScript, reloading it that much later.
        if (body.retry_after > 0) { setTimeout(next, body.retry_after * 1000); return; }
        poll();
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
