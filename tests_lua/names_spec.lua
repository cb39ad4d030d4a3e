-- names_spec.lua - pipes and listeners know their name and path, and every
-- error of a call on one names both.

local ipc = require "kiwi_ipc"
local H = require "helpers"

describe("names", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("are kept by pipes and listeners, and named by their errors",
     function()
    local name = H.name()
    local path = assert(ipc.path(name))
    local l = H.track(assert(ipc.Listener.listen(name)))
    assert.are.equal(name, l.name)
    assert.are.equal(path, l.path)
    local c = assert(ipc.Pipe.connect(name, 5))
    local s = assert(l:accept(5))
    for _, p in ipairs { c, s } do
      assert.are.equal(name, p.name)
      assert.are.equal(path, p.path)
      -- (shown with %q: a Windows path's backslashes are doubled)
      assert.truthy(tostring(p):find(("%q"):format(path), 1, true),
                    tostring(p))
    end
    local r, msg, code = c:recv(0)
    assert.is_nil(r)
    assert.are.equal("timeout", code)
    assert.truthy(msg:find(name, 1, true), msg)
    assert.truthy(msg:find(path, 1, true), msg)
    -- The integer calls too, and an adopted handle.
    assert.are.equal(name, ipc.name(s.handle))
    assert.are.equal(path, ipc.handle_path(s.handle))
    assert.are.equal(path, ipc.Pipe.wrap(c.handle).path)
    r, msg, code = l:accept(0)
    assert.are.equal("timeout", code)
    assert.truthy(msg:find(name, 1, true), msg)
    c:close()
    s:close()
    assert.are.equal("bad_handle", select(3, ipc.name(c.handle)))
  end)
end)
