// Parley's small client script: keyboard and scrolling. Everything else is htmx.
(function () {
  "use strict";

  // Enter sends, Shift+Enter starts a new line (not while an IME is composing),
  // in the composer and in a message being edited.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.matches || !target.matches("textarea[data-composer], textarea[data-enter-sends]")) return;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (target.value.trim() === "") return;
    target.form.requestSubmit();
  });

  // Up arrow in an empty composer edits the last message you sent; Esc in the
  // editor puts it away.
  function openEditor(details) {
    details.open = true;
    var area = details.querySelector("textarea");
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    details.scrollIntoView({block: "nearest"});
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.matches) return;
    if (event.key === "ArrowUp" && target.matches("textarea[data-composer]") &&
        target.value === "" && !event.shiftKey && !event.isComposing) {
      var editors = document.querySelectorAll(".message--user details.edit-message");
      if (editors.length) { event.preventDefault(); openEditor(editors[editors.length - 1]); }
    } else if (event.key === "Escape" && target.matches("textarea[data-enter-sends]")) {
      event.preventDefault();
      event.stopPropagation();
      target.closest("details").open = false;
      var composer = document.querySelector("textarea[data-composer]");
      if (composer) composer.focus();
    }
  }, true);

  // Keep the newest text in view unless the reader scrolled up; then offer a
  // "Jump to latest" button instead.
  var stickToBottom = true;
  function messages() { return document.getElementById("messages"); }
  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 80; }
  function showJump(show) {
    var jump = document.getElementById("jump-latest");
    if (jump) jump.hidden = !show;
  }
  document.addEventListener("scroll", function (event) {
    if (event.target === messages()) {
      stickToBottom = nearBottom(event.target);
      showJump(!stickToBottom);
    }
  }, true);
  function follow() {
    var el = messages();
    // A new chat's welcome is read from its top; a conversation from its end.
    if (el && stickToBottom && el.querySelector("article")) el.scrollTop = el.scrollHeight;
  }
  document.addEventListener("click", function (event) {
    if (event.target.id === "jump-latest") {
      stickToBottom = true;
      showJump(false);
      var el = messages();
      if (el) el.scrollTop = el.scrollHeight;
    }
  });

  // Copy: a message's markdown source, or one code block's text.
  // The words come translated from the page: <body data-i18n-copied="..."> etc.
  function word(name, english) {
    var value = document.body && document.body.dataset["i18n" + name];
    return value || english;
  }
  function flash(button, text) {
    var before = button.textContent;
    button.textContent = text;
    setTimeout(function () { button.textContent = before; }, 1200);
  }
  function copy(text, button) {
    if (!navigator.clipboard) { flash(button, word("CopyFailed", "Copy failed")); return; }
    navigator.clipboard.writeText(text).then(
      function () { flash(button, word("Copied", "Copied")); },
      function () { flash(button, word("CopyFailed", "Copy failed")); }
    );
  }
  // A message's own page carries its markdown once (rendered): the source is
  // fetched on click. The clipboard gets the pending fetch at once, so that
  // the click still counts as the user's gesture when the text arrives.
  function copyFrom(url, button) {
    var text = fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.text();
    });
    if (window.ClipboardItem && navigator.clipboard && navigator.clipboard.write) {
      var item = new ClipboardItem({
        "text/plain": text.then(function (t) { return new Blob([t], { type: "text/plain" }); })
      });
      navigator.clipboard.write([item]).then(
        function () { flash(button, word("Copied", "Copied")); },
        function () { flash(button, word("CopyFailed", "Copy failed")); }
      );
    } else {
      text.then(function (t) { copy(t, button); },
                function () { flash(button, word("CopyFailed", "Copy failed")); });
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button") : null;
    if (!button) return;
    if (button.matches(".copy-button[data-copy-url]")) {
      copyFrom(button.getAttribute("data-copy-url"), button);
    } else if (button.matches(".copy-button[data-copy]")) {
      copy(button.getAttribute("data-copy"), button);
    } else if (button.matches(".code-copy-button")) {
      var pre = button.parentElement.querySelector("pre");
      if (pre) copy(pre.innerText, button);
    }
  });
  function addCodeCopyButtons(root) {
    if (!root.querySelectorAll) return;
    root.querySelectorAll(".markdown pre").forEach(function (pre) {
      if (pre.parentElement.classList.contains("code-block")) return;
      var wrapper = document.createElement("div");
      wrapper.className = "code-block";
      pre.parentNode.insertBefore(wrapper, pre);
      wrapper.appendChild(pre);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "code-copy-button";
      button.textContent = word("CopyCode", "Copy code");
      wrapper.insertBefore(button, pre);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { addCodeCopyButtons(document); });
  document.addEventListener("htmx:load", function (event) { addCodeCopyButtons(event.detail.elt); });

  // Phones: the sidebar opens over the chat from the top bar's button.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest ? event.target.closest(".sidebar-toggle") : null;
    if (!toggle) return;
    var open = document.body.classList.toggle("sidebar-open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // Keyboard: Esc stops the answer being written; Ctrl/Cmd+Shift+O opens a new chat.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      // Esc closes an open dialog or menu first (the browser does the dialog).
      if (document.querySelector("dialog[open], details.menu[open]")) return;
      var stop = document.querySelector(".stop-button");
      if (stop) { event.preventDefault(); stop.click(); }
    } else if ((event.ctrlKey || event.metaKey) && event.shiftKey && event.key.toLowerCase() === "o") {
      var link = document.querySelector("[data-shortcut=new-chat]");
      if (link) { event.preventDefault(); window.location.assign(link.href); }
    }
  });
  // Redrawing the branch (another version chosen) keeps the reader's place.
  // Focus stays on the version buttons that were used (the same versions of the
  // same message, now showing another one), also when a reply's last frame
  // redraws the message whose version buttons have the focus.
  var keptScroll = null, keptFocus = null;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "messages") keptScroll = messages().scrollTop;
    var active = document.activeElement;
    if (!active || !target.contains(active)) return;
    var versions = active.closest ? active.closest("[data-versions-of]") : null;
    keptFocus = versions
      ? {of: versions.getAttribute("data-versions-of"), label: active.getAttribute("aria-label")}
      : null;
  });
  // When the socket opens (or reopens), name the replies this page shows as
  // still being written: one that ended before the socket opened is drawn whole
  // by the server, instead of spinning until a reload.
  document.addEventListener("htmx:wsOpen", function (event) {
    var ids = [];
    document.querySelectorAll("article.message--assistant.is-streaming").forEach(function (article) {
      ids.push(article.id.replace("msg-", ""));
    });
    if (ids.length) {
      event.detail.socketWrapper.send(JSON.stringify({action: "sync", message_ids: ids}));
    }
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (keptScroll !== null && !stickToBottom) messages().scrollTop = keptScroll;
    keptScroll = null;
    if (keptFocus) {
      var nav = document.querySelector('[data-versions-of="' + keptFocus.of + '"]');
      var buttons = nav ? nav.querySelectorAll("button:not([disabled])") : [];
      var same = nav ? nav.querySelector('button[aria-label="' + keptFocus.label + '"]:not([disabled])') : null;
      if (same || buttons.length) (same || buttons[0]).focus();
      keptFocus = null;
    }
    follow();
  });
  document.addEventListener("DOMContentLoaded", function () {
    follow();
    var input = document.querySelector("textarea[data-composer]");
    if (input) input.focus({preventScroll: true});
  });
  // A conversation opens at its end: again once fonts and code buttons have
  // settled the height (the reader has not scrolled yet, so this is where they were).
  window.addEventListener("load", follow);
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

  // Menus (<details class="menu">): one open at a time; a click elsewhere or Esc closes them.
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest ? event.target.closest("details.menu") : null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menu = document.querySelector("details.menu[open]");
    if (!menu) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  });

  // Dialogs: a button with data-dialog="id" opens that native <dialog>; its
  // forms post with htmx, and one marked data-close-on-success closes once saved.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest ? event.target.closest("[data-dialog]") : null;
    if (!opener) return;
    var dialog = document.getElementById(opener.getAttribute("data-dialog"));
    if (!dialog || dialog.open) return;
    closeMenus(null);
    dialog.showModal();
  });
  // Watched on the request itself: by the time it ends, the settings frame that
  // the socket pushes to every tab may have replaced the form, and htmx's own
  // events on a detached form no longer reach the document.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var dialog = event.detail.elt.closest ? event.detail.elt.closest("dialog[data-close-on-success]") : null;
    var xhr = event.detail.xhr;
    if (!dialog || !xhr) return;
    xhr.addEventListener("load", function () {
      if (xhr.status >= 200 && xhr.status < 300) dialog.close();
    });
  });

  // Example prompts on a new chat: one click puts the words in the composer.
  document.addEventListener("click", function (event) {
    var example = event.target.closest ? event.target.closest("[data-prompt]") : null;
    if (!example) return;
    var input = document.querySelector("textarea[data-composer]");
    if (!input) return;
    input.value = example.getAttribute("data-prompt");
    input.focus();
  });

  // Sidebar search: Down arrow moves from the box into the results, Up/Down
  // between them, Esc clears the box (and shows the conversation list again).
  function searchHits() {
    return Array.prototype.slice.call(document.querySelectorAll("#search-results [data-search-hit]"));
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.matches) return;
    var box = document.getElementById("sidebar-search-q");
    if (!box) return;
    var inBox = target === box, inHits = target.matches("#search-results [data-search-hit]");
    if (!inBox && !inHits) return;
    var hits = searchHits(), index = hits.indexOf(target);
    if (event.key === "ArrowDown" && hits.length) {
      event.preventDefault();
      hits[Math.min(index + 1, hits.length - 1)].focus();
    } else if (event.key === "ArrowUp" && inHits) {
      event.preventDefault();
      if (index > 0) hits[index - 1].focus(); else box.focus();
    } else if (event.key === "Escape" && (box.value || inHits)) {
      event.preventDefault();
      event.stopPropagation();
      box.value = "";
      document.getElementById("search-results").innerHTML = "";
      box.focus();
    }
  }, true);
})();
