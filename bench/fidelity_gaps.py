#!/usr/bin/env python3
"""Think-gap error from a `reprise mock --request-log` file.

Usage: fidelity_gaps.py LOG.jsonl TRACE.meta.json SPEED LATENCY_MS

Every virtual user replays sessions back to back on its own connection, so the mock's log,
grouped by client connection (`peer`) and split at each POST /session/start, gives each
live session's requests in order; the j-th request of a live session is the j-th exchange
of whichever recorded session it replays, and bench/gen_trace.py gives the j-th exchange of
every recorded session the same think gap (meta `gaps_us[j]`). So

    error_j = (arrival_j − completion_{j−1}) − gaps_us[j] / SPEED

where completion_{j−1} = arrival_{j−1} + LATENCY_MS if request j−1 was a continue (the mock
sleeps its latency there), else arrival_{j−1}. A live session whose requests name more than
one thread id (a connection shared by sessions) is skipped and counted.

Prints one JSON object: {"gaps", "p50_ms", "p99_ms", "max_ms", "mean_ms", "min_ms",
"sessions", "skipped_sessions", "requests"}.
"""
import json
import sys


def at_us(entry):
    for key in ("at_us", "t_us", "arrival_us", "us"):
        if key in entry:
            return float(entry[key])
    if "at_ms" in entry:
        return float(entry["at_ms"]) * 1000
    raise KeyError(f"no arrival time field in log entry: {sorted(entry)}")


def quantile(sorted_values, q):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[i]


def main():
    log_path, meta_path, speed, latency_ms = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    gaps = json.load(open(meta_path))["gaps_us"]
    latency_us = latency_ms * 1000
    by_peer = {}
    requests = 0
    with open(log_path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            e = json.loads(line)
            requests += 1
            by_peer.setdefault(str(e.get("peer")), []).append(
                (at_us(e), e.get("path", ""), e.get("thread_id"), e.get("seq", 0)))
    errors, sessions, skipped = [], 0, 0
    for reqs in by_peer.values():
        reqs.sort(key=lambda r: (r[0], r[3]))
        session = []
        for r in reqs + [(None, "/session/start", None, None)]:
            if r[1] == "/session/start" and session:
                threads = {t for _, _, t, _ in session if t}
                if len(threads) > 1:
                    skipped += 1
                else:
                    sessions += 1
                    for j in range(1, len(session)):
                        if j >= len(gaps):
                            break
                        prev_at, prev_path = session[j - 1][0], session[j - 1][1]
                        done = prev_at + (latency_us if prev_path == "/session/continue" else 0)
                        errors.append((session[j][0] - done - gaps[j] / speed) / 1000)
                session = []
            if r[0] is not None:
                session.append(r)
    errors.sort()
    out = {"gaps": len(errors), "sessions": sessions, "skipped_sessions": skipped, "requests": requests}
    if errors:
        out.update({"p50_ms": quantile(errors, 0.5), "p99_ms": quantile(errors, 0.99), "max_ms": errors[-1],
                    "min_ms": errors[0], "mean_ms": sum(errors) / len(errors),
                    "abs_p99_ms": quantile(sorted(abs(x) for x in errors), 0.99)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
