// reprise start page: lists recordings and profiles, posts the form, then opens the live page.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  function msg(t, bad) { var m = $("start-msg"); m.textContent = t; m.className = "msg" + (bad ? " bad" : ""); }
  fetch("api/options").then(function (r) { return r.json(); }).then(function (o) {
    $("rec-dir").textContent = o.recordings_dir;
    $("prof-dir").textContent = o.profiles_dir;
    if (o.recordings.length) {
      $("recordings").innerHTML = "";
      o.recordings.forEach(function (name, i) {
        var l = document.createElement("label"), c = document.createElement("input");
        c.type = "checkbox"; c.value = name; c.name = "recording"; c.checked = i === 0;
        l.appendChild(c); l.appendChild(document.createTextNode(" " + name));
        $("recordings").appendChild(l);
      });
    }
    o.profiles.forEach(function (name) {
      var opt = document.createElement("option");
      opt.value = name; opt.textContent = name;
      $("f-profile").appendChild(opt);
    });
    if (o.running) $("to-live").hidden = false;
    document.body.setAttribute("data-ready", "1");
  });
  function workload() { return $("w-open").checked ? "open" : $("w-rate").checked ? "rate" : "closed"; }
  function showWorkload() {
    var w = workload();
    document.querySelectorAll(".closed-only").forEach(function (n) { n.hidden = w !== "closed"; });
    document.querySelectorAll(".open-only").forEach(function (n) { n.hidden = w !== "open"; });
    document.querySelectorAll(".rate-only").forEach(function (n) { n.hidden = w !== "rate"; });
  }
  ["w-closed", "w-open", "w-rate"].forEach(function (id) { $(id).addEventListener("change", showWorkload); });
  // the server checks the same (and says why): this only saves a round trip
  function invalid() {
    var whole = function (id, what) {
      var v = $(id).value.trim();
      return v !== "" && !(/^[0-9]+$/.test(v) && Number(v) >= 1) ? what + " must be a whole number ≥ 1, not `" + v + "`" : "";
    };
    var positive = function (id, what) {
      var v = $(id).value.trim();
      return v !== "" && !(Number(v) > 0 && isFinite(Number(v))) ? what + " must be a number > 0, not `" + v + "`" : "";
    };
    if (workload() === "open") return whole("f-multiply", "the multiplier") || positive("f-speed", "the speed");
    if (workload() === "rate") return positive("f-rate", "the rate") || positive("f-speed", "the speed");
    return whole("f-users", "users") || positive("f-spawn", "the spawn rate") || positive("f-speed", "the speed");
  }
  $("start").addEventListener("submit", function (e) {
    e.preventDefault();
    var bad = invalid();
    if (bad) { msg(bad, true); return; }
    var recs = [];
    document.querySelectorAll("#recordings input:checked").forEach(function (c) { recs.push(c.value); });
    var body = {
      recordings: recs, target: $("f-target").value, profile: $("f-profile").value,
      workload: workload(), users: $("f-users").value, spawn_rate: $("f-spawn").value, multiply: $("f-multiply").value,
      rate: $("f-rate").value,
      speed: $("f-speed").value,
      duration: $("f-duration").value, thresholds: $("f-thresholds").value
    };
    $("b-start").disabled = true;
    msg("starting…");
    fetch("api/start", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) {
        if (r.ok) { window.location.href = "./"; return; }
        $("b-start").disabled = false;
        msg(j.error || ("refused (" + r.status + ")"), true);
      }); })
      .catch(function (err) { $("b-start").disabled = false; msg("the server did not answer: " + err, true); });
  });
})();
