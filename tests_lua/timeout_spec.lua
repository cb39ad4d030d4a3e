-- timeout_spec.lua - the seconds -> milliseconds rule, shared with the
-- Python binding (one C function, bindings/common/kiwi_bind_timeout_ms;
-- tests_py/test_timeouts.py holds the mirror of these tests): huge,
-- negative, NaN, infinite and tiny timeouts, straight through the rule and
-- through a real blocking call.

local ipc = require "kiwi_ipc"
local core = require "kiwi_ipc_core"
local H = require "helpers"

local CAP = 2 ^ 31 - 1 -- the longest wait C takes, in ms (about 24.8 days)

-- { seconds, milliseconds }: the same table as test_timeouts.py's.
local RULE = {
  { math.huge, core.IPC_FOREVER }, -- infinity waits forever
  { 0, 0 },                        -- do not wait
  { 0.0, 0 },
  { -0.0, 0 },
  { 1e-12, 1 },  -- a positive timeout never becomes "do not wait"
  { 0.0001, 1 },
  { 0.001, 1 },
  { 0.0011, 2 }, -- rounded up
  { 0.29, 290 }, -- binary-fraction noise is not a millisecond more
  { 1.5, 1500 },
  { 2, 2000 },
  { 2147483.646, 2147483646 },
  { 2147483.647, CAP },
  { 2147483.648, CAP }, -- longer than C can wait: capped, not forever
  { 1e12, CAP },
  { 1e308, CAP },
}

describe("timeouts", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("follow the rule shared with Python", function()
    for _, case in ipairs(RULE) do
      local got = core.timeout_ms(case[1])
      assert.are.equal(case[2], got, tostring(case[1]))
      if H.is_54 then assert.are.equal("integer", math.type(got)) end
    end
  end)

  it("nil waits forever", function()
    assert.are.equal(core.IPC_FOREVER, core.timeout_ms(nil))
    assert.are.equal(core.IPC_FOREVER, core.timeout_ms())
  end)

  it("negative is an error", function()
    for _, bad in ipairs { -1e-12, -0.001, -1, -1e308, -math.huge } do
      local ok, err = pcall(core.timeout_ms, bad)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("negative"), tostring(err))
    end
  end)

  it("NaN is an error, which says NaN", function()
    local ok, err = pcall(core.timeout_ms, 0 / 0)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("timeout must not be NaN", 1, true),
                  tostring(err))
  end)

  it("huge and infinite timeouts work in a real call", function()
    local s, c = H.pair()
    for _, t in ipairs { 1e12, 1e308, math.huge } do
      assert.is_true(ipc.send(c, "x"))
      assert.are.equal("x", ipc.recv(s, t))
    end
  end)
end)
