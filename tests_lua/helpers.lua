-- helpers.lua - shared by the busted specs of the Lua binding.
--
-- Every pipe gets a unique absolute name in a private directory (short:
-- a socket path has at most 107 bytes). Peers are kiwi_peer processes
-- (tests_common/kiwi_peer.c), started with io.popen; every wait in them is
-- bounded and cleanup() collects them, so no process outlives its test.
--
-- ctest sets KIWI_IPC_TEST_PEER (the kiwi_peer program) and
-- KIWI_IPC_TEST_LUA (the interpreter running the specs, for child scripts),
-- and LUA_PATH / LUA_CPATH so that require "kiwi_ipc" finds the build tree.

local ipc = require "kiwi_ipc"

local helpers = {}

helpers.PEER = os.getenv("KIWI_IPC_TEST_PEER")
helpers.LUA = os.getenv("KIWI_IPC_TEST_LUA") or (arg and arg[-1])
helpers.HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
assert(helpers.PEER, "KIWI_IPC_TEST_PEER is not set: run the specs with ctest")

helpers.is_54 = _VERSION == "Lua 5.4"
helpers.is_jit = type(jit) == "table"

--- Quote a string for /bin/sh.
function helpers.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function command(words)
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = helpers.quote(w) end
  return table.concat(quoted, " ")
end

--- Run a command to completion; returns its stdout.
function helpers.run(...)
  local f = assert(io.popen(command { ... }, "r"))
  local out = f:read("*a")
  f:close()
  return out
end

-- Private directory --------------------------------------------------------

local dir
local counter = 0

--- The spec file's private directory, made on first use.
function helpers.dir()
  if not dir then
    local base = os.getenv("TMPDIR")
    if not base or base == "" or #base > 40 then base = "/tmp" end
    dir = helpers.run("mktemp", "-d", base:gsub("/$", "") .. "/kiwilua.XXXXXX")
          :match("^(%S+)")
    assert(dir, "mktemp -d failed")
  end
  return dir
end

--- A unique absolute pipe name.
function helpers.name()
  counter = counter + 1
  return helpers.dir() .. "/p" .. counter
end

--- Whether anything (a socket too) is at path.
function helpers.exists(path)
  return os.rename(path, path) ~= nil
end

function helpers.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Handles and peers, collected after each test -----------------------------

local handles, peers = {}, {}

--- Remember a handle (or Pipe/Listener) to close after the test; returns it.
function helpers.track(h, ...)
  if h then handles[#handles + 1] = h end
  return h, ...
end

local Peer = {}
Peer.__index = Peer

-- Start a shell command line in the background, its output (stdout and
-- stderr) to be read by peer:finish().
local function spawn(line)
  local f = assert(io.popen(line .. " 2>&1; echo \"exit $?\"", "r"))
  local peer = setmetatable({ file = f }, Peer)
  peers[#peers + 1] = peer
  return peer
end

--- Start `kiwi_peer ARGS...` in the background.
function helpers.peer(...)
  return spawn(command { helpers.PEER, ... })
end

--- Start `kiwi_peer ARGS...` in the background after `seconds`, with the
-- environment assignments in `env` (a string such as "TMPDIR=/x", or nil).
function helpers.peer_with(seconds, env, ...)
  return spawn(("sleep %g; %s %s"):format(seconds, env or "",
                                                 command { helpers.PEER, ... }))
end

-- `<lua> -e CODE`, with ARGS... in the table arg (-e takes no arguments).
local function lua_command(code, ...)
  local args = {}
  for i = 1, select("#", ...) do
    args[i] = ("%q"):format(tostring((select(i, ...))))
  end
  return command { helpers.LUA, "-e",
                   "arg = {" .. table.concat(args, ",") .. "} " .. code }
end

--- Start `<lua> -e CODE` in the background with `env` as above; ARGS...
-- are in the table arg.
function helpers.lua_child(env, code, ...)
  return spawn(("%s %s"):format(env or "", lua_command(code, ...)))
end

--- Run `<lua> -e CODE` to completion (env and ARGS as for lua_child);
-- returns its output (stdout and stderr) and its exit status.
function helpers.run_lua(env, code, ...)
  return helpers.lua_child(env, code, ...):finish()
end

--- Wait for the peer to end; returns its output, without the exit line, and
-- its exit status.
function Peer:finish()
  if not self.output then
    local out = self.file:read("*a")
    self.file:close()
    self.status = tonumber(out:match("exit (%d+)\n$"))
    self.output = out:gsub("exit %d+\n$", "")
  end
  return self.output, self.status
end

--- Run `kiwi_peer interrupt DELAY_MS <lua> interrupt_child.lua ARGS...`.
function helpers.interrupt_child(delay_ms, ...)
  return helpers.peer("interrupt", tostring(delay_ms), helpers.LUA,
                      helpers.HERE .. "/interrupt_child.lua", ...)
end

--- The same, with the Lua chunk `chunk` run first (`<lua> -e CHUNK`): the
-- stock interpreters install their SIGINT handler for each chunk and reset
-- SIGINT to SIG_DFL after it.
function helpers.interrupt_child_after(chunk, delay_ms, ...)
  return helpers.peer("interrupt", tostring(delay_ms), helpers.LUA,
                      "-e", chunk, helpers.HERE .. "/interrupt_child.lua", ...)
end

--- Close what the test left open and wait for its peers.
function helpers.cleanup()
  for i = #handles, 1, -1 do
    local h = handles[i]
    if type(h) == "table" then h:close() else ipc.close(h) end
    handles[i] = nil
  end
  for i = #peers, 1, -1 do
    peers[i]:finish()
    peers[i] = nil
  end
end

--- After the spec file: remove the private directory.
function helpers.remove_dir()
  helpers.cleanup()
  if dir then
    os.execute("rm -rf " .. helpers.quote(dir))
    dir = nil
  end
end

-- Bytes ----------------------------------------------------------------------

local block
--- n bytes, byte i = i % 256 (kiwi_peer's pattern:N).
function helpers.pattern(n)
  if not block then
    local t = {}
    for i = 0, 255 do t[#t + 1] = string.char(i) end
    block = table.concat(t)
  end
  return block:rep(math.floor(n / 256)) .. block:sub(1, n % 256)
end

function helpers.hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

--- A frame as Kiwi writes it: a 4-byte big-endian length, then the bytes.
function helpers.frame(payload)
  local n = #payload
  return string.char(math.floor(n / 16777216) % 256,
                     math.floor(n / 65536) % 256,
                     math.floor(n / 256) % 256, n % 256) .. payload
end

--- A connected pair of handles in this process: server, client.
function helpers.pair()
  local name = helpers.name()
  local l = assert(ipc.listen(name))
  local client = helpers.track(assert(ipc.connect(name, 5)))
  local server = helpers.track(assert(ipc.accept(l, 5)))
  ipc.close(l)
  return server, client
end

--- A pipe in this process (the server end, accepted from a listener)
-- connected to `kiwi_peer raw NAME STEPS...`: handle, peer.
function helpers.raw_peer(...)
  local name = helpers.name()
  local l = assert(ipc.listen(name))
  local peer = helpers.peer("raw", name, ...)
  local h = helpers.track(ipc.accept(l, 10))
  ipc.close(l)
  assert(h, "the raw peer did not connect")
  return h, peer
end

--- Seconds since some point, for coarse timing (whole seconds on 5.1).
function helpers.clock()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

return helpers
