// Parley's small client script: keyboard and scrolling. Everything else is htmx.
(function () {
  "use strict";

  // Enter sends, Shift+Enter starts a new line (not while an IME is composing).
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.matches || !target.matches("textarea[data-composer]")) return;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (target.value.trim() === "") return;
    target.form.requestSubmit();
  });

  // Keep the newest text in view unless the reader scrolled up.
  var stickToBottom = true;
  function messages() { return document.getElementById("messages"); }
  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 80; }
  document.addEventListener("scroll", function (event) {
    if (event.target === messages()) stickToBottom = nearBottom(event.target);
  }, true);
  function follow() {
    var el = messages();
    if (el && stickToBottom) el.scrollTop = el.scrollHeight;
  }
  document.addEventListener("htmx:wsAfterMessage", follow);
  document.addEventListener("DOMContentLoaded", function () {
    follow();
    var input = document.querySelector("textarea[data-composer]");
    if (input) input.focus();
  });
  // A new composer arrives after each send: focus it.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.matches) return;
    var input = target.matches("textarea[data-composer]")
      ? target : target.querySelector("textarea[data-composer]");
    if (input) input.focus();
  });
  // Plain forms: a second click must not send twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form.composer--new")) {
      var button = form.querySelector("button[type=submit]");
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      if (button) button.disabled = true;
    }
  });
})();
