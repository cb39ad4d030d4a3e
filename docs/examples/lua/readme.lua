local ipc = require "kiwi_ipc"
local listener = assert(ipc.Listener.listen("demo"))
local client = assert(ipc.Pipe.connect("demo", 5))
local server = assert(listener:accept(5))
assert(client:send("hello"))
print(assert(server:recv(5)))
client:close(); server:close(); listener:close()
