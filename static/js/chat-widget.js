// Progressive enhancement of the chat widgets: answers stream over the WebSocket
// (static/js/chat-ws.js, which falls back to Server-Sent Events by itself) instead of a full
// page reload. Without JavaScript the form posts normally and the assistant page shows the
// conversation.
//
// Two kinds of widget: the assistant page's (data-session-id: its conversation exists) and
// the panel of the other citizen pages (data-session-url: the conversation is opened there,
// with its last messages, when the panel is first used, so a page view writes nothing).
(function () {
  "use strict";
  if (!window.CitizenAIChat) { return; }

  function enhance(widget) {
    var form = widget.querySelector("[data-chat-form]");
    var log = widget.querySelector("[data-chat-log]");
    var input = form.querySelector("textarea");
    var button = form.querySelector("button");
    var status = widget.querySelector("[data-chat-status]");
    var answer = null;
    var chat = null;
    var opening = null; // the panel's session request, once under way

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

    function connect(sessionId) {
      chat = window.CitizenAIChat.connect({
        sessionId: sessionId,
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
      return chat;
    }

    // The panel's conversation: asked for once, with the form's CSRF token.
    function session() {
      if (chat) { return Promise.resolve(chat); }
      if (!opening) {
        var token = form.querySelector("input[name=csrfmiddlewaretoken]");
        opening = fetch(widget.getAttribute("data-session-url"), {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": token ? token.value : "" },
        }).then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        }).then(function (data) {
          (data.messages || []).forEach(function (message) { addLine(message.role, message.content); });
          return connect(data.session_id);
        });
        opening.catch(function () { opening = null; }); // the next send tries again
      }
      return opening;
    }

    if (widget.getAttribute("data-session-id")) { connect(widget.getAttribute("data-session-id")); }
    var panel = widget.closest("[data-chat-panel]");
    if (panel) {
      panel.addEventListener("toggle", function () {
        if (panel.open) { session().catch(function () {}); input.focus(); }
      });
    }

    var maxLength = parseInt(input.getAttribute("maxlength"), 10) || 0;
    input.addEventListener("input", function () {
      if (maxLength && input.value.length >= maxLength) {
        status.textContent = "Messages can be at most " + maxLength + " characters.";
      }
    });

    // Enter sends, Shift+Enter starts a new line (the hint under the field says so).
    input.addEventListener("keydown", function (event) {
      // 229: Safari's Enter that ends an IME composition, with isComposing already false.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        if (!button.disabled) { form.requestSubmit ? form.requestSubmit(button) : button.click(); }
      }
    });

    form.addEventListener("submit", function (event) {
      var text = input.value.trim();
      event.preventDefault(); // even when blank: posting would leave the page (and a half-filled form)
      if (!text) {
        status.textContent = "Please type a message.";
        input.focus();
        return;
      }
      input.value = "";
      input.focus(); // not left on a button that is about to be disabled
      button.disabled = true;
      status.textContent = "The assistant is answering…";
      session().then(function (ready) {
        addLine("user", text);
        log.setAttribute("aria-busy", "true");
        answer = addLine("assistant", "");
        ready.send(text);
      }, function () {
        input.value = text; // nothing was sent: keep what they wrote
        done("The assistant could not be reached; please try again.");
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-chat-widget]"), enhance);
})();
