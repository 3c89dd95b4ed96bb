// Live figures for the team page: polls the JSON the page was drawn from and updates the fields marked with
// data-field (a dotted path into it). A new version, a deploy or acceptance figures that were being computed reload
// the page so the server redraws its charts.
// Without this script the page is complete as served; it only goes stale.
(function () {
  "use strict";
  var main = document.getElementById("team");
  if (!main || !window.fetch) return;
  var api = main.getAttribute("data-api");
  var every = Math.max(0.5, parseFloat(main.getAttribute("data-poll")) || 3) * 1000;
  var live = document.getElementById("live");

  function pick(data, path) {
    return path.split(".").reduce(function (v, k) { return v === null || v === undefined ? v : v[k]; }, data);
  }
  function seconds(v) {
    v = Math.round(v);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return v >= 3600 ? Math.floor(v / 3600) + "h " + two(Math.floor(v % 3600 / 60)) + "m"
                     : Math.floor(v / 60) + "m " + two(v % 60) + "s";
  }
  function shown(value, format) {
    if (value === null || value === undefined) return "";
    if (format === "percent") return (value * 100).toFixed(1) + "%";
    if (format === "seconds") return seconds(value);
    if (format === "yesno") return value ? "yes" : "no";
    if (format === "when") return new Date(value * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    return String(value);
  }
  function update(data) {
    var total = String(pick(data, "history.total"));
    var deployed = pick(data, "now.deployed.version") || "";
    var computed = main.getAttribute("data-computing") === "1" && !pick(data, "quality.computing");
    if (total !== main.getAttribute("data-versions") || deployed !== main.getAttribute("data-deployed") || computed) {
      window.location.reload();
      return;
    }
    main.querySelectorAll("[data-field]").forEach(function (el) {
      var value = pick(data, el.getAttribute("data-field"));
      var format = el.getAttribute("data-format");
      if (format === "value") el.value = value || 0;
      else el.textContent = shown(value, format);
    });
    var problems = document.getElementById("problems");
    problems.textContent = "";
    (data.problems || []).forEach(function (text) {
      var p = document.createElement("p");
      p.className = "problem";
      p.textContent = text;
      problems.appendChild(p);
    });
    if (live) live.textContent = "· live, updated " + new Date().toLocaleTimeString();
  }
  function poll() {
    fetch(api, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(update)
      .catch(function (e) { if (live) live.textContent = "· live updates paused (" + e.message + "), retrying"; })
      .then(function () { window.setTimeout(poll, every); });
  }
  window.setTimeout(poll, every);
})();
