-- server.lua - the Kiwi reference's two-process example, server side, in
-- Lua, with a Python client (client.py). Runs under Lua 5.4 and LuaJIT.
--
-- It spawns the client first (the client waits in connect until the pipe
-- exists), then creates the pipe, which blocks until the client has
-- connected; then ping, pong, quit, and it waits for the client to exit.
--
-- Usage: lua5.4 server.lua [PIPE_NAME]     (default "kiwi_demo_pipe")
-- The Python interpreter is $KIWI_IPC_PYTHON, else python3; it must find
-- kiwi_ipc (PYTHONPATH, see README.md).
--
-- Expected output:
--     Client connected (pid=12345)
--     Server got: pong
--     Done.

local ipc = require "kiwi_ipc"

local name = arg[1] or "kiwi_demo_pipe"
local here = arg[0]:match("^(.*)/") or "."

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Plain Lua has no spawn: a shell prints its own pid, then becomes the
-- client with exec, so the pid is the client's. Closing the io.popen file
-- waits for the client to exit, as sys::wait(pid) does in Kiwi.
local function spawn(argv)
  local words = {}
  for i, a in ipairs(argv) do words[i] = shell_quote(a) end
  local child = assert(io.popen("echo $$; exec " .. table.concat(words, " ")))
  local pid = assert(tonumber(child:read("*l")), "spawn failed")
  return pid, child
end

-- Spawn the client process first (it will call kiwi_ipc.connect).
local python = os.getenv("KIWI_IPC_PYTHON") or "python3"
local pid, child = spawn { python, here .. "/client.py", name }

-- Create the server end: blocks until the client connects.
local handle = assert(ipc.create(name))
print(("Client connected (pid=%d)"):format(pid))

-- Exchange messages.
assert(ipc.send(handle, "ping"))
local reply = assert(ipc.recv(handle))
print(("Server got: %s"):format(reply))

assert(ipc.send(handle, "quit"))
ipc.close(handle)

-- Lua 5.4 reports the exit status; LuaJIT only that the wait worked.
local ok, how, code = child:close()
if not ok then
  io.stderr:write(("server.lua: the client failed (%s %s)\n")
                  :format(tostring(how), tostring(code)))
  os.exit(1)
end
print("Done.")
