/* The result page: radar chart (ECharts, vendored), print, JSON download. */
(function () {
  "use strict";
  var box = document.getElementById("radar");
  if (box && window.echarts) {
    var d = JSON.parse(box.getAttribute("data-radar"));
    var vals = d.values.map(function (v) { return v === null ? 0 : v; });
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      radar: { indicator: d.labels.map(function (l) { return { name: l, max: 100 }; }), radius: "65%" },
      series: [{ type: "radar", data: [{ value: vals, name: "srdi", areaStyle: { opacity: 0.25 } }] }],
      tooltip: {}
    });
    window.addEventListener("resize", function () { chart.resize(); });
    window.addEventListener("beforeprint", function () { chart.resize(); });
  }
  var plan = document.getElementById("plan"), again = document.getElementById("resubmit");
  if (plan && again) {
    var v = function (n) { return again.elements.namedItem(n).value; };
    fetch("/result/plan", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ fields: JSON.parse(v("fields")), as_of: v("as_of"), mode: v("mode"),
                             lang: document.body.getAttribute("data-lang") })
    }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); }).then(function (j) {
      var pre = document.getElementById("plan-text");
      pre.textContent = j.text;
      pre.classList.remove("hidden");
      document.getElementById("plan-status").classList.add("hidden");
    }).catch(function (status) {
      if (status === 503 || status === 404) { plan.classList.add("hidden"); return; }
      document.getElementById("plan-status").textContent = plan.getAttribute("data-failed");
    });
  }
  var pr = document.getElementById("print");
  if (pr) pr.addEventListener("click", function () { window.print(); });
  var dl = document.getElementById("download-json"), src = document.getElementById("result-json");
  if (dl && src) {
    var blob = new Blob([JSON.stringify(JSON.parse(src.getAttribute("data-json")), null, 2)], { type: "application/json" });
    dl.href = URL.createObjectURL(blob);
  }
})();
