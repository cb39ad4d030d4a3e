-- interrupt_child.lua - a script that interrupt_spec.lua runs in the stock
-- interpreter under `kiwi_peer interrupt`, which sends it SIGINT (Ctrl-C)
-- once it has printed READY and gone into a blocking call.
--
--   <lua> [-e CHUNK] interrupt_child.lua MODE NAME [FILE]
--
-- Each mode makes one blocking call under two nested pcalls: the inner one
-- must catch the interrupt (the binding's "interrupted", or the
-- interpreter's own "interrupted!", which the binding raises for it); the
-- outer one catches an interrupt raised too late, outside the inner pcall
-- (the interpreter's debug hook firing at the caller's next instruction),
-- so that the spec can say so. Both are printed, then the script shows that
-- nothing was lost and the pipe still works. Mode "pcall" has only the
-- inner pcall, as a user writes it.

local ipc = require "kiwi_ipc"

local mode, name, file = arg[1], arg[2], arg[3]

local function say(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
  io.stdout:write(table.concat(parts, " "), "\n")
  io.stdout:flush()
end

-- Run fn, which blocks until SIGINT; report what each pcall caught.
local function interrupted(fn)
  local inner
  local outer = { pcall(function()
    -- Inside the pcall: a SIGINT sent the moment READY is out (delay 0)
    -- may make the interpreter's hook fire before fn even blocks.
    say("READY")
    inner = { pcall(fn) }
    local spin = 0 -- instructions for the interpreter's hook to fire on
    for i = 1, 100 do spin = spin + i end
    return spin
  end) }
  inner = inner or {}
  say("inner", inner[1], inner[2], inner[3], inner[4])
  say("outer", outer[1], outer[2])
end

if mode == "accept" then
  local l = assert(ipc.listen(name))
  interrupted(function() return ipc.accept(l) end)
  -- The listener still works.
  local c = assert(ipc.connect(name, 10))
  local s = assert(ipc.accept(l, 10))
  assert(ipc.send(c, "after"))
  say("message", assert(ipc.recv(s, 10)))

elseif mode == "connect" then
  interrupted(function() return ipc.connect(name) end)
  local l = assert(ipc.listen(name))
  local c = assert(ipc.connect(name, 10))
  say("connected", math.type and math.type(c) or type(c))
  ipc.close(c)
  ipc.close(l)

elseif mode == "create" then
  interrupted(function() return ipc.create(name) end)
  -- An interrupted create leaves no socket file behind.
  local f = io.open(ipc.path(name))
  say("socket file", f and "left" or "gone")
  if f then f:close() end

elseif mode == "recv" then
  -- A raw peer has written half a frame and waits for "go".
  local l = assert(ipc.listen(name))
  local h = assert(ipc.accept(l, 10))
  ipc.close(l)
  interrupted(function() return ipc.recv(h) end)
  assert(ipc.send(h, "go"))
  say("message", assert(ipc.recv(h, 10)))

elseif mode == "send" then
  -- The peer reads nothing until FILE exists, so the send blocks.
  local l = assert(ipc.listen(name))
  local h = assert(ipc.accept(l, 10))
  ipc.close(l)
  local block = {}
  for i = 0, 255 do block[#block + 1] = string.char(i) end
  local big = string.rep(table.concat(block), 65536) -- 16 MiB
  interrupted(function() return ipc.send(h, big) end)
  assert(io.open(file, "w")):close()
  -- Part of it had gone: it is committed, and flush() finishes it (it
  -- must not be sent again).
  say("flushed", ipc.flush(h, 10))
  say("after", ipc.send(h, "after", 10))
  say("then", ipc.recv(h, 10))

elseif mode == "send_many" then
  -- As "send", with the big message in the middle of a batch: the ones
  -- before it and the part of it that went are committed; "c" is not sent.
  local l = assert(ipc.listen(name))
  local h = assert(ipc.accept(l, 10))
  ipc.close(l)
  local block = {}
  for i = 0, 255 do block[#block + 1] = string.char(i) end
  local big = string.rep(table.concat(block), 65536) -- 16 MiB
  interrupted(function() return ipc.send_many(h, {"a", "b", big, "c"}) end)
  assert(io.open(file, "w")):close()
  say("flushed", ipc.flush(h, 10))
  say("again", ipc.send_many(h, {"c"}, 10))
  ipc.close(h)

elseif mode == "steady" then
  -- Many blocking calls first, without timeouts (the steady state, in
  -- which no call looks at SIGINT's handler), then a recv that waits.
  local l = assert(ipc.listen(name))
  local c = assert(ipc.connect(name, 10))
  local s = assert(ipc.accept(l))
  ipc.close(l)
  for i = 1, 20 do
    assert(ipc.send(c, "ping " .. i))
    assert(ipc.recv(s) == "ping " .. i)
  end
  interrupted(function() return ipc.recv(s) end)
  assert(ipc.send(c, "after"))
  say("message", assert(ipc.recv(s, 10)))

elseif mode == "coroutine" then
  -- On 5.4 the interpreter's hook is set on the main thread only, so in a
  -- coroutine the binding's own error is what ends the wait.
  local l = assert(ipc.listen(name))
  local caught
  local co = coroutine.create(function() caught = { pcall(ipc.accept, l) } end)
  interrupted(function() return coroutine.resume(co) end)
  say("coroutine", caught and caught[1], caught and caught[2])

elseif mode == "pcall" then
  -- One pcall, as a user writes it, and no outer one: an interrupt raised
  -- outside it (after the blocking call has returned to pcall) ends the
  -- script before "caught". FILE is the style: "function" pcall(ipc.recv,
  -- h), "method" pcall(p.recv, p), "closure" pcall(function() return
  -- p:recv() end) (Pipe:recv itself ends in tail calls), "xpcall" with a
  -- message handler written in Lua.
  local l = assert(ipc.listen(name))
  local c = assert(ipc.connect(name, 10))
  local p = ipc.Pipe.wrap(assert(ipc.accept(l, 10)))
  ipc.close(l)
  local ok, err
  say("READY")
  if file == "function" then
    ok, err = pcall(ipc.recv, p.handle)
  elseif file == "method" then
    ok, err = pcall(p.recv, p)
  elseif file == "closure" then
    ok, err = pcall(function() return p:recv() end)
  elseif file == "xpcall" then
    -- A message handler in Lua: the interpreter's hook must not be left
    -- pending to fire in it ("error in error handling").
    ok, err = xpcall(p.recv, function(m)
      local spin = 0
      for i = 1, 100 do spin = spin + i end
      return "handled " .. tostring(m)
    end, p)
  else
    error("unknown pcall style " .. tostring(file))
  end
  say("caught", ok, err)
  -- Nothing was lost: the pipe still works.
  assert(ipc.send(c, "after"))
  say("message", assert(p:recv(10)))
  p:close()
  ipc.close(c)

else
  error("unknown mode " .. tostring(mode))
end
say("end")
