/* Staff dashboard: figures rendered with data-counter="<name>" can be replaced with
 * CitizenAIAnalytics.applyCounters({name: value}). Live event counts since the page was
 * opened come from static/js/realtime.js, which keeps every data-live-counter element up to
 * date from the notifications socket.
 */
(function () {
  "use strict";

  function root() {
    return document.getElementById("analytics-dashboard");
  }

  function applyCounters(counts) {
    var container = root();
    if (!container || !counts) return 0;
    var updated = 0;
    Object.keys(counts).forEach(function (name) {
      container.querySelectorAll('[data-counter="' + name + '"]').forEach(function (element) {
        var value = String(counts[name]);
        if (element.textContent !== value) {
          element.textContent = value;
          updated += 1;
        }
      });
    });
    return updated;
  }

  window.CitizenAIAnalytics = {
    applyCounters: applyCounters,
  };
})();
