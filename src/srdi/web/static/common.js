/* srdi web: shared behaviour (no inline scripts anywhere: CSP script-src 'self'). */
(function () {
  "use strict";
  var sw = document.getElementById("lang-switch");
  var again = document.getElementById("resubmit");
  if (sw && again) {
    // The result page came from a POST: switching language re-posts the same answers.
    sw.addEventListener("click", function (ev) { ev.preventDefault(); again.submit(); });
  }
})();
