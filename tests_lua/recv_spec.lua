-- recv_spec.lua - recv receives into a buffer that the Lua state keeps from
-- one message to the next (grown for large messages, given back after
-- them): whatever the order of sizes, every message arrives exactly, and a
-- large one cut short by a timeout arrives whole later.

local ipc = require "kiwi_ipc"
local H = require "helpers"

local MiB = 1024 * 1024

-- Compare without handing megabytes to busted's diff output.
local function same(expected, got, what)
  assert.are.equal(#expected, got and #got, what)
  assert.is_true(got == expected, what)
end

describe("recv", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("gets large and small messages in any order, byte for byte",
     function()
    local name = H.name()
    local peer = H.peer("client", name, "echo")
    local h = H.track(assert(ipc.create(name, 10)))
    -- Distinct contents, so that a byte left over from an earlier message
    -- would show; NULs and every byte value throughout.
    local messages = {
      H.pattern(17 * MiB),                          -- grows the buffer
      ("\0\1kiwi\255\254"):rep(5 * MiB / 8),        -- 5 MiB: reuses it
      H.pattern(5 * MiB + 3):sub(4),                -- 5 MiB, shifted
      ("z"):rep(64),                                -- gives it back
      "",
      "\0",
      H.pattern(300 * 1024 + 1):reverse(),
      ("\255"):rep(17 * MiB - 1) .. "!",            -- 17 MiB again
      "",
      "tail\0",
    }
    for i, msg in ipairs(messages) do
      assert.is_true(ipc.send(h, msg, 60))
      same(msg, ipc.recv(h, 60), "message " .. i)
    end
    ipc.close(h)
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.truthy(out:find("echo " .. #messages, 1, true), out)
  end)

  it("of 5 MiB and 17 MiB from a C peer, then small ones", function()
    local name = H.name()
    local peer = H.peer("client", name, "pattern:" .. 5 * MiB,
                        "pattern:" .. 17 * MiB, "hex:00ff00", "hex:",
                        "pattern:" .. 5 * MiB, "send:end")
    local h = H.track(assert(ipc.create(name, 10)))
    same(H.pattern(5 * MiB), ipc.recv(h, 60), "5 MiB")
    same(H.pattern(17 * MiB), ipc.recv(h, 60), "17 MiB")
    assert.are.equal("\0\255\0", ipc.recv(h, 10))
    assert.are.equal("", ipc.recv(h, 10))
    same(H.pattern(5 * MiB), ipc.recv(h, 60), "5 MiB again")
    assert.are.equal("end", ipc.recv(h, 10))
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
  end)

  it("times out in the middle of a large message, then gets all of it",
     function()
    -- The raw peer writes the header and 2 MiB of a 5 MiB message, and the
    -- rest only once told to. (The pattern restarts at each step; 2 MiB is
    -- a whole number of its 256-byte periods, so the two parts make one.)
    local size = 5 * MiB
    local h, peer = H.raw_peer(
      "hex:00500000", -- the header: 5 MiB
      "pattern:" .. 2 * MiB, "readframe",
      "pattern:" .. size - 2 * MiB, "hex:" .. H.hex(H.frame("next")), "eof")
    local r, msg, code = ipc.recv(h, 0.2)
    assert.is_nil(r)
    assert.are.equal("timeout", code)
    assert.truthy(msg:find("middle", 1, true), msg)
    assert.are.equal("timeout", select(3, ipc.recv(h, 0)))
    -- A small message in between would be a lost frame: there is none.
    assert.is_true(ipc.send(h, "go"))
    same(H.pattern(size), ipc.recv(h, 30), "the whole message")
    assert.are.equal("next", ipc.recv(h, 10))
    ipc.close(h)
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    assert.truthy(out:find("frame 2 " .. H.hex("go"), 1, true), out)
  end)

  it("gets a message received in many timed-out slices whole", function()
    -- The raw peer writes a 4 MiB message 64 KiB at a time, each
    -- piece after a frame from us; each of our receives in between times
    -- out in the middle of the message, and the last one gets all of it.
    -- (64 KiB is a whole number of the pattern's 256-byte periods, so the
    -- pieces make one pattern.)
    local size, piece = 4 * MiB, 64 * 1024
    local n = size / piece
    local steps = { "hex:00400000" } -- the header: 4 MiB
    for _ = 1, n - 1 do
      steps[#steps + 1] = "pattern:" .. piece
      steps[#steps + 1] = "readframe"
    end
    steps[#steps + 1] = "pattern:" .. piece
    steps[#steps + 1] = "hex:" .. H.hex(H.frame("next"))
    steps[#steps + 1] = "eof"
    local h, peer = H.raw_peer((table.unpack or unpack)(steps))
    for i = 1, n - 1 do
      local r, _, code = ipc.recv(h, 0.01)
      assert.is_nil(r, "slice " .. i)
      assert.are.equal("timeout", code)
      assert.is_true(ipc.send(h, "go"))
    end
    same(H.pattern(size), ipc.recv(h, 30), "the message")
    assert.are.equal("next", ipc.recv(h, 10))
    ipc.close(h)
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    local _, frames = out:gsub("frame 2 " .. H.hex("go"), "")
    assert.are.equal(n - 1, frames)
  end)

  it("gets an empty message as the first of a fresh Lua state", function()
    local name = H.name()
    local peer = H.peer("server", name, "hex:", "send:after", "recv")
    local out, status = H.run_lua(nil, [[
      local ipc = require "kiwi_ipc"
      local h = assert(ipc.connect(arg[1], 10))
      local first = assert(ipc.recv(h, 10))
      local second = assert(ipc.recv(h, 10))
      assert(ipc.send(h, "bye"))
      io.write("got ", #first, " ", second, "\n")
    ]], name)
    assert.are.equal(0, status, out)
    assert.are.equal("got 0 after\n", out)
    local peer_out, peer_status = peer:finish()
    assert.are.equal(0, peer_status, peer_out)
    assert.truthy(peer_out:find("recv 3 " .. H.hex("bye"), 1, true), peer_out)
  end)

  it("works in finalizers that run while another recv makes its string",
     function()
    -- Making a string may run the garbage collector, and with it __gc
    -- methods; one that receives gets a buffer of its own.
    local s1, c1 = H.pair()
    local s2, c2 = H.pair()
    local nested, wrong = 0, 0
    local function gc_recv()
      local m = ipc.recv(s2, 0)
      if m then
        nested = nested + 1
        if m ~= ("n"):rep(#m) then wrong = wrong + 1 end
      end
    end
    local finalized
    if newproxy then -- LuaJIT: tables have no __gc
      finalized = function()
        local p = newproxy(true)
        getmetatable(p).__gc = gc_recv
        return p
      end
    else
      local mt = { __gc = gc_recv }
      finalized = function() return setmetatable({}, mt) end
    end
    -- One thread sends each message and then receives it: it must fit in
    -- the pipe's buffer (a Windows pipe holds 64 KiB, a socket more).
    local large = H.windows and 60000 or 150000
    for i = 1, 500 do
      local msg = string.char(65 + i % 26):rep(i % 7 == 0 and large + i
                                               or i % 50)
      ipc.send(c2, ("n"):rep(7000 + i % 1000), 0)
      assert.is_true(ipc.send(c1, msg, 5))
      for _ = 1, 20 do finalized() end
      local got = ipc.recv(s1, 5)
      if got ~= msg then wrong = wrong + 1 end
    end
    collectgarbage()
    assert.are.equal(0, wrong)
    assert.is_true(nested > 0)
  end)

  it("keeps messages apart across pipes and coroutines", function()
    -- One buffer per Lua state serves every pipe and coroutine.
    local s1, c1 = H.pair()
    local s2, c2 = H.pair()
    local big = H.pattern(MiB + 5)
    local co = coroutine.wrap(function()
      ipc.send(c2, "from the coroutine")
      coroutine.yield(ipc.recv(s2, 5))
    end)
    local sent, got = false, nil
    for _ = 1, 1000 do
      if not sent then sent = ipc.send(c1, big, 0.01) or false
      else ipc.flush(c1, 0.01) end -- a committed send's rest
      got = got or ipc.recv(s1, 0.01)
      if sent and got then break end
    end
    local small = co()
    same(big, got, "big")
    assert.are.equal("from the coroutine", small)
  end)
end)
