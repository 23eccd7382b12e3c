/* The batch page: upload, poll the job's progress, download, summary chart. */
(function () {
  "use strict";
  var form = document.getElementById("batch-form");
  if (!form) return;
  var zh = document.body.getAttribute("data-lang") !== "en";
  function $(id) { return document.getElementById(id); }
  function show(id, on) { $(id).classList.toggle("hidden", !on); }
  function pool() { return $("batch-task").value === "pool"; }

  // the cultivation pool (POST /api/v1/pool) takes a target tier and a horizon; its fields are
  // disabled (not sent) for a plain batch assessment
  $("batch-task").addEventListener("change", function () {
    var on = pool();
    Array.prototype.forEach.call(form.querySelectorAll(".pool-only"), function (el) { el.classList.toggle("hidden", !on); });
    $("batch-target").disabled = !on;
    $("batch-horizon").disabled = !on;
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = $("batch-file").files[0];
    $("batch-error").textContent = "";
    if (!f) return;
    if (f.size > parseInt(form.getAttribute("data-max-bytes"), 10)) {
      show("batch-status", true);
      $("batch-error").textContent = zh ? "文件过大" : "file too large";
      return;
    }
    show("batch-status", true);
    show("batch-download", false);
    show("batch-errors", false);
    $("batch-submit").disabled = true;
    fetch(pool() ? "/api/v1/pool" : "/api/v1/batch", { method: "POST", body: new FormData(form) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) { fail(res.body); return; }
        poll(res.body.id);
      })
      .catch(function () { fail({ detail: zh ? "网络错误" : "network error" }); });
  });

  function fail(p) {
    $("batch-submit").disabled = false;
    var msg = p.detail || p.error || "error";
    if (p.errors && p.errors.length) msg += " — " + p.errors.map(function (e) { return e.path + ": " + (zh ? e.detail_zh : e.detail); }).join("; ");
    $("batch-error").textContent = msg;
  }

  function poll(id) {
    fetch("/api/v1/batch/" + id).then(function (r) { return r.json(); }).then(function (j) {
      $("batch-state").textContent = form.getAttribute("data-st-" + j.status) || j.status;
      $("batch-progress").value = j.percent || 0;
      $("batch-pct").textContent = (j.percent || 0) + "%" + (j.total ? " (" + (j.done || 0) + "/" + j.total + ")" : "");
      if (j.status === "done") {
        $("batch-submit").disabled = false;
        var a = $("batch-download");
        a.href = j.result_url;
        a.setAttribute("download", "");
        show("batch-download", true);
        if (j.errors_url) { $("batch-errors").href = j.errors_url; $("batch-errors").setAttribute("download", ""); }
        show("batch-errors", !!j.errors_url);
        summary(j.summary);
      } else if (j.status === "failed") {
        fail({ detail: j.error });
      } else {
        setTimeout(function () { poll(id); }, 400);
      }
    });
  }

  function summary(s) {
    if (!s) return;
    show("batch-summary-h", true);
    $("batch-summary").textContent = JSON.stringify(s, null, 2);
    show("batch-summary", true);
    if (s.kind === "pool") { poolChart(s); return; }
    // Chart: the first mapping of tier -> {pass, fail, undetermined} counts found in the summary.
    var tiers = s.tiers || s.by_tier || s.outcomes;
    if (!tiers || typeof tiers !== "object" || !window.echarts) return;
    var names = Object.keys(tiers), kinds = ["pass", "fail", "undetermined"];
    var colors = { pass: "#1b7f3b", fail: "#b3261e", undetermined: "#c9a227" };
    var label = function (k) { return form.getAttribute("data-o-" + k) || k; };
    if (!names.length || typeof tiers[names[0]] !== "object") return;
    show("batch-chart", true);
    var chart = window.echarts.init($("batch-chart"));
    chart.setOption({
      animation: false, tooltip: {}, legend: {},
      xAxis: { type: "category", data: names }, yAxis: { type: "value" },
      series: kinds.map(function (k) {
        return { name: label(k), type: "bar", stack: "n", itemStyle: { color: colors[k] }, data: names.map(function (n) { return (tiers[n] || {})[k] || 0; }) };
      })
    });
  }

  // a pool: firms by number of failing conditions (0 = passing now), one bar each
  function poolChart(s) {
    var by = s.by_failing_conditions;
    if (!by || !window.echarts) return;
    var keys = Object.keys(by).sort(function (a, b) { return a - b; });
    show("batch-chart", true);
    var chart = window.echarts.init($("batch-chart"));
    chart.setOption({
      animation: false, tooltip: {},
      xAxis: { type: "category", name: zh ? "未满足条件数" : "failing conditions", data: keys },
      yAxis: { type: "value", name: zh ? "企业数" : "firms" },
      series: [{ type: "bar", itemStyle: { color: "#5470c6" }, data: keys.map(function (k) { return by[k]; }) }]
    });
  }
})();
