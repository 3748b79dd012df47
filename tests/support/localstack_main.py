"""Starts LocalStack as `python -m localstack.runtime.main` does, minus one cost and one race that are
not AWS's.

LocalStack 4.4's CloudFormation engine guards its reference resolver against endless recursion by calling
`inspect.stack()` on every call. `inspect.stack()` looks up the source file of every frame on the stack
and re-stats every file in Python's line cache, so most of LocalStack's CPU time while it deploys a
stack went there (about two thirds, profiled with py-spy during tests/publish.rs). The guard only reads
each frame's function name, arguments and line number, which the frames themselves hold: this gives it
the same frames without the source lookups. The guard's decisions are unchanged.

Of the frames, the guard compares only those of the function it guards, and for each it asks for that
function's signature again: it is given those frames alone, and the signature is computed once.

CloudWatch keeps metrics in SQLite and commits each metric datum on its own, which syncs the file to disk
each time; SQS reports three metrics per queue every few seconds, so a LocalStack holding the suite's
queues spent much of its time (and the disk's) in those syncs. Its connections skip the sync: a test
server's metrics need not survive a power cut. SQS also reports a metric of each call it answers
(NumberOfMessagesSent, ...Received, ...Deleted, NumberOfEmptyReceives) to CloudWatch, each through one
more API request to LocalStack itself; botpub reads, charts and alarms on none of them, so they are not
sent. The queue-depth metrics that it does read (ApproximateNumberOfMessagesVisible...) are still
reported on their period.

API Gateway's routes are werkzeug rules, which werkzeug compiles into Python code (`ast.parse`, then
`compile`) as requests reach them. This Python (3.11.7) converts syntax trees with a recursion counter
shared by all threads, so two requests compiling at once can fail with "AST constructor recursion depth
mismatch" (an API call answered 500, seen under the suite's load). The conversions are made one at a time.
"""

import ast
import functools
import inspect
import os
import runpy
import sqlite3
import sys
import threading
from collections import namedtuple

# `python -m` puts the working directory (the server's own state folder) first on sys.path, not this
# script's folder. LocalStack's plugin loader caches its plugin index in a file named by a hash of
# sys.path: with this folder first, every LocalStack of a run would share one file, and one starting while
# another wrote it would read it half written and find no plugins.
sys.path[0] = os.getcwd()

import localstack.services.sqs.provider  # noqa: E402
import localstack.utils.functions  # noqa: E402
import werkzeug.routing.rules  # noqa: E402

FrameInfo = namedtuple("FrameInfo", "frame filename lineno function code_context index")


class FramesWithoutSource:
    """The part of `inspect` that `prevent_stack_overflow` uses, reading no source files."""

    signature = staticmethod(functools.cache(inspect.signature))

    @staticmethod
    def stack(context=1):
        # The caller is the guard's wrapper, whose closure holds the guarded function: the guard matches
        # frames by that function's name and ignores every other frame.
        guarded = sys._getframe(1).f_locals.get("wrapped")
        name = getattr(guarded, "__name__", None)
        frames = []
        frame = sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            if name is None or code.co_name == name:
                frames.append(FrameInfo(frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
            frame = frame.f_back
        return frames


localstack.utils.functions.inspect = FramesWithoutSource

connect = sqlite3.connect


def connect_without_syncing(*args, **kwargs):
    connection = connect(*args, **kwargs)
    connection.execute("PRAGMA synchronous = OFF")
    return connection


sqlite3.connect = connect_without_syncing
localstack.services.sqs.provider.CloudwatchDispatcher.dispatch_sqs_metric = lambda *_, **__: None

ONE_TREE_AT_A_TIME = threading.RLock()


def one_at_a_time(convert):
    def converted(*args, **kwargs):
        with ONE_TREE_AT_A_TIME:
            return convert(*args, **kwargs)

    return converted


ast.parse = one_at_a_time(ast.parse)
werkzeug.routing.rules.compile = one_at_a_time(compile)
runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
