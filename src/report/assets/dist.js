// reprise response-time distribution: a latency histogram (log-spaced bins, ten per decade)
// and a percentile curve, drawn as SVG from an HDR histogram's `distribution()`:
// {bins: [[from_ms, to_ms, count]...], pct: [[percentile, ms]...], count}. No library, no
// network. Used by report.html and the live page; sets data-bins / data-points on the SVGs.
window.repriseDist = (function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmtMs(v) {
    if (v < 1) return (Math.round(v * 1000)) + "µs";
    if (v < 10) return v.toFixed(1) + "ms";
    if (v < 1000) return Math.round(v) + "ms";
    return (v / 1000).toFixed(v < 10000 ? 2 : 1) + "s";
  }
  function clear(box) {
    var old = box.querySelector("svg, .empty");
    while (old) { old.parentNode.removeChild(old); old = box.querySelector("svg, .empty"); }
  }
  function empty(box) {
    var e = document.createElement("div");
    e.className = "empty";
    e.textContent = "No response measured yet.";
    box.appendChild(e);
  }
  function hist(box, d) {
    clear(box);
    if (!d || !d.bins || !d.bins.length) { empty(box); return; }
    var W = Math.max(320, box.clientWidth - 36), H = 220, L = 52, R = 10, T = 10, B = 24;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "latency histogram" }, box);
    var max = 1;
    d.bins.forEach(function (b) { if (b[2] > max) max = b[2]; });
    var n = d.bins.length, bw = (W - L - R) / n;
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    [0, 0.5, 1].forEach(function (f) {
      var t = el("text", { x: L - 8, y: y(max * f) + 4, "text-anchor": "end" }, svg);
      t.textContent = Math.round(max * f).toLocaleString("en-US");
    });
    var every = Math.max(1, Math.ceil(n / 8));
    d.bins.forEach(function (b, i) {
      var r = el("rect", { x: (L + i * bw + 1).toFixed(1), y: y(b[2]).toFixed(1), width: Math.max(1, bw - 2).toFixed(1),
        height: (H - B - y(b[2])).toFixed(1), fill: "var(--c1)", "fill-opacity": "0.75" }, svg);
      var tt = el("title", {}, r);
      tt.textContent = fmtMs(b[0]) + " – " + fmtMs(b[1]) + ": " + b[2].toLocaleString("en-US");
      if (i % every === 0) {
        var t = el("text", { x: (L + i * bw).toFixed(1), y: H - 6, "text-anchor": "start" }, svg);
        t.textContent = fmtMs(b[0]);
      }
    });
    el("line", { "class": "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }, svg);
    svg.setAttribute("data-bins", String(n));
  }
  // x: "nines" of the percentile, -log10(1 - p/100), 100 % drawn one step past the last
  function pct(box, d) {
    clear(box);
    if (!d || !d.pct || !d.pct.length || !d.count) { empty(box); return; }
    var W = Math.max(320, box.clientWidth - 36), H = 220, L = 52, R = 10, T = 10, B = 24;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "percentile curve" }, box);
    var xs = d.pct.map(function (p) { return p[0] >= 100 ? 5.5 : -Math.log10(1 - p[0] / 100); });
    var max = 0;
    d.pct.forEach(function (p) { if (p[1] > max) max = p[1]; });
    if (max <= 0) max = 1;
    var x = function (v) { return L + (W - L - R) * v / 5.5; };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    [0, 0.5, 1].forEach(function (f) {
      var t = el("text", { x: L - 8, y: y(max * f) + 4, "text-anchor": "end" }, svg);
      t.textContent = fmtMs(max * f);
    });
    [[0, "0%"], [1, "90%"], [2, "99%"], [3, "99.9%"], [4, "99.99%"], [5, "99.999%"], [5.5, "max"]].forEach(function (g) {
      var t = el("text", { x: x(g[0]), y: H - 6, "text-anchor": g[0] === 0 ? "start" : "middle" }, svg);
      t.textContent = g[1];
    });
    var path = "";
    d.pct.forEach(function (p, i) { path += (i ? "L" : "M") + x(xs[i]).toFixed(1) + "," + y(p[1]).toFixed(1); });
    el("path", { d: path, fill: "none", stroke: "var(--c2)", "stroke-width": "2" }, svg);
    d.pct.forEach(function (p, i) {
      var c = el("circle", { cx: x(xs[i]).toFixed(1), cy: y(p[1]).toFixed(1), r: 3, fill: "var(--c2)" }, svg);
      var tt = el("title", {}, c);
      tt.textContent = "p" + p[0] + ": " + fmtMs(p[1]);
    });
    el("line", { "class": "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }, svg);
    svg.setAttribute("data-points", String(d.pct.length));
  }
  return { hist: hist, pct: pct };
})();
