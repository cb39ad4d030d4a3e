-- client.lua - the harness's Lua client (see harness.py); Lua 5.4 or LuaJIT.
--
-- Usage: lua5.4 client.lua PIPE_NAME LABEL
--
-- Sends three messages (a greeting, a line of emoji and a 64 KiB message),
-- prints each reply (a long one as its size in bytes), then says "bye".

local ipc = require "kiwi_ipc"

local name, label = arg[1], arg[2]

local pipe = assert(ipc.Pipe.connect(name, 60))
for _, message in ipairs {
  "hello from " .. label,
  "🥝 kiwi, 🐍 python, 🌙 lua — from " .. label,
  label .. ":" .. ("z"):rep(65536),
} do
  assert(pipe:send(message))
  local reply = assert(pipe:recv())
  print(#reply < 200 and reply or ("<%d bytes>"):format(#reply))
end
assert(pipe:send("bye"))
pipe:close()
