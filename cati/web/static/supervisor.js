// Refreshes the dashboard's numbers from its JSON endpoint. The page works without this script
// (reload it); the script changes only text in elements marked data-figure.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.fetch) {
    return;
  }
  var url = root.getAttribute("data-refresh-url");
  var seconds = parseInt(root.getAttribute("data-refresh-seconds"), 10) || 30;
  var live = root.querySelector(".sv-live");
  if (live) {
    live.hidden = false;
  }

  function update(figures) {
    var nodes = root.querySelectorAll("[data-figure]");
    for (var i = 0; i < nodes.length; i++) {
      var key = nodes[i].getAttribute("data-figure");
      if (Object.prototype.hasOwnProperty.call(figures, key) && nodes[i].textContent !== figures[key]) {
        nodes[i].textContent = figures[key];
        nodes[i].classList.remove("sv-updated");
        void nodes[i].offsetWidth; // restart the highlight
        nodes[i].classList.add("sv-updated");
      }
    }
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        update(data.figures || {});
      })
      .catch(function () {
        // Logged out or offline: leave the numbers as they are; a reload shows why.
      });
  }

  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", refresh);
})();
