-- wait.lua - ipc.wait over several pipes: it counts the messages held
-- inside each Pipe (the "Many pipes at once" guide).
local ipc = require "kiwi_ipc"

local listener = assert(ipc.Listener.listen("demo"))
local clients, pipes = {}, {}
for i = 1, 3 do
  clients[i] = assert(ipc.Pipe.connect("demo", 5))
  pipes[i] = assert(listener:accept(5))
end
for i, c in ipairs(clients) do  -- a burst each
  assert(c:send(("client %d: first"):format(i)))
  assert(c:send(("client %d: second"):format(i)))
end

local received = 0
while received < 6 do
  local ready = assert(ipc.wait(pipes, 5))  -- the ready objects
  for _, p in ipairs(ready) do
    assert(p:recv(0))                       -- ready: does not wait
    received = received + 1
  end
end
print(received .. " messages")
for i = 1, 3 do clients[i]:close(); pipes[i]:close() end
listener:close()
