// reprise report charts: hand-written SVG from the series embedded in this page.
// No library, no network. Sets <body data-rendered="N"> once N charts are drawn.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("series-data").textContent);
  var tip = document.createElement("div");
  tip.className = "tip";
  document.body.appendChild(tip);

  function fmtMs(v) {
    if (v === 0) return "0ms";
    var a = Math.abs(v);
    if (a < 1) return Math.round(v * 1000) + "µs";
    if (a < 10) return v.toFixed(2) + "ms";
    if (a < 100) return v.toFixed(1) + "ms";
    if (a < 1000) return Math.round(v) + "ms";
    if (a < 10000) return (v / 1000).toFixed(2) + "s";
    if (a < 60000) return (v / 1000).toFixed(1) + "s";
    var s = Math.round(v / 1000);
    return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
  }
  function fmtNum(v) {
    if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
    return (Math.round(v * 10) / 10).toString();
  }
  function fmtElapsed(s) {
    var m = Math.floor(s / 60), r = Math.round(s % 60);
    return m + ":" + String(r).padStart(2, "0");
  }
  function niceStep(range, count) {
    var raw = range / Math.max(1, count), mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
  }
  function escHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  var charts = {
    rate: { integer: true, lines: [{ key: "rps", name: "requests/s", color: "var(--c1)", area: true },
                    { key: "fails", name: "failures/s", color: "var(--c3)" }], fmt: fmtNum },
    latency: { lines: [{ key: "p50", name: "p50", color: "var(--c4)" },
                       { key: "p95", name: "p95", color: "var(--c2)" },
                       { key: "p99", name: "p99", color: "var(--c3)" }], fmt: fmtMs },
    users: { integer: true, lines: [{ key: "users", name: "active users", color: "var(--c5)", area: true }], fmt: fmtNum },
    failures: { integer: true, lines: [{ key: "fails", name: "failures/s", color: "var(--c3)", area: true },
                        { key: "lag", name: "lag p99 (ms)", color: "var(--c2)", hidden: true }], fmt: fmtNum }
  };

  // a scrape chart: its lines on the run's time axis (t from seconds since the start)
  function scrapeSpec(c) {
    var colors = ["var(--c1)", "var(--c2)", "var(--c3)", "var(--c4)", "var(--c5)"];
    var base = data.t.length ? data.t[0] : 0;
    var d = { t: c.t.map(function (v) { return base + v; }) };
    var lines = c.lines.map(function (l, i) {
      d["l" + i] = l.v;
      return { key: "l" + i, name: l.name, color: colors[i % colors.length] };
    });
    return { lines: lines, fmt: fmtNum, data: d };
  }

  function draw(box, spec) {
    var d = spec.data || data;
    var t = d.t, n = t.length;
    var legend = box.querySelector(".legend");
    spec.lines.forEach(function (l) {
      if (l.hidden) return;
      var s = document.createElement("span");
      var i = document.createElement("i");
      i.style.background = l.color;
      s.appendChild(i);
      s.appendChild(document.createTextNode(l.name));
      legend.appendChild(s);
    });
    if (n === 0) {
      var e = document.createElement("div");
      e.className = "empty";
      e.textContent = "No time series in this summary.";
      box.appendChild(e);
      return false;
    }
    var W = Math.max(320, box.clientWidth - 36), H = 220, L = 52, R = 10, T = 10, B = 24;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": box.querySelector("h3").textContent });
    box.appendChild(svg);
    var max = 0;
    spec.lines.forEach(function (l) { if (!l.hidden) d[l.key].forEach(function (v) { if (v > max) max = v; }); });
    if (max <= 0) max = 1;
    if (spec.integer && max < 4) max = 4;
    var step = niceStep(max, 4);
    if (spec.integer && step < 1) step = 1;
    var top = Math.ceil(max / step) * step;
    // every chart shares the run's axis: from its first second to its last (or last sample)
    var t0 = data.t.length ? data.t[0] : t[0];
    var tEnd = Math.max(t[n - 1], data.t.length ? data.t[data.t.length - 1] : t[n - 1]);
    var span = Math.max(1, tEnd - t0);
    var x = function (i) { return L + (W - L - R) * (t[i] - t0) / span; };
    var y = function (v) { return T + (H - T - B) * (1 - v / top); };
    var grid = el("g", { "class": "grid" }, svg);
    for (var v = 0; v <= top + step / 2; v += step) {
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }, grid);
      var lab = el("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end" }, svg);
      lab.textContent = spec.fmt(v);
    }
    var xs = niceStep(span, 6);
    if (xs < 1) xs = 1;
    for (var s = 0; s <= span + 0.001; s += xs) {
      var px = L + (W - L - R) * s / span;
      var tl = el("text", { x: px, y: H - 6, "text-anchor": s === 0 ? "start" : "middle" }, svg);
      tl.textContent = fmtElapsed(s);
    }
    el("line", { "class": "axis", x1: L, x2: W - R, y1: y(0), y2: y(0) }, svg);
    (data.stages || []).forEach(function (m) {
      var px = L + (W - L - R) * m.t_s / span;
      el("line", { "class": "stage", x1: px, x2: px, y1: T, y2: H - B, stroke: "#7b8794", "stroke-dasharray": "4 3" }, svg);
      var sl = el("text", { x: px + 3, y: T + 10, "class": "stage-label" }, svg);
      sl.textContent = m.name;
    });
    var points = 0;
    spec.lines.forEach(function (l) {
      if (l.hidden) return;
      var p = "", pen = false;
      d[l.key].forEach(function (v, i) {
        if (v === null || v === undefined) { pen = false; return; }
        p += (pen ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1); pen = true; points++;
      });
      if (l.area) el("path", { d: p + "L" + x(n - 1).toFixed(1) + "," + y(0) + "L" + x(0).toFixed(1) + "," + y(0) + "Z",
                               fill: l.color, "fill-opacity": "0.12", stroke: "none" }, svg);
      el("path", { d: p, fill: "none", stroke: l.color, "stroke-width": "1.8", "stroke-linejoin": "round",
                   "class": "series" }, svg);
    });
    svg.setAttribute("data-points", points);
    // control changes (users, multiplier, pause, resume, stop) as markers
    (data.events || []).forEach(function (m) {
      var mx = L + (W - L - R) * Math.min(Math.max(m.t - t0, 0), span) / span;
      el("line", { x1: mx, x2: mx, y1: T - 4, y2: H - B, stroke: "var(--c5)", "stroke-dasharray": "4 3", "class": "marker" }, svg);
      var lab = el("text", { x: mx + 3, y: T + 2, "class": "mlabel", style: "fill: var(--c5); font-size: 10px" }, svg);
      lab.textContent = m.label;
    });
    svg.setAttribute("data-markers", String((data.events || []).length));
    var cross = el("line", { y1: T, y2: H - B, stroke: "#9aa5b1", "stroke-dasharray": "3 3", visibility: "hidden" }, svg);
    var hit = el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "transparent" }, svg);
    hit.addEventListener("mousemove", function (ev) {
      var r = svg.getBoundingClientRect(), sx = (ev.clientX - r.left) * W / r.width;
      var want = t0 + (sx - L) / (W - L - R) * span, i = 0;
      for (var k = 1; k < n; k++) if (Math.abs(t[k] - want) < Math.abs(t[i] - want)) i = k;
      cross.setAttribute("x1", x(i)); cross.setAttribute("x2", x(i)); cross.setAttribute("visibility", "visible");
      var html = "<b>" + fmtElapsed(t[i] - t0) + "</b> · " + new Date(t[i] * 1000).toISOString().substr(11, 8) + " UTC";
      spec.lines.forEach(function (l) {
        var v = d[l.key][i];
        html += "<br>" + escHtml(l.name) + ": <b>" + (v === null || v === undefined ? "–" : spec.fmt(v)) + "</b>";
      });
      tip.innerHTML = html;
      tip.style.display = "block";
      tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
      tip.style.top = (ev.clientY + 14) + "px";
    });
    hit.addEventListener("mouseleave", function () { tip.style.display = "none"; cross.setAttribute("visibility", "hidden"); });
    return true;
  }

  var rendered = 0;
  document.querySelectorAll(".chart[data-chart]").forEach(function (box) {
    var id = box.getAttribute("data-chart");
    var spec = id.indexOf("scrape-") === 0 ? scrapeSpec(data.scrape[+id.slice(7)]) : charts[id];
    if (draw(box, spec)) rendered++;
  });
  var dist = JSON.parse(document.getElementById("dist-data").textContent);
  if (window.repriseDist) {
    document.querySelectorAll(".chart[data-dist]").forEach(function (box) {
      window.repriseDist[box.getAttribute("data-dist")](box, dist);
    });
  }
  document.body.setAttribute("data-rendered", String(rendered));
})();
