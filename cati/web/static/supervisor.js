// Keeps the open dashboard current without a reload. Every data-refresh-seconds it fetches the
// dashboard's live sections (data-refresh-url: the route supervisor.dashboard_live, rendered by the
// same template as the page, so no markup is made here) and swaps each element with an id and
// data-live whose markup changed. The reader keeps the focus, the opened "Numbers" tables and the
// scroll position. Nothing is fetched while the tab is hidden; it refreshes as soon as it is shown
// again. The page's "As of" is the time of the last successful update; a failed update (offline,
// logged out, server error) shows a notice until the next one succeeds. Without this script the
// page works as before: the Refresh link reloads it.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.fetch || !window.DOMParser) {
    return;
  }
  var url = root.getAttribute("data-refresh-url");
  var seconds = parseInt(root.getAttribute("data-refresh-seconds"), 10) || 30;
  var live = root.querySelector(".sv-live");
  var failed = root.querySelector(".sv-live-failed");
  var FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";
  var shown = {}; // id -> the markup on the page, as this browser serialises it
  var timer = null;
  var busy = false;

  function each(nodes, fn) {
    for (var i = 0; i < nodes.length; i++) {
      fn(nodes[i], i);
    }
  }

  function figures(section) {
    var values = {};
    each(section.querySelectorAll("[data-figure]"), function (node) {
      values[node.getAttribute("data-figure")] = node.textContent;
    });
    return values;
  }

  // Puts the fresh copy of a section in place of the old one, with what the reader did there.
  function swap(old, fresh) {
    var focused = old.contains(document.activeElement) ? document.activeElement : null;
    var index = focused ? Array.prototype.indexOf.call(old.querySelectorAll(FOCUSABLE), focused) : -1;
    var opened = old.querySelectorAll("details");
    each(fresh.querySelectorAll("details"), function (details, i) {
      details.open = Boolean(opened[i] && opened[i].open);
    });
    var before = figures(old);
    var node = document.importNode(fresh, true);
    old.parentNode.replaceChild(node, old);
    if (index >= 0 && node.querySelectorAll(FOCUSABLE)[index]) {
      node.querySelectorAll(FOCUSABLE)[index].focus({ preventScroll: true });
    }
    each(node.querySelectorAll("[data-figure]"), function (figure) {
      var key = figure.getAttribute("data-figure");
      if (Object.prototype.hasOwnProperty.call(before, key) && before[key] !== figure.textContent) {
        figure.classList.add("sv-updated"); // a new element: the highlight runs once
      }
    });
  }

  function apply(html) {
    var sections = new DOMParser().parseFromString(html, "text/html").querySelectorAll("[data-live][id]");
    if (!sections.length) {
      throw new Error("no dashboard sections in the answer");
    }
    var x = window.scrollX;
    var y = window.scrollY;
    each(sections, function (fresh) {
      var old = document.getElementById(fresh.id);
      var markup = fresh.outerHTML;
      if (old && shown[fresh.id] !== markup) {
        shown[fresh.id] = markup;
        swap(old, fresh);
      }
    });
    window.scrollTo(x, y);
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!document.hidden) {
      timer = window.setTimeout(refresh, seconds * 1000);
    }
  }

  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    window.clearTimeout(timer);
    // redirect "error": a logged-out user's request is sent to the login page, which is a failure.
    fetch(url, { credentials: "same-origin", redirect: "error", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        apply(html);
        failed.hidden = true;
      })
      .catch(function () {
        failed.hidden = false; // the numbers stay as they were; the next try may succeed
      })
      .then(function () {
        busy = false;
        schedule();
      });
  }

  each(root.querySelectorAll("[data-live][id]"), function (section) {
    shown[section.id] = section.outerHTML;
  });
  live.hidden = false;
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      window.clearTimeout(timer);
    } else {
      refresh();
    }
  });
  schedule();
})();
