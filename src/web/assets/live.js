// reprise live page: fills the static layout from /api/meta and the /events stream.
// No library, no network beyond this server. State kept here is rebuilt from the stream's
// history on every load, so a reload shows the whole run. For tests the body carries
// data-seconds (seconds received), data-ended and data-users (last users figure).
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var meta = null, ended = false, dirty = false, summary = null, failure = null;
  var S = { s: [], rps: [], fails: [], p50: [], p95: [], p99: [], users: [], want: [], lag: [] };
  var markers = [], eps = {}, tot = null, dist = null, fails = null, verdicts = null, paused = false;
  var conv = null, convDirty = false, renderMax = 0;
  var sortKey = 3, sortDesc = true, page = 0, PAGE = 50;

  function fmtMs(v) {
    if (v == null) return "–";
    if (v === 0) return "0ms";
    if (v < 1) return Math.round(v * 1000) + "µs";
    if (v < 10) return v.toFixed(2) + "ms";
    if (v < 100) return v.toFixed(1) + "ms";
    if (v < 1000) return Math.round(v) + "ms";
    if (v < 60000) return (v / 1000).toFixed(2) + "s";
    return Math.floor(v / 60000) + "m " + String(Math.round(v / 1000) % 60).padStart(2, "0") + "s";
  }
  function fmtNum(v) { return Math.round(v).toLocaleString("en-US"); }
  function fmtNum1(v) { return Math.abs(v) >= 100 ? fmtNum(v) : (Math.round(v * 10) / 10).toString(); }
  function fmtElapsed(s) { return Math.floor(s / 60) + ":" + String(Math.round(s % 60)).padStart(2, "0"); }
  function fmtBytes(b) {
    if (b < 1024) return b + " B";
    if (b < 1048576) return (b / 1024).toFixed(1) + " KiB";
    if (b < 1073741824) return (b / 1048576).toFixed(1) + " MiB";
    return (b / 1073741824).toFixed(2) + " GiB";
  }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(id, v) { var e = $(id); if (e) e.textContent = v; }
  function niceStep(range, count) {
    var raw = range / Math.max(1, count), mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
  }

  // one line chart over the run's seconds, with the control changes as markers
  function line(box, lines, fmt, integer) {
    var old = box.querySelector("svg, .empty");
    if (old) old.parentNode.removeChild(old);
    var legend = box.querySelector(".legend");
    if (!legend.childNodes.length) {
      lines.forEach(function (l) {
        var s = document.createElement("span"), i = document.createElement("i");
        i.style.background = l.color;
        s.appendChild(i);
        s.appendChild(document.createTextNode(l.name));
        legend.appendChild(s);
      });
    }
    var t = S.s, n = t.length;
    if (!n) {
      var e = document.createElement("div");
      e.className = "empty";
      e.textContent = "Waiting for the first second…";
      box.appendChild(e);
      return;
    }
    var W = Math.max(320, box.clientWidth - 36), H = 220, L = 56, R = 10, T = 14, B = 24;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img" }, box);
    var max = 0;
    lines.forEach(function (l) { l.values.forEach(function (v) { if (v > max) max = v; }); });
    if (max <= 0) max = 1;
    if (integer && max < 4) max = 4;
    var step = niceStep(max, 4);
    if (integer && step < 1) step = 1;
    var top = Math.ceil(max / step) * step;
    var t0 = t[0] - 1, span = Math.max(1, t[n - 1] - t0);
    var x = function (s) { return L + (W - L - R) * (s - t0) / span; };
    var y = function (v) { return T + (H - T - B) * (1 - v / top); };
    var grid = el("g", { "class": "grid" }, svg);
    for (var v = 0; v <= top + step / 2; v += step) {
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }, grid);
      el("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end" }, svg).textContent = fmt(v);
    }
    var xs = niceStep(span, 6);
    if (xs < 1) xs = 1;
    for (var s = 0; s <= span + 0.001; s += xs) {
      el("text", { x: x(t0 + s), y: H - 6, "text-anchor": s === 0 ? "start" : "middle" }, svg).textContent = fmtElapsed(s);
    }
    el("line", { "class": "axis", x1: L, x2: W - R, y1: y(0), y2: y(0) }, svg);
    // at most ~1,500 points per line: a long run is drawn every k-th second
    var k = Math.max(1, Math.ceil(n / 1500));
    lines.forEach(function (l) {
      var d = "";
      for (var i = 0; i < n; i += k) d += (i ? "L" : "M") + x(t[i]).toFixed(1) + "," + y(l.values[i] || 0).toFixed(1);
      if (l.dash) el("path", { d: d, fill: "none", stroke: l.color, "stroke-width": "1.4", "stroke-dasharray": "5 4" }, svg);
      else el("path", { d: d, fill: "none", stroke: l.color, "stroke-width": "1.8", "stroke-linejoin": "round", "class": "series" }, svg);
    });
    markers.forEach(function (m) {
      var mx = x(Math.min(Math.max(m.t_s, t0), t0 + span));
      el("line", { "class": "marker", x1: mx, x2: mx, y1: T - 4, y2: H - B }, svg);
      var lab = el("text", { "class": "mlabel", x: mx + 3, y: T + 2 }, svg);
      lab.textContent = markerLabel(m);
      el("title", {}, lab).textContent = markerLabel(m) + " at " + fmtElapsed(m.t_s);
    });
    svg.setAttribute("data-points", String(n));
    svg.setAttribute("data-markers", String(markers.length));
  }
  function markerLabel(m) {
    if (m.action === "users") return "users → " + m.users;
    if (m.action === "multiply") return "×" + m.multiply;
    return m.action;
  }

  function kpis() {
    var last = S.s.length - 1;
    if (last < 0 || !tot) return;
    text("k-users", fmtNum(S.users[last]));
    text("k-users-note", meta.closed ? "target " + fmtNum(S.want[last]) + " · peak " + fmtNum(tot.peak) : "×" + S.want[last] + " arrivals · peak " + fmtNum(tot.peak));
    text("k-rps", fmtNum1(S.rps[last]));
    text("k-rps-note", "avg " + fmtNum1(tot.rps) + " over the run");
    text("k-req", fmtNum(tot.req));
    text("k-req-note", fmtBytes(tot.bytes) + " received");
    var rate = tot.req ? 100 * tot.fail / tot.req : 0;
    text("k-fail", (rate < 10 ? rate.toFixed(2) : rate.toFixed(1)) + "%");
    text("k-fail-note", fmtNum(tot.fail) + " failed");
    $("k-fail-box").className = "kpi" + (tot.fail ? " bad" : "");
    text("k-p50", fmtMs(tot.p50));
    text("k-p50-note", "avg " + fmtMs(tot.avg));
    text("k-p95", fmtMs(tot.p95));
    text("k-p99", fmtMs(tot.p99));
    text("k-p99-note", "max " + fmtMs(tot.max));
    text("k-lag", fmtMs(S.lag[last]));
    text("k-lag-note", "last second · run " + fmtMs(tot.lag99));
    text("elapsed", fmtElapsed(S.s[last]));
  }

  function status() {
    var st = $("status");
    if (failure) {
      st.className = "status bad"; st.textContent = "failed";
    } else if (ended) {
      var r = summary && summary.run;
      var failed = summary ? summary.thresholds.filter(function (v) { return !v.ok; }).length : 0;
      var stopped = r && (r.aborted || (r.events || []).some(function (e) { return e.action === "stop"; }));
      st.className = "status " + (failed ? "bad" : stopped ? "warn" : "ok");
      st.textContent = failed ? failed + " threshold(s) failed" : stopped ? "stopped" : "finished";
    } else if (markers.some(function (m) { return m.action === "stop"; })) {
      st.className = "status warn"; st.textContent = "stopping";
    } else if (paused) {
      st.className = "status warn"; st.textContent = "paused";
    } else {
      st.className = "status ok"; st.textContent = "running";
    }
  }

  function rows() {
    var f = ($("ep-filter").value || "").toLowerCase();
    var list = [];
    for (var id in eps) {
      var r = eps[id], route = meta.routes[r[0]] || ["", "route " + r[0]];
      if (f && (route[0] + " " + route[1]).toLowerCase().indexOf(f) < 0) continue;
      list.push([r[0], route[0], route[1]].concat(r.slice(1)));
    }
    var k = sortKey;
    list.sort(function (a, b) {
      var x = a[k], y = b[k], c = typeof x === "string" ? x.localeCompare(y) : x - y;
      return sortDesc ? -c : c;
    });
    return list;
  }
  function endpoints() {
    var list = rows(), pages = Math.max(1, Math.ceil(list.length / PAGE));
    if (page >= pages) page = pages - 1;
    var body = $("endpoints").tBodies[0], html = [];
    list.slice(page * PAGE, page * PAGE + PAGE).forEach(function (r) {
      html.push("<tr data-route=\"" + r[0] + "\"><td>" + esc(r[1]) + "</td><td>" + esc(r[2]) + "</td><td>" + fmtNum(r[3]) +
        "</td><td" + (r[4] ? " class=\"bad\"" : "") + ">" + fmtNum(r[4]) + "</td><td>" + r[5] + "</td><td>" + r[6] +
        "</td><td>" + r[7] + "</td><td>" + r[8].toFixed(1) + "</td><td>" + r[9] + "</td><td>" + r[10] + "</td><td>" +
        fmtNum(r[11]) + "</td><td>" + fmtNum(r[12]) + "</td><td>" + fmtNum(r[13]) + "</td></tr>");
    });
    body.innerHTML = html.join("");
    var n = Object.keys(eps).length;
    text("ep-count", n + (list.length !== n ? " (" + list.length + " shown by the filter)" : ""));
    text("ep-page-note", "page " + (page + 1) + " of " + pages);
    $("ep-prev").disabled = page === 0;
    $("ep-next").disabled = page >= pages - 1;
    if (tot) {
      var last = S.s.length - 1;
      $("ep-total").innerHTML = "<td></td><td>Aggregated</td><td>" + fmtNum(tot.req) + "</td><td>" + fmtNum(tot.fail) + "</td><td>" +
        tot.p50 + "</td><td>" + tot.p95 + "</td><td>" + tot.p99 + "</td><td>" + tot.avg.toFixed(1) + "</td><td>" + tot.min +
        "</td><td>" + tot.max + "</td><td>" + (tot.req ? Math.round(tot.bytes / tot.req) : 0) + "</td><td>" +
        fmtNum(S.rps[last]) + "</td><td>" + fmtNum(S.fails[last]) + "</td>";
    }
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" }[c]; });
  }

  function failures() {
    if (!fails) return;
    var kinds = [];
    for (var k in fails.kinds) kinds.push("<b>" + esc(k) + " " + fmtNum(fails.kinds[k]) + "</b>");
    $("fail-kinds").innerHTML = kinds.join("") || "no failure yet";
    text("fail-count", fails.rows.length);
    $("failures").tBodies[0].innerHTML = fails.rows.map(function (r) {
      return "<tr><td>" + esc(r[0]) + "</td><td>" + esc(r[1]) + "</td><td>" + esc(r[2]) + "</td><td>" + fmtNum(r[3]) + "</td></tr>";
    }).join("");
  }

  function showVerdicts(list) {
    if (!list || !list.length) return;
    $("verdicts-box").hidden = false;
    $("verdicts").innerHTML = list.map(function (v) {
      var pill = v.pending ? "wait\">AT END" : v.ok ? "ok\">PASS" : "bad\">FAIL";
      var obs = v.pending ? "not measured yet; decided when the run ends" : v.observed;
      return "<li><span class=\"pill " + pill + "</span><code>" + esc(v.expr) +
        "</code><span class=\"obs\">" + esc(obs) + "</span></li>";
    }).join("");
  }

  function histTable(title, map, unit) {
    var keys = Object.keys(map || {});
    if (!keys.length) return "";
    var h = "<div class=\"card\"><h3>" + esc(title) + "</h3><div class=\"table-wrap\"><table><thead><tr><th>" + esc(unit) +
      "</th><th>Count</th><th>Median</th><th>p95</th><th>p99</th><th>Max</th></tr></thead><tbody>";
    keys.forEach(function (k) {
      var s = map[k].ttft || map[k];
      h += "<tr><td>" + esc(k) + "</td><td>" + fmtNum(s.count) + "</td><td>" + fmtMs(s.p50_ms) + "</td><td>" + fmtMs(s.p95_ms) +
        "</td><td>" + fmtMs(s.p99_ms) + "</td><td>" + fmtMs(s.max_ms) + "</td></tr>";
    });
    return h + "</tbody></table></div></div>";
  }
  function conversation() {
    var c = summary ? summary.conversation : conv;
    if (!c) return;
    var html = histTable("Node transitions", c.nodes, "Transition") + histTable("Turns", c.turns, "Turn") +
      histTable("Server-Timing", c.server_timing, "Metric") + histTable("Streaming: time to first token", c.streaming, "Endpoint");
    $("conversation").innerHTML = html || "<div class=\"card muted\">No conversation measure in this run.</div>";
    text("conv-note", summary ? "whole run" : "run so far, exact (HDR), updated each second");
  }

  function render() {
    var t0 = performance.now();
    dirty = false;
    kpis();
    status();
    line($("c-rate"), [{ name: "requests/s", color: "var(--c1)", values: S.rps }, { name: "failures/s", color: "var(--c3)", values: S.fails }], fmtNum1, true);
    line($("c-lat"), [{ name: "p50", color: "var(--c4)", values: S.p50 }, { name: "p95", color: "var(--c2)", values: S.p95 }, { name: "p99", color: "var(--c3)", values: S.p99 }], fmtMs);
    var u = [{ name: "active users", color: "var(--c5)", values: S.users }];
    if (meta && meta.closed) u.push({ name: "target", color: "var(--faint)", values: S.want, dash: true });
    line($("c-users"), u, fmtNum1, true);
    line($("c-lag"), [{ name: "lag p99", color: "var(--c2)", values: S.lag }], fmtMs);
    if (dist) { window.repriseDist.hist($("c-hist"), dist); window.repriseDist.pct($("c-pct"), dist); }
    endpoints();
    failures();
    if (convDirty) { convDirty = false; conversation(); }
    document.body.setAttribute("data-seconds", String(S.s.length));
    document.body.setAttribute("data-users", String(S.users.length ? S.users[S.users.length - 1] : 0));
    // how long this update took (tests hold it to a bound with 2,000 endpoints)
    var took = performance.now() - t0;
    renderMax = Math.max(renderMax, took);
    document.body.setAttribute("data-render-ms", took.toFixed(1));
    document.body.setAttribute("data-render-max-ms", renderMax.toFixed(1));
  }
  function later() {
    if (!dirty) { dirty = true; requestAnimationFrame(render); setTimeout(function () { if (dirty) render(); }, 500); }
  }

  function onSecond(d) {
    S.s.push(d.s); S.rps.push(d.rps); S.fails.push(d.fails); S.p50.push(d.p50); S.p95.push(d.p95); S.p99.push(d.p99);
    S.users.push(d.users); S.want.push(d.want); S.lag.push(d.lag);
    tot = d.tot; paused = d.paused;
    d.ep.forEach(function (r) { eps[r[0]] = r; });
    if (d.fr) fails = d.fr;
    if (d.dist) dist = d.dist;
    if (d.conv) { conv = d.conv; convDirty = true; }
    if (d.verdicts) { verdicts = d.verdicts; showVerdicts(verdicts); }
    if (d.dropped) text("dropped", d.dropped + " second(s) dropped by the view (the run is not affected)");
    later();
  }

  function msg(t, bad) { var m = $("control-msg"); m.textContent = t; m.className = "msg" + (bad ? " bad" : ""); }
  function post(body) {
    return fetch("api/control", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) msg(j.error || ("refused (" + r.status + ")"), true);
          else msg("applied: " + markerLabel(j) + " at " + fmtElapsed(j.t_s));
        });
      })
      .catch(function (e) { msg("the server did not answer: " + e, true); });
  }
  function controls() {
    if (meta.role !== "control") return;
    $("controls").hidden = false;
    if (meta.closed) {
      $("f-users").hidden = false;
      $("in-users").value = meta.users;
      if (meta.spawn_rate != null) $("in-spawn").value = meta.spawn_rate;
      $("f-users").addEventListener("submit", function (e) {
        e.preventDefault();
        post({ action: "users", users: $("in-users").value === "" ? null : Number($("in-users").value),
               spawn_rate: $("in-spawn").value === "" ? null : Number($("in-spawn").value), at_once: $("in-at-once").checked });
      });
    } else if (meta.rate_mode) {
      $("f-rate").hidden = false;
      $("in-rate").value = meta.rate;
      $("f-rate").addEventListener("submit", function (e) {
        e.preventDefault();
        post({ action: "rate", rate: Number($("in-rate").value) });
      });
    } else {
      $("f-multiply").hidden = false;
      $("in-multiply").value = meta.multiply;
      $("f-multiply").addEventListener("submit", function (e) {
        e.preventDefault();
        post({ action: "multiply", multiply: Number($("in-multiply").value) });
      });
    }
    $("b-pause").addEventListener("click", function () { post({ action: "pause" }); });
    $("b-resume").addEventListener("click", function () { post({ action: "resume" }); });
    $("b-stop").addEventListener("click", function () { post({ action: "stop" }); });
  }
  function setEnded() {
    ["b-users", "b-multiply", "b-rate", "b-pause", "b-resume", "b-stop"].forEach(function (id) { $(id).disabled = true; });
  }

  function connect() {
    var es = new EventSource("events");
    es.onopen = function () { text("conn", "live"); };
    es.onerror = function () { text("conn", ended ? "run ended" : "reconnecting…"); if (ended) es.close(); };
    es.addEventListener("second", function (e) { onSecond(JSON.parse(e.data)); });
    es.addEventListener("control", function (e) { markers.push(JSON.parse(e.data)); later(); });
    es.addEventListener("end", function (e) {
      ended = true;
      var d = JSON.parse(e.data);
      if (d.error) {
        es.close();
        setEnded();
        $("controls").hidden = false;
        failure = d.error;
        msg("the run did not go: " + d.error, true);
        text("conn", "run ended");
        document.body.setAttribute("data-ended", "1");
        later();
        return;
      }
      summary = d.summary;
      showVerdicts(summary.thresholds);
      conversation();
      setEnded();
      text("conn", "run ended");
      es.close();
      document.body.setAttribute("data-ended", "1");
      later();
    });
  }

  document.querySelectorAll("#endpoints th[data-k]").forEach(function (th) {
    th.addEventListener("click", function () {
      var k = Number(th.getAttribute("data-k"));
      if (k === sortKey) sortDesc = !sortDesc; else { sortKey = k; sortDesc = k >= 3; }
      endpoints();
    });
  });
  $("ep-filter").addEventListener("input", function () { page = 0; endpoints(); });
  $("ep-prev").addEventListener("click", function () { if (page > 0) { page--; endpoints(); } });
  $("ep-next").addEventListener("click", function () { page++; endpoints(); });

  fetch("api/meta").then(function (r) { return r.json(); }).then(function (m) {
    meta = m;
    text("run-name", m.name || "run");
    text("target", m.target);
    text("workload", m.closed ? m.users + " users (closed)" : "open, ×" + m.multiply + " arrivals");
    if (m.thresholds && m.thresholds.length) showVerdicts(m.thresholds.map(function (t) { return { expr: t, ok: true, pending: true }; }));
    controls();
    render();
    connect();
  });
})();
