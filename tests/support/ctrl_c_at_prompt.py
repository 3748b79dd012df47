"""Runs a program in a pseudo-terminal, waits for its question, and answers with Ctrl-C, as a person at a
terminal would. Prints one JSON line: whether the question came, the exit code (null when the program did
not exit within the time limit, and was killed), and everything it wrote to the terminal.

    python3 ctrl_c_at_prompt.py QUESTION -- PROGRAM [ARGS...]

Standard library only; the environment is passed on unchanged.
"""

import json
import os
import pty
import select
import signal
import sys
import time

QUESTION_TIMEOUT = 120.0
EXIT_TIMEOUT = 30.0


def read_some(fd, seconds):
    ready, _, _ = select.select([fd], [], [], seconds)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the program closed the terminal
        return b""


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    question = sys.argv[1].encode()
    program = sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(program[0], program)
    output = b""
    code = None
    deadline = time.monotonic() + QUESTION_TIMEOUT
    while question not in output and time.monotonic() < deadline:
        output += read_some(fd, 0.5)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:  # it ended without asking
            code = os.waitstatus_to_exitcode(status)
            output += read_some(fd, 0.2)
            break
    prompted = question in output
    if prompted and code is None:
        os.write(fd, b"\x03")  # the terminal turns it into SIGINT for the program
        deadline = time.monotonic() + EXIT_TIMEOUT
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                break
            output += read_some(fd, 0.2)
        output += read_some(fd, 0.2)
    if code is None:  # it never asked, or did not stop when told to
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    print(json.dumps({"prompted": prompted, "code": code, "output": output.decode(errors="replace")}))


if __name__ == "__main__":
    main()
