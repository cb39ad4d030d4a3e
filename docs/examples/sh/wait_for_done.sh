# wait-for-done.sh: a test that waits for a message, with a timeout. The
# program under test connects to "demo" and sends "done"; here a kiwi-ipc
# client started in the background plays it.
kiwi-ipc connect demo -d done -n 0 &
if msg=$(kiwi-ipc create demo -n 1 -t 5); then
    echo "got: $msg"
else
    case $? in
    3) echo "FAIL: no message within 5 s" ;;
    4) echo "FAIL: the program closed without a message" ;;
    *) echo "FAIL: kiwi-ipc failed" ;;
    esac
fi
wait
