-- batch_spec.lua - batches: send_many writes every message of a
-- list as its own frame, and a timeout part-way commits exactly what its
-- count says; recv_many takes the first message and then every whole one
-- already held, leaving whatever ends the burst to the next call.

local ipc = require "kiwi_ipc"
local H = require "helpers"

local unpack = table.unpack or unpack
local MiB = 1024 * 1024

local function msg(i, n)
  return (("%08d"):format(i)):rep(math.floor(n / 8) + 1):sub(1, n)
end

describe("send_many", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("writes each message of mixed sizes as its own frame, between single sends",
     function()
    local list = {msg(1, 5), "", msg(3, 64), msg(4, 70000), msg(5, 3 * MiB),
                  "\0\255", ""}
    local steps = {}
    for _ = 1, #list + 2 do steps[#steps + 1] = "readframe" end
    steps[#steps + 1] = "eof"
    local h, peer = H.raw_peer(unpack(steps))
    assert.are.equal(3, ipc.send_many(h, {unpack(list, 1, 3)}, 30))
    assert.is_true(ipc.send(h, "single", 30))
    assert.are.equal(4, ipc.send_many(h, {unpack(list, 4)}, 30))
    assert.is_true(ipc.send(h, "last", 30))
    assert.are.equal(0, ipc.send_many(h, {}))
    ipc.close(h)
    local out, status = peer:finish()
    assert.are.equal(0, status, out)
    local want = {list[1], list[2], list[3], "single", list[4], list[5],
                  list[6], list[7], "last"}
    local frames = {}
    for len, hex in out:gmatch("frame (%d+) (%x*)") do
      frames[#frames + 1] = {tonumber(len), hex}
    end
    assert.are.equal(#want, #frames, out)
    for i, m in ipairs(want) do
      assert.are.equal(#m, frames[i][1], "frame " .. i)
      assert.are.equal(H.hex(m:sub(1, 64)), frames[i][2], "frame " .. i)
    end
  end)

  it("commits what its count says when the time runs out part-way",
     function()
    local s, c = H.pair()
    local list = {}
    for i = 1, 21 do list[i] = msg(i, i == 11 and 8 * MiB or 100 + i) end
    -- Nobody reads: 10 go whole, the 11th in part (committed, its rest
    -- kept), the others not at all.
    assert.are.equal(11, ipc.send_many(c, list, 0.1))
    local r, err, code = ipc.send_many(c, {unpack(list, 12)}, 0.1)
    assert.is_nil(r)
    assert.are.equal("timeout", code)
    assert.truthy(err:find("earlier message", 1, true), err)
    -- Now read, sending the rest again as room comes; each arrives once,
    -- in order.
    local got, pending = {}, {unpack(list, 12)}
    for _ = 1, 20000 do
      if #got == #list then break end
      if #pending > 0 then
        local n = ipc.send_many(c, pending, 0)
        if n then pending = {unpack(pending, n + 1)} end
      end
      local t = ipc.recv_many(s, nil, 0.01)
      for _, m in ipairs(t or {}) do got[#got + 1] = m end
    end
    assert.are.equal(#list, #got)
    for i = 1, #list do
      assert.is_true(got[i] == list[i], "message " .. i)
    end
    local none, _, none_code = ipc.recv_many(s, nil, 0)
    assert.is_nil(none) -- nothing was sent twice
    assert.are.equal("timeout", none_code)
  end)

  it("checks every message before sending any", function()
    local s, c = H.pair()
    local ok, err = pcall(ipc.send_many, c, {"a", 5, "c"})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("message 2: string expected, got number",
                                     1, true), err)
    assert.has_error(function() ipc.send_many(c, "a") end)
    assert.is_true(ipc.send(c, "after"))
    assert.are.same({"after"}, ipc.recv_many(s, nil, 5))
  end)
end)

describe("recv_many", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("takes the whole messages held and leaves a half-arrived one",
     function()
    local go = H.file("go")
    local half = H.frame("halves")
    local h, peer = H.raw_peer(
      "hex:" .. H.hex(H.frame("a") .. H.frame("") .. H.frame("ccc")
                      .. half:sub(1, 6)),
      "await-file:" .. go, "hex:" .. H.hex(half:sub(7) .. H.frame("next")),
      "eof")
    assert.are.same({"a", "", "ccc"}, ipc.recv_many(h, nil, 5))
    local r, err, code = ipc.recv_many(h, nil, 0.05)
    assert.is_nil(r)
    assert.are.equal("timeout", code, err)
    H.write_file(go, "")
    local got = {}
    while #got < 2 do
      for _, m in ipairs(assert(ipc.recv_many(h, 10, 5))) do
        got[#got + 1] = m
      end
    end
    assert.are.same({"halves", "next"}, got)
    ipc.close(h)
    assert.are.equal(0, select(2, peer:finish()))
  end)

  it("stops at max and at the end of the stream", function()
    local frames = {}
    for i = 0, 9 do frames[#frames + 1] = H.frame(tostring(i)) end
    local h, peer = H.raw_peer("hex:" .. H.hex(table.concat(frames)), "close")
    assert.are.same({"0", "1", "2"}, ipc.recv_many(h, 3, 5))
    assert.are.same({"3"}, ipc.recv_many(h, 1, 5))
    local rest = {}
    while #rest < 6 do
      for _, m in ipairs(assert(ipc.recv_many(h, nil, 5))) do
        rest[#rest + 1] = m
      end
    end
    assert.are.same({"4", "5", "6", "7", "8", "9"}, rest)
    local r, _, code = ipc.recv_many(h, nil, 5)
    assert.is_nil(r)
    assert.are.equal("closed", code)
    assert.are.equal(0, select(2, peer:finish()))
  end)

  it("refuses a count below 1", function()
    local s = H.pair()
    assert.has_error(function() ipc.recv_many(s, 0) end)
    assert.has_error(function() ipc.recv_many(s, 1.5) end)
  end)
end)

describe("Pipe:send_many and Pipe:recv_many", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("send and receive a batch, with settimeout's timeout", function()
    local name = H.name()
    local l = assert(ipc.Listener.listen(name))
    local c = assert(ipc.Pipe.connect(name, 5))
    local s = assert(l:accept(5))
    l:close()
    c:settimeout(5)
    s:settimeout(5)
    assert.are.equal(3, c:send_many({"x", "", "z"}))
    local got = {}
    while #got < 3 do
      for _, m in ipairs(assert(s:recv_many(2))) do got[#got + 1] = m end
    end
    assert.are.same({"x", "", "z"}, got)
    assert.has_error(function() c:send_many("x") end)
    c:close()
    s:close()
  end)
end)
