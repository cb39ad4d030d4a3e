# client_first.sh: the client may start first; connect waits for the
# server. A Python client stands in for a Kiwi script (ipc::connect).
python3 - <<'PY' &
import kiwi_ipc
with kiwi_ipc.Pipe.connect("demo", timeout=10) as pipe:  # waits
    pipe.send("ready")
    print("client got:", pipe.recv())
PY
sleep 0.2                  # the client is waiting in connect by now
got=$(kiwi-ipc create demo -d go -n 1 -t 10)
wait
echo "server got: $got"
