// Comparisons: the phone's column switcher, and each column's live figures while
// its answer is written (first-token time, tokens/s, tokens and cost). The live
// figures are estimates (about 4 characters a token); the server's exact
// figures replace them when the answer ends.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest(".comparison-switcher [data-column]");
    if (!tab) return;
    var section = tab.closest(".comparison");
    var column = tab.getAttribute("data-column");
    section.querySelectorAll(".comparison-switcher [data-column]").forEach(function (button) {
      button.setAttribute("aria-selected", String(button === tab));
    });
    section.querySelectorAll(".comparison-column").forEach(function (panel) {
      panel.classList.toggle("is-active", panel.getAttribute("data-column") === column);
    });
  });

  // A comparison is one message: once the server took it (it resets the
  // composer's text), the ticks are cleared, so the next message is a plain one.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "composer-input") return;
    var options = document.querySelector("#composer .compare-options");
    if (!options) return;
    options.querySelectorAll("input[type=checkbox]").forEach(function (box) { box.checked = false; });
    options.open = false;
  });

  // When this page first saw each streaming answer, and its first text.
  var started = {}, firstText = {};

  function dollars(amount) {
    return "$" + (amount >= 0.01 ? amount.toFixed(4) : amount.toPrecision(2));
  }

  function update() {
    var now = performance.now();
    // Stop all goes once nothing is written any more (Esc clicks the first Stop).
    document.querySelectorAll(".comparison-stop-all").forEach(function (form) {
      if (!form.closest(".comparison").querySelector("article.is-streaming")) form.remove();
    });
    document.querySelectorAll(".comparison article.is-streaming").forEach(function (article) {
      var live = article.querySelector(".comparison-live");
      var body = article.querySelector(".message-body");
      if (!live || !body) return;
      var id = article.id;
      if (!(id in started)) started[id] = now;
      var text = body.textContent;
      if (!text) return;
      if (!(id in firstText)) firstText[id] = now;
      var tokens = Math.max(1, Math.round(text.length / 4));
      var seconds = (now - firstText[id]) / 1000;
      var priced = "priceOut" in live.dataset;
      var cost = (Number(live.dataset.inputTokens) * Number(live.dataset.priceIn) +
                  tokens * Number(live.dataset.priceOut)) / 1000;
      live.textContent = live.dataset.i18nFirst + " " + Math.round(firstText[id] - started[id]) +
        " ms · ≈" + tokens + " " + live.dataset.i18nTokens +
        (seconds > 0.2 ? " · ≈" + (tokens / seconds).toFixed(1) + " " + live.dataset.i18nTokens + "/s" : "") +
        (priced ? " · ≈" + dollars(cost) : "");
    });
  }
  setInterval(update, 250);
})();
