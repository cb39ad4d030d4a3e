-- payload_spec.lua - messages are binary-safe Lua strings: NULs, every byte
-- value, UTF-8, empty, 16 MiB; in both directions, in one process and
-- against a peer process built on the C library.

local ipc = require "kiwi_ipc"
local H = require "helpers"

local TEXTS = {
  "",
  "hello",
  "nul\0inside\0",
  "\0",
  "emoji \240\159\152\128\240\159\142\137",
  "\195\177 \230\151\165\230\156\172\232\170\158",
  "\244\143\191\191\194\128\223\191\224\160\128\239\191\191",
}

local MiB = 1024 * 1024

describe("payloads", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("round-trip unchanged in one process", function()
    local s, c = H.pair()
    for _, text in ipairs(TEXTS) do
      assert.is_true(ipc.send(c, text))
      assert.are.equal(text, ipc.recv(s, 5))
      assert.is_true(ipc.send(s, text))
      assert.are.equal(text, ipc.recv(c, 5))
    end
  end)

  it("hold every byte value", function()
    local s, c = H.pair()
    local data = H.pattern(256 * 4)
    ipc.send(c, data)
    local got = ipc.recv(s, 5)
    assert.are.equal(1024, #got)
    assert.is_true(got == data)
  end)

  it("go through an echoing C peer process unchanged", function()
    local name = H.name()
    local peer = H.peer("client", name, "echo")
    local h = H.track(assert(ipc.create(name, 10)))
    for _, text in ipairs(TEXTS) do
      assert.is_true(ipc.send(h, text))
      assert.are.equal(text, ipc.recv(h, 10))
    end
    local big = ("x\0"):rep(50000)
    ipc.send(h, big)
    assert.is_true(ipc.recv(h, 10) == big)
    ipc.close(h)
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.truthy(out:find("echo " .. (#TEXTS + 1), 1, true), out)
  end)

  it("with NULs reach a C peer byte for byte", function()
    local name = H.name()
    local peer = H.peer("server", name, "recv", "recv", "hex:00ff0041", "recv")
    local h = H.track(assert(ipc.connect(name, 10)))
    ipc.send(h, "a\0b")
    ipc.send(h, "")
    assert.are.equal("\0\255\0A", ipc.recv(h, 10))
    ipc.send(h, "\0")
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.are.equal("connected\nrecv 3 610062\nrecv 0 \nrecv 1 00\ndone\n", out)
  end)

  it("of 16 MiB from Lua reach a C peer", function()
    local name = H.name()
    local size = 16 * MiB
    local peer = H.peer("server", name, "expect-pattern:" .. size, "send:ok")
    local h = H.track(assert(ipc.connect(name, 10)))
    assert.is_true(ipc.send(h, H.pattern(size), 60))
    assert.are.equal("ok", ipc.recv(h, 60))
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.truthy(out:find("pattern ok " .. size, 1, true), out)
  end)

  it("of 16 MiB from a C peer reach Lua", function()
    local name = H.name()
    local size = 16 * MiB
    local peer = H.peer("client", name, "pattern:" .. size, "recv")
    local h = H.track(assert(ipc.create(name, 10)))
    local got = assert(ipc.recv(h, 60))
    assert.are.equal(size, #got)
    assert.is_true(got == H.pattern(size))
    ipc.send(h, "thanks")
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.truthy(out:find("recv 6 " .. H.hex("thanks"), 1, true), out)
  end)

  it("of 16 MiB round-trip in one process, with an empty one after",
     function()
    local s, c = H.pair()
    local big = H.pattern(16 * MiB - 7) .. "the end"
    -- One thread: send in slices of time while receiving. A send that
    -- returns true is committed; flush() moves its rest along.
    local sent, got = false, nil
    for _ = 1, 5000 do
      if not sent then sent = ipc.send(c, big, 0.01) or false
      else ipc.flush(c, 0.01) end
      got = got or ipc.recv(s, 0.01)
      if sent and got then break end
    end
    assert.is_true(sent)
    assert.are.equal(#big, #got)
    assert.is_true(got == big)
    ipc.send(c, "")
    assert.are.equal("", ipc.recv(s, 5))
  end)
end)
