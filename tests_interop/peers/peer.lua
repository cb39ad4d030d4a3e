-- peer.lua - the Lua peer of the cross-language interop matrix, run under
-- both Lua 5.4 and LuaJIT (so: Lua 5.1 syntax, no integer division, no
-- bitwise operators, no utf8 library).
--
-- Usage: lua peer.lua ROLE NAME VECTORS [OPTION...]
-- with the same arguments as every other peer (see peer.c and README.md).
-- Lua strings are byte strings, so every vector crosses unchanged.

local ipc = require "kiwi_ipc"

local role = arg[1] or "?"
local sent, received = 0, 0

local function fail(message)
  io.stderr:write(("peer.lua %s (%s): %s\n"):format(role, _VERSION .. (jit
    and " / " .. jit.version or ""), message))
  os.exit(1)
end

local function unhex(hex)
  if hex == "-" then return "" end
  return (hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

local function load_vectors(path)
  local f = io.open(path, "rb")
  if not f then fail("cannot open " .. path) end
  local vectors = {}
  for line in f:lines() do
    line = line:gsub("\r$", "")
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local field = {}
      for w in line:gmatch("[^ ]+") do field[#field + 1] = w end
      local v = {
        name = field[1],
        large = field[2]:find("large", 1, true) ~= nil,
        binary = field[2]:find("binary", 1, true) ~= nil,
        burst = 0,
      }
      if field[3] == "hex" then
        v.data = unhex(field[4])
      elseif field[3] == "repeat" then
        v.data = unhex(field[4]):rep(tonumber(field[5]))
      elseif field[3] == "burst" then
        v.burst = tonumber(field[4])
        v.data = unhex(field[5])
      else
        fail("unknown vector kind " .. tostring(field[3]))
      end
      vectors[#vectors + 1] = v
    end
  end
  f:close()
  return vectors
end

local function burst_message(v, i)
  return v.data .. ("%d"):format(i)
end

local function send(h, data)
  local ok, err, code = ipc.send(h, data)
  if not ok then fail(("send failed: %s (%s)"):format(err, code)) end
  sent = sent + 1
end

local function expect(h, what, want)
  local got, err, code = ipc.recv(h)
  if got == nil then
    fail(("recv (waiting for %s) failed: %s (%s)"):format(what, err, code))
  end
  received = received + 1
  if got ~= want then
    local at = 0
    while at < #got and at < #want
          and got:byte(at + 1) == want:byte(at + 1) do
      at = at + 1
    end
    fail(("%s: got %d bytes, want %d; first difference at byte %d")
         :format(what, #got, #want, at))
  end
end

local function run_vector(h, v, lead)
  if v.burst == 0 then
    if lead then
      send(h, v.data)
      expect(h, v.name, v.data)
    else
      expect(h, v.name, v.data)
      send(h, v.data)
    end
    return
  end
  for pass = 1, 2 do
    local sending = (pass == 1) == lead
    for i = 0, v.burst - 1 do
      if sending then
        send(h, burst_message(v, i))
      else
        expect(h, ("%s #%d"):format(v.name, i), burst_message(v, i))
      end
    end
  end
end

local function expect_closed(h)
  local got, err, code = ipc.recv(h)
  if got ~= nil then
    fail(("expected the peer's close, got a message of %d bytes"):format(#got))
  end
  if code ~= "closed" then
    fail(("recv (waiting for the close) failed: %s (%s)"):format(err, code))
  end
end

local function main()
  if #arg < 3 or (role ~= "server" and role ~= "client") then
    io.stderr:write("usage: peer.lua server|client NAME VECTORS [quick] "
                    .. "[text] [send-close=N|recv-close=N]\n")
    os.exit(2)
  end
  local server = role == "server"
  local name = arg[2]
  local quick, text, send_close, recv_close = false, false, -1, -1
  for i = 4, #arg do
    local opt = arg[i]
    if opt == "quick" then
      quick = true
    elseif opt == "text" then
      text = true
    elseif opt:match("^send%-close=%d+$") then
      send_close = tonumber(opt:match("%d+$"))
    elseif opt:match("^recv%-close=%d+$") then
      recv_close = tonumber(opt:match("%d+$"))
    else
      io.stderr:write("peer.lua: unknown option " .. opt .. "\n")
      os.exit(2)
    end
  end
  local vectors = load_vectors(arg[3])

  io.stdout:write("READY\n")
  io.stdout:flush()
  local h, err, code
  if server then
    h, err, code = ipc.create(name)
  else
    h, err, code = ipc.connect(name)
  end
  if not h then
    fail(("%s failed: %s (%s)"):format(server and "create" or "connect",
                                        err, code))
  end

  if send_close >= 0 then
    for i = 1, send_close do
      send(h, ("message %d of %d"):format(i, send_close))
    end
    ipc.close(h)
    print(("OK sent=%d received=%d"):format(sent, received))
    return
  end
  if recv_close >= 0 then
    for i = 1, recv_close do
      local m = ("message %d of %d"):format(i, recv_close)
      expect(h, m, m)
    end
    expect_closed(h)
    ipc.close(h)
    print(("OK sent=%d received=%d closed"):format(sent, received))
    return
  end

  -- Phase 1: the server leads through every vector. Phase 2: the client
  -- leads, large vectors left out.
  for phase = 1, 2 do
    local lead = (phase == 1) == server
    for _, v in ipairs(vectors) do
      if not ((text and v.binary) or (v.large and (quick or phase == 2))) then
        run_vector(h, v, lead)
      end
    end
  end
  if not server then expect_closed(h) end
  ipc.close(h)
  print(("OK sent=%d received=%d"):format(sent, received))
end

main()
