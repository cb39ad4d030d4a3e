-- too_big_spec.lua - the size limit comes before any copy (the
-- mirror of tests_py/test_too_big.py). Lua passes only strings, and passes
-- them in place (lua_tolstring, no copy), so a string over MAX_MESSAGE is
-- refused at once with nothing copied. Only Lua 5.4 can make such a string:
-- LuaJIT's strings stop below 2 GiB ("string length overflow"), under the
-- limit, so there is nothing to refuse there.

local ipc = require "kiwi_ipc"
local H = require "helpers"

local function peak_rss_mib()
  for line in io.lines("/proc/self/status") do
    local kib = line:match("^VmHWM:%s*(%d+)")
    if kib then return tonumber(kib) / 1024 end
  end
  error("no VmHWM")
end

local function reset_peak()
  local f = assert(io.open("/proc/self/clear_refs", "w"))
  f:write("5") -- resets VmHWM to the current RSS
  f:close()
  return peak_rss_mib()
end

describe("a message over MAX_MESSAGE", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  -- RSS means nothing under AddressSanitizer (as in the Python suite).
  local asan = (os.getenv("LD_PRELOAD") or ""):find("libasan", 1, true)
  local it_54 = (H.is_54 and not asan and io.open("/proc/self/clear_refs", "w"))
                and it or pending
  it_54("is refused at once, without a copy", function()
    local s, c = H.pair()
    -- 2 GiB + 1 bytes: string.rep stops at INT_MAX, concatenation does not,
    -- and one concatenation of many pieces costs little more than its
    -- result (2.25 GiB at the peak).
    local piece = string.rep("\0", 2 ^ 28)
    local big = piece .. piece .. piece .. piece .. piece .. piece .. piece
                .. piece .. "x"
    piece = nil
    assert.are.equal(ipc.MAX_MESSAGE + 2, #big)
    for _, send in ipairs {
      function(m) return ipc.send(c, m) end,
      function(m) return ipc.send(c, m, 1) end,
    } do
      local before = reset_peak()
      local t0 = os.clock() -- CPU time: a copy would show
      local ok, msg, code = send(big)
      local elapsed = os.clock() - t0
      local grown = peak_rss_mib() - before
      assert.is_nil(ok)
      assert.are.equal("too_big", code)
      assert.truthy(msg:find(tostring(#big), 1, true), msg)
      assert.is_true(elapsed < 0.1 and grown < 32,
        ("refused after %.3f s, peak RSS grew by %.0f MiB"):format(elapsed,
                                                                 grown))
    end
    big = nil
    collectgarbage()
    assert.is_true(ipc.send(c, "after"))
    assert.are.equal("after", ipc.recv(s, 5))
  end)
end)
