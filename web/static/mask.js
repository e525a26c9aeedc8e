// Masked fields (the SSN): what is typed is hidden, with a button that shows
// it. The field is plain text (inputmode numeric, autocomplete off), not a
// password field, so the browser neither offers to save the SSN as a
// password nor fills it in later; the mask is the "masked" class (idv.css).
// Without JavaScript the field shows what is typed.
(function () {
  "use strict";
  var fields = document.querySelectorAll("input[data-mask]");
  Array.prototype.forEach.call(fields, function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link mask-toggle";
    button.setAttribute("aria-controls", input.id);

    function show(shown) {
      input.classList.toggle("masked", !shown);
      button.textContent = shown ? "Hide" : "Show";
      // The label stays; its state is the pressed state.
      button.setAttribute("aria-pressed", shown ? "true" : "false");
    }

    var label = document.querySelector("label[for='" + input.id + "']");
    button.setAttribute("aria-label", "Show " + (label ? label.textContent : "what you typed"));
    button.addEventListener("click", function () {
      show(input.classList.contains("masked"));
      input.focus();
    });
    input.insertAdjacentElement("afterend", button);
    show(false);
  });
})();
