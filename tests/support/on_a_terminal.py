"""Runs a program in a pseudo-terminal, as a person at a terminal would see it, and records what it writes
and when: prints one JSON line, {"exit": code (null when killed at the time limit), "writes": [[seconds
since the start, text], ...]}.

    python3 on_a_terminal.py -- PROGRAM [ARGS...]

Standard library only; the environment is passed on unchanged.
"""

import json
import os
import pty
import select
import sys
import time

TIME_LIMIT = 120.0


def main():
    if len(sys.argv) < 3 or sys.argv[1] != "--":
        sys.exit(__doc__)
    program = sys.argv[2:]
    started = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(program[0], program)
    writes = []
    while time.monotonic() - started < TIME_LIMIT:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the program closed the terminal
            break
        if not data:
            break
        writes.append([round(time.monotonic() - started, 3), data.decode(errors="replace")])
    # The terminal closes a moment before the program has exited: wait for that, within the time limit.
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() - started >= TIME_LIMIT:
            break
        time.sleep(0.05)
    if done == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        code = None
    else:
        code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"exit": code, "writes": writes}))


if __name__ == "__main__":
    main()
