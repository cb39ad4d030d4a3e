-- kiwi_calls.lua - the five Kiwi calls with integer handles, as a Kiwi
-- script makes them; the server here is the kiwi-ipc tool, started by
-- the script (the Lua story).
local ipc = require "kiwi_ipc"

-- kiwi-ipc create NAME --echo: serve one client, send back what it gets.
local server = io.popen("kiwi-ipc create kiwi_calls_demo --echo -t 10", "r")
local h = assert(ipc.connect("kiwi_calls_demo", 30))  -- waits for the server
assert(ipc.send(h, "get fruit"))
print(assert(ipc.recv(h)))
assert(ipc.close(h))
server:close()
