-- hostile_spec.lua - frames written byte by byte by a raw peer (kiwi_peer
-- raw: a bare socket, not the library): hostile headers, EOF in the middle
-- of a frame, any chunking, and timeouts that lose nothing.

local ipc = require "kiwi_ipc"
local H = require "helpers"

local hex, frame = H.hex, H.frame

-- The raw peer's output and status, after closing our end.
local function finish(h, peer)
  ipc.close(h)
  local out, status = peer:finish()
  assert.are.equal(0, status, out)
  return out
end

describe("hostile frames", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  for _, header in ipairs { "ffffffff", "80000000", "fffffffe" } do
    it("a negative length " .. header .. " is a protocol error", function()
      local h, peer = H.raw_peer("hex:" .. header .. hex("junk"), "eof")
      local r, msg, code = ipc.recv(h, 5)
      assert.is_nil(r)
      assert.are.equal("protocol", code)
      assert.is_string(msg)
      finish(h, peer)
    end)
  end

  it("EOF in the header is a protocol error", function()
    local h, peer = H.raw_peer("hex:0000", "close")
    assert.are.equal("protocol", select(3, ipc.recv(h, 5)))
    finish(h, peer)
  end)

  it("EOF in the payload is a protocol error, for good", function()
    local h, peer = H.raw_peer("hex:" .. hex(frame("0123456789"):sub(1, 9)),
                               "close")
    assert.are.equal("protocol", select(3, ipc.recv(h, 5)))
    assert.are.equal("protocol", select(3, ipc.recv(h, 5)))
    finish(h, peer)
  end)

  it("a huge header then EOF costs nothing", function()
    local h, peer = H.raw_peer("hex:7fffffff" .. hex("only this"), "close")
    assert.are.equal("protocol", select(3, ipc.recv(h, 5)))
    finish(h, peer)
  end)

  it("EOF between frames is a clean 'closed'", function()
    local h, peer = H.raw_peer("hex:" .. hex(frame("one") .. frame("")
                                             .. frame("three")), "close")
    assert.are.equal("one", ipc.recv(h, 5))
    assert.are.equal("", ipc.recv(h, 5))
    assert.are.equal("three", ipc.recv(h, 5))
    assert.are.equal("closed", select(3, ipc.recv(h, 5)))
    finish(h, peer)
  end)

  it("frames arrive whatever way they are cut", function()
    local big = ("x"):rep(5000)
    local data = frame("\226\152\131 snow") .. frame(big) .. frame("")
    local h, peer = H.raw_peer("chunk:7", "hex:" .. hex(data), "eof")
    assert.are.equal("\226\152\131 snow", ipc.recv(h, 10))
    assert.are.equal(big, ipc.recv(h, 10))
    assert.are.equal("", ipc.recv(h, 10))
    finish(h, peer)
  end)

  it("many frames in one write", function()
    local data = {}
    for i = 1, 100 do data[i] = frame(tostring(i)) end
    local h, peer = H.raw_peer("hex:" .. hex(table.concat(data)), "eof")
    for i = 1, 100 do assert.are.equal(tostring(i), ipc.recv(h, 5)) end
    finish(h, peer)
  end)

  it("the wire format is a big-endian length and the bytes", function()
    local h, peer = H.raw_peer("readframe", "readframe", "readframe", "eof")
    ipc.send(h, "h\195\169llo")
    ipc.send(h, "")
    ipc.send(h, ("z"):rep(300))
    local out = finish(h, peer)
    assert.truthy(out:find("frame 6 68c3a96c6c6f\n", 1, true), out)
    assert.truthy(out:find("frame 0 \n", 1, true), out)
    assert.truthy(out:find("frame 300 " .. ("7a"):rep(64) .. "...\n", 1, true),
                  out)
  end)

  it("invalid UTF-8 passes through untouched", function()
    local bad = { "\255\254", "a\128b", "cut \226\130", "\237\160\128 sur",
                  "\192\175 overlong", "\244\144\128\128 beyond" }
    local data = {}
    for i, b in ipairs(bad) do data[i] = frame(b) end
    local h, peer = H.raw_peer("hex:" .. hex(table.concat(data)), "eof")
    for _, b in ipairs(bad) do assert.are.equal(b, ipc.recv(h, 5)) end
    finish(h, peer)
  end)

  it("a too-big message is skipped without holding it", function()
    local h, peer = H.raw_peer("hex:00800000", "pattern:8388608",
                               "hex:" .. hex(frame("small")), "eof")
    ipc.set_max_message(h, 1000)
    assert.are.equal("too_big", select(3, ipc.recv(h, 30)))
    assert.are.equal("small", ipc.recv(h, 30))
    finish(h, peer)
  end)
end)

describe("timeouts lose no frame", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("recv times out in the middle of a frame, then gets all of it",
     function()
    -- The raw peer writes half a frame, and the rest only once told to
    -- (a "go" frame from us): the timeouts are certain to hit mid-frame.
    local payload = H.pattern(256 * 40)
    local data = frame(payload)
    local h, peer = H.raw_peer(
      "hex:" .. hex(data:sub(1, 2)), "readframe",            -- half a header
      "hex:" .. hex(data:sub(3, 1000)), "readframe",         -- some payload
      "hex:" .. hex(data:sub(1001) .. frame("next")), "eof") -- the rest
    local r, msg, code = ipc.recv(h, 0.05)
    assert.is_nil(r)
    assert.are.equal("timeout", code)
    assert.is_string(msg)
    ipc.send(h, "go")
    assert.are.equal("timeout", select(3, ipc.recv(h, 0)))
    assert.are.equal("timeout", select(3, ipc.recv(h, 0.05)))
    ipc.send(h, "go")
    local got = ipc.recv(h, 5)
    assert.are.equal(#payload, #got)
    assert.is_true(got == payload)
    assert.are.equal("next", ipc.recv(h, 5))
    finish(h, peer)
  end)

  it("a timed-out send is committed and finished by the next send",
     function()
    -- The C peer reads nothing until the file exists.
    local name, go = H.name(), H.file(".go")
    local size = 16 * 1024 * 1024
    local l = H.track(assert(ipc.listen(name)))
    local peer = H.peer("client", name, "await-file:" .. go,
                        "expect-pattern:" .. size, "recv")
    local h = H.track(assert(ipc.accept(l, 10)))
    local big = H.pattern(size)
    -- Part of it goes before the time runs out: committed, true.
    assert.is_true(ipc.send(h, big, 0.05))
    H.write_file(go, "")
    -- The rest goes first, then this one; big is not sent again.
    assert.is_true(ipc.send(h, "after", 30))
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.truthy(out:find("pattern ok " .. size, 1, true), out)
    assert.truthy(out:find("recv 5 " .. hex("after"), 1, true), out)
  end)
end)
