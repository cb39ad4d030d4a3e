# exec_bridge.sh: a program in any language, bridged with --exec. Each
# message becomes a line on the program's stdin, each line it writes
# becomes a message; listen serves clients one after another.
cat > upper.py <<'PY'
import sys
for line in sys.stdin:
    print(line.rstrip("\n").upper(), flush=True)
PY
kiwi-ipc listen demo --clients 2 --exec 'python3 upper.py' &
kiwi-ipc connect demo -d 'grüße' -n 1
kiwi-ipc connect demo -d 'kiwi' -d 'ipc' -n 2
wait
