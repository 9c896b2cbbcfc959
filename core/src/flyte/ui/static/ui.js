// flyte ui: expand/collapse the action tree, and live updates by polling a small JSON endpoint.
// No framework and no build step. New HTML comes from this server, already escaped; DOMParser
// never runs scripts, and the page's CSP allows scripts from this origin only.
(function () {
  "use strict";

  function openKeys(root) {
    var keys = {};
    root.querySelectorAll("details[data-key]").forEach(function (d) {
      keys[d.getAttribute("data-key")] = d.open;
    });
    return keys;
  }

  function restoreKeys(root, keys) {
    root.querySelectorAll("details[data-key]").forEach(function (d) {
      var k = d.getAttribute("data-key");
      if (Object.prototype.hasOwnProperty.call(keys, k)) d.open = keys[k];
    });
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button[data-tree]") : null;
    if (!btn) return;
    var open = btn.getAttribute("data-tree") === "open";
    document.querySelectorAll("#tree details").forEach(function (d) { d.open = open; });
  });

  function fragmentUrl() {
    var u = new URL(window.location.href);
    u.searchParams.set("fragment", "1");
    return u.toString();
  }

  function startPolling() {
    var live = document.getElementById("live");
    if (!live || !live.getAttribute("data-state")) return;
    var stateUrl = live.getAttribute("data-state");
    var interval = parseInt(live.getAttribute("data-interval") || "2000", 10);
    var isList = stateUrl === "/api/state";
    if (!isList && !live.hasAttribute("data-live")) return;
    var indicator = document.getElementById("live-indicator");
    if (indicator) indicator.hidden = false;
    var busy = false;

    function refresh() {
      return fetch(fragmentUrl(), { headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("live");
          var current = document.getElementById("live");
          if (!fresh || !current) return;
          var keys = openKeys(current);
          current.replaceWith(fresh);
          restoreKeys(fresh, keys);
        });
    }

    function tick() {
      if (busy || document.hidden) return schedule();
      busy = true;
      var current = document.getElementById("live");
      fetch(stateUrl, { headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) {
          if (!state) return null;
          if (state.version !== current.getAttribute("data-version")) {
            return refresh().then(function () { return state; });
          }
          return state;
        })
        .catch(function () { return null; })
        .then(function (state) {
          busy = false;
          if (state && !isList && !state.live) {
            if (indicator) indicator.hidden = true;
            return;  // the run ended: the page now shows its final state
          }
          schedule();
        });
    }

    function schedule() { window.setTimeout(tick, interval); }
    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startPolling);
  } else {
    startPolling();
  }
})();
