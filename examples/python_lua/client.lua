-- client.lua - the Kiwi reference's two-process example, client side, in
-- Lua (client.kiwi): connect, then answer every message with "pong" until
-- "quit" arrives. Runs under Lua 5.4 and LuaJIT.
--
-- Usage: lua5.4 client.lua [PIPE_NAME]     (default "kiwi_demo_pipe")
-- Normally started by server.py, which passes its pipe name.

local ipc = require "kiwi_ipc"

local name = arg[1] or "kiwi_demo_pipe"

-- Waits until the server has created the pipe.
local handle = assert(ipc.connect(name))

while true do
  local msg = assert(ipc.recv(handle))
  if msg == "quit" then
    break
  end
  assert(ipc.send(handle, "pong"))
end

ipc.close(handle)
