-- api_spec.lua - the module, the Kiwi-shaped calls with integer handles,
-- listen/accept, path, version, and the calls' results.

local ipc = require "kiwi_ipc"
local core = require "kiwi_ipc_core"
local H = require "helpers"

describe("kiwi_ipc", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  describe("the module", function()
    it("is returned by require and creates no global", function()
      assert.is_table(ipc)
      assert.is_nil(rawget(_G, "kiwi_ipc"))
      assert.is_nil(rawget(_G, "kiwi_ipc_core"))
      assert.are.equal(ipc, require "kiwi_ipc")
    end)

    it("reports the C library's version", function()
      assert.are.equal(core.KIWI_IPC_VERSION, ipc.version)
      assert.are.equal(core.version(), ipc.version)
      assert.truthy(ipc.version:match("^%d+%.%d+%.%d+$"))
    end)

    it("has MAX_MESSAGE", function()
      assert.are.equal(2 ^ 31 - 1, ipc.MAX_MESSAGE)
    end)

    it("has every call", function()
      for _, f in ipairs { "create", "connect", "send", "recv", "close",
                           "listen", "accept", "path", "fileno",
                           "set_max_message" } do
        assert.is_function(ipc[f], f)
      end
      assert.is_table(ipc.Pipe)
      assert.is_table(ipc.Listener)
    end)

    it("was loaded from the build tree for this Lua", function()
      local dir = H.is_jit and "/lua/jit/" or "/lua/5.4/"
      assert.truthy(package.searchpath == nil
                    or package.searchpath("kiwi_ipc_core", package.cpath)
                       :gsub("\\", "/"):find(dir, 1, true))
    end)
  end)

  -- Names as Unix paths (.NET's rule on Unix): not Windows' (below).
  describe("path #posix_paths", function()
    it("maps a relative name as .NET does", function()
      local tmp = os.getenv("TMPDIR")
      if not tmp or tmp == "" then tmp = "/tmp/" end
      if tmp:sub(-1) ~= "/" then tmp = tmp .. "/" end
      assert.are.equal(tmp .. "CoreFxPipe_demo", ipc.path("demo"))
    end)

    it("follows TMPDIR", function()
      local function path_with(tmpdir, name)
        local env = tmpdir and ("TMPDIR=" .. H.quote(tmpdir)) or "unset TMPDIR;"
        return (H.run_lua(env,
          "io.write(assert(require('kiwi_ipc').path(arg[1])))", name))
      end
      assert.are.equal("/tmp/CoreFxPipe_demo", path_with(nil, "demo"))
      assert.are.equal("/tmp/CoreFxPipe_demo", path_with("", "demo"))
      assert.are.equal("/var/tmp/CoreFxPipe_demo", path_with("/var/tmp", "demo"))
      assert.are.equal("/var/tmp/CoreFxPipe_dé mo",
                       path_with("/var/tmp/", "dé mo"))
    end)

    it("keeps an absolute name, up to 107 bytes", function()
      assert.are.equal("/run/x.sock", ipc.path("/run/x.sock"))
      local longest = "/" .. ("x"):rep(106)
      assert.are.equal(longest, ipc.path(longest))
      local r, msg, code = ipc.path(longest .. "x")
      assert.is_nil(r)
      assert.are.equal("invalid", code)
      assert.is_string(msg)
    end)

    it("refuses invalid names with nil, message, 'invalid'", function()
      for _, bad in ipairs { "", "a/b", "anonymous", "AnOnYmOuS", "/tmp/dir/",
                             "/" .. ("x"):rep(107) } do
        local r, msg, code = ipc.path(bad)
        assert.is_nil(r, bad)
        assert.are.equal("invalid", code, bad)
        assert.is_string(msg)
        assert.is_true(#msg > 0)
      end
    end)
  end)

  if H.windows then
    describe("path (Windows)", function()
      it("maps a name to \\\\.\\pipe\\<name> as .NET does", function()
        assert.are.equal("\\\\.\\pipe\\demo", ipc.path("demo"))
        assert.are.equal("\\\\.\\pipe\\a\\b", ipc.path("a/b"))
        assert.are.equal("\\\\.\\pipe\\dé mo", ipc.path("dé mo"))
      end)

      it("refuses invalid names with nil, message, 'invalid'", function()
        for _, bad in ipairs { "", "anonymous", "AnOnYmOuS", "..\\COM1",
                               ("x"):rep(300) } do
          local r, msg, code = ipc.path(bad)
          assert.is_nil(r, bad)
          assert.are.equal("invalid", code, bad)
          assert.is_true(#msg > 0)
        end
      end)
    end)

    it("fileno fails clearly: a named pipe has no descriptor", function()
      local s = H.pair()
      local r, msg, code = ipc.fileno(s)
      assert.is_nil(r)
      assert.are.equal("system", code)
      assert.truthy(msg:find("no file descriptor", 1, true), msg)
    end)
  end

  describe("the Kiwi-shaped calls", function()
    it("create, connect, send, recv, close across processes", function()
      local name = H.name()
      local peer = H.peer("client", name, "send:ping", "recv", "expect-closed")
      local h = H.track(assert(ipc.create(name)))
      if H.is_54 then assert.are.equal("integer", math.type(h)) end
      assert.is_true(h > 0)
      assert.are.equal("ping", ipc.recv(h))
      assert.is_true(ipc.send(h, "pong"))
      assert.is_true(ipc.close(h))
      local out, status = peer:finish()
      assert.are.equal(0, status, out)
      assert.truthy(out:find("recv 4 706f6e67\n", 1, true), out)
      assert.truthy(out:find("closed\n", 1, true), out)
      -- create stopped listening and removed its socket file
      if H.socket_files then assert.is_false(H.exists(name)) end
    end)

    it("connect to a server process", function()
      local name = H.name()
      local peer = H.peer("server", name, "echo")
      local h = H.track(assert(ipc.connect(name, 10)))
      if H.is_54 then assert.are.equal("integer", math.type(h)) end
      assert.is_true(ipc.send(h, "hello"))
      assert.are.equal("hello", ipc.recv(h, 10))
      ipc.close(h)
      local out, status = peer:finish()
      assert.are.equal(0, status, out)
      assert.truthy(out:find("echo 1\n", 1, true), out)
    end)

    it("returns handles that are integers and never reused", function()
      local seen, last = {}, 0
      for _ = 1, 5 do
        local l = assert(ipc.listen(H.name()))
        if H.is_54 then assert.are.equal("integer", math.type(l)) end
        assert.is_nil(seen[l])
        assert.is_true(l > last)
        seen[l], last = true, l
        assert.is_true(ipc.close(l))
      end
    end)

    it("close of an unknown or closed handle is harmless", function()
      for _, h in ipairs { 0, -1, 10 ^ 6, 2 ^ 31 - 1, 2 ^ 40, -(2 ^ 40) } do
        assert.is_true(ipc.close(h))
      end
      local s, c = H.pair()
      assert.is_true(ipc.close(c))
      assert.is_true(ipc.close(c))
      assert.is_true(ipc.close(s))
    end)

    it("send and recv in both directions in one process", function()
      local s, c = H.pair()
      assert.is_true(ipc.send(c, "to server"))
      assert.is_true(ipc.send(s, "to client"))
      assert.are.equal("to server", ipc.recv(s, 5))
      assert.are.equal("to client", ipc.recv(c, 5))
    end)

    it("send and recv take an optional timeout", function()
      local s, c = H.pair()
      assert.is_true(ipc.send(c, "quick", 1))
      assert.is_true(ipc.send(c, "quick", 0))
      assert.is_true(ipc.send(c, "nil timeout", nil))
      assert.are.equal("quick", ipc.recv(s, 1))
      assert.are.equal("quick", ipc.recv(s, 0.5))
      assert.are.equal("nil timeout", ipc.recv(s, nil))
    end)

    it("huge timeouts wait forever", function()
      local s, c = H.pair()
      ipc.send(c, "x")
      assert.are.equal("x", ipc.recv(s, 1e12))
      ipc.send(c, "y")
      assert.are.equal("y", ipc.recv(s, math.huge))
    end)

    it("fileno gives the descriptor #fd", function()
      local s = H.pair()
      local fd = assert(ipc.fileno(s))
      if H.is_54 then assert.are.equal("integer", math.type(fd)) end
      assert.is_true(fd >= 0)
    end)

    it("set_max_message refuses longer messages and skips them", function()
      local s, c = H.pair()
      assert.is_true(ipc.set_max_message(s, 3))
      ipc.send(c, "four")
      ipc.send(c, "ok")
      local r, msg, code = ipc.recv(s, 5)
      assert.is_nil(r)
      assert.are.equal("too_big", code)
      assert.is_string(msg)
      assert.are.equal("ok", ipc.recv(s, 5))
      assert.is_true(ipc.set_max_message(s, ipc.MAX_MESSAGE))
      ipc.send(c, "four")
      assert.are.equal("four", ipc.recv(s, 5))
    end)
  end)

  describe("listen and accept", function()
    -- #backlog: clients queue before any accept (a Windows listener holds one).
    it("serve many clients #backlog", function()
      local name = H.name()
      local l = H.track(assert(ipc.listen(name)))
      if H.socket_files then assert.is_true(H.exists(name)) end
      local clients, servers = {}, {}
      for i = 1, 5 do clients[i] = H.track(assert(ipc.connect(name, 5))) end
      for i = 1, 5 do servers[i] = H.track(assert(ipc.accept(l, 5))) end
      for i, c in ipairs(clients) do ipc.send(c, tostring(i)) end
      local got = {}
      for i, s in ipairs(servers) do got[i] = ipc.recv(s, 5) end
      table.sort(got)
      assert.are.same({ "1", "2", "3", "4", "5" }, got)
      ipc.close(l)
      if H.socket_files then assert.is_false(H.exists(name)) end
    end)

    it("accept times out", function()
      local l = H.track(assert(ipc.listen(H.name())))
      local r, msg, code = ipc.accept(l, 0.05)
      assert.is_nil(r)
      assert.are.equal("timeout", code)
      assert.is_string(msg)
      assert.are.equal("timeout", select(3, ipc.accept(l, 0)))
    end)

    it("serves processes built on the C library", function()
      local name = H.name()
      local l = H.track(assert(ipc.listen(name)))
      local peers = {}
      for i = 1, 3 do
        peers[i] = H.peer("client", name, "send:client " .. i, "recv")
      end
      for _ = 1, 3 do
        local h = H.track(assert(ipc.accept(l, 10)))
        local m = assert(ipc.recv(h, 10))
        assert.is_true(ipc.send(h, m:upper()))
      end
      for i, peer in ipairs(peers) do
        local out, status = peer:finish()
        assert.are.equal(0, status, out)
        assert.truthy(out:find("recv 8 " .. H.hex("CLIENT " .. i), 1, true), out)
      end
    end)

    it("work with relative names under TMPDIR, across processes #posix_paths",
       function()
      local env = "TMPDIR=" .. H.quote(H.dir())
      local peer = H.peer_with(0, env, "server", "rel", "send:relative", "recv")
      local child = H.lua_child(env, [[
        local ipc = require "kiwi_ipc"
        local h = assert(ipc.connect("rel", 10))
        io.write(assert(ipc.recv(h, 10)), " ", ipc.path("rel"), "\n")
        assert(ipc.send(h, "back"))
        ipc.close(h)
      ]])
      local out, status = child:finish()
      assert.are.equal(0, status, out)
      assert.are.equal("relative " .. H.dir() .. "/CoreFxPipe_rel\n", out)
      out, status = peer:finish()
      assert.are.equal(0, status, out)
      assert.truthy(out:find("recv 4 " .. H.hex("back"), 1, true), out)
    end)

    it("create times out and leaves nothing behind", function()
      local name = H.name()
      local r, msg, code = ipc.create(name, 0.1)
      assert.is_nil(r)
      assert.are.equal("timeout", code)
      assert.is_string(msg)
      if H.socket_files then assert.is_false(H.exists(name)) end
    end)

    it("reclaim a stale socket file #socket_file", function()
      local name = H.name()
      local out, status = H.peer("stale", name):finish()
      assert.are.equal(0, status, out)
      assert.is_true(H.exists(name))
      local l = H.track(assert(ipc.listen(name)))
      local c = H.track(assert(ipc.connect(name, 5)))
      assert.truthy(ipc.accept(l, 5))
      ipc.close(c)
    end)

    it("connect waits for a late server", function()
      local name = H.name()
      -- The server process starts after connect is already waiting.
      local peer = H.peer_with(0.3, nil, "server", name, "send:late")
      local h = H.track(assert(ipc.connect(name, 10)))
      assert.are.equal("late", ipc.recv(h, 10))
      assert.are.equal(0, select(2, peer:finish()))
    end)
  end)
end)
