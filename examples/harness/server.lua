-- server.lua - the harness's Lua server (see harness.py); Lua 5.4 or LuaJIT.
--
-- Usage: lua5.4 server.lua PIPE_NAME CLIENTS LABEL
--
-- Serves CLIENTS clients one after another, as a Kiwi server does: one
-- create per client. Each message is answered with "LABEL got: MESSAGE"
-- until the client sends "bye".

local ipc = require "kiwi_ipc"

local name, clients, label = arg[1], tonumber(arg[2]), arg[3]

for _ = 1, clients do
  local pipe = assert(ipc.Pipe.create(name))
  for message in pipe:messages() do
    if message == "bye" then break end
    assert(pipe:send(label .. " got: " .. message))
  end
  pipe:close()
end
