-- quickstart.lua - both ends in one script: a Listener, a client that
-- connects to it, and one message each way (Getting started, Lua).
local ipc = require "kiwi_ipc"

local listener = assert(ipc.Listener.listen("demo"))
local client = assert(ipc.Pipe.connect("demo", 5))  -- waits up to 5 s
local server = assert(listener:accept(5))

assert(client:send("Lua"))
local request = assert(server:recv(5))
assert(server:send("hello, " .. request))
print(assert(client:recv(5)))

client:close()
local ok, message, code = server:recv(5)  -- nil, message, code
print(ok, code)                           -- the client has gone: "closed"
server:close()
listener:close()
