// Progressive enhancement of the chat page: answers stream over the WebSocket
// (static/js/chat-ws.js, which falls back to Server-Sent Events by itself) instead of a full
// page reload. Without JavaScript the form posts normally and the page shows the
// conversation.
(function () {
  "use strict";
  var widget = document.querySelector("[data-chat-widget]");
  if (!widget || !window.CitizenAIChat) { return; }
  var form = widget.querySelector("[data-chat-form]");
  var log = widget.querySelector("[data-chat-log]");
  var input = form.querySelector("textarea");
  var button = form.querySelector("button");
  var status = widget.querySelector("[data-chat-status]");
  var answer = null;

  function addLine(role, text) {
    var item = document.createElement("li");
    item.className = "chat-" + role;
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = role === "user" ? "You said: " : "Assistant: ";
    item.appendChild(who);
    var body = document.createElement("span");
    body.textContent = text;
    item.appendChild(body);
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return body;
  }

  // While an answer streams in, the log is busy: a screen reader announces the finished
  // answer once instead of every partial one.
  function done(message) {
    log.removeAttribute("aria-busy");
    status.textContent = message;
    button.disabled = false;
    input.focus();
  }

  // An error frame's first field message says more than its summary ("Request validation
  // failed.") — e.g. that the message is too long.
  function errorText(error) {
    var details = (error && error.details) || {};
    for (var field in details) {
      if (Object.prototype.hasOwnProperty.call(details, field) && details[field] && details[field].length) {
        return String(details[field][0]);
      }
    }
    return (error && error.message) || "Sorry, the assistant could not be reached.";
  }

  var chat = window.CitizenAIChat.connect({
    sessionId: widget.getAttribute("data-session-id"),
    streamUrl: widget.getAttribute("data-stream-url"),
    onChunk: function (text) { if (answer) { answer.appendChild(document.createTextNode(text)); } },
    onAnswer: function (reply) {
      if (answer) { answer.textContent = answer.textContent || reply.message || reply.response || ""; }
      done("Answer complete.");
    },
    onError: function (error) {
      if (answer && !answer.textContent) { answer.textContent = errorText(error); }
      done("Something went wrong; please try again.");
    },
  });

  var maxLength = parseInt(input.getAttribute("maxlength"), 10) || 0;
  input.addEventListener("input", function () {
    if (maxLength && input.value.length >= maxLength) {
      status.textContent = "Messages can be at most " + maxLength + " characters.";
    }
  });

  // Enter sends, Shift+Enter starts a new line (the hint under the field says so).
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!button.disabled) { form.requestSubmit ? form.requestSubmit(button) : button.click(); }
    }
  });

  form.addEventListener("submit", function (event) {
    var text = input.value.trim();
    if (!text) { return; }
    event.preventDefault();
    addLine("user", text);
    input.value = "";
    log.setAttribute("aria-busy", "true");
    answer = addLine("assistant", "");
    status.textContent = "The assistant is answering…";
    input.focus(); // not left on a button that is about to be disabled
    button.disabled = true;
    chat.send(text);
  });
})();
