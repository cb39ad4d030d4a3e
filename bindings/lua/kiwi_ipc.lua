--- kiwi_ipc: the Kiwi language's `ipc` pipes for Lua 5.4 and LuaJIT.
--
--     local ipc = require "kiwi_ipc"
--     local h = assert(ipc.connect("demo"))      -- an integer handle
--     assert(ipc.send(h, "ping"))
--     print(assert(ipc.recv(h, 2.5)))            -- timeout in seconds
--     ipc.close(h)
--
-- The calls come straight from the generated module kiwi_ipc_core (see
-- bindings/lua/lua_typemaps.i). A runtime failure returns `nil, message, code`,
-- as Lua's io library does, where code is one of "timeout", "closed",
-- "protocol", "in_use", "no_server", "too_big", "bad_handle", "invalid",
-- "system", "no_memory", "permission". Misuse (a wrong argument type, a
-- negative timeout) raises an error, and so does Ctrl-C during a blocking
-- call (see README.md). This file adds the object style on top:
--
--     local p <close> = assert(ipc.Pipe.connect("demo"))   -- Lua 5.4
--     p:send("ping"); print(p:recv())
--
-- No globals are created.

local core = require "kiwi_ipc_core"

local ipc = {
  --- The C library's version, e.g. "0.1.0".
  version = core.version(),
  --- The largest message the protocol carries (2^31 - 1 bytes).
  MAX_MESSAGE = core.IPC_MAX_MESSAGE,
}

--- ipc.create(name [, timeout]) -> handle    serve `name` for one client
-- ipc.connect(name [, timeout]) -> handle   waits until a server is there
-- ipc.send(h, message [, timeout]) -> true
-- ipc.recv(h [, timeout]) -> message        a (binary-safe) Lua string
-- ipc.close(h) -> true                      unknown handles are harmless
-- ipc.listen(name) -> listener              many clients, via accept
-- ipc.accept(listener [, timeout]) -> handle
-- ipc.path(name) -> socket path             as .NET (and so Kiwi) maps it
-- ipc.fileno(h) -> descriptor               kernel readiness only: see ipc.wait
-- ipc.set_max_message(h, bytes) -> true     refuse longer messages
-- ipc.flush(h [, timeout]) -> true          finish a committed send
-- ipc.name(h) -> name                       the name h was made with
-- ipc.handle_path(h) -> socket path         the path that name mapped to
-- ipc.send_many(h, list [, timeout]) -> count   a batch (see Pipe:send_many)
-- ipc.recv_many(h [, max [, timeout]]) -> list  a burst (see Pipe:recv_many)
for _, name in ipairs { "create", "connect", "send", "recv", "close",
                        "listen", "accept", "path", "fileno",
                        "set_max_message", "flush", "name",
                        "handle_path", "send_many", "recv_many" } do
  ipc[name] = core[name]
end

