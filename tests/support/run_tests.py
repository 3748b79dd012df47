#!/usr/bin/env python3
"""Runs botpub's tests side by side, longest first, and reports the time of each job.

    tests/support/run_tests.py [--jobs N] [--test-threads T] [--times FILE] [--benches | --with-benches]
                               [-- FILTER...]

`cargo test` runs its test binaries one after another, and the tests of one binary in one process, so
offline checks wait for tests that wait on LocalStack. Here the library's unit tests, the command line's,
and each module of the integration binary (a file of tests/, as the binary lists its tests) run as jobs
of their own, each in its own process, at most N at a time (default 6: most of them wait on LocalStack, a
model stand-in or a timer rather than on a core, so on two cores six slots finish the suite in 7 minutes
where four took 8.4), each job slot with its own LocalStack and moto (about 0.7 GB of memory each). Each
job runs its tests T at a time (default 2, as `cargo test` does on this machine). Jobs start longest
first, by the times of the last run (kept in FILE, default $CARGO_TARGET_DIR/botpub-test-times.json, else
tests/support/test-times.json), so the longest one never starts last. A job is named after its binary,
or for the integration binary after its module (`publish`).

A job's output is printed when it ends, whole, so the output of two jobs never interleaves. The exit code
is 0 when every job passed, else 1; the summary lists each job with its time and result. FILTER (any
arguments after --) selects tests as `cargo test -- FILTER` does: a test runs when its name contains one
of them. With --benches the jobs are the benchmarks' smoke runs (each bench run without `--bench`), as
`cargo test --benches` runs them; with --with-benches they join the tests in one pool (a smoke run fills
a slot that the tail of the tests leaves idle), and the summary reports them apart.
"""

import argparse
import json
import os
import subprocess
import sys
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_binaries(tests, benches):
    """(name, executable, is_bench) of every test target and of every bench, as asked, built if needed."""
    targets = (["--lib", "--bins", "--tests"] if tests else []) + (["--benches"] if benches else [])
    command = ["cargo", "test", "--locked", *targets, "--no-run",
               "--message-format=json-render-diagnostics"]
    built = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if built.returncode != 0:
        sys.exit(built.returncode)
    binaries = []
    for line in built.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message["profile"]["test"]:
            continue
        target = message["target"]
        kind = target["kind"][0]
        # `cargo test --benches` also builds the library's and binary's unit tests; those are the tests'.
        if kind != "bench" and not tests:
            continue
        name = target["name"] if kind == "test" else f"{kind} {target['name']}"
        binaries.append((name, message["executable"], kind == "bench"))
    return list(dict.fromkeys(binaries))


def jobs_of(binaries, filters):
    """(name, command, is_bench) of each job: a bench's smoke run, a unit-test binary with the filters,
    or one module of the integration binary with the exact names of its tests that the filters select."""
    jobs = []
    for name, executable, bench in binaries:
        if bench:
            # A bench run without `--bench` is its smoke run; it takes no test-harness arguments.
            jobs.append((name, [executable], True))
        elif name != "integration":
            jobs.append((name, [executable, *filters], False))
        else:
            listed = subprocess.run([executable, "--list", "--format", "terse"], cwd=ROOT,
                                    stdout=subprocess.PIPE, text=True, check=True).stdout
            modules = {}
            for line in listed.splitlines():
                test, _, kind = line.rpartition(": ")
                if kind == "test" and (not filters or any(f in test for f in filters)):
                    modules.setdefault(test.split("::")[0], []).append(test)
            jobs += [(module, [executable, "--exact", *tests], False)
                     for module, tests in modules.items()]
    return jobs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("BOTPUB_TEST_JOBS", 6)))
    parser.add_argument("--test-threads", type=int, default=2)
    parser.add_argument("--benches", action="store_true",
                        help="run the benchmarks' smoke runs (as `cargo test --benches` does) instead")
    parser.add_argument("--with-benches", action="store_true",
                        help="run the benchmarks' smoke runs beside the tests, in one pool")
    target_dir = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    parser.add_argument("--times", default=os.path.join(target_dir, "botpub-test-times.json"))
    parser.add_argument("filters", nargs="*")
    args = parser.parse_args()

    last_times = {}
    # The last run's times on this machine, else those committed beside this script.
    for times in (Path(args.times), Path(__file__).with_name("test-times.json")):
        try:
            last_times = json.loads(times.read_text())
            break
        except (OSError, ValueError):
            continue
    binaries = test_binaries(tests=not args.benches, benches=args.benches or args.with_benches)
    jobs = jobs_of(binaries, args.filters)
    # Unknown jobs first (they may be long), then longest first.
    jobs.sort(key=lambda job: -last_times.get(job[0], float("inf")))

    lock = threading.Lock()
    results = {}
    # Each job runs with its own LocalStack and moto (tests/support/servers.sh, BOTPUB_SERVER_INSTANCE):
    # LocalStack's CloudFormation runs one stack operation at a time, so one LocalStack shared by every
    # job would make their publishes wait for one another.
    slots = queue.Queue()
    for slot in range(max(1, args.jobs)):
        slots.put(str(slot) if slot else "")
    started = time.monotonic()

    def run(job):
        name, command, bench = job
        slot = slots.get()
        begin = time.monotonic()
        try:
            harness = [] if bench else ["--test-threads", str(args.test_threads)]
            done = subprocess.run(
                [*command, *harness],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                errors="replace", env={**os.environ, "BOTPUB_SERVER_INSTANCE": slot},
            )
        finally:
            slots.put(slot)
        seconds = time.monotonic() - begin
        passed = done.returncode == 0
        with lock:
            results[name] = (seconds, passed, bench)
            at = time.monotonic() - started
            print(f"\n==== {'PASS' if passed else 'FAIL'} {name} ({seconds:.1f} s, "
                  f"at {at:.0f} s)", flush=True)
            # A passing test job prints its summary lines only; a failing one, and a bench (whose
            # output is its figures), everything.
            lines = done.stdout.splitlines()
            summary = [l for l in lines if l.startswith("test result:")]
            shown = lines if not passed or bench else summary
            print("\n".join(shown), flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(run, jobs))

    total = time.monotonic() - started
    print(f"\n==== {len(results)} jobs in {total:.0f} s, {args.jobs} at a time")
    for group, benches in (("test jobs", False), ("benchmark smoke runs", True)):
        ran = sorted(((n, r) for n, r in results.items() if r[2] == benches), key=lambda r: -r[1][0])
        if not ran:
            continue
        print(f"{group}: {len(ran)}, {sum(r[0] for _, r in ran):.0f} s of jobs")
        for name, (seconds, passed, _) in ran:
            print(f"  {'ok  ' if passed else 'FAIL'} {seconds:7.1f} s  {name}")
    if not args.filters:
        # A failed job may have ended early (a server that would not start): its time says nothing of
        # how long the job takes, and would put it last in the next run's order.
        last_times.update({name: seconds for name, (seconds, passed, _) in results.items() if passed})
        try:
            Path(args.times).write_text(json.dumps(last_times, indent=1, sort_keys=True))
        except OSError:
            pass
    failed = [name for name, (_, passed, _) in results.items() if not passed]
    if failed:
        print(f"failed: {', '.join(sorted(failed))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
