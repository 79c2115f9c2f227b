// apikeys console: the copy button of the page that shows a secret once.
// No other script; none inline (the Content-Security-Policy forbids it).
document.addEventListener("click", function (ev) {
  var b = ev.target.closest("button[data-copy]");
  if (!b) return;
  var el = document.getElementById(b.getAttribute("data-copy"));
  var note = b.parentElement.querySelector(".copied");
  if (!el || !navigator.clipboard) {
    if (note) note.textContent = "Select the secret and copy it.";
    return;
  }
  navigator.clipboard.writeText(el.textContent).then(function () {
    if (note) note.textContent = "Copied.";
  }, function () {
    if (note) note.textContent = "Copy failed: select the secret and copy it.";
  });
});
