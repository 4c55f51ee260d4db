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

  function done(message) {
    status.textContent = message;
    button.disabled = false;
    input.focus();
  }

  var chat = window.CitizenAIChat.connect({
    sessionId: widget.getAttribute("data-session-id"),
    streamUrl: widget.getAttribute("data-stream-url"),
    onChunk: function (text) { if (answer) { answer.textContent += text; } },
    onAnswer: function (reply) {
      if (answer && !answer.textContent) { answer.textContent = reply.message || reply.response || ""; }
      done("Answer complete.");
    },
    onError: function (error) {
      if (answer && !answer.textContent) {
        answer.textContent = (error && error.message) || "Sorry, the assistant could not be reached.";
      }
      done("Something went wrong; please try again.");
    },
  });

  form.addEventListener("submit", function (event) {
    var text = input.value.trim();
    if (!text) { return; }
    event.preventDefault();
    addLine("user", text);
    input.value = "";
    answer = addLine("assistant", "");
    status.textContent = "The assistant is answering…";
    button.disabled = true;
    chat.send(text);
  });
})();
