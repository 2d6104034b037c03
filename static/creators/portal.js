// The creator portal's only script: copy buttons (`data-copy`). Without it the links stay
// selectable in their read-only fields.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var text = button.getAttribute("data-copy");
  var done = function () {
    var label = button.textContent;
    button.textContent = "Copied";
    button.setAttribute("data-copied", "true");
    setTimeout(function () { button.textContent = label; button.removeAttribute("data-copied"); }, 1500);
  };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(text).then(done, function () { fallback(button, text, done); });
  } else {
    fallback(button, text, done);
  }
});

function fallback(button, text, done) {
  var field = button.parentElement.querySelector(".copy-source");
  if (field) { field.focus(); field.select(); }
  try { if (document.execCommand("copy")) done(); } catch (e) { /* selected for the user */ }
}
