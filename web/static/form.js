// A form with errors: move focus to the error summary, so the person (and a
// screen reader) starts from the list of what to fix. Each entry links to
// its field; following a link focuses the field and shows its label.
(function () {
  "use strict";
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) return;
  summary.focus();
  summary.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[href^='#']") : null;
    if (!a) return;
    var input = document.getElementById(a.getAttribute("href").slice(1));
    if (!input) return;
    e.preventDefault();
    var label = document.querySelector("label[for='" + input.id + "']");
    var legend = input.closest("fieldset") && input.closest("fieldset").querySelector("legend");
    (legend || label || input).scrollIntoView();
    input.focus({ preventScroll: true });
  });
})();
