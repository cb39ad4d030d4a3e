-- errors_spec.lua - every error code from a real failure, returned as
-- nil, message, code; and misuse (wrong argument types), which raises.

local ipc = require "kiwi_ipc"
local H = require "helpers"

local unpack = table.unpack or unpack

-- Call f(...) and check that it failed with `code`: nil, message, code.
local function fails_with(code, f, ...)
  local r, msg, got = f(...)
  assert.is_nil(r)
  assert.are.equal(code, got)
  assert.is_string(msg)
  assert.is_true(#msg > 0)
  return msg
end

describe("error codes", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("'timeout' from recv, with the C library's message", function()
    local s = H.pair()
    local msg = fails_with("timeout", ipc.recv, s, 0.05)
    assert.truthy(msg:find("recv", 1, true), msg)
    fails_with("timeout", ipc.recv, s, 0)
  end)

  it("'timeout' is honoured", function()
    local s = H.pair()
    local start = H.clock()
    fails_with("timeout", ipc.recv, s, 0.2)
    local elapsed = H.clock() - start
    assert.is_true(elapsed >= 0.19 and elapsed < 2, tostring(elapsed))
  end)

  it("'closed' when the peer closed at a message boundary", function()
    local s, c = H.pair()
    ipc.send(c, "last")
    ipc.close(c)
    assert.are.equal("last", ipc.recv(s, 5))
    fails_with("closed", ipc.recv, s, 5)
    fails_with("closed", ipc.send, s, "anyone?")
  end)

  it("'closed' from a peer process that exits", function()
    local name = H.name()
    local peer = H.peer("server", name, "send:bye")
    local h = H.track(assert(ipc.connect(name, 10)))
    assert.are.equal("bye", ipc.recv(h, 10))
    fails_with("closed", ipc.recv, h, 10)
    assert.are.equal(0, select(2, peer:finish()))
  end)

  it("'protocol' from a negative length, and the pipe stays broken", function()
    local h, peer = H.raw_peer("hex:fffffffe", "eof")
    local msg = fails_with("protocol", ipc.recv, h, 5)
    assert.truthy(msg:find("recv", 1, true), msg)
    fails_with("protocol", ipc.recv, h, 0)
    fails_with("protocol", ipc.send, h, "x")
    ipc.close(h)
    assert.are.equal(0, select(2, peer:finish()))
  end)

  it("'in_use' for a live listener, which is left alone", function()
    local name = H.name()
    local l = H.track(assert(ipc.listen(name)))
    local msg = fails_with("in_use", ipc.listen, name)
    assert.truthy(msg:find(name, 1, true), msg)
    fails_with("in_use", ipc.create, name, 0)
    -- the first listener still works
    local c = H.track(assert(ipc.connect(name, 5)))
    H.track(assert(ipc.accept(l, 5)))
    ipc.close(c)
  end)

  it("'in_use' for a file that is not a socket, which is kept #socket_file",
     function()
    local name = H.name()
    H.write_file(name, "precious")
    fails_with("in_use", ipc.listen, name)
    fails_with("in_use", ipc.create, name, 0)
    local f = assert(io.open(name))
    assert.are.equal("precious", f:read("*a"))
    f:close()
  end)

  it("'no_server' when nobody serves the name in time", function()
    local name = H.name()
    local msg = fails_with("no_server", ipc.connect, name, 0)
    assert.truthy(msg:find(name, 1, true), msg)
    fails_with("no_server", ipc.connect, name, 0.05)
  end)

  it("'too_big' for a message over the pipe's maximum, then goes on",
     function()
    local h, peer = H.raw_peer("hex:" .. H.hex(H.frame(("x"):rep(11))
                                               .. H.frame(("y"):rep(10))),
                               "eof")
    assert.is_true(ipc.set_max_message(h, 10))
    fails_with("too_big", ipc.recv, h, 5)
    assert.are.equal(("y"):rep(10), ipc.recv(h, 5))
    ipc.close(h)
    assert.are.equal(0, select(2, peer:finish()))
  end)

  it("'bad_handle' for unknown handles and listeners", function()
    local unknown = 10 ^ 6
    fails_with("bad_handle", ipc.send, unknown, "x")
    fails_with("bad_handle", ipc.recv, unknown)
    fails_with("bad_handle", ipc.recv, unknown, 0)
    fails_with("bad_handle", ipc.set_max_message, unknown, 5)
    fails_with("bad_handle", ipc.fileno, unknown)
    fails_with("bad_handle", ipc.accept, unknown, 0)
    fails_with("bad_handle", ipc.send, 2 ^ 40, "x") -- beyond int
    fails_with("bad_handle", ipc.send, -(2 ^ 40), "x")
    local l = H.track(assert(ipc.listen(H.name())))
    fails_with("bad_handle", ipc.send, l, "x") -- a listener is not a pipe
    fails_with("bad_handle", ipc.recv, l, 0)
    local s = H.pair()
    fails_with("bad_handle", ipc.accept, s, 0) -- a pipe is no listener
    ipc.close(s)
    fails_with("bad_handle", ipc.recv, s, 0) -- closed
  end)

  it("'bad_handle' for a handle beyond C's int names that handle",
     function()
    -- Not send(0): the handle is the one the caller passed.
    for _, case in ipairs {
      { "send(4294967296)", ipc.send, 4294967296, "x" },
      { "send(-4294967296)", ipc.send, -4294967296, "x" },
      { "send(2147483648)", ipc.send, 2147483648, "x" },
      { "recv(4294967296)", ipc.recv, 4294967296, 0 },
      { "accept(4294967296)", ipc.accept, 4294967296, 0 },
      { "fileno(4294967296)", ipc.fileno, 4294967296 },
      { "set_max_message(4294967296)", ipc.set_max_message, 4294967296, 5 },
    } do
      local msg = fails_with("bad_handle", select(2, unpack(case)))
      assert.are.equal(case[1] .. ": no such handle (out of range)", msg)
    end
    local p = ipc.Pipe.wrap(4294967296)
    local msg = fails_with("bad_handle", p.send, p, "x")
    assert.truthy(msg:find("send(4294967296)", 1, true), msg)
    -- a real handle after it is reported as itself again
    local s = H.pair()
    ipc.close(s)
    msg = fails_with("bad_handle", ipc.recv, s, 0)
    assert.truthy(msg:find(("recv(%d)"):format(s), 1, true), msg)
  end)

  it("'invalid' for bad names and sizes #posix_paths", function()
    fails_with("invalid", ipc.listen, "anonymous")
    fails_with("invalid", ipc.connect, "", 0)
    fails_with("invalid", ipc.create, "a/b", 0)
    fails_with("invalid", ipc.path, "/tmp/dir/")
    local s = H.pair()
    fails_with("invalid", ipc.set_max_message, s, ipc.MAX_MESSAGE + 1)
  end)

  if H.windows then
    -- Windows' names (win32/path.c): '/' is '\\', so "a/b" is a name;
    -- what leaves \\.\pipe\ or is reserved is not.
    it("'invalid' for bad names and sizes (Windows)", function()
      fails_with("invalid", ipc.listen, "anonymous")
      fails_with("invalid", ipc.listen, "ANONYMOUS")
      fails_with("invalid", ipc.connect, "", 0)
      fails_with("invalid", ipc.create, "..\\COM1", 0)
      fails_with("invalid", ipc.path, ("x"):rep(300))
      local s = H.pair()
      fails_with("invalid", ipc.set_max_message, s, ipc.MAX_MESSAGE + 1)
    end)
  end

  it("'timeout' from send means nothing of that message was sent",
     function()
    local s, c = H.pair()
    local big = H.pattern(16 * 1024 * 1024) -- far more than a socket holds
    -- Part of it goes before the time runs out: it is committed (true).
    assert.is_true(ipc.send(c, big, 0.05))
    -- Another message waits behind its rest, and sends nothing of its own.
    local msg = fails_with("timeout", ipc.send, c, "another message", 0)
    assert.truthy(msg:find("nothing", 1, true), msg)
    fails_with("timeout", ipc.flush, c, 0)
    -- The reader drains; flush() moves the rest along meanwhile.
    local got
    for _ = 1, 2000 do
      ipc.flush(c, 0.01)
      got = ipc.recv(s, 0.01)
      if got then break end
    end
    assert.are.equal(#big, #got)
    assert.is_true(big == got)
    assert.is_true(ipc.flush(c, 0)) -- nothing pending
    assert.is_true(ipc.send(c, "next", 1))
    assert.are.equal("next", ipc.recv(s, 5)) -- "another message" never went
  end)

  it("'system' with the operating system's reason #socket_file", function()
    local missing = H.dir() .. "/no/such/dir"
    local msg = fails_with("system", ipc.listen, missing .. "/p")
    assert.truthy(msg:find(missing, 1, true), msg)
    -- connect fails at once (no waiting) on a file that is not a socket
    local file = H.name()
    H.write_file(file, "not a socket")
    msg = fails_with("system", ipc.connect, file, 30)
    assert.truthy(msg:find(file, 1, true), msg)
  end)
end)

describe("misuse raises an error", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  local function raises(pattern, f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok)
    assert.truthy(tostring(err):find(pattern), tostring(err))
  end

  it("for timeouts that are negative or not numbers", function()
    local s = H.pair()
    for _, bad in ipairs { -0.001, -1, -math.huge } do
      raises("negative", ipc.recv, s, bad)
      raises("negative", ipc.send, s, "x", bad)
      raises("negative", ipc.connect, "/tmp/x", bad)
    end
    -- NaN is not negative: it is no number of seconds at all
    for _, f in ipairs { function() return ipc.recv(s, 0 / 0) end,
                         function() return ipc.send(s, "x", 0 / 0) end,
                         function() return ipc.connect("/tmp/x", 0 / 0) end,
                         function() return ipc.wait({ s }, 0 / 0) end } do
      raises("timeout must not be NaN", f)
    end
    -- and the objects say so too
    local p = H.track(ipc.Pipe.wrap(s))
    for _, f in ipairs { function() return p:recv(0 / 0) end,
                         function() return p:send("x", 0 / 0) end,
                         function() return p:settimeout(0 / 0) end,
                         function() return p:poll(0 / 0) end } do
      raises("bad argument #%d to '%a+' %(timeout must not be NaN%)", f)
    end
    local ok, err = pcall(p.recv, p, -1)
    assert.is_false(ok)
    assert.truthy(err:find("non-negative number of seconds or nil " ..
                           "expected, got number", 1, true), err)
    for _, bad in ipairs { "1", {}, true } do
      raises("number of seconds or nil expected", ipc.recv, s, bad)
      raises("number of seconds or nil expected", ipc.accept, s, bad)
      raises("number of seconds or nil expected", ipc.create, "/tmp/x", bad)
    end
  end)

  it("for names that are not strings, or hold a NUL", function()
    for _, bad in ipairs { 12, 1.5, {}, true } do
      raises("string expected", ipc.path, bad)
      raises("string expected", ipc.listen, bad)
      raises("string expected", ipc.connect, bad, 0)
    end
    raises("string expected, got nil", ipc.connect, nil, 0)
    raises("NUL", ipc.path, "a\0b")
    raises("NUL", ipc.connect, "/tmp/x\0y", 0)
  end)

  it("for handles that are not integers", function()
    for _, bad in ipairs { "1", 1.5, {}, true } do
      raises("integer handle expected", ipc.send, bad, "x")
      raises("integer handle expected", ipc.recv, bad)
      raises("integer handle expected", ipc.close, bad)
      raises("integer handle expected", ipc.accept, bad, 0)
    end
    raises("integer handle expected", ipc.close, nil)
    -- an integral float is an integer
    assert.is_true(ipc.close(1e6 + 0.0))
  end)

  it("for messages that are not strings (no number coercion)", function()
    local s, c = H.pair()
    for _, bad in ipairs { 42, 1.5, {}, true } do
      raises("string expected", ipc.send, c, bad)
    end
    raises("string expected, got no value", ipc.send, c)
    assert.is_true(ipc.send(c, "still fine"))
    assert.are.equal("still fine", ipc.recv(s, 5))
  end)

  it("for sizes that are negative or not integers", function()
    local s = H.pair()
    raises("negative", ipc.set_max_message, s, -1)
    raises("integer expected", ipc.set_max_message, s, "10")
    raises("integer expected", ipc.set_max_message, s, 1.5)
  end)

  it("for missing or extra arguments", function()
    raises("bad argument #1 to '.-' %(integer handle expected, got no value%)",
           ipc.recv)
    raises("bad argument #1 to '.-' %(string expected, got no value%)",
           ipc.path)
    raises("bad argument #2 to '.-' %(no value expected%)", ipc.close, 1, 2)
    raises("bad argument #3 to '.-' %(no value expected%)", ipc.recv, 1, 2, 3)
  end)
end)

-- The core module reports every failure by one rule (lua_typemaps.i: the
-- typemaps on int), with no list of functions to keep: this walks every
-- function it has, makes each fail, and checks nil, message, code. A
-- function added to the module and not placed in one of the two tables
-- below fails the test, so whoever adds it decides which it is.
describe("one rule for every function of the core module", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("returns nil, message, code for every failure, never a number", function()
    local core = require "kiwi_ipc_core"
    local bad = assert(core.listen(H.name()))
    assert.is_true(core.close(bad)) -- closed: every call on it fails
    -- How to make each status-returning function fail, and the code.
    local failing = {
      accept = {"bad_handle", bad, 0},
      check_path = {"invalid", ""},
      connect = {"invalid", ""},
      connect_ex = {"invalid", "", 0, 0},
      create = {"invalid", ""},
      create_ex = {"invalid", "", 0, 0},
      fileno = {"bad_handle", bad},
      flush = {"bad_handle", bad, 0},
      get_peer = {"bad_handle", bad},
      handle_path = {"bad_handle", bad},
      listen = {"invalid", ""},
      listen_ex = {"invalid", "", 0},
      name = {"bad_handle", bad},
      path = {"invalid", ""},
      pending = {"bad_handle", bad},
      recv = {"bad_handle", bad, 0},
      recv_many = {"bad_handle", bad, 1, 0},
      send = {"bad_handle", bad, "x", 0},
      send_many = {"bad_handle", bad, {"x"}, 0},
      set_max_message = {"bad_handle", bad, 1},
    }
    -- What returns no status: close (an unknown handle is harmless, as in
    -- Kiwi), the texts, last_os_error (an errno value), timeout_ms (a
    -- conversion that raises on misuse); and poll, hand-written in
    -- kiwi_ipc_lua.c, whose only failures (an OS error, Ctrl-C) no test
    -- can cause on demand: it returns them through kiwi_lua_failure too.
    local not_status = {close = true, version = true, strerror = true,
                        errname = true, last_error = true,
                        last_os_error = true, timeout_ms = true,
                        poll = true}
    local seen = 0
    for fname, f in pairs(core) do
      if type(f) == "function" and not not_status[fname] then
        local case = failing[fname]
        assert(case, "core." .. fname .. " is new: say in errors_spec.lua " ..
               "how it fails (or that it returns no status)")
        local r, msg, code = f(unpack(case, 2))
        assert(r == nil, ("core.%s returned %s on failure"):format(
          fname, tostring(r)))
        assert.are.equal(case[1], code, fname)
        assert.is_string(msg)
        assert.truthy(#msg > 0, fname)
        seen = seen + 1
      end
    end
    for fname in pairs(failing) do
      assert(core[fname], "core." .. fname .. " is gone: update the spec")
    end
    assert.are.equal(seen, (function()
      local n = 0
      for _ in pairs(failing) do n = n + 1 end
      return n
    end)())
  end)
end)
