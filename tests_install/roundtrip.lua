-- roundtrip.lua - use an installed kiwi_ipc Lua module: require it, check
-- where it was found, and do round trips with a C peer (kiwi_echo from
-- tests_install/consumer), as its client and as its server.
--
--   lua roundtrip.lua KIWI_ECHO PIPE_DIR [UNDER]
--
-- UNDER: fail unless kiwi_ipc.lua and kiwi_ipc_core.so were found below it.
-- Runs on Lua 5.4 and LuaJIT.
local peer, pipe_dir, under = arg[1], arg[2], arg[3]
assert(peer and pipe_dir, "usage: roundtrip.lua KIWI_ECHO PIPE_DIR [UNDER]")

local function check(what, got, want)
  if got ~= want then
    error(("roundtrip.lua: %s: expected %q, got %q"):format(
      what, tostring(want), tostring(got)), 0)
  end
  print("roundtrip.lua: ok: " .. what)
end

local ipc = require "kiwi_ipc"
local lua_file = package.searchpath("kiwi_ipc", package.path)
local core_file = package.searchpath("kiwi_ipc_core", package.cpath)
print(("roundtrip.lua: %s, kiwi_ipc %s\n  %s\n  %s"):format(
  jit and jit.version or _VERSION, ipc.version, lua_file, core_file))
if under then
  for _, f in ipairs({lua_file, core_file}) do
    check(f .. " is below " .. under, f:sub(1, #under + 1), under .. "/")
  end
end

-- Run a shell command in the background; wait() returns its output and
-- exit status (popen's close() gives no status on LuaJIT, so the shell
-- prints it).
local function spawn(cmd)
  local p = assert(io.popen(cmd .. "; echo \"exit=$?\"", "r"))
  return function()
    local out = p:read("*a")
    p:close()
    local body, status = out:match("^(.-)exit=(%d+)\n$")
    return body, tonumber(status)
  end
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Lua client, C server (kiwi_echo echoes 2 messages).
local name = pipe_dir .. "/lua1"
local wait = spawn(("%s server %s 2"):format(q(peer), q(name)))
local h = assert(ipc.connect(name, 20))
assert(ipc.send(h, "from Lua"))
check("C server echoes", assert(ipc.recv(h, 20)), "from Lua")
local binary = "\0\255\1 é"
assert(ipc.send(h, binary))
check("C server echoes binary", assert(ipc.recv(h, 20)), binary)
ipc.close(h)
local _, status = wait()
check("C server exit status", status, 0)

-- C client, Lua server.
name = pipe_dir .. "/lua2"
wait = spawn(("%s client %s %s"):format(q(peer), q(name), q("from C")))
local p = assert(ipc.Pipe.create(name, 20))
local message = assert(p:recv(20))
assert(p:send(message))
p:close()
local out
out, status = wait()
check("Lua server got", message, "from C")
check("C client got its echo", out, "from C\n")
check("C client exit status", status, 0)
print("roundtrip.lua: passed")
