-- peer_spec.lua - who is on the other end: p:peer(),
-- ipc.get_peer, and the object style's same-user default with its path
-- check. (The cross-user cases, which need root and a second user, are
-- tested in C, tests_c/posix/test_peer.c, and Python, tests_py/test_peer.py; the
-- Lua calls are the same C calls underneath.)

local ipc = require "kiwi_ipc"
local H = require "helpers"

local Pipe, Listener = ipc.Pipe, ipc.Listener

-- This Lua process's pid: /proc/self is the process that opens it.
local function my_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = tonumber(f:read("*l"):match("^(%d+)"))
  f:close()
  return pid
end

local function id(flag)
  return tonumber(H.run("id", flag):match("(%d+)"))
end

local function pair()
  local name = H.name()
  local l = assert(Listener.listen(name))
  local client = H.track(assert(Pipe.connect(name, 5)))
  local server = H.track(assert(l:accept(5)))
  l:close()
  return server, client
end

describe("peer", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("of a pipe in this process is us, in integers #posix_ids", function()
    local server, client = pair()
    for _, p in ipairs { client:peer(), server:peer(),
                         ipc.get_peer(client.handle) } do
      assert.are.equal(my_pid(), p.pid)
      assert.are.equal(id("-u"), p.uid)
      assert.are.equal(id("-g"), p.gid)
      if math.type then assert.are.equal("integer", math.type(p.pid)) end
    end
  end)

  it("of a child process is its pid #posix_ids", function()
    local name = H.name()
    local child = H.lua_child(nil, [[
      local ipc = require "kiwi_ipc"
      local f = assert(io.open("/proc/self/stat"))
      local pid = f:read("*l"):match("^(%d+)")
      f:close()
      local p = assert(ipc.Pipe.connect(arg[1], 10))
      assert(p:send(pid))
      assert(p:recv(10))
      p:close()
    ]], name)
    local p = H.track(assert(Pipe.create(name, 10)))
    local pid = tonumber(assert(p:recv(10)))
    assert.are.equal(pid, p:peer().pid)
    assert(p:send("bye"))
    local out, status = child:finish()
    assert.are.equal(0, status, out)
  end)

  it("of a listener or an unknown handle is 'bad_handle'", function()
    local l = H.track(assert(Listener.listen(H.name())))
    local ok, message, code = ipc.get_peer(l.handle)
    assert.is_nil(ok)
    assert.are.equal("bad_handle", code)
    assert.truthy(message:find("listener", 1, true))
    local _, _, code2 = ipc.get_peer(99999999)
    assert.are.equal("bad_handle", code2)
  end)

  it("of a closed Pipe is misuse", function()
    local server = pair()
    server:close()
    local ok, err = pcall(server.peer, server)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("closed", 1, true))
  end)
end)

describe("same user", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("objects refuse a directory anyone may write to; any_user does not "
     .. "#socket_file", function()
    local dir = H.dir() .. "/open"
    H.run("mkdir", "-m", "0777", dir)
    H.run("chmod", "0777", dir)
    local name = dir .. "/p"
    local ok, message, code = ipc.check_path(name)
    assert.is_nil(ok)
    assert.are.equal("permission", code)
    assert.truthy(message:find("no sticky bit", 1, true), message)
    for _, result in ipairs {
        { Pipe.connect(name, 0) }, { Pipe.create(name, 0) },
        { Listener.listen(name) } } do
      assert.is_nil(result[1])
      assert.are.equal("permission", result[3])
    end
    -- Opting out, and Kiwi's own calls, accept the path.
    local _, _, c = Pipe.connect(name, 0, { any_user = true })
    assert.are.equal("no_server", c)
    _, _, c = ipc.connect(name, 0)
    assert.are.equal("no_server", c)
    local l = assert(Listener.listen(name, { any_user = true }))
    l:close()
    -- With the sticky bit it is /tmp's mode: trusted.
    H.run("chmod", "1777", dir)
    assert.is_true(ipc.check_path(name))
    assert(Listener.listen(name)):close()
    H.run("rmdir", dir)
  end)

  it("options must be a table", function()
    local ok, err = pcall(Pipe.connect, H.name(), 0, true)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("bad argument #3 to 'connect'", 1, true))
  end)
end)
