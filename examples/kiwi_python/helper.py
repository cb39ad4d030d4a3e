"""helper.py - a Python helper for a Kiwi program (server.kiwi).

Kiwi spawns it with the pipe name as its argument. It connects to the pipe
Kiwi creates and answers one request per message, using what Python's
standard library has and Kiwi's does not, until Kiwi sends "quit":

    sha256 TEXT       the SHA-256 of TEXT's UTF-8 bytes, in hex
    stats N N ...     count, mean, median and standard deviation
    upper TEXT        TEXT in upper case, by Unicode's full rules (ß -> SS)
    words TEXT        the three most frequent words, with their counts

Usage: python3 helper.py [PIPE_NAME]     (default "kiwi_helper_pipe")
"""

import collections
import hashlib
import statistics
import sys

import kiwi_ipc


def answer(request: str) -> str:
    command, _, text = request.partition(" ")
    if command == "sha256":
        return hashlib.sha256(text.encode()).hexdigest()
    if command == "stats":
        numbers = [float(n) for n in text.split()]
        return "n=%d mean=%g median=%g stdev=%.3f" % (
            len(numbers), statistics.mean(numbers),
            statistics.median(numbers), statistics.stdev(numbers))
    if command == "upper":
        return text.upper()
    if command == "words":
        counts = collections.Counter(text.split()).most_common(3)
        return " ".join("%s=%d" % pair for pair in counts)
    return "error: unknown request %r" % command


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "kiwi_helper_pipe"
    # Waits until Kiwi has created the pipe; the Pipe closes itself at the
    # end of the with block.
    with kiwi_ipc.Pipe.connect(name) as pipe:
        for request in pipe:  # until Kiwi closes the pipe
            if request == "quit":
                break
            pipe.send(answer(request))


if __name__ == "__main__":
    main()
