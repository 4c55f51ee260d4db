// Live notifications for staff pages over /api/v1/ws/notifications.
//
// Include on any page a signed-in staff member (or citizen) sees:
//
//   {% load static %}
//   <script src="{% static 'js/realtime.js' %}" defer></script>
//   (or {% include "realtime/notifications_script.html" %})
//
// It connects with the browser's session cookie (same origin; the server checks the
// Origin). Pages without a session can pass a token through the first message instead:
//   <body data-realtime-token="cai_...">  or  CitizenAIRealtime.connect({token: "cai_..."})
// Add data-realtime="off" to <body> to connect manually with CitizenAIRealtime.connect().
//
// What it does with each notification ({type, data, timestamp, id}; type is the event:
// "concern.created", "concern.updated", "chat.escalated", ...):
//   * dispatches a DOM CustomEvent "citizenai:notification" on document, detail = the frame:
//       document.addEventListener("citizenai:notification", function (e) {
//         if (e.detail.type === "concern.created") { ... e.detail.data.tracking_number ... }
//       });
//   * increments every element with data-live-counter="<event type>", e.g.
//       <span data-live-counter="concern.created">0</span> new concerns
//     (data-live-counter="*" counts every notification);
//   * sets document.documentElement.dataset.realtime to "connecting", "connected",
//     "reconnecting", "unauthorized" or "closed", and dispatches "citizenai:realtime-status"
//     (detail {status, code}) so a page can show a live/offline badge.
// It answers server pings, reconnects with backoff (1 s doubling to 30 s, with jitter), and
// stops reconnecting after 4401/4403 (not signed in / role without notifications).
(function () {
  "use strict";

  var PATH = "/api/v1/ws/notifications";
  var MAX_BACKOFF_MS = 30000;

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + PATH;
  }

  function dispatch(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function bumpCounters(type) {
    var counters = document.querySelectorAll("[data-live-counter]");
    for (var i = 0; i < counters.length; i++) {
      var wanted = counters[i].getAttribute("data-live-counter");
      if (wanted === type || wanted === "*") {
        var value = parseInt(counters[i].textContent, 10);
        counters[i].textContent = String((isNaN(value) ? 0 : value) + 1);
        counters[i].classList.add("live-counter-bumped");
      }
    }
  }

  function Connection(options) {
    this.options = options || {};
    this.token = this.options.token || null;
    this.backoff = 1000;
    this.stopped = false;
    this.socket = null;
    this.open();
  }

  Connection.prototype.status = function (status, code) {
    document.documentElement.dataset.realtime = status;
    dispatch("citizenai:realtime-status", { status: status, code: code || null });
  };

  Connection.prototype.send = function (frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
    }
  };

  Connection.prototype.open = function () {
    var self = this;
    if (!window.WebSocket || self.stopped) { return; }
    self.status(self.socket ? "reconnecting" : "connecting");
    var socket = new WebSocket(socketUrl());
    self.socket = socket;

    socket.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (!frame || typeof frame.type !== "string") { return; }
      if (frame.type === "connection") {
        var status = frame.data && frame.data.status;
        if (status === "authentication_required") {
          if (self.token) { self.send({ type: "auth", token: self.token }); }
        } else if (status === "connected") {
          self.backoff = 1000;
          self.status("connected");
        }
        return;
      }
      if (frame.type === "ping") { self.send({ type: "pong" }); return; }
      if (frame.type === "pong") { return; }
      if (frame.type === "error") {
        dispatch("citizenai:realtime-error", frame.data || {});
        return;
      }
      bumpCounters(frame.type);
      dispatch("citizenai:notification", frame);
    };

    socket.onclose = function (event) {
      if (self.socket !== socket) { return; }
      if (event.code === 4401 || event.code === 4403) {
        self.stopped = true;
        self.status("unauthorized", event.code);
        return;
      }
      if (self.stopped) { self.status("closed", event.code); return; }
      var delay = Math.min(self.backoff, MAX_BACKOFF_MS);
      self.backoff = Math.min(self.backoff * 2, MAX_BACKOFF_MS);
      self.status("reconnecting", event.code);
      window.setTimeout(function () { self.open(); }, delay / 2 + Math.random() * delay / 2);
    };
  };

  Connection.prototype.close = function () {
    this.stopped = true;
    if (this.socket) { this.socket.close(1000); }
  };

  var current = null;
  window.CitizenAIRealtime = {
    // Connects (once per page) and returns the connection; {token} authenticates with the
    // first message instead of the cookie.
    connect: function (options) {
      if (!current) { current = new Connection(options); }
      return current;
    },
    disconnect: function () {
      if (current) { current.close(); current = null; }
    }
  };

  function start() {
    var body = document.body;
    if (!body || body.getAttribute("data-realtime") === "off") { return; }
    window.CitizenAIRealtime.connect({ token: body.getAttribute("data-realtime-token") });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
