"""Starts LocalStack as `python -m localstack.runtime.main` does, minus one cost that is not AWS's.

LocalStack 4.4's CloudFormation engine guards its reference resolver against endless recursion by calling
`inspect.stack()` on every call. `inspect.stack()` looks up the source file of every frame on the stack
and re-stats every file in Python's line cache, so most of LocalStack's CPU time while it deploys a
stack went there (about two thirds, profiled with py-spy during tests/publish.rs). The guard only reads
each frame's function name, arguments and line number, which the frames themselves hold: this gives it
the same frames without the source lookups. The guard's decisions are unchanged.
"""

import inspect
import runpy
import sys
from collections import namedtuple

import localstack.utils.functions

FrameInfo = namedtuple("FrameInfo", "frame filename lineno function code_context index")


class FramesWithoutSource:
    """The part of `inspect` that `prevent_stack_overflow` uses, reading no source files."""

    signature = staticmethod(inspect.signature)

    @staticmethod
    def stack(context=1):
        frames = []
        frame = sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            frames.append(FrameInfo(frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
            frame = frame.f_back
        return frames


localstack.utils.functions.inspect = FramesWithoutSource
runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
