-- client.lua - a Lua script that uses a Kiwi service (server.kiwi, a
-- key-value store) over a Kiwi pipe. Runs under Lua 5.4 and LuaJIT.
--
-- Usage: lua5.4 client.lua [PIPE_NAME]
-- The pipe name defaults to $KIWI_KV_PIPE, else "kiwi_kv_pipe", as in
-- server.kiwi. kiwi_ipc must be on LUA_PATH / LUA_CPATH (see README.md).

local ipc = require "kiwi_ipc"

local name = arg[1] or os.getenv("KIWI_KV_PIPE") or "kiwi_kv_pipe"

-- Wait up to 30 seconds for the Kiwi server to create the pipe (Kiwi's own
-- connect would wait forever).
local handle = assert(ipc.connect(name, 30))

local function ask(request)
  assert(ipc.send(handle, request))
  local reply = assert(ipc.recv(handle))
  print(("Lua: %s -> %s"):format(request, reply))
end

ask("set fruit kiwi 🥝")
ask("set language Lua")
ask("get fruit")
ask("get colour")
ask("keys")
ask("frobnicate")

assert(ipc.send(handle, "bye"))
ipc.close(handle)
