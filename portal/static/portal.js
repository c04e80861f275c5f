// Herald portal: the copy buttons. Everything else works without this file; htmx
// (served beside it) only makes the test result appear in place.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  var text = source.textContent;
  var done = function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
  } else {
    // Not a secure context (plain HTTP on another host): select the text so that
    // Ctrl+C or the menu copies it.
    selectText(source);
    button.textContent = "Selected: press Ctrl+C";
  }
});

function selectText(node) {
  var range = document.createRange();
  range.selectNodeContents(node);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

// The webhook form's endpoint authentication: only the chosen method's fields show.
// Without this file every method's fields show, and only the chosen one's are read.
(function () {
  var select = document.getElementById("auth_type");
  if (!select) return;
  var show = function () {
    document.querySelectorAll(".auth-method").forEach(function (group) {
      group.hidden = group.getAttribute("data-auth") !== select.value;
    });
  };
  select.addEventListener("change", show);
  show();
})();
