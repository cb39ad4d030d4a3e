-- overlap_spec.lua - Ctrl-C while several threads wait in the binding at
-- once: the interrupt belongs to the waits in progress when it
-- came, never to a wait that begins afterwards. The binding used to keep
-- one process-wide flag, cleared only when the count of waiting calls went
-- from 0 to 1, so while waits overlapped (two threads, back to back) it
-- stayed set and every later wait was cut short as "interrupted".
--
-- The child, under `kiwi_peer interrupt`, runs two waiter threads (each a
-- Lua state of its own, through kiwi_test_threads) that each wait ROUNDS
-- times for ROUND_S on a quiet pipe; SIGINT comes DELAY_MS after READY.

local H = require "helpers"

local ROUNDS, ROUND_S, DELAY_MS = 10, 0.2, 300

local function child_chunk(base)
  return ([[
    local T = require "kiwi_test_threads"
    local waiter = [=[
      local ipc = require "kiwi_ipc"
      local name = %q .. WHO
      local l = assert(ipc.listen(name))
      local c = assert(ipc.connect(name, 5))
      local s = assert(ipc.accept(l, 5))
      local counts = { timeout = 0, interrupted = 0, other = 0 }
      for _ = 1, %d do
        local ok, r, _, code = pcall(ipc.recv, s, %s)
        if ok and r == nil and code == "timeout" then
          counts.timeout = counts.timeout + 1
        elseif not ok and tostring(r):find("interrupted") then
          counts.interrupted = counts.interrupted + 1
        else
          counts.other = counts.other + 1
        end
      end
      ipc.close(c) ipc.close(s) ipc.close(l)
      return ("timeout %%d interrupted %%d other %%d"):format(
        counts.timeout, counts.interrupted, counts.other)
    ]=]
    local a = T.start("WHO = 'a'\n" .. waiter)
    local b = T.start("WHO = 'b'\n" .. waiter)
    print("READY")
    io.stdout:flush()
    -- Ctrl-C also makes the interpreter raise "interrupted!" once, as soon
    -- as Lua code runs again: here, after a join returns, in collect (a
    -- Lua function, so that the error comes before collect returns).
    local results = {}
    local function collect()
      for i, t in ipairs { a, b } do
        if not results[i] then results[i] = { T.join(t) } end
      end
      local spin = 0
      for k = 1, 1000 do spin = spin + #tostring(k) end
      return spin
    end
    if not pcall(collect) then collect() end
    for _, r in ipairs(results) do print("waiter", tostring(r[1]), r[2]) end
    print("end")
  ]]):format(base, ROUNDS, tostring(ROUND_S))
end

-- #threads: kiwi_test_threads is POSIX threads (not built for Windows);
-- #sigint: see interrupt_spec.lua.
describe("Ctrl-C with overlapping waits #threads #sigint", function()
  after_each(H.cleanup)
  teardown(H.remove_dir)

  it("interrupts the waits in progress, not the later ones", function()
    local child = H.peer("interrupt", tostring(DELAY_MS), H.LUA, "-e",
                         child_chunk(H.name()))
    local out, status = child:finish()
    assert.are.equal(0, status, out)
    assert.is_nil(out:find("HUNG", 1, true), out)
    assert.truthy(out:find("\nend\n", 1, true), out)
    local n = 0
    for done, t, i, o in out:gmatch(
        "waiter%s+(%a+)%s+timeout (%d+) interrupted (%d+) other (%d+)") do
      n = n + 1
      assert.are.equal("true", done, out)
      assert.are.equal(0, tonumber(o), out)
      -- At most the one wait that was in progress when SIGINT came.
      assert.is_true(tonumber(i) <= 1, out)
      assert.are.equal(ROUNDS, tonumber(t) + tonumber(i), out)
    end
    assert.are.equal(2, n, out)
  end)
end)

-- Several Lua states on several threads of a fresh process requiring the
-- module at once: SWIG's set-up in luaopen_kiwi_ipc_core writes the
-- wrapper's static tables, and two such set-ups at once crashed (an ASan
-- run of the spec above: SEGV in SWIG_PropagateClientData). The module's
-- entry point now runs it under a lock of its own. #threads as above.
describe("requiring the module #threads", function()
  teardown(H.remove_dir)

  it("from several states on several threads at once, in a new process",
     function()
    -- The threads spin until a file appears, so that their requires
    -- start together rather than one thread start apart.
    local go = H.dir() .. "/go"
    os.remove(go)
    local code = ([[
      local T = require "kiwi_test_threads"
      local jobs = {}
      for i = 1, 8 do
        jobs[i] = T.start([=[
          local go = %q
          local f = io.open(go)
          while not f do f = io.open(go) end
          f:close()
          local ipc = require "kiwi_ipc"
          return ipc.version .. " " .. tostring(ipc.MAX_MESSAGE > 0)
        ]=])
      end
      io.open(%q, "w"):close()
      for i = 1, 8 do
        local ok, r = T.join(jobs[i])
        print("job", i, ok, r)
      end
    ]]):format(go, go)
    for _ = 1, 5 do
      os.remove(go)
      local out, status = H.run_lua(nil, code)
      assert.are.equal(0, status, out)
      local n = 0
      for ok in out:gmatch("job%s+%d+%s+(%a+)%s+%d+%.%d+%.%d+ true") do
        assert.are.equal("true", ok, out)
        n = n + 1
      end
      assert.are.equal(8, n, out)
    end
  end)
end)
