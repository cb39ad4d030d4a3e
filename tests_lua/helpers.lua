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
--
-- On Windows (Lua 5.4 for Windows under wine, the ctest win_lua) the same
-- helpers work through cmd.exe instead of /bin/sh: helpers.windows says
-- which. Pipe names are plain unique names there (\\.\pipe\kiwilua-...),
-- the private directory (for files only) is under %TEMP%, a child's exit
-- status comes from closing its pipe, and a child Lua script goes through
-- a file (cmd.exe ends a command at a newline). What Windows has not
-- (SIGINT to another process, socket files, TMPDIR, environment prefixes)
-- is not offered: the specs that need it carry a tag (see README.md,
-- "Windows") that the Windows run excludes.

local ipc = require "kiwi_ipc"

local helpers = {}

helpers.PEER = os.getenv("KIWI_IPC_TEST_PEER")
helpers.LUA = os.getenv("KIWI_IPC_TEST_LUA") or (arg and arg[-1])
helpers.HERE = debug.getinfo(1, "S").source:match("^@(.*)[/\\][^/\\]*$")
               or "."
assert(helpers.PEER, "KIWI_IPC_TEST_PEER is not set: run the specs with ctest")

helpers.is_54 = _VERSION == "Lua 5.4"
helpers.is_jit = type(jit) == "table"
helpers.windows = package.config:sub(1, 1) == "\\"
-- Whether a pipe's name is a socket file (POSIX) that tests may look at;
-- a Windows named pipe is no file.
helpers.socket_files = not helpers.windows
if helpers.windows then
  -- cmd.exe wants the program's own path with backslashes.
  helpers.PEER = helpers.PEER:gsub("/", "\\")
end

if helpers.windows then
  --- Quote a string as one argument of a Windows command line (the C
  -- runtime's rule: backslashes are literal except before a quote).
  function helpers.quote(s)
    s = tostring(s):gsub('(\\*)"', function(b) return b .. b .. '\\"' end)
                   :gsub("(\\+)$", "%1%1")
    return '"' .. s .. '"'
  end
else
  --- Quote a string for /bin/sh.
  function helpers.quote(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
  end
end

-- io.popen on Windows runs `cmd.exe /c LINE`, which drops the first and
-- the last quote of LINE when it starts with one: one more pair keeps the
-- quoting of the words.
local function popen(line, mode)
  if helpers.windows then line = '"' .. line .. '"' end
  return io.popen(line, mode)
end

local function command(words)
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = helpers.quote(w) end
  return table.concat(quoted, " ")
end

--- Run a command to completion; returns its stdout.
function helpers.run(...)
  local f = assert(popen(command { ... }, "r"))
  local out = f:read("*a")
  f:close()
  return out
end

-- Private directory --------------------------------------------------------

local dir
local counter = 0
-- Windows: what makes this spec file's names its own (math.random is
-- seeded afresh in each Lua 5.4 state).
local token = helpers.windows
  and ("%x%x"):format(os.time() % 0x10000, math.random(0, 0xffffff))

--- The spec file's private directory, made on first use.
function helpers.dir()
  if not dir and helpers.windows then
    local base = os.getenv("TEMP") or os.getenv("TMP") or "."
    dir = base:gsub("\\$", "") .. "\\kiwilua." .. token
    assert(os.execute("mkdir " .. helpers.quote(dir)), "mkdir failed")
  elseif not dir then
    local base = os.getenv("TMPDIR")
    if not base or base == "" or #base > 40 then base = "/tmp" end
    dir = helpers.run("mktemp", "-d", base:gsub("/$", "") .. "/kiwilua.XXXXXX")
          :match("^(%S+)")
    assert(dir, "mktemp -d failed")
  end
  return dir
end

--- A unique absolute pipe name (on Windows a unique name).
function helpers.name()
  counter = counter + 1
  if helpers.windows then
    return "kiwilua-" .. token .. "-p" .. counter
  end
  return helpers.dir() .. "/p" .. counter
end

--- A unique file path in the private directory (on Windows a pipe name
--- is no path, so a file named after one would land in the working
--- directory and stay there).
function helpers.file(suffix)
  counter = counter + 1
  local sep = helpers.windows and "\\" or "/"
  return helpers.dir() .. sep .. "f" .. counter .. (suffix or "")
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
  local f
  if helpers.windows then
    f = assert(popen(line .. " 2>&1", "r")) -- the status: at close
  else
    f = assert(io.popen(line .. " 2>&1; echo \"exit $?\"", "r"))
  end
  local peer = setmetatable({ file = f }, Peer)
  peers[#peers + 1] = peer
  return peer
end

-- kiwi_peer MODE NAME STEPS... as words. cmd.exe takes at most 8191
-- characters: on Windows long step lists go through a file (@FILE).
local steps_count = 0
local function peer_command(...)
  local words = { helpers.PEER, ... }
  local line = command(words)
  if not helpers.windows or #line < 4000 then return line end
  steps_count = steps_count + 1
  local file = helpers.dir() .. "\\steps" .. steps_count .. ".txt"
  local steps = { (table.unpack or unpack)(words, 4) }
  for _, step in ipairs(steps) do
    assert(not step:find("\n"), "a step with a newline cannot go in a file")
  end
  helpers.write_file(file, table.concat(steps, "\n"))
  return command { helpers.PEER, words[2], words[3], "@" .. file }
end

--- Start `kiwi_peer ARGS...` in the background.
function helpers.peer(...)
  return spawn(peer_command(...))
end

--- Start `kiwi_peer ARGS...` in the background after `seconds`, with the
-- environment assignments in `env` (a string such as "TMPDIR=/x", or nil).
function helpers.peer_with(seconds, env, ...)
  if helpers.windows then
    assert(env == nil, "environment prefixes are POSIX only")
    -- No sleep(1) in cmd.exe: a Lua child sleeps, with busted's own
    -- system.sleep (luasystem, or its stand-in on Windows).
    return spawn(("%s && %s"):format(
      command { helpers.LUA, "-e", ("require('system').sleep(%g)")
                                   :format(seconds) },
      peer_command(...)))
  end
  return spawn(("sleep %g; %s %s"):format(seconds, env or "",
                                           peer_command(...)))
end

-- `<lua> -e CODE`, with ARGS... in the table arg (-e takes no arguments).
local child_count = 0
local function lua_command(code, ...)
  if helpers.windows then
    -- The chunk goes through a file: a command line ends at a newline.
    child_count = child_count + 1
    local file = helpers.dir() .. "\\child" .. child_count .. ".lua"
    helpers.write_file(file, code)
    local words = { helpers.LUA, file }
    for i = 1, select("#", ...) do
      words[#words + 1] = tostring((select(i, ...)))
    end
    return command(words)
  end
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
  assert(env == nil or not helpers.windows,
         "environment prefixes are POSIX only")
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
  if not self.output and helpers.windows then
    -- Text mode: the child's \r\n arrive as \n.
    self.output = self.file:read("a")
    local _, _, code = self.file:close()
    self.status = code
  elseif not self.output then
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
  if dir and helpers.windows then
    os.execute("rmdir /s /q " .. helpers.quote(dir))
    dir = nil
  elseif dir then
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
  -- Windows: the C runtime's clock() is the wall time since the process
  -- started (not CPU time), at millisecond resolution.
  if helpers.windows then return os.clock() end
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

return helpers
