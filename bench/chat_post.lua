-- wrk script of bench/chat.py: POST /api/v1/chat/message with a rotating mix of citizen messages.
--
--   wrk -s bench/chat_post.lua -H "Authorization: Bearer KEY" -H "Content-Type: application/json" \
--       http://127.0.0.1:PORT/api/v1/chat/message -- TAG TRK-2026-000001
--
-- TAG prefixes the session ids (one run's conversations are its own); the tracking number is put
-- in the tracking question. Each thread spreads its requests over POOL conversations (a prime, so
-- every conversation sees the whole mix and grows by about one exchange per POOL requests), and
-- requests in flight at the same time never share a conversation (no lock waits between them).
-- Messages must not contain '"' or '\': they are put into the JSON body as they are.

local messages = {
   "What are the opening hours of City Hall?",
   "How do I apply for a building permit for a renovation?",
   "When is the garbage collected in my district?",
   "How much does a residential parking permit cost?",
   "hello",
   "What is the status of my report %TRK%?",
   "Who won the football match last night?",
   "Where can I recycle old electronics and batteries?",
}
local POOL = 509

local counter = 0
local tag = "run"
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("thread_id", next_id)
end

function init(args)
   tag = args[1] or "run"
   local tracking = args[2] or "TRK-2026-000001"
   for i, text in ipairs(messages) do
      messages[i] = string.gsub(text, "%%TRK%%", tracking)
   end
end

function request()
   counter = counter + 1
   local text = messages[(counter % #messages) + 1]
   local session = string.format("%s-t%d-%d", tag, thread_id or 0, counter % POOL)
   local body = string.format('{"message": "%s", "session_id": "%s"}', text, session)
   return wrk.format("POST", nil, nil, body)
end
