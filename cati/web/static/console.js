/* cati interviewer console: keyboard shortcuts, focus, a heartbeat, one request per answer. No
 * framework, no external files. Every action is an ordinary form, so the console works without
 * this file (Post/Redirect/Get: two requests per answer). With it, the interview's forms (answer,
 * back, interview language) are sent with fetch and the header X-Cati-Inline: 1, and the next
 * screen in the response replaces the page's content. Anything else (a redirect, another status,
 * no connection) falls back to the ordinary submission or a page load; the form's revision keeps
 * an answer from being stored twice. The keys:
 *
 *   digits            type an answer code (several digits for codes like 96); Enter chooses and
 *                     goes on; in multiple-answer questions Space ticks/unticks the typed code;
 *                     in grids a code answers the highlighted row and moves to the next
 *   Enter             go on                      Backspace, Alt+Left   back
 *   D / R             don't know / refused (when the question allows them)
 *   O                 call outcome panel (there: number, Enter)      Esc   leave a field, close
 *   N                 next case (start page, after an interview)
 */
(function () {
  "use strict";

  var TEXT_TYPES = ["text", "tel", "date", "time", "number", "search", "email", "password", "url"];
  var INLINE_FORMS = ["answer-form", "interview-language-form"];
  // The page's state: set by init() on load and after every screen that replaced the content.
  var root = null;
  var phase = null;
  var answerForm = null;
  var outcomeForm = null;
  var startForm = null;
  var gridRows = [];
  var currentRow = 0;
  var banner = null;
  // Across screens.
  var buffer = "";
  var bufferTimer = null;
  var heartbeatTimer = null;
  var clockTimer = null;
  var clockSkew = 0;  // the server's clock minus the PC's (ms)

  function $$(selector, scope) {
    return Array.prototype.slice.call((scope || document).querySelectorAll(selector));
  }

  function isTyping(element) {
    if (!element) {
      return false;
    }
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") {
      return true;
    }
    if (tag === "INPUT") {
      return TEXT_TYPES.indexOf(element.type) >= 0;
    }
    return Boolean(element.isContentEditable);
  }

  function setBuffer(value) {
    buffer = value;
    window.clearTimeout(bufferTimer);
    if (buffer) {
      bufferTimer = window.setTimeout(function () { setBuffer(""); markPending(null); }, 2500);
    }
  }

  // ---- submitting: once per page; interview steps in one request ----------------------------
  function onSubmit(event) {
    var form = event.target;
    if (event.defaultPrevented || !form || form.tagName !== "FORM") {
      return;
    }
    if (lock && root && root.contains(form)) {
      event.preventDefault();  // the case is worked on in another window
      return;
    }
    if (form.getAttribute("data-sent")) {
      event.preventDefault();  // a double Enter: the first submission is on its way
      return;
    }
    form.setAttribute("data-sent", "1");
    // event.submitter (null when there is no button) tells which button was pressed: without it
    // the browser's own submission keeps DK/REF, confirm and Back.
    if (INLINE_FORMS.indexOf(form.id) >= 0 && root && root.contains(form) && event.submitter !== undefined
        && window.fetch && window.DOMParser && window.URLSearchParams && window.history.replaceState
        && Element.prototype.replaceChildren) {
      event.preventDefault();
      sendInline(form, event.submitter);
    }
  }

  /* The case screen's path (the response's X-Cati-Location, else the page's own). Only the path:
   * the history accepts nothing of another origin. */
  function casePath(location) {
    var url = new URL(location || root.getAttribute("data-case-url") || window.location.href, window.location.href);
    return url.pathname + url.search;
  }

  /* What the browser would have sent without this file; it does not come back here. */
  function submitNatively(form, submitter) {
    if (!form.isConnected) {
      window.location.assign(casePath(null));
      return;
    }
    if (submitter && submitter.name) {
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = submitter.name;
      field.value = submitter.value;
      form.appendChild(field);
    }
    if (submitter && submitter.hasAttribute("formaction")) {
      form.setAttribute("action", submitter.formAction);
    }
    HTMLFormElement.prototype.submit.call(form);
  }

  function sendInline(form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    var action = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    var fallback = casePath(null);
    var shown = false;
    window.fetch(action, {
      method: "POST",
      body: new URLSearchParams(data),
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-Cati-Inline": "1", "Accept": "text/html" }
    }).then(function (response) {
      if (response.type === "opaqueredirect") {
        // Refused with a redirect (an old revision: another tab was faster); its message waits in
        // the session for the case screen.
        window.location.assign(fallback);
        return null;
      }
      var type = response.headers.get("Content-Type") || "";
      if (response.status === 409) {
        // The case is no longer this interviewer's; nothing was stored. The case screen says why
        // (sending the form again would only be refused again).
        window.location.assign(fallback);
        return null;
      }
      if ((response.status !== 200 && response.status !== 422) || type.indexOf("text/html") !== 0) {
        submitNatively(form, submitter);
        return null;
      }
      return response.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (doc.getElementById("console-step") && phase === "interview" && document.getElementById("console-main")) {
          shown = true;
          showStep(doc, response.headers.get("X-Cati-Location"));
          return;
        }
        if (!doc.getElementById("console") || !doc.getElementById("main") || !document.getElementById("main")) {
          submitNatively(form, submitter);
          return;
        }
        shown = true;
        showScreen(doc, response.headers.get("X-Cati-Location"));
      });
    }).catch(function () {
      if (shown) {
        window.location.assign(fallback);  // the new screen broke half-way: load it properly
      } else {
        submitNatively(form, submitter);  // no answer from the server: the revision guards a repeat
      }
    });
  }

  /* The response's content replaces the page's (the stylesheet and this script stay). */
  function showScreen(doc, location) {
    var main = document.getElementById("main");
    var keep = function (el) { return el.tagName === "LINK" || el.tagName === "SCRIPT"; };
    Array.prototype.slice.call(main.children).forEach(function (el) {
      if (!keep(el)) {
        el.remove();
      }
    });
    Array.prototype.slice.call(doc.getElementById("main").children).forEach(function (el) {
      if (!keep(el)) {
        main.appendChild(el);
      }
    });
    settle(doc, location);
  }

  /* A step of a running interview: its messages, progress and question take the place of the
     page's; the case bar, contact panel and key help stay as they are. */
  function showStep(doc, location) {
    var main = document.getElementById("main");
    var notice = function (el) { return el.classList.contains("notice"); };
    Array.prototype.slice.call(main.children).filter(notice).forEach(function (el) { el.remove(); });
    Array.prototype.slice.call(doc.getElementById("main").children).filter(notice).forEach(function (el) {
      main.insertBefore(el, root);
    });
    ["console-progress", "console-main"].forEach(function (id) {
      var here = document.getElementById(id);
      if (here) {
        here.replaceChildren.apply(here, Array.prototype.slice.call(doc.getElementById(id).childNodes));
      }
    });
    settle(doc, location);
  }

  /* The respondent's local time in the case bar stays current: the page stays for a whole
     interview (steps replace the question only). The server's clock, not the PC's, with the
     browser's knowledge of the respondent's time zone (its DST rules included). */
  function tickClock() {
    $$(".local-clock[data-tz]").forEach(function (el) {
      try {
        el.textContent = new Intl.DateTimeFormat(document.documentElement.lang, {
          hour: "numeric", minute: "2-digit", timeZone: el.getAttribute("data-tz")
        }).format(new Date(Date.now() + clockSkew));
      } catch (error) {
        // no Intl or an unknown zone: the time the server rendered stays
      }
    });
  }

  /* After new content: the title, the address, the keys, the focus. */
  function settle(doc, location) {
    document.title = doc.title;
    window.history.replaceState(null, "", casePath(location));
    window.scrollTo(0, 0);
    init();
    var first = document.getElementById("main").querySelector("[autofocus]");
    if (first) {
      first.focus();
    }
  }

  function submit(form, submitter) {
    if (!form) {
      return;
    }
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(submitter || undefined);
    } else if (submitter) {
      submitter.click();
    } else {
      form.submit();
    }
  }

  // ---- options ------------------------------------------------------------------------------
  function codeInputs(scope) {
    return $$("input[data-code]", scope);
  }

  function markPending(input) {
    $$(".pending").forEach(function (el) { el.classList.remove("pending"); });
    if (input && input.parentElement) {
      input.parentElement.classList.add("pending");
    }
  }

  /* The input whose code is the typed digits; digits that start no code start over. */
  function matchCode(inputs, digit) {
    var candidate = buffer + digit;
    var starts = inputs.filter(function (i) { return i.getAttribute("data-code").indexOf(candidate) === 0; });
    if (!starts.length) {
      candidate = digit;
      starts = inputs.filter(function (i) { return i.getAttribute("data-code").indexOf(candidate) === 0; });
    }
    if (!starts.length) {
      setBuffer("");
      return { input: null, unique: false };
    }
    setBuffer(candidate);
    var exact = starts.filter(function (i) { return i.getAttribute("data-code") === candidate; })[0] || null;
    return { input: exact, unique: starts.length === 1 };
  }

  // ---- grids --------------------------------------------------------------------------------
  function rowAnswered(row) {
    return $$("input[type=radio]", row).some(function (i) { return i.checked; });
  }

  function showRow(index) {
    if (!gridRows.length) {
      return;
    }
    currentRow = Math.max(0, Math.min(index, gridRows.length - 1));
    gridRows.forEach(function (row, i) { row.classList.toggle("current", i === currentRow); });
  }

  function answerRow(input) {
    input.checked = true;
    var next = currentRow + 1;
    while (next < gridRows.length && rowAnswered(gridRows[next])) {
      next += 1;
    }
    showRow(next < gridRows.length ? next : currentRow);
    var focusable = $$("input[type=radio]", gridRows[currentRow]).filter(function (i) { return i.checked; })[0]
      || $$("input[type=radio]", gridRows[currentRow])[0];
    if (focusable) {
      focusable.focus();
    }
  }

  // ---- the interview screen -----------------------------------------------------------------
  function answerType() {
    return answerForm ? answerForm.getAttribute("data-type") : null;
  }

  function special(name) {
    if (answerType() === "grid") {
      var input = gridRows.length && $$("input[data-special=" + name + "]", gridRows[currentRow])[0];
      if (input) {
        answerRow(input);
        return true;
      }
      return false;
    }
    var button = answerForm.querySelector("button[data-special=" + name + "]");
    if (button) {
      submit(answerForm, button);
      return true;
    }
    return false;
  }

  function goBack() {
    var back = document.getElementById("back-button");
    if (back) {
      submit(answerForm, back);
      return true;
    }
    return false;
  }

  function goOn() {
    submit(answerForm, document.getElementById("next-button"));
  }

  function interviewDigit(digit) {
    var type = answerType();
    if (type === "grid") {
      var rowInputs = codeInputs(gridRows[currentRow]);
      var found = matchCode(rowInputs, digit);
      if (found.input && found.unique) {
        setBuffer("");
        answerRow(found.input);
      }
      return true;
    }
    var inputs = codeInputs(answerForm);
    if (!inputs.length) {
      return false;
    }
    var match = matchCode(inputs, digit);
    if (type === "multi") {
      markPending(match.input);
    } else if (match.input) {
      match.input.checked = true;
      match.input.focus();
    }
    return true;
  }

  function interviewKey(event) {
    var key = event.key;
    var target = event.target;
    var typing = isTyping(target);
    var numeric = typing && target.classList && (target.classList.contains("input-number") || target.type === "date");
    if (key === "ArrowLeft" && event.altKey) {
      return goBack();
    }
    if (event.altKey || event.ctrlKey || event.metaKey) {
      return false;
    }
    if (typing) {
      if (key === "Escape") {
        target.blur();
        answerForm.focus();
        return true;
      }
      // Letters mean nothing in a number or date field: D and R still give don't know/refused.
      if (numeric && (key === "d" || key === "D")) {
        return special("DK");
      }
      if (numeric && (key === "r" || key === "R")) {
        return special("REF");
      }
      return false;
    }
    if (/^[0-9]$/.test(key)) {
      return interviewDigit(key);
    }
    if (key === " " && answerType() === "multi" && buffer) {
      var pending = codeInputs(answerForm).filter(function (i) { return i.getAttribute("data-code") === buffer; })[0];
      if (pending) {
        pending.checked = !pending.checked;
        pending.focus();
      }
      setBuffer("");
      markPending(null);
      return true;
    }
    if (key === "Enter") {
      if (target && (target.tagName === "BUTTON" || target.tagName === "A" || target.tagName === "SUMMARY")) {
        return false;  // the focused control does what it says
      }
      if (buffer) {
        var chosen = codeInputs(answerType() === "grid" ? gridRows[currentRow] : answerForm)
          .filter(function (i) { return i.getAttribute("data-code") === buffer; })[0];
        setBuffer("");
        markPending(null);
        if (chosen && answerType() === "grid") {
          answerRow(chosen);
          return true;
        }
        if (chosen) {
          chosen.checked = true;
        }
      }
      goOn();
      return true;
    }
    if (key === "Backspace") {
      if (buffer) {
        setBuffer(buffer.slice(0, -1));
        return true;
      }
      return goBack();
    }
    if (key === "d" || key === "D") {
      return special("DK");
    }
    if (key === "r" || key === "R") {
      return special("REF");
    }
    if (key === "Escape") {
      setBuffer("");
      markPending(null);
      return true;
    }
    return false;
  }

  // ---- the outcome panel --------------------------------------------------------------------
  function selectedOutcome() {
    return outcomeForm ? $$("input[name=outcome]", outcomeForm).filter(function (i) { return i.checked; })[0] : null;
  }

  function syncOutcomeFields() {
    var chosen = selectedOutcome();
    var appointment = document.getElementById("appointment-fields");
    if (appointment) {
      appointment.hidden = !(chosen && chosen.hasAttribute("data-appointment"));
    }
  }

  function openOutcomes() {
    if (outcomeForm) {
      var target = selectedOutcome() || $$("input[name=outcome]", outcomeForm)[0];
      if (target) {
        target.focus();
      }
      return true;
    }
    var link = document.getElementById("outcome-link");
    if (link) {
      window.location.href = link.href;  // during an interview the outcome has its own page
      return true;
    }
    return false;
  }

  function leavePage() {
    var back = document.getElementById("back-to-case");
    if (back && (phase === "outcome" || phase === "details")) {
      window.location.href = back.href;
      return true;
    }
    return false;
  }

  function outcomeKey(event) {
    var key = event.key;
    var target = event.target;
    if (key === "Escape" && !isTyping(target)) {
      return leavePage();
    }
    if (isTyping(target)) {
      if (key === "Escape") {
        target.blur();
        return true;
      }
      if (key === "Enter" && (event.ctrlKey || event.metaKey)) {
        submit(outcomeForm);
        return true;
      }
      return false;
    }
    if (event.altKey || event.ctrlKey || event.metaKey) {
      return false;
    }
    if (/^[0-9]$/.test(key)) {
      var found = matchCode(codeInputs(outcomeForm), key);
      if (found.input) {
        found.input.checked = true;
        found.input.focus();
        syncOutcomeFields();
      }
      return true;
    }
    if (key === "Enter" && target.tagName !== "BUTTON") {
      setBuffer("");
      var chosen = selectedOutcome();
      var date = document.getElementById("appointment-date");
      var note = document.getElementById("outcome-note");
      if (chosen && chosen.hasAttribute("data-appointment") && date && !date.value) {
        date.focus();
        return true;
      }
      if (chosen && chosen.hasAttribute("data-note-required") && note && !note.value.trim()) {
        note.focus();
        return true;
      }
      submit(outcomeForm);
      return true;
    }
    return false;
  }

  // ---- one key handler for the page ---------------------------------------------------------
  function onKey(event) {
    if (event.defaultPrevented || event.isComposing || lock) {
      return;
    }
    var target = event.target;
    var handled = false;
    var plain = !isTyping(target) && !event.altKey && !event.ctrlKey && !event.metaKey;
    var inOutcomes = outcomeForm && (outcomeForm.contains(target) || (phase === "outcome" && plain));
    if (inOutcomes) {
      handled = outcomeKey(event);
    } else if (plain && (event.key === "o" || event.key === "O")) {
      handled = openOutcomes();
    } else if (plain && event.key === "Escape") {
      handled = leavePage();
    } else if (!isTyping(target) && !event.altKey && !event.ctrlKey && !event.metaKey
               && (event.key === "n" || event.key === "N")) {
      var next = document.querySelector("form[data-next-case]");
      if (next && phase !== "interview" && phase !== "contact") {
        submit(next);
        handled = true;
      }
    } else if (phase === "interview" && answerForm && !(target && target.closest && target.closest(".contact-panel, .interview-lang"))) {
      handled = interviewKey(event);
    } else if (phase === "contact" && event.key === "Enter" && startForm
               && (target === document.body || target === root)) {
      submit(startForm);
      handled = true;
    }
    if (handled) {
      event.preventDefault();
    }
  }

  // ---- heartbeat: keeps the claim while the interviewer works --------------------------------
  function showBanner(message) {
    if (!message) {
      return;
    }
    if (!banner) {
      banner = document.createElement("p");
      banner.className = "notice notice-error connection-banner";
      banner.setAttribute("role", "alert");
      root.insertBefore(banner, root.firstChild);
    }
    banner.textContent = message;
  }

  function beat() {
    var heartbeatUrl = root.getAttribute("data-heartbeat-url");
    if (!window.fetch || !heartbeatUrl) {
      return;
    }
    window.fetch(heartbeatUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": root.getAttribute("data-csrf") || "", "Accept": "application/json" }
    }).then(function (response) {
      if (response.status === 409) {
        showBanner(root.getAttribute("data-lost-message"));
      } else if (response.ok && banner) {
        banner.remove();
        banner = null;
      }
    }).catch(function () {
      showBanner(root.getAttribute("data-offline-message"));
    });
  }

  // ---- one window per case -------------------------------------------------------------------
  /* The same case open in a second window or tab: the window that had it first keeps it; the
   * newer one says so and takes no input until the interviewer continues there ("Continue here"),
   * which locks the other one and reloads this one (the other may have got further). The windows
   * talk over a BroadcastChannel (same browser). Without it, or without JavaScript, the server
   * still refuses what a window that is behind sends (its revision is old): nothing is lost. */
  var channel = null;
  var windowId = String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  var openedAt = Date.now();
  var lock = null;

  function caseKey() {
    return root ? root.getAttribute("data-heartbeat-url") : null;
  }

  function lockHere() {
    if (lock || !root || !caseKey()) {
      return;
    }
    lock = document.createElement("div");
    lock.className = "notice notice-error window-lock";
    lock.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.textContent = root.getAttribute("data-other-window-message") || "";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button-secondary";
    button.textContent = root.getAttribute("data-continue-here-label") || "";
    button.addEventListener("click", continueHere);
    lock.appendChild(text);
    lock.appendChild(button);
    Array.prototype.slice.call(root.children).forEach(function (el) { el.inert = true; });
    root.insertBefore(lock, root.firstChild);
    root.classList.add("console-locked");
    if (document.activeElement && root.contains(document.activeElement)) {
      document.activeElement.blur();  // no focus on the button either: a habitual Enter takes nothing over
    }
  }

  /* Reload, and say "take" from the reloaded page (a message sent now could reach the other
   * window after the reloaded page's "hello", which that window, not yet locked, would answer). */
  function continueHere() {
    window.sessionStorage.setItem("cati-take", caseKey());
    window.location.reload();
  }

  function onMessage(event) {
    var message = event.data || {};
    if (message.key !== caseKey() || message.from === windowId) {
      return;
    }
    if (message.type === "hello" && !lock && openedAt <= message.since) {
      channel.postMessage({ type: "here", key: caseKey(), from: windowId, since: openedAt });
    } else if ((message.type === "here" && message.since <= openedAt) || message.type === "take") {
      lockHere();
    }
  }

  function watchOtherWindows() {
    if (!window.BroadcastChannel || !caseKey()) {
      return;
    }
    channel = new window.BroadcastChannel("cati-console");
    channel.onmessage = onMessage;
    var taking = window.sessionStorage.getItem("cati-take") === caseKey();
    window.sessionStorage.removeItem("cati-take");
    channel.postMessage({ type: taking ? "take" : "hello", key: caseKey(), from: windowId, since: openedAt });
  }

  // ---- the page ------------------------------------------------------------------------------
  /* The state of the screen on show: on load and after every screen that replaced the content
   * (its elements are new; the document's handlers and the heartbeat's timer are not). */
  function init() {
    root = document.getElementById("console");
    if (!root) {
      return false;
    }
    phase = root.getAttribute("data-phase");
    answerForm = document.getElementById("answer-form");
    outcomeForm = document.getElementById("outcome-form");
    startForm = document.getElementById("start-form");
    banner = root.querySelector(".connection-banner");  // a step keeps #console, and its banner
    setBuffer("");
    gridRows = answerForm ? $$("table.grid tbody tr", answerForm) : [];
    currentRow = 0;
    if (gridRows.length) {
      var firstOpen = gridRows.findIndex(function (row) { return !rowAnswered(row); });
      showRow(firstOpen >= 0 ? firstOpen : 0);
      gridRows.forEach(function (row, index) {
        row.addEventListener("focusin", function () { showRow(index); });
      });
    }
    if (outcomeForm) {
      outcomeForm.addEventListener("change", syncOutcomeFields);
      syncOutcomeFields();
    }
    if (answerForm) {
      answerForm.setAttribute("tabindex", "-1");  // Esc from a field lands here; keys keep working
    }
    if (heartbeatTimer === null && root.getAttribute("data-heartbeat-url")) {
      heartbeatTimer = window.setInterval(beat, 60000);
    }
    if (clockTimer === null && document.querySelector(".local-clock")) {
      clockSkew = Number(document.querySelector(".local-clock").getAttribute("data-now")) - Date.now();
      tickClock();
      clockTimer = window.setInterval(tickClock, 15000);
    }
    return true;
  }

  if (init()) {
    document.addEventListener("submit", onSubmit);
    document.addEventListener("keydown", onKey);
    watchOtherWindows();
  }
}());
