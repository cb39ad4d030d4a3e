-- The Lua contenders, for Lua 5.4 and LuaJIT alike.
--
--     lua5.4|luajit bench_lua.lua IMPL ROLE WORKLOAD PATH COUNT SIZE
--
-- IMPL is one of
--     kiwi        kiwi-ipc's Kiwi-shaped calls: ipc.create/connect,
--                 ipc.send(h, s), ipc.recv(h)
--     kiwi-many   (stream only) ipc.send_many(h, list) of BATCH
--                 messages, ipc.recv_many(h, BATCH)
--     luasocket   luasocket's socket.unix (Debian lua-socket): a frame is
--                 string.pack(">s4", s) in one send(), received with
--                 receive(4) and receive(n). LuaJIT has no string.pack: there
--                 the 4-byte big-endian header is built by hand.
--
-- ROLE, WORKLOAD, PATH, COUNT and SIZE are as for every contender (see
-- bench/c/bench.h): the timing side prints "seconds=<float>". The clock is
-- luasocket's socket.gettime() for both (Lua has no wall clock of its own).
-- A receiver drops each message before the next; messages of 16 MiB and more
-- are also collected at once (collectgarbage()), so that a receiver holds
-- one at a time, as in the other languages.
--
-- The "paced" and "sliced" workloads (kiwi only, server side:
-- raw_c writes the frames in pieces) receive each message with one blocking
-- ipc.recv, or with ipc.recv(h, 0.001) in a loop until one returns it.

local impl, role, workload, path, count, size = ...
count, size = tonumber(count), tonumber(size)
local server = role == "server"

local socket = require "socket"
local now = socket.gettime

