#!/usr/bin/env python3
"""Run a command and report its resource use as one JSON line.

Usage: measure.py OUT.json -- CMD [ARGS...]

The command runs as a child; when it exits, wait4() gives its rusage (user and system CPU
time with microsecond precision, and peak RSS), which covers the child and every descendant
it waited for. A sampler also reads /proc every 100 ms for the peak RSS of the whole process
tree (for generators that fork workers). The child's stdout/stderr pass through unchanged.
SIGINT/SIGTERM received by this wrapper are forwarded to the child.

Writes {"rc", "wall_s", "user_s", "sys_s", "cpu_s", "maxrss_kb", "tree_peak_rss_kb",
"rss_timeline"}; the timeline is [seconds since start, tree RSS in KB] once a second, to show
whether memory stays flat over a run.
"""
import json
import os
import signal
import sys
import threading
import time


def tree_rss_kb(root):
    """Sum of VmRSS over `root` and its descendants, from /proc."""
    children = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write("usage: measure.py OUT.json -- CMD [ARGS...]\n")
        return 2
    out, cmd = sys.argv[1], sys.argv[3:]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)

    peak = [0]
    timeline = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            rss = tree_rss_kb(pid)
            peak[0] = max(peak[0], rss)
            t = time.monotonic() - start
            if not timeline or t - timeline[-1][0] >= 1.0:
                timeline.append([round(t, 1), rss])
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    while True:
        try:
            _, status, ru = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    done.set()
    sampler.join()
    wall = time.monotonic() - start
    rc = os.waitstatus_to_exitcode(status)
    result = {
        "rc": rc,
        "wall_s": round(wall, 3),
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_kb": ru.ru_maxrss,
        "tree_peak_rss_kb": max(peak[0], ru.ru_maxrss),
        "rss_timeline": timeline,
    }
    with open(out, "w") as f:
        json.dump(result, f)
        f.write("\n")
    return 0 if rc == 0 else rc if rc > 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())
