// Progressive enhancement of the chat page: answers stream over Server-Sent Events
// (GET /api/v1/chat/stream) instead of a full page reload. Without JavaScript the form
// posts normally and the page shows the conversation.
(function () {
  "use strict";
  var widget = document.querySelector("[data-chat-widget]");
  if (!widget || !window.EventSource) { return; }
  var form = widget.querySelector("[data-chat-form]");
  var log = widget.querySelector("[data-chat-log]");
  var input = form.querySelector("textarea");
  var status = widget.querySelector("[data-chat-status]");
  var sessionId = widget.getAttribute("data-session-id");
  var streamUrl = widget.getAttribute("data-stream-url");

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

  form.addEventListener("submit", function (event) {
    var text = input.value.trim();
    if (!text) { return; }
    event.preventDefault();
    addLine("user", text);
    input.value = "";
    var answer = addLine("assistant", "");
    status.textContent = "The assistant is answering…";
    form.querySelector("button").disabled = true;
    var url = streamUrl + "?message=" + encodeURIComponent(text) + "&session_id=" + encodeURIComponent(sessionId);
    var source = new EventSource(url, { withCredentials: true });
    function finish(message) {
      source.close();
      status.textContent = message;
      form.querySelector("button").disabled = false;
      input.focus();
    }
    source.onmessage = function (e) {
      var data = JSON.parse(e.data);
      if (data.type === "chunk") { answer.textContent += data.content; }
      else if (data.type === "complete") { finish("Answer complete."); }
      else if (data.type === "error") { answer.textContent = data.message; finish("Something went wrong."); }
    };
    source.onerror = function () {
      if (!answer.textContent) { answer.textContent = "Sorry, the assistant could not be reached. Please try again."; }
      finish("Connection closed.");
    };
  });
})();