-- Made before connecting (the receiver's clock may start right after), and
-- by the client only (the server's peak RSS is its receiving alone).
local payload = server and "" or string.rep("x", size)

local send, recv, recv_within, close
local pingpong -- pingpong(n): n round trips of W1 (client) or echoes (server)
local BATCH = 100 -- messages per send_many and at most per recv_many

-- The client of W1 got something else than its message back.
local function bad_echo(msg, err)
  io.stderr:write(("bench_lua: the echo was %s, not the %d bytes of x sent\n")
                  :format(msg == nil and tostring(err)
                          or ("%d other bytes"):format(#msg), size))
  os.exit(1)
end

if impl == "kiwi-many" then
  assert(workload == "stream", "kiwi-many runs the stream workload only")
  local ipc = require "kiwi_ipc"
  local h = server and assert(ipc.create(path)) or assert(ipc.connect(path))
  if server then
    local recv_many = ipc.recv_many
    local t0 = now()
    assert(ipc.send(h, "g"))
    local got = 0
    while got < count do
      local want = count - got
      local msgs = assert(recv_many(h, want < BATCH and want or BATCH))
      for i = 1, #msgs do
        local msg = msgs[i]
        if #msg ~= size or (size > 0 and (msg:byte(1) ~= 120
                                          or msg:byte(-1) ~= 120)) then
          io.stderr:write(("bench_lua: got a %d-byte message, wanted %d\n")
                          :format(#msg, size))
          os.exit(1)
        end
      end
      got = got + #msgs
    end
    io.stdout:write(("seconds=%.9f\n"):format(now() - t0))
  else
    assert(ipc.recv(h)) -- "go"
    local send_many = ipc.send_many
    local batch = {}
    for i = 1, BATCH do batch[i] = payload end
    local left = count
    while left >= BATCH do left = left - assert(send_many(h, batch)) end
    if left > 0 then
      assert(send_many(h, {(table.unpack or unpack)(batch, 1, left)}))
    end
  end
  ipc.close(h)
  os.exit(0)
end

if impl == "kiwi" then
  local ipc = require "kiwi_ipc"
  local h = server and assert(ipc.create(path)) or assert(ipc.connect(path))
  local ipc_send, ipc_recv = ipc.send, ipc.recv
  send = function(msg) assert(ipc_send(h, msg)) end
  recv = function() return assert(ipc_recv(h)) end
  -- One call of at most `timeout` seconds: the message, or nil on a timeout.
  recv_within = function(timeout)
    local msg, err, code = ipc_recv(h, timeout)
    if msg == nil and code ~= "timeout" then error(err) end
    return msg
  end
  close = function() ipc.close(h) end
  -- W1 measures the cost of a call, so its loop is a hot loop written as a
  -- Lua programmer writes one (and as bench/c writes C's): the calls held in
  -- locals, no wrapper function around them, errors checked inline, and the
  -- echo checked by one string comparison (all of it, where C's check looks
  -- at its length and ends). luasocket's loop below is written the same way.
  pingpong = function(n)
    if server then
      for _ = 1, n do
        local msg, err = ipc_recv(h)
        if msg == nil then error(err) end
        local ok, err2 = ipc_send(h, msg)
        if not ok then error(err2) end
      end
    else
      for _ = 1, n do
        local ok, err = ipc_send(h, payload)
        if not ok then error(err) end
        local msg, err2 = ipc_recv(h)
        if msg ~= payload then bad_echo(msg, err2) end
      end
    end
  end
elseif impl == "luasocket" then
  local unix = require "socket.unix"
  local c
  if server then
    local listener = assert(unix.stream())
    assert(listener:bind(path))
    assert(listener:listen(1))
    c = assert(listener:accept())
    listener:close()
    os.remove(path)
  else
    local give_up = now() + 30
    while true do
      c = assert(unix.stream())
      local ok, err = c:connect(path)
      if ok then break end
      c:close()
      if now() > give_up then error("connect: " .. tostring(err)) end
      socket.sleep(0.001) -- the server has not bound yet
    end
  end

  -- pack(">s4", msg) and unpack(">i4", hdr): string's own on 5.4; LuaJIT
  -- has neither, so there they are built by hand with the same signatures.
  local pack, unpack = string.pack, string.unpack
  if not pack then
    local char, byte, floor = string.char, string.byte, math.floor
    pack = function(_, msg)
      local n = #msg
      return char(floor(n / 16777216) % 256, floor(n / 65536) % 256,
                  floor(n / 256) % 256, n % 256) .. msg
    end
    unpack = function(_, hdr)
      local a, b, x, d = byte(hdr, 1, 4)
      return ((a * 256 + b) * 256 + x) * 256 + d
    end
  end
  local c_send, c_receive = c.send, c.receive

  send = function(msg) assert(c_send(c, pack(">s4", msg))) end
  recv = function()
    local n = unpack(">i4", assert(c_receive(c, 4)))
    if n == 0 then return "" end
    return assert(c_receive(c, n))
  end
  close = function() c:close() end
  -- W1's hot loop, written as kiwi's above: one frame per message, as
  -- a user of luasocket sends one.
  pingpong = function(n)
    if server then
      for _ = 1, n do
        local hdr, err = c_receive(c, 4)
        if hdr == nil then error(err) end
        local len = unpack(">i4", hdr)
        local msg = ""
        if len > 0 then
          msg, err = c_receive(c, len)
          if msg == nil then error(err) end
        end
        local ok, err2 = c_send(c, pack(">s4", msg))
        if not ok then error(err2) end
      end
    else
      for _ = 1, n do
        local ok, err = c_send(c, pack(">s4", payload))
        if not ok then error(err) end
        local hdr, err2 = c_receive(c, 4)
        if hdr == nil then error(err2) end
        local msg
        msg, err2 = c_receive(c, (unpack(">i4", hdr)))
        if msg ~= payload then bad_echo(msg, err2) end
      end
    end
  end
else
  error("unknown IMPL " .. tostring(impl))
end

local function check(msg)
  if #msg ~= size or (size > 0 and (msg:byte(1) ~= 120 or msg:byte(-1) ~= 120)) then
    io.stderr:write(("bench_lua: got a %d-byte message, wanted %d\n"):format(#msg, size))
    os.exit(1)
  end
end

local function report(seconds)
  io.stdout:write(("seconds=%.9f\n"):format(seconds))
  io.stdout:flush()
end

if workload == "pingpong" then
  pingpong(math.floor(count / 10)) -- warm-up, untimed
  local t0 = now()
  pingpong(count)
  if not server then report(now() - t0) end
elseif workload == "paced" or workload == "sliced" then
  assert(server and recv_within, "the paced workloads: a kiwi server only")
  local sliced = workload == "sliced"
  local big = size >= 16 * 1024 * 1024
  local timeouts = 0
  local t0 = now()
  send("g")
  for _ = 1, count do
    local msg
    if sliced then
      msg = recv_within(0.001)
      while msg == nil do
        timeouts = timeouts + 1
        msg = recv_within(0.001)
      end
    else
      msg = recv()
    end
    check(msg)
    msg = nil
    if big then collectgarbage() end
  end
  report(now() - t0)
  if sliced then io.stdout:write(("timeouts=%d\n"):format(timeouts)) end
elseif server then
  local big = size >= 16 * 1024 * 1024
  local t0 = now()
  send("g")
  for _ = 1, count do
    local msg = recv()
    check(msg)
    msg = nil
    if big then collectgarbage() end
  end
  report(now() - t0)
else
  recv() -- "go"
  for _ = 1, count do send(payload) end
end
close()
