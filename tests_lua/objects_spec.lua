-- objects_spec.lua - the object style: ipc.Pipe and ipc.Listener, with
-- idempotent close, __gc, __close on 5.4, and iteration.

local ipc = require "kiwi_ipc"
local H = require "helpers"

local Pipe, Listener = ipc.Pipe, ipc.Listener

-- A connected pair of Pipes in this process: server, client.
local function pair()
  local name = H.name()
  local l = assert(Listener.listen(name))
  local client = H.track(assert(Pipe.connect(name, 5)))
  local server = H.track(assert(l:accept(5)))
  l:close()
  return server, client
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  assert.truthy(tostring(err):find(pattern), tostring(err))
end

describe("Pipe", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("create and connect across processes", function()
    local name = H.name()
    local peer = H.peer("client", name, "send:hi", "recv")
    local p = H.track(assert(Pipe.create(name, 10)))
    assert.are.equal("hi", p:recv(10))
    assert.is_true(p:send("there"))
    assert.is_true(p:close())
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.truthy(out:find("recv 5 " .. H.hex("there"), 1, true), out)
  end)

  it("connect to a C server", function()
    local name = H.name()
    local peer = H.peer("server", name, "echo")
    local p = H.track(assert(Pipe.connect(name, 10)))
    assert.are.equal(name, p.name)
    p:send("x\0y")
    assert.are.equal("x\0y", p:recv(10))
    p:close()
    assert.are.equal(0, select(2, peer:finish()))
  end)

  it("fails like the calls, with nil, message, code", function()
    local name = H.name()
    local p, msg, code = Pipe.connect(name, 0)
    assert.is_nil(p)
    assert.are.equal("no_server", code)
    assert.is_string(msg)
    assert.are.equal("timeout", select(3, Pipe.create(name, 0.05)))
    assert.are.equal("invalid", select(3, Pipe.connect("anonymous", 0)))
    local s = pair()
    assert.are.equal("timeout", select(3, s:recv(0.01)))
  end)

  it("has an integer handle, state, and a description", function()
    local s, c = pair()
    local h = c.handle
    if H.is_54 then assert.are.equal("integer", math.type(h)) end
    assert.is_true(h > 0)
    assert.is_false(c.closed)
    assert.truthy(tostring(c):find("kiwi_ipc.Pipe(" .. h, 1, true))
    assert.is_true(c:close())
    assert.is_true(c:close()) -- idempotent
    assert.is_true(c.closed)
    assert.are.equal(h, c.handle)
    assert.truthy(tostring(c):find("closed", 1, true))
    assert.are.equal("closed", select(3, s:recv(5)))
  end)

  it("send and recv both ways, with timeouts", function()
    local s, c = pair()
    assert.is_true(c:send("a"))
    assert.is_true(s:send("b", 1))
    assert.are.equal("a", s:recv())
    assert.are.equal("b", c:recv(1))
    assert.is_true(c:send("", 0))
    assert.are.equal("", s:recv(nil))
  end)

  it("iterates over messages until the peer closes", function()
    local s, c = pair()
    for _, m in ipairs { "a", "", "c\240\159\152\128" } do c:send(m) end
    c:close()
    local got = {}
    for m in s:messages(5) do got[#got + 1] = m end
    assert.are.same({ "a", "", "c\240\159\152\128" }, got)
  end)

  it("iteration raises on failures other than 'closed'", function()
    local s = pair()
    raises("timed out", function()
      for _ in s:messages(0.01) do end
    end)
  end)

  it("iteration waits as settimeout() says when given no timeout", function()
    local s, c = pair()
    c:send("a")
    assert.is_true(s:settimeout(0.05))
    local got = {}
    raises("timed out", function()
      for m in s:messages() do got[#got + 1] = m end
    end)
    assert.are.same({ "a" }, got)
  end)

  it("fileno and set_max_message", function()
    local s, c = pair()
    if H.windows then -- a named pipe has no descriptor: said, not faked
      local fd, msg, code = s:fileno()
      assert.is_nil(fd)
      assert.are.equal("system", code)
      assert.truthy(msg:find("no file descriptor", 1, true), msg)
      local ok, err = pcall(s.getfd, s)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("getfd", 1, true), err)
    else
      local fd = s:fileno()
      assert.is_number(fd)
      assert.is_true(fd >= 0)
    end
    assert.is_true(s:set_max_message(3))
    c:send("four")
    c:send("ok")
    assert.are.equal("too_big", select(3, s:recv(5)))
    assert.are.equal("ok", s:recv(5))
  end)

  it("raises when used after close, like a closed file", function()
    local _, c = pair()
    c:close()
    raises("closed kiwi_ipc.Pipe", c.send, c, "x")
    raises("closed kiwi_ipc.Pipe", c.recv, c)
    raises("closed kiwi_ipc.Pipe", c.messages, c)
    raises("closed kiwi_ipc.Pipe", c.fileno, c)
    raises("closed kiwi_ipc.Pipe", c.set_max_message, c, 5)
    -- the integer calls just say the handle is gone
    assert.are.equal("bad_handle", select(3, ipc.send(c.handle, "x")))
  end)

  it("checks method arguments as the caller wrote them", function()
    local _, c = pair()
    raises("bad argument #1 to 'send' %(string expected, got number%)",
           c.send, c, 42)
    raises("bad argument #1 to 'send' %(string expected, got no value%)",
           c.send, c)
    raises("bad argument #2 to 'send'", c.send, c, "x", -1)
    raises("bad argument #1 to 'recv'", c.recv, c, "soon")
    raises("bad argument #1 to 'set_max_message'", c.set_max_message, c, -1)
    raises("bad argument #1 to 'set_max_message'", c.set_max_message, c, "9")
    raises("string expected", Pipe.connect, 42)
  end)

  it("wraps a handle from the integer calls and owns it", function()
    local name = H.name()
    local l = H.track(assert(Listener.listen(name)))
    local h = assert(ipc.connect(name, 5))
    local c = H.track(Pipe.wrap(h))
    local s = H.track(assert(l:accept(5)))
    assert.are.equal(h, c.handle)
    s:send("adopted")
    assert.are.equal("adopted", c:recv(5))
    c:close()
    assert.are.equal("bad_handle", select(3, ipc.send(h, "closed by Pipe")))
    raises("integer handle expected", Pipe.wrap, "1")
  end)

  it("is closed when garbage-collected", function()
    local name = H.name()
    local l = H.track(assert(Listener.listen(name)))
    local h
    do
      local c = assert(Pipe.connect(name, 5))
      h = c.handle
      c = nil -- luacheck: ignore
    end
    local s = H.track(assert(l:accept(5)))
    collectgarbage()
    collectgarbage()
    assert.are.equal("bad_handle", select(3, ipc.send(h, "x")))
    assert.are.equal("closed", select(3, s:recv(5)))
  end)

  if H.is_54 then
    it("is closed by a <close> variable (Lua 5.4)", function()
      -- Compiled at run time: LuaJIT cannot parse the attribute.
      local chunk = assert(load([[
        local ipc, name = ...
        local h
        do
          local p <close> = assert(ipc.Pipe.connect(name, 5))
          h = p.handle
        end
        return h
      ]]))
      local name = H.name()
      local l = H.track(assert(Listener.listen(name)))
      local h = chunk(ipc, name)
      assert.are.equal("bad_handle", select(3, ipc.send(h, "x")))
      local s = H.track(assert(l:accept(5)))
      assert.are.equal("closed", select(3, s:recv(5)))
      -- and when an error leaves the block
      local ok = pcall(assert(load([[
        local ipc, name = ...
        local p <close> = assert(ipc.Pipe.connect(name, 5))
        _G.kiwi_test_handle = p.handle
        error("boom")
      ]])), ipc, name)
      assert.is_false(ok)
      assert.are.equal("bad_handle",
                       select(3, ipc.send(_G.kiwi_test_handle, "x")))
      _G.kiwi_test_handle = nil
    end)
  end
end)

describe("Listener", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  -- #backlog: see api_spec.lua.
  it("listens, knows its path, accepts Pipes, and closes #backlog", function()
    local name = H.name()
    local l = H.track(assert(Listener.listen(name)))
    -- An absolute name is its own path on POSIX.
    assert.are.equal(H.windows and ipc.path(name) or name, l.path)
    assert.are.equal(name, l.name)
    if H.socket_files then assert.is_true(H.exists(name)) end
    assert.is_true(l.handle > 0)
    assert.truthy(tostring(l):find("kiwi_ipc.Listener", 1, true))
    local clients, servers = {}, {}
    for i = 1, 3 do clients[i] = H.track(assert(Pipe.connect(name, 5))) end
    for i = 1, 3 do
      servers[i] = H.track(assert(l:accept(5)))
      assert.are.equal(getmetatable(clients[1]), getmetatable(servers[i]))
    end
    for i = 1, 3 do clients[i]:send(tostring(i)) end
    local got = {}
    for i = 1, 3 do got[i] = servers[i]:recv(5) end
    table.sort(got)
    assert.are.same({ "1", "2", "3" }, got)
    assert.is_true(l:close())
    assert.is_true(l:close())
    assert.is_true(l.closed)
    if H.socket_files then assert.is_false(H.exists(name)) end
    raises("closed kiwi_ipc.Listener", l.accept, l, 0)
  end)

  it("accept times out, and fails like the calls", function()
    local l = H.track(assert(Listener.listen(H.name())))
    local p, msg, code = l:accept(0.05)
    assert.is_nil(p)
    assert.are.equal("timeout", code)
    assert.is_string(msg)
    assert.are.equal("timeout", select(3, l:accept(0)))
    if not H.windows then assert.is_number(l:fileno()) end -- see above
    raises("bad argument #1 to 'accept'", l.accept, l, -2)
  end)

  it("refuses a name in use", function()
    local name = H.name()
    H.track(assert(Listener.listen(name)))
    local l, msg, code = Listener.listen(name)
    assert.is_nil(l)
    assert.are.equal("in_use", code)
    assert.truthy(msg:find(name, 1, true), msg)
  end)

  it("serves C peer processes", function()
    local name = H.name()
    local l = H.track(assert(Listener.listen(name)))
    local peer = H.peer("client", name, "send:ping", "recv")
    local p = H.track(assert(l:accept(10)))
    assert.are.equal("ping", p:recv(10))
    p:send("pong")
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.truthy(out:find("recv 4 " .. H.hex("pong"), 1, true), out)
  end)

  it("is closed when garbage-collected", function()
    local name = H.name()
    do
      local l = assert(Listener.listen(name))
      l = nil -- luacheck: ignore
    end
    collectgarbage()
    collectgarbage()
    if H.socket_files then assert.is_false(H.exists(name)) end
    assert.are.equal("no_server", select(3, ipc.connect(name, 0)))
  end)
end)
