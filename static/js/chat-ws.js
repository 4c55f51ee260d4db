// A small chat client for the citizen chat widget: WebSocket first
// (/api/v1/ws/chat/{session_id}, the seed 002 protocol), falling back to Server-Sent Events
// (GET /api/v1/chat/stream?message=...&session_id=...) when WebSockets are unavailable or
// the socket cannot be opened.
//
// Include:
//   {% load static %}
//   <script src="{% static 'js/chat-ws.js' %}" defer></script>
//   (or {% include "realtime/chat_ws_script.html" %})
//
// Use (the session id is the conversation the page created, e.g. data-session-id):
//   var chat = CitizenAIChat.connect({
//     sessionId: widget.getAttribute("data-session-id"),
//     streamUrl: "/api/v1/chat/stream",          // optional, the SSE fallback
//     onChunk: function (text) { answer.textContent += text; },
//     onAnswer: function (answer) { ... answer.message, answer.suggested_actions, answer.metadata ... },
//     onError: function (error) { ... error.code, error.message ... },
//     onStatus: function (status) { ... "connecting" | "connected" | "fallback" | "closed" ... }
//   });
//   chat.send("When is city hall open?");   // one answer at a time; later sends wait
//   chat.close();
//
// The browser's session cookie authenticates both transports (same origin), so the
// conversation is the same one the REST API and the chat page see. The transport in use is
// chat.transport ("websocket" or "sse").
(function () {
  "use strict";

  var FATAL_CLOSE_CODES = { 4400: true, 4401: true, 4403: true, 4404: true };
  // A socket that opens but never greets, and an answer that stops arriving (a dead network
  // path, a stalled proxy), must not leave the page waiting forever.
  var GREETING_TIMEOUT_MS = 10000;
  var SILENCE_TIMEOUT_MS = 45000;

  function wsUrl(sessionId) {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + "/api/v1/ws/chat/" + encodeURIComponent(sessionId);
  }

  function noop() {}

  function Chat(options) {
    this.sessionId = options.sessionId;
    this.streamUrl = options.streamUrl || "/api/v1/chat/stream";
    this.onChunk = options.onChunk || noop;
    this.onAnswer = options.onAnswer || noop;
    this.onError = options.onError || noop;
    this.onStatus = options.onStatus || noop;
    this.transport = window.WebSocket && !options.forceSse ? "websocket" : "sse";
    this.queue = [];
    this.busy = false;
    this.socket = null;
    this.ready = false;
    this.counter = 0;
    this.watchdog = null;
    if (this.transport === "websocket") { this.openSocket(); } else { this.onStatus("fallback"); }
  }

  // (Re)arms the timer that gives up on a silent transport: `onSilence` runs when nothing
  // arrived for `ms`; any frame or event re-arms it, and disarm() stops it.
  Chat.prototype.arm = function (ms, onSilence) {
    this.disarm();
    this.watchdog = window.setTimeout(onSilence, ms);
  };

  Chat.prototype.disarm = function () {
    if (this.watchdog) { window.clearTimeout(this.watchdog); this.watchdog = null; }
  };

  Chat.prototype.openSocket = function () {
    var self = this;
    var socket = new WebSocket(wsUrl(self.sessionId));
    var opened = false;
    var refusal = false; // the server explained a refusal in an error frame before closing
    self.socket = socket;
    self.ready = false;
    self.onStatus("connecting");
    function silent() {
      // Treated as a socket that never opened (before the greeting) or dropped mid-answer:
      // onclose below carries on over Server-Sent Events.
      if (self.socket !== socket) { return; }
      socket.onclose({ code: 1006, reason: "silent" });
      self.socket = null;
      socket.onclose = null;
      try { socket.close(); } catch (e) { /* already closing */ }
    }
    self.arm(GREETING_TIMEOUT_MS, silent);
    self.silent = silent;

    socket.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      var data = frame.data || {};
      // The server's keep-alive pings say the socket lives, not that an answer comes.
      if (frame.type !== "ping") {
        if (self.busy) { self.arm(SILENCE_TIMEOUT_MS, silent); } else { self.disarm(); }
      }
      if (frame.type === "connection") {
        opened = true;
        self.ready = true;
        self.onStatus("connected");
        self.next();
      } else if (frame.type === "agent_response_chunk") {
        self.onChunk(data.chunk || "");
      } else if (frame.type === "agent_response") {
        self.busy = false;
        self.disarm();
        self.onAnswer(data);
        self.next();
      } else if (frame.type === "error") {
        if (!opened) { refusal = true; }
        self.busy = false;
        self.disarm();
        self.onError(data);
        self.next();
      } else if (frame.type === "ping") {
        socket.send(JSON.stringify({ type: "pong", data: {} }));
      }
    };

    socket.onclose = function (event) {
      if (self.socket !== socket) { return; }
      self.disarm();
      self.ready = false;
      var wasBusy = self.busy;
      self.busy = false;
      if (FATAL_CLOSE_CODES[event.code]) {
        // Refused (bad session id, not signed in, someone else's conversation): the SSE
        // endpoint would refuse too.
        if (!refusal) {
          self.onError({ code: "CLOSED_" + event.code, message: event.reason || "The chat connection was refused." });
        }
        self.queue = [];
      } else if (!opened || wasBusy) {
        // Never connected (a proxy without WebSockets, the network) or dropped mid-answer:
        // carry on over Server-Sent Events.
        self.transport = "sse";
        self.onStatus("fallback");
        if (wasBusy) { self.onError({ code: "CONNECTION_LOST", message: "The connection dropped; please resend." }); }
        self.next();
        return;
      }
      self.onStatus("closed");
      // Idle timeouts (4408) and server restarts: reopen lazily on the next send.
      self.socket = null;
    };
  };

  Chat.prototype.send = function (text) {
    if (!text) { return; }
    this.queue.push(text);
    if (this.transport === "websocket" && !this.socket) { this.openSocket(); }
    this.next();
  };

  Chat.prototype.next = function () {
    if (this.busy || !this.queue.length) { return; }
    if (this.transport === "websocket") {
      if (!this.ready) { return; }
      this.busy = true;
      this.counter += 1;
      this.arm(SILENCE_TIMEOUT_MS, this.silent);
      this.socket.send(JSON.stringify({
        type: "chat_message",
        id: "m" + this.counter,
        data: { message: this.queue.shift() }
      }));
    } else {
      this.busy = true;
      this.sendSse(this.queue.shift());
    }
  };

  Chat.prototype.sendSse = function (text) {
    var self = this;
    if (!window.EventSource) {
      self.busy = false;
      self.onError({ code: "UNSUPPORTED", message: "This browser supports neither WebSockets nor EventSource." });
      return;
    }
    var url = self.streamUrl + "?message=" + encodeURIComponent(text) +
      "&session_id=" + encodeURIComponent(self.sessionId);
    var source = new EventSource(url, { withCredentials: true });
    var answer = { message: "", session_id: self.sessionId };
    var done = false;
    function finish() {
      done = true;
      self.disarm();
      source.close();
      self.busy = false;
      self.next();
    }
    function silent() {
      if (done) { return; }
      self.onError({ code: "TIMEOUT", message: "The assistant stopped answering. Please try again." });
      finish();
    }
    self.arm(SILENCE_TIMEOUT_MS, silent);
    source.onmessage = function (event) {
      self.arm(SILENCE_TIMEOUT_MS, silent);
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "agent_selected") {
        answer.agent_id = data.agent_id;
        answer.agent_name = data.agent_name;
      } else if (data.type === "intent") {
        answer.intent = data.intent;
        answer.confidence = data.confidence;
        answer.sentiment = data.sentiment;
      } else if (data.type === "chunk") {
        answer.message += data.content;
        self.onChunk(data.content);
      } else if (data.type === "complete") {
        for (var key in data) {
          if (Object.prototype.hasOwnProperty.call(data, key) && key !== "type") { answer[key] = data[key]; }
        }
        answer.response = answer.message;
        self.onAnswer(answer);
        finish();
      } else if (data.type === "error") {
        self.onError({ code: "PROCESSING_ERROR", message: data.message });
        finish();
      }
    };
    source.onerror = function () {
      if (done) { return; }
      self.onError({ code: "CONNECTION_LOST", message: "The assistant could not be reached. Please try again." });
      finish();
    };
  };

  Chat.prototype.close = function () {
    this.disarm();
    this.queue = [];
    if (this.socket) {
      var socket = this.socket;
      this.socket = null;
      socket.close(1000);
    }
    this.onStatus("closed");
  };

  window.CitizenAIChat = {
    connect: function (options) {
      if (!options || !options.sessionId) { throw new Error("CitizenAIChat.connect needs a sessionId"); }
      return new Chat(options);
    }
  };
})();
