/* Staff dashboard: the hook for live counters.
 *
 * The page marks its live figures with data-counter="<name>" inside
 * #analytics-dashboard[data-live-counters]. Live updates over the notifications socket
 * (data-live-socket) arrive with the real-time issue; until then nothing connects and the
 * page shows the figures it was rendered with. That issue only has to call
 * CitizenAIAnalytics.applyCounters({open_concerns: 12, ...}) from its socket handler and
 * set data-live-counters="on".
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
    // TODO(real-time issue): open data-live-socket, authenticate, and feed applyCounters.
    liveEndpoint: function () {
      var container = root();
      return container ? container.getAttribute("data-live-socket") : null;
    },
  };
})();