-- Method arguments are checked here, so that errors count arguments as the
-- caller wrote them (p:send(m): m is argument #1) and point at the caller.
-- (level: of the method's caller, seen from check's caller: 3, or 4 from
-- a helper of the method's, as check_timeout is)
local function check(ok, n, method, expected, value, level)
  if not ok then
    error(("bad argument #%d to '%s' (%s expected, got %s)")
          :format(n, method, expected, value == nil and "no value"
                  or type(value)), level or 3)
  end
end

-- The rule of the C calls (kiwi_lua_opttimeout), with the method's name.
local function check_timeout(timeout, n, method)
  if timeout ~= timeout then -- NaN: not negative, nor any number of seconds
    error(("bad argument #%d to '%s' (timeout must not be NaN)")
          :format(n, method), 3)
  end
  check(timeout == nil or (type(timeout) == "number" and timeout >= 0),
        n, method, "non-negative number of seconds or nil", timeout, 4)
end

-- A closed object is misuse, as for Lua's files ("attempt to use a closed
-- file"); the integer calls answer a closed handle with "bad_handle".
local function check_open(object)
  if object.closed then
    error(("attempt to use a closed %s"):format(getmetatable(object).__name),
          3)
  end
  return object.handle
end

-- Lua 5.1 and LuaJIT run no __gc for tables: there the finalizer hangs on
-- a userdata that only the object refers to. Closing twice is harmless, as
-- handles are never reused.
local attach_finalizer
if newproxy then
  attach_finalizer = function(object)
    local proxy = newproxy(true)
    local handle = object.handle
    getmetatable(proxy).__gc = function() core.close(handle) end
    object[proxy] = true
  end
else
  attach_finalizer = function() end
end

-- The name and path come from the C library, which keeps them per handle
-- (an accepted pipe has its listener's); an unknown handle has neither.
local function new(class, handle)
  local object = setmetatable({ handle = handle, closed = false,
                                name = core.name(handle) or nil,
                                path = core.handle_path(handle) or nil },
                              class)
  attach_finalizer(object)
  return object
end

local function describe(object)
  return ("%s(%d, %q, %q%s)"):format(getmetatable(object).__name,
                                     object.handle, tostring(object.name),
                                     tostring(object.path),
                                     object.closed and ", closed" or "")
end

--- A pipe: one connection, either end.
-- Fields: handle (the integer handle), name and path (the pipe's name and
-- its socket file, as every error message of its calls names them),
-- closed (after close()).
local Pipe = { __name = "kiwi_ipc.Pipe" }
Pipe.__index = Pipe
ipc.Pipe = Pipe

-- The objects are same-user by default (see README "Security"): options
-- { any_user = true } accept anyone, as the Kiwi-shaped ipc.create and
-- ipc.connect always do.
local function user_flags(options, n, method)
  check(options == nil or type(options) == "table", n, method,
        "table of options or nil", options)
  return (options and options.any_user) and core.IPC_ANY_USER or 0
end

--- Pipe.create(name [, timeout [, options]]) - serve `name` for one
-- client; a client of another user is closed at once unless
-- options.any_user.
function Pipe.create(name, timeout, options)
  local h, message, code = core.create_ex(name, timeout,
                                          user_flags(options, 3, "create"))
  if not h then return nil, message, code end
  return new(Pipe, h)
end

--- Pipe.connect(name [, timeout [, options]]) - connect to the server of
-- `name`; a server of another user is refused ("permission") unless
-- options.any_user.
function Pipe.connect(name, timeout, options)
  local h, message, code = core.connect_ex(name, timeout,
                                           user_flags(options, 3, "connect"))
  if not h then return nil, message, code end
  return new(Pipe, h)
end

--- Pipe.wrap(handle) - a Pipe that takes over an integer handle from
-- ipc.create/connect/accept (and closes it when closed or collected).
function Pipe.wrap(handle)
  check(type(handle) == "number" and handle % 1 == 0, 1, "wrap",
        "integer handle", handle)
  return new(Pipe, handle)
end

--- p:send(message [, timeout]) -> true, or nil, message, code.
-- Without a timeout it waits as p:settimeout() said (nil: no limit).
-- A send never splices, repeats or loses a message. "timeout" means nothing
-- of this message was sent. true means it is committed: written whole, or
-- the time ran out after part of it went; then the pipe keeps the rest
-- and writes it before anything else (on the next send, at the start of
-- the next recv, in flush(), and without waiting at close()), so it
-- arrives whole and must not be sent again.
function Pipe:send(message, timeout)
  local h = check_open(self)
  check(type(message) == "string", 1, "send", "string", message)
  if timeout == nil then timeout = self._timeout end
  check_timeout(timeout, 2, "send")
  return core.send(h, message, timeout)
end

--- p:send_many(list [, timeout]) -> count, or nil, message, code: every
-- string of the array `list`, in order, each its own frame, written
-- together (ipc_send_many: as few system calls as the kernel takes). Every
-- element is checked first: one that is not a string raises an error and
-- nothing is sent. The rules of p:send() hold per message: a count below
-- #list means the time ran out part-way; the messages counted are
-- committed (the last perhaps cut, its rest kept and sent first), the
-- others were not sent. "timeout" only when none was committed. Ctrl-C
-- part-way also returns the count once a message is committed (before
-- that it raises, as in every blocking call). Without a timeout it waits
-- as p:settimeout() said.
function Pipe:send_many(list, timeout)
  local h = check_open(self)
  check(type(list) == "table", 1, "send_many", "table", list)
  if timeout == nil then timeout = self._timeout end
  check_timeout(timeout, 2, "send_many")
  return core.send_many(h, list, timeout)
end

--- p:flush([timeout]) -> true, or nil, message, code: wait until the rest
-- of a committed send is written ("timeout": it stays kept).
function Pipe:flush(timeout)
  local h = check_open(self)
  check_timeout(timeout, 1, "flush")
  return core.flush(h, timeout)
end

--- p:recv([timeout]) -> message, or nil, message, code. Without a
-- timeout it waits as p:settimeout() said (nil: no limit). A timeout loses
-- nothing: the next recv continues the same message.
function Pipe:recv(timeout)
  local h = check_open(self)
  if timeout == nil then timeout = self._timeout end
  check_timeout(timeout, 1, "recv")
  return core.recv(h, timeout)
end

--- p:recv_many([max [, timeout]]) -> array of messages, or nil, message,
-- code: wait, as p:recv() does, for the first message, then take every
-- whole message already held by the pipe (read ahead with it), without
-- waiting again or a system call, up to `max` in all (nil: no limit).
-- Whatever ends the burst (a message still arriving, one over the limit,
-- the end of the stream) is left to the next call.
function Pipe:recv_many(max, timeout)
  local h = check_open(self)
  check(max == nil or type(max) == "number", 1, "recv_many", "number", max)
  if timeout == nil then timeout = self._timeout end
  check_timeout(timeout, 2, "recv_many")
  return core.recv_many(h, max, timeout)
end

--- p:messages([timeout]) - iterate over messages until the peer closes the
-- pipe; any other failure (a timeout among them) raises an error, as
-- io.lines does. Each step waits at most `timeout` seconds, or, without
-- one, as p:settimeout() says at that step, as p:recv() does.
function Pipe:messages(timeout)
  local h = check_open(self)
  check_timeout(timeout, 1, "messages")
  return function()
    local message, err, code = core.recv(h, timeout or self._timeout)
    if message == nil and code ~= "closed" then error(err, 2) end
    return message
  end
end

--- p:close() -> true. Closing again is harmless.
function Pipe:close()
  core.close(self.handle)
  self.closed = true
  return true
end

--- p:fileno() -> the socket descriptor, for poll() readiness only.
function Pipe:fileno()
  return core.fileno(check_open(self))
end

--- p:set_max_message(bytes) -> true: refuse longer messages ("too_big").
function Pipe:set_max_message(bytes)
  local h = check_open(self)
  check(type(bytes) == "number" and bytes >= 0 and bytes % 1 == 0,
        1, "set_max_message", "non-negative integer", bytes)
  return core.set_max_message(h, bytes)
end

Pipe.__close = Pipe.close -- local p <close> = ... (Lua 5.4)
Pipe.__gc = function(self) core.close(self.handle) end
Pipe.__tostring = describe

--- A listener: a server for any number of clients.
-- Fields: handle, name, path (the socket file), closed (after close()).
local Listener = { __name = "kiwi_ipc.Listener" }
Listener.__index = Listener
ipc.Listener = Listener

--- Listener.listen(name [, options]) - start serving `name` (does not
-- block); accept closes clients of other users unless options.any_user.
function Listener.listen(name, options)
  local h, message, code = core.listen_ex(name,
                                          user_flags(options, 2, "listen"))
  if not h then return nil, message, code end
  return new(Listener, h)
end

--- l:accept([timeout]) -> Pipe for the next client, or nil, message, code.
function Listener:accept(timeout)
  local l = check_open(self)
  check_timeout(timeout, 1, "accept")
  local h, message, code = core.accept(l, timeout)
  if not h then return nil, message, code end
  return new(Pipe, h)
end

--- l:close() -> true: stop listening and remove the socket file.
Listener.close = Pipe.close
Listener.fileno = Pipe.fileno
Listener.__close = Listener.close
Listener.__gc = Pipe.__gc
Listener.__tostring = describe

-- Who is on the other end ------------------------------------------------

--- ipc.get_peer(h) -> { pid =, uid =, gid = }   fields the OS gave
-- ipc.check_path(name) -> true, or nil, message, "permission" when another
--   user could redirect the path (the objects refuse such paths; the
--   Kiwi-shaped calls do not)
ipc.get_peer = core.get_peer
ipc.check_path = core.check_path
ipc.ANY_USER = core.IPC_ANY_USER

--- p:peer() -> { pid =, uid =, gid = }, or nil, message, code: the process
-- at the other end, as the kernel recorded it at connection time.
function Pipe:peer()
  return core.get_peer(check_open(self))
end

-- ---- Many pipes at once -------------------------------------------------
--
-- A recv reads up to 64 KiB ahead and hands out one message, so after a
-- burst the next messages wait inside the pipe, where readiness of its
-- descriptor cannot show them. ipc.wait asks the C library (ipc_poll),
-- which counts both; p:dirty() says "a message is held" to LuaSocket's
-- socket.select (and so to copas), as a buffered LuaSocket socket does.

local POLLIN = core.IPC_POLLIN

--- ipc.wait(list [, timeout]) -> ready: the Pipe and Listener objects (or
-- integer handles) of `list` whose recv or accept would not wait (a whole
-- message is there, or the end or an error to report; a client queued),
-- in list order, within `timeout` seconds (nil: no limit; 0: only look).
-- An empty table when the time ran out; nil, message, code on failure.
function ipc.wait(list, timeout)
  check(type(list) == "table", 1, "wait", "table", list)
  check_timeout(timeout, 2, "wait")
  local handles = {}
  for i, object in ipairs(list) do
    if type(object) == "table" then
      handles[i] = check_open(object)
    else
      handles[i] = object
    end
  end
  local revents, message, code = core.poll(handles, timeout, POLLIN)
  if not revents then return nil, message, code end
  local ready = {}
  for i, r in ipairs(revents) do
    if r ~= 0 then ready[#ready + 1] = list[i] end
  end
  return ready
end

--- ipc.pending(h) -> true when a recv (accept) on handle h would not wait.
function ipc.pending(h)
  local r, message, code = core.pending(h)
  if r == nil then return nil, message, code end
  return r == 1
end

--- p:getfd() -> the descriptor (LuaSocket's select protocol; -1 once
-- closed, as a closed LuaSocket socket says). Where a pipe has no
-- descriptor (Windows: a named pipe HANDLE is none that select() could
-- watch) it raises an error that says so: LuaSocket's select would
-- otherwise skip the object silently, and copas or cqueues wait on it for
-- ever.
function Pipe:getfd()
  if self.closed then return -1 end
  local fd, message = core.fileno(self.handle)
  if fd == nil then
    error(message .. " (getfd: use ipc.wait or p:poll to wait for it)", 2)
  end
  return fd
end

--- p:dirty() -> true when a message is held inside the pipe (or the end
-- or an error is there to report): socket.select then reports the pipe
-- ready without waiting on its descriptor.
function Pipe:dirty()
  if self.closed then return false end
  return core.pending(self.handle) == 1
end

--- p:settimeout(seconds) -> true: the timeout recv, send and messages use
-- when they are given none (nil: wait without limit), as LuaSocket's.
function Pipe:settimeout(timeout)
  check_timeout(timeout, 1, "settimeout")
  self._timeout = timeout
  return true
end

--- p:poll([timeout]) -> true when a recv would not wait, waiting at most
-- `timeout` seconds (default 0: only look).
function Pipe:poll(timeout)
  check_timeout(timeout, 1, "poll")
  local ready, message, code = ipc.wait({ self }, timeout or 0)
  if not ready then return nil, message, code end
  return #ready > 0
end

--- p:receive([pattern]) -> message, or nil, "timeout" (or "closed", or
-- the message of another failure): LuaSocket's receive, for copas: one
-- whole message whatever the pattern (pipes carry messages, not lines),
-- waiting as settimeout() says. With p:settimeout(0), copas.receive(p)
-- yields until socket.select (through dirty()) has a message for it.
function Pipe:receive()
  local m, err, code = self:recv()
  if m then return m end
  if code == "timeout" or code == "closed" then return nil, code end
  return nil, err
end

-- cqueues' polling protocol: cqueues.poll(p) and a controller's :wrap()ed
-- code wait on pollfd() for events(), at most timeout() seconds. Only
-- worth asking after p:dirty() is false (cqueues cannot see inside).
function Pipe:pollfd() return self:getfd() end
function Pipe:events() return "r" end
function Pipe:timeout() return self._timeout end

Listener.getfd = Pipe.getfd
Listener.dirty = Pipe.dirty
Listener.pollfd = Pipe.pollfd
Listener.events = Pipe.events
Listener.timeout = Pipe.timeout
function Listener:settimeout(timeout)
  check_timeout(timeout, 1, "settimeout")
  self._timeout = timeout
  return true
end

return ipc
