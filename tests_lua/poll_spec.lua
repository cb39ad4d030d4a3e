-- poll_spec.lua - many pipes at once: ipc.wait, and LuaSocket's
-- select protocol (getfd, dirty, settimeout).
--
-- A recv reads up to 64 KiB ahead and hands out one message, so after the
-- first recv of a burst the rest waits inside the pipe: socket.select on
-- the descriptor alone stalls there, and only dirty() (ipc_pending) lets
-- it see the messages. None of these can pass on the code before ipc.wait
-- (no ipc.wait, no getfd/dirty: socket.select refused the objects).

local ipc = require "kiwi_ipc"
local H = require "helpers"

local has_socket, socket = pcall(require, "socket")

-- A burst of `count` frames "m<i>" written by another process in one go.
local function burst_peer(count)
  local frames = {}
  for i = 0, count - 1 do frames[#frames + 1] = H.frame("m" .. i) end
  local h, peer = H.raw_peer("hex:" .. H.hex(table.concat(frames)), "eof")
  return ipc.Pipe.wrap(h), peer
end

describe("ipc.wait", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("reports a pipe before every message of a burst", function()
    local p = burst_peer(200)
    for i = 0, 199 do
      local ready = assert(ipc.wait({ p }, 2))
      assert.are.equal(1, #ready, "stalled before message " .. i)
      assert.are.equal("m" .. i, assert(p:recv(0)))
    end
    assert.are.same({}, ipc.wait({ p }, 0))
    p:close()
  end)

  it("serves bursts on several pipes in one loop", function()
    local pipes, next = {}, {}
    for k = 1, 4 do
      pipes[k] = burst_peer(60)
      next[pipes[k]] = 0
    end
    local left = 4 * 60
    while left > 0 do
      local ready = assert(ipc.wait(pipes, 2))
      assert.is_true(#ready > 0, "stalled with " .. left .. " left")
      for _, p in ipairs(ready) do
        assert.are.equal("m" .. next[p], assert(p:recv(0)))
        next[p] = next[p] + 1
        left = left - 1
      end
    end
    for _, p in ipairs(pipes) do p:close() end
  end)

  it("reports a listener with clients queued #backlog", function()
    local name = H.name()
    local l = H.track(assert(ipc.Listener.listen(name)))
    assert.are.same({}, ipc.wait({ l }, 0.03))
    local clients = {}
    for i = 1, 3 do clients[i] = H.track(assert(ipc.Pipe.connect(name, 5))) end
    assert.is_true(l:dirty())
    for _ = 1, 3 do
      assert.are.equal(1, #assert(ipc.wait({ l }, 2)))
      H.track(assert(l:accept(0)))
    end
    assert.is_false(l:dirty())
    assert.are.same({}, ipc.wait({ l }, 0.03))
  end)

  it("takes handles and objects, and times out", function()
    local server, client = H.pair()
    local t0 = os.time()
    assert.are.same({}, ipc.wait({ server, client }, 0.05))
    assert(ipc.send(client, "x"))
    local ready = assert(ipc.wait({ client, server }, 2))
    assert.are.same({ server }, ready)
    assert.is_true(ipc.pending(server))
    assert.are.equal("x", ipc.recv(server, 0))
    assert.is_false(ipc.pending(server))
    assert.is_true(os.time() - t0 < 10)
    assert.has_error(function() ipc.wait("nope") end)
    assert.has_error(function() ipc.wait({}, -1) end)
  end)

  it("reports the end after the last message", function()
    local server, client = H.pair()
    local p = ipc.Pipe.wrap(server)
    assert(ipc.send(client, "last"))
    ipc.close(client)
    assert.are.equal(1, #assert(ipc.wait({ p }, 2)))
    assert.are.equal("last", p:recv(0))
    assert.are.equal(1, #assert(ipc.wait({ p }, 2)))
    local m, _, code = p:recv(0)
    assert.is_nil(m)
    assert.are.equal("closed", code)
  end)
end)

describe("the LuaSocket select protocol", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("getfd, dirty, settimeout, poll #fd", function()
    local p = burst_peer(3)
    assert.is_true(p:getfd() >= 0)
    assert.is_true(p:poll(2))
    assert.are.equal("m0", p:recv(1))
    assert.is_true(p:dirty())          -- m1 and m2 are inside the pipe
    assert.are.equal("m1", p:recv(0))
    assert.are.equal("m2", p:recv(0))
    assert.is_false(p:dirty())
    assert.is_true(p:settimeout(0.05))
    local m, _, code = p:recv()         -- the settimeout() default
    assert.is_nil(m)
    assert.are.equal("timeout", code)
    assert.is_false(p:poll())
    assert.are.equal(p:getfd(), p:pollfd())
    assert.are.equal("r", p:events())
    assert.are.equal(0.05, p:timeout())
    p:close()
    assert.are.equal(-1, p:getfd())
    assert.is_false(p:dirty())
  end)

  if has_socket then
    it("socket.select sees messages inside the pipe through dirty()",
       function()
      local p = burst_peer(50)
      local q = burst_peer(50)
      local got = { [p] = 0, [q] = 0 }
      local left = 100
      while left > 0 do
        local r = socket.select({ p, q }, nil, 2)
        assert.is_true(#r > 0, "socket.select stalled with " .. left
                       .. " left")
        for _, s in ipairs(r) do
          assert.are.equal("m" .. got[s], assert(s:recv(0)))
          got[s] = got[s] + 1
          left = left - 1
        end
      end
      -- The kernel is empty now, but a pipe that held messages would
      -- still be reported: dirty() is asked before the descriptor.
      assert.are.same({}, (socket.select({ p, q }, nil, 0.02)))
      p:close()
      q:close()
    end)
  else
    pending("socket.select (LuaSocket is not installed for " .. _VERSION .. ")")
  end
end)

describe("copas", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  local has_copas, copas = pcall(require, "copas")
  if not has_copas then
    pending("copas is not installed for " .. _VERSION
            .. " (Debian's lua-copas is for 5.1 and 5.2: LuaJIT only)")
    return
  end

  it("serves bursts on several pipes, one coroutine each", function()
    local got, done = {}, 0
    for k = 1, 3 do
      local p = burst_peer(40)
      p:settimeout(0)
      got[k] = {}
      copas.addthread(function()
        while #got[k] < 40 do
          local m, err = copas.receive(p)
          assert(m, err)
          got[k][#got[k] + 1] = m
        end
        p:close()
        done = done + 1
      end)
    end
    local t0 = os.time()
    while done < 3 and os.time() - t0 < 20 do copas.step(0.5) end
    assert.are.equal(3, done)
    for k = 1, 3 do
      for i = 0, 39 do assert.are.equal("m" .. i, got[k][i + 1]) end
    end
  end)
end)
