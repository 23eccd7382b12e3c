/* The self-assessment form: inline validation, progress kept in localStorage, sample firm,
   server-side check (/form/check) before posting to /result. Amounts stay as typed (万元);
   the server converts them exactly to yuan. */
(function () {
  "use strict";
  var KEY = "srdi.form.v1";
  var form = document.getElementById("assess-form");
  if (!form) return;
  var zh = document.body.getAttribute("data-lang") !== "en";
  var MSG = {
    wan: zh ? "应为以万元为单位的金额，如 7000 或 12.5，最多 6 位小数" : "an amount in 10k yuan, e.g. 7000 or 12.5 (at most 6 decimals)",
    swan: zh ? "应为以万元为单位的金额（可为负数）" : "an amount in 10k yuan (may be negative)",
    int: zh ? "应为非负整数" : "a whole number",
    year: zh ? "应为四位年份" : "a four-digit year",
    num: zh ? "应为数字" : "a number",
    range: zh ? "超出范围" : "out of range",
    required: form.getAttribute("data-msg-required"),
    fix: form.getAttribute("data-msg-fix")
  };
  var RE = {
    wan: /^\d{1,12}(\.\d{1,6})?$/, swan: /^-?\d{1,12}(\.\d{1,6})?$/, int: /^\d{1,9}$/, year: /^\d{4}$/,
    num: /^-?\d+(\.\d+)?$/
  };
  var SKIP = { fields: 1, lang: 1, as_of: 1, mode: 1 };

  function controls() {
    return Array.prototype.filter.call(form.elements, function (el) { return el.name && !SKIP[el.name]; });
  }
  function byName(name) { return form.elements.namedItem(name); }
  function errSpan(name) { return form.querySelector('[data-err-for="' + cssEsc(name) + '"]'); }
  function cssEsc(s) { return s.replace(/["\\]/g, "\\$&"); }

  function setErr(name, msg) {
    var sp = errSpan(name), el = byName(name);
    if (sp) sp.textContent = msg || "";
    if (el && el.setAttribute) {
      if (msg) el.setAttribute("aria-invalid", "true"); else el.removeAttribute("aria-invalid");
    }
  }

  function check(el) {
    var v = (el.value || "").trim().replace(/[,，]/g, "");
    var kind = el.getAttribute("data-kind");
    var msg = "";
    if (!v) { msg = el.required ? MSG.required : ""; }
    else if (RE[kind] && !RE[kind].test(v)) { msg = MSG[kind]; }
    else if (kind === "num" || kind === "int") {
      var n = parseFloat(v), lo = el.getAttribute("data-min"), hi = el.getAttribute("data-max");
      if ((lo !== null && n < parseFloat(lo)) || (hi !== null && n > parseFloat(hi))) msg = MSG.range + " (" + (lo || "") + "–" + (hi || "") + ")";
    }
    setErr(el.name, msg);
    return !msg;
  }

  function collect() {
    var out = {};
    controls().forEach(function (el) {
      var v = (el.value || "").trim();
      if (v !== "") out[el.name] = v;
    });
    return out;
  }

  function ensureRows(name) {
    // titles.4.type: add list rows until that index exists
    var m = /^([a-z_]+)\.(\d+)\./.exec(name);
    if (!m) return;
    var box = form.querySelector('[data-list="' + m[1] + '"]');
    while (box && !byName(name) && box.querySelectorAll("tbody tr").length <= parseInt(m[2], 10) && box.querySelectorAll("tbody tr").length < 50) addRow(box);
  }

  function addRow(box) {
    var body = box.querySelector("tbody"), rows = body.querySelectorAll("tr");
    var last = rows[rows.length - 1], idx = rows.length, prev = idx - 1;
    var copy = last.cloneNode(true);
    var list = box.getAttribute("data-list");
    Array.prototype.forEach.call(copy.querySelectorAll("[name],[data-err-for],[id]"), function (el) {
      ["name", "data-err-for", "id"].forEach(function (a) {
        var v = el.getAttribute(a);
        if (v) el.setAttribute(a, v.replace(list + "." + prev + ".", list + "." + idx + "."));
      });
      if (el.value !== undefined && el.tagName !== "SPAN") el.value = "";
      if (el.tagName === "SPAN") el.textContent = "";
    });
    body.appendChild(copy);
  }

  function fill(state) {
    controls().forEach(function (el) { el.value = ""; setErr(el.name, ""); });
    var fields = (state && state.fields) || {};
    Object.keys(fields).forEach(function (k) {
      ensureRows(k);
      var el = byName(k);
      if (el) el.value = fields[k];
    });
    if (state && state.as_of) byName("as_of").value = state.as_of;
    if (state && state.mode) byName("mode").value = state.mode;
    years();
    progress();
  }

  function save() {
    try {
      localStorage.setItem(KEY, JSON.stringify({ fields: collect(), as_of: byName("as_of").value, mode: byName("mode").value }));
    } catch (e) { /* storage full or disabled: the form still works */ }
  }

  function progress() {
    var els = controls().filter(function (el) { return !/^(titles|awards|standards_led|equity_financing)\./.test(el.name); });
    var filled = els.filter(function (el) { return (el.value || "").trim() !== ""; }).length;
    var pct = els.length ? Math.round(100 * filled / els.length) : 0;
    document.getElementById("progress").value = pct;
    document.getElementById("progress-text").textContent = pct + "%";
  }

  function years() {
    var v = byName("as_of").value, y = parseInt((v || "").slice(0, 4), 10);
    if (!y) return;
    Array.prototype.forEach.call(document.querySelectorAll(".year-h"), function (th) {
      var k = parseInt(th.getAttribute("data-y").slice(1), 10);
      th.textContent = String(y - k) + (form.getAttribute("data-year-suffix") || "");
    });
  }

  form.addEventListener("input", function () { save(); progress(); });
  form.addEventListener("change", function (ev) { if (ev.target.name === "as_of") years(); save(); progress(); });
  form.addEventListener("focusout", function (ev) { if (ev.target.name && !SKIP[ev.target.name]) check(ev.target); });
  Array.prototype.forEach.call(form.querySelectorAll("[data-list]"), function (box) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "button small add-row";
    b.textContent = "+";
    b.addEventListener("click", function () { addRow(box); });
    box.appendChild(b);
  });

  document.getElementById("sample").addEventListener("click", function () {
    fetch("/form/sample").then(function (r) { return r.json(); }).then(function (s) { fill(s); save(); });
  });
  document.getElementById("clear").addEventListener("click", function () {
    try { localStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    fill({ fields: {}, as_of: byName("as_of").defaultValue, mode: "application" });
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var ok = controls().map(check).every(Boolean);
    var summary = document.getElementById("errors-summary");
    summary.textContent = "";
    if (!ok) { summary.textContent = MSG.fix; focusFirst(); return; }
    var fields = collect();
    fetch("/form/check", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ fields: fields, as_of: byName("as_of").value })
    }).then(function (r) { return r.json(); }).then(function (res) {
      if (!res.ok) {
        Object.keys(res.errors || {}).forEach(function (k) { setErr(k, res.errors[k]); });
        var unplaced = Object.keys(res.errors || {}).filter(function (k) { return !errSpan(k); });
        summary.textContent = MSG.fix + (unplaced.length ? ": " + unplaced.map(function (k) { return (k || "") + " " + res.errors[k]; }).join("; ") : "");
        focusFirst();
        return;
      }
      document.getElementById("fields-json").value = JSON.stringify(fields);
      save();
      HTMLFormElement.prototype.submit.call(form);
    });
  });

  function focusFirst() {
    var bad = form.querySelector('[aria-invalid="true"]');
    if (bad) bad.focus();
  }

  var saved = null;
  try { saved = JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { saved = null; }
  if (saved) fill(saved); else { years(); progress(); }
})();
