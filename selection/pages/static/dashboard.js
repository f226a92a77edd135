// The round's live dashboard: polls the data route while the page is visible, keeps the
// readings of the last few minutes and draws them as SVG (bars for the fill, lines for rates).
// The service sends totals (Prometheus counters, summed over its processes); rates are the
// differences between two readings divided by the time between them. Every word shown comes
// from the page (data-label-* attributes and hidden lists), so it is in the page's language.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  // Colours with at least 3:1 against white (graphics), told apart by dash patterns too.
  var COLOURS = ["#0b5cad", "#b4005a", "#1d7a36", "#8a4b00", "#5b3aa8", "#00707a", "#a31515", "#4a5360", "#7a6200", "#3d5a80"];
  var DASHES = ["", "6 3", "2 3", "8 3 2 3", "", "6 3", "2 3", "8 3 2 3", "", "6 3"];
  var root;
  var labels = {};
  var samples = [];
  var timer = null;
  var paused = false;
  var busy = false;

  function label(name) { return labels[name] || name; }

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function status(text) {
    var node = document.getElementById("dash-status");
    if (node.textContent !== text) { node.textContent = text; }
  }

  function number(value, digits) {
    var lang = root.getAttribute("data-lang") || "en";
    return value.toLocaleString(lang, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  // Bars: one per offering, the height a share (0..1) of the plot, with a title to hover.
  function bars(svg, values, max, colour, titles) {
    clear(svg);
    var width = 600, height = Number(svg.getAttribute("viewBox").split(" ")[3]);
    el("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "axis" }, svg);
    if (!values.length || max <= 0) { return; }
    var step = width / values.length;
    var gap = step > 4 ? 1 : 0;
    values.forEach(function (value, i) {
      var h = Math.max(0, Math.min(1, value / max)) * (height - 4);
      var bar = el("rect", { x: i * step + gap / 2, y: height - 1 - h, width: Math.max(step - gap, 0.5), height: h, fill: colour }, svg);
      var title = el("title", {}, bar);
      title.textContent = titles[i];
    });
  }

  // Lines over the window: series = [{name, points: [[t, v]]}]; the y axis from 0 to the top value.
  function lines(svg, series, now, window) {
    clear(svg);
    var width = 600, height = Number(svg.getAttribute("viewBox").split(" ")[3]);
    var top = 0;
    series.forEach(function (s) { s.points.forEach(function (p) { if (p[1] > top) { top = p[1]; } }); });
    top = top > 0 ? top * 1.1 : 1;
    [0.25, 0.5, 0.75].forEach(function (f) {
      el("line", { x1: 0, x2: width, y1: height * f, y2: height * f, class: "grid" }, svg);
    });
    el("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "axis" }, svg);
    // The scales are HTML beside the stretched SVG, so that their text is not stretched with it.
    var figure = svg.parentNode;
    figure.querySelector(".scale-top").textContent = number(top, top < 10 ? 2 : 0);
    figure.querySelector(".scale-left").textContent = label("ago").replace("{n}", String(Math.round(window)));
    series.forEach(function (s, i) {
      if (!s.points.length) { return; }
      var d = s.points.map(function (p, j) {
        var x = width - ((now - p[0]) / window) * width;
        var y = height - 1 - (p[1] / top) * (height - 4);
        return (j ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
      }).join(" ");
      el("path", { d: d, fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 2, "stroke-dasharray": DASHES[i % DASHES.length], "vector-effect": "non-scaling-stroke", class: "series" }, svg);
    });
  }

  function legend(list, series) {
    clear(list);
    series.forEach(function (s, i) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch" + (DASHES[i % DASHES.length] ? " dashed" : "");
      swatch.style.borderColor = COLOURS[i % COLOURS.length];
      swatch.setAttribute("aria-hidden", "true");
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.name));
      list.appendChild(item);
    });
  }

  function table(body, series, digits) {
    clear(body);
    series.forEach(function (s) {
      var row = document.createElement("tr");
      var head = document.createElement("th");
      head.scope = "row";
      head.textContent = s.name;
      row.appendChild(head);
      var last = s.points.length ? s.points[s.points.length - 1][1] : 0;
      var mean = s.points.length ? s.points.reduce(function (a, p) { return a + p[1]; }, 0) / s.points.length : 0;
      [last, mean].forEach(function (v) {
        var cell = document.createElement("td");
        cell.textContent = number(v, digits);
        row.appendChild(cell);
      });
      row.setAttribute("data-series", s.key);
      body.appendChild(row);
    });
  }

  function plot(name, series, digits, now, window) {
    lines(document.getElementById("plot-" + name), series, now, window);
    legend(document.getElementById("legend-" + name), series);
    table(document.querySelector("#table-" + name + " tbody"), series, digits);
  }

  // The 99th percentile's bucket (its upper bound) of the commits between two readings.
  function p99(before, after) {
    var total = after.commits - before.commits;
    if (total <= 0) { return null; }
    var previous = {};
    before.commit_buckets.forEach(function (b) { previous[b[0]] = b[1]; });
    for (var i = 0; i < after.commit_buckets.length; i++) {
      var b = after.commit_buckets[i];
      if (b[1] - (previous[b[0]] || 0) >= 0.99 * total) { return b[0]; }
    }
    var last = after.commit_buckets[after.commit_buckets.length - 1];
    return last ? last[0] : null;
  }

  function rates() {
    var out = { requests: [], selects: [], drops: [], browses: [], refusals: {}, mean: [], p99: [] };
    for (var i = 1; i < samples.length; i++) {
      var a = samples[i - 1].service, b = samples[i].service;
      var dt = b.at - a.at;
      // A total that went down: a process restarted; that interval says nothing.
      if (dt <= 0 || b.requests < a.requests || b.commits < a.commits) { continue; }
      out.requests.push([b.at, (b.requests - a.requests) / dt]);
      ["selects", "drops", "browses"].forEach(function (name) {
        out[name].push([b.at, Math.max(b[name] - a[name], 0) / dt]);
      });
      Object.keys(b.refusals).forEach(function (code) {
        var delta = b.refusals[code] - (a.refusals[code] || 0);
        (out.refusals[code] = out.refusals[code] || []).push([b.at, Math.max(delta, 0) / dt]);
      });
      var commits = b.commits - a.commits;
      out.mean.push([b.at, commits > 0 ? ((b.commit_seconds - a.commit_seconds) / commits) * 1000 : 0]);
      var top = p99(a, b);
      out.p99.push([b.at, top === null ? 0 : top * 1000]);
    }
    return out;
  }

  function refusalName(code) {
    var item = document.querySelector('#dash-refusal-names [data-code="' + code + '"]');
    return item ? item.textContent + " (" + code + ")" : code;
  }

  function draw(data) {
    var now = data.service.at;
    // The lines span the readings kept: from a few polls' worth up to the whole window.
    var poll = Number(root.getAttribute("data-poll-seconds"));
    var window = Math.min(Number(root.getAttribute("data-window-seconds")), Math.max(now - samples[0].service.at, 10 * poll));
    var offerings = data.offerings;
    bars(document.getElementById("plot-fill"), offerings.map(function (o) { return o[2] ? o[1] / o[2] : 0; }), 1, "#0b5cad",
      offerings.map(function (o) { return o[0] + ": " + o[1] + " / " + o[2]; }));
    var waiting = offerings.map(function (o) { return o[3]; });
    bars(document.getElementById("plot-waitlist"), waiting, Math.max.apply(null, waiting.concat([0])), "#8a4b00",
      offerings.map(function (o) { return o[0] + ": " + o[3]; }));
    offerings.forEach(function (o) {
      var row = document.querySelector('#fill-table tr[data-offering="' + o[0] + '"]');
      if (!row) { return; }
      row.setAttribute("data-enrolled", o[1]);
      row.setAttribute("data-waitlisted", o[3]);
      row.querySelector(".fill").textContent = o[1] + " / " + o[2];
      row.querySelector(".waitlisted").textContent = String(o[3]);
    });
    document.getElementById("dash-enrolled").textContent = String(data.enrolled);
    document.getElementById("dash-waitlisted").textContent = String(data.waitlisted);
    var state = document.getElementById("dash-state");
    if (state.getAttribute("data-state") !== data.state) {
      var name = document.querySelector('#dash-state-names [data-state="' + data.state + '"]');
      state.textContent = name ? name.textContent : data.state;
      state.setAttribute("data-state", data.state);
    }
    var time = new Date(now * 1000).toLocaleTimeString(root.getAttribute("data-lang") || "en", {
      hour12: false, timeZone: root.getAttribute("data-zone") || undefined
    });
    document.getElementById("dash-updated").textContent = time;

    var r = rates();
    plot("requests", [
      { key: "requests", name: label("requests"), points: r.requests },
      { key: "selects", name: label("selects"), points: r.selects },
      { key: "drops", name: label("drops"), points: r.drops },
      { key: "browses", name: label("browses"), points: r.browses }
    ], 1, now, window);
    plot("refusals", Object.keys(r.refusals).sort().map(function (code) {
      return { key: code, name: refusalName(code), points: r.refusals[code] };
    }), 1, now, window);
    plot("commit", [
      { key: "mean", name: label("mean"), points: r.mean },
      { key: "p99", name: label("p99"), points: r.p99 }
    ], 2, now, window);
    root.setAttribute("data-samples", String(samples.length));
  }

  function poll() {
    if (busy || paused || document.visibilityState !== "visible") { return; }
    busy = true;
    fetch(root.getAttribute("data-source"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (response.redirected || type.indexOf("application/json") !== 0) {
          status(label("signed-out"));
          stop();
          return null;
        }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        var window = Number(root.getAttribute("data-window-seconds"));
        samples.push(data);
        while (samples.length > 2 && data.service.at - samples[0].service.at > window + 5) { samples.shift(); }
        draw(data);
        status(label("live"));
      })
      .catch(function () { status(label("failed")); })
      .then(function () { busy = false; });
  }

  function start() {
    if (timer === null) {
      timer = setInterval(poll, Number(root.getAttribute("data-poll-seconds")) * 1000);
    }
    poll();
  }

  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
  }

  function init() {
    root = document.getElementById("dashboard");
    if (!root) { return; }
    Array.prototype.forEach.call(root.attributes, function (attr) {
      if (attr.name.indexOf("data-label-") === 0) { labels[attr.name.slice(11)] = attr.value; }
    });
    var toggle = document.getElementById("dash-toggle");
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", paused ? "true" : "false");
      toggle.textContent = paused ? label("resume") : label("pause");
      if (paused) { stop(); status(label("paused")); } else { start(); }
    });
    document.addEventListener("visibilitychange", function () {
      if (paused) { return; }
      if (document.visibilityState === "visible") { start(); } else { stop(); status(label("hidden")); }
    });
    status(label("live"));
    start();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
