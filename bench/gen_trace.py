#!/usr/bin/env python3
"""Write a synthetic reprise recording (trace format v1, see the README) for the benchmarks.

Two kinds:

- `flat`: SESSIONS sessions of PER_SESSION exchanges to one nginx path, zero think time
  (each request sent the moment the previous response completed). A share of them are
  POSTs with a small JSON body. Used by efficiency.sh: every replayed request is pure
  generator work.
- `students`: the seed's student behaviour against the Educational Agent API — start, 5–10
  continues, ~10 % status checks — with 1–3 s think times. The think gap before the j-th
  exchange of a session is the same in every session (GAPS[j], drawn once from the seed),
  so fidelity.sh can compare what the mock observed per (live session, index) with the
  recorded gap without knowing which recorded session a virtual user was replaying.

- `bulk`: a long recording written as it is generated (never held whole, so 1 M exchanges
  take little memory): SESSIONS connections without session ids (as `reprise record` saw
  wrk's keep-alive connections) of PER_SESSION exchanges each, back to back, interleaved in
  time. Repetitive by default (one GET, one response); with `--distinct` every request is
  a POST whose body, and every response body, is unique (`--body-bytes` of text each).

The file is a concatenation of zstd frames (header frame, then ≤256 exchanges per frame,
then the footer), written with the `zstd` CLI, exactly as the recorder would. A sidecar
`OUT.meta.json` describes the recording: gaps, request counts, mean think per request.
"""
import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import uuid

FRAME = 256


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def body(value):
    raw = json.dumps(value, separators=(",", ":")).encode()
    return {"json": value, "len": len(raw)}


EMPTY = {"text": "", "len": 0}
JSON_H = [["content-type", "application/json"]]
# the mock's node machine (src/mock/node.rs), so a replay against it walks the recorded path
NODES = ["APK", "CI", "GE", "AR", "TC", "RLC", "complete"]
ANSWERS = {
    "APK": "I think plants get food from the soil and from sunlight.",
    "CI": "Photosynthesis is how plants use light energy to make glucose from CO2 and water.",
    "GE": "If I cover a leaf, it probably makes less sugar because it gets no light.",
    "AR": "Chlorophyll absorbs the light energy.",
    "AR_wrong": "My guess: the roots make the sugar at night.",
    "TC": "Solar panels are similar: they capture light and turn it into usable energy.",
    "RLC": "B",
    "complete": "Can you tell me more?",
}


class Builder:
    def __init__(self, start):
        self.start = start
        self.exchanges = []

    def add(self, session, conn, t_us, latency_us, method, path, req_body, status, res_body):
        self.exchanges.append(
            {
                "kind": "exchange",
                "id": 0,
                "session": session,
                "conn": conn,
                "sent_at": rfc3339(self.start + dt.timedelta(microseconds=t_us)),
                "t_us": t_us,
                "ttfb_us": max(latency_us - 20, 1),
                "done_us": latency_us,
                "req": {
                    "method": method,
                    "path": path,
                    "query": None,
                    "headers": JSON_H if req_body is not EMPTY else [],
                    "body": req_body,
                },
                "res": {"status": status, "headers": JSON_H, "body": res_body},
            }
        )
        return t_us + latency_us

    def lines(self):
        # ids in order of request arrival; lines in order of completion
        for i, e in enumerate(sorted(self.exchanges, key=lambda e: e["t_us"])):
            e["id"] = i
        yield from sorted(self.exchanges, key=lambda e: e["t_us"] + e["done_us"])


def flat(args, rng, b):
    fixed = json.load(open(args.body))
    for s in range(args.sessions):
        t = s * 1000
        label = f"bench-{s}"
        for _ in range(args.per_session):
            if rng.random() < args.post_share:
                req = body({"item": s, "note": "bench"})
                t = b.add(label, s, t, args.latency_us, "POST", args.path, req, 200, body(fixed))
            else:
                t = b.add(label, s, t, args.latency_us, "GET", args.path, EMPTY, 200, body(fixed))
    return {}


def students(args, rng, b):
    gaps = [0] + [rng.randint(args.think_min_ms * 1000, args.think_max_ms * 1000) for _ in range(64)]
    for s in range(args.sessions):
        thread = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        t = s * args.stagger_ms * 1000
        j = 0
        res = {"thread_id": thread, "agent_response": "Hi! What do you already know about photosynthesis?",
               "current_node": "APK", "turn": 0}
        t = b.add(thread, s, t, args.latency_us, "POST", "/session/start",
                  body({"student_id": f"s-{s}", "topic": "photosynthesis"}), 200, body(res))
        node = 0
        for turn in range(1, rng.randint(5, 10) + 1):
            if rng.random() < 0.10:
                j += 1
                t += gaps[j]
                st = {"thread_id": thread, "current_node": NODES[node], "turn": turn - 1,
                      "history_length": 2 * turn - 1, "session_complete": False}
                t = b.add(thread, s, t, args.status_latency_us, "GET", f"/session/status/{thread}",
                          EMPTY, 200, body(st))
            j += 1
            t += gaps[j]
            name = NODES[node]
            answer = ANSWERS["AR_wrong"] if name == "AR" and rng.random() < 0.2 else ANSWERS[name]
            if answer is ANSWERS[name] or name != "AR":
                node = min(node + 1, len(NODES) - 1)
            res = {"thread_id": thread, "agent_response": f"Let's go on ({NODES[node]}).",
                   "current_node": NODES[node], "turn": turn, "simulation_triggered": turn % 4 == 0,
                   "image_url": None, "session_complete": NODES[node] == "complete"}
            t = b.add(thread, s, t, args.latency_us, "POST", "/session/continue",
                      body({"thread_id": thread, "user_response": answer}), 200, body(res))
    return {"gaps_us": gaps}


def write_frame(f, chunk):
    raw = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in chunk).encode()
    try:
        import zstandard
        f.write(zstandard.ZstdCompressor(level=3, write_checksum=True).compress(raw))
    except ImportError:
        f.write(subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, check=True,
                               stdout=subprocess.PIPE).stdout)
    return len(raw)


def bulk(args, rng, start):
    """Streams a `bulk` recording to args.out; returns its meta."""
    fixed = json.load(open(args.body)) if args.body else {"status": "ok", "items": [1, 2, 3]}
    header = {"kind": "header", "format": "reprise.trace", "version": 1, "created_at": rfc3339(start),
              "source": {"generator": "bench/gen_trace.py", "kind": "bulk", "seed": args.seed,
                         "distinct": args.distinct}, "tool": "reprise bench"}
    step_us = args.latency_us + args.think_us
    n, raw_bytes, chunk = 0, 0, []
    with open(args.out, "wb") as f:
        raw_bytes += write_frame(f, [header]) - len(json.dumps(header, separators=(",", ":"))) - 1
        for k in range(args.per_session):
            for s in range(args.sessions):
                t = s * 1000 + k * step_us
                if args.distinct:
                    note = rng.getrandbits(4 * args.body_bytes).to_bytes(args.body_bytes // 2 + 1, "big").hex()[:args.body_bytes]
                    req = body({"seq": n, "note": note})
                    res = body({"seq": n, "echo": note[::-1]})
                    method, hdrs = "POST", JSON_H
                else:
                    req, res, method, hdrs = EMPTY, body(fixed), "GET", []
                # --session-len: each connection's exchanges make sessions of that many
                session = f"c{s}-{k // args.session_len}" if args.session_len else None
                chunk.append({
                    "kind": "exchange", "id": n, "session": session, "conn": s,
                    "sent_at": rfc3339(start + dt.timedelta(microseconds=t)), "t_us": t,
                    "ttfb_us": max(args.latency_us - 20, 1), "done_us": args.latency_us,
                    "req": {"method": method, "path": args.path, "query": None,
                            "headers": [["host", "127.0.0.1"]] + hdrs, "body": req},
                    "res": {"status": 200, "headers": JSON_H, "body": res},
                })
                n += 1
                if len(chunk) == FRAME:
                    raw_bytes += write_frame(f, chunk)
                    chunk = []
        if chunk:
            raw_bytes += write_frame(f, chunk)
        write_frame(f, [{"kind": "footer", "exchanges": n, "sessions": args.sessions, "dropped": 0}])
    return {"kind": "bulk", "distinct": args.distinct, "exchanges": n, "sessions": args.sessions,
            "exchange_lines_bytes": raw_bytes}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--kind", choices=["flat", "students", "bulk"], required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--per-session", type=int, default=100, help="flat: exchanges per session")
    p.add_argument("--path", default="/api/state", help="flat: the request path")
    p.add_argument("--post-share", type=float, default=0.0, help="flat: share of POSTs")
    p.add_argument("--body", default=None, help="flat: the recorded response body (JSON file)")
    p.add_argument("--latency-us", type=int, default=200_000, help="recorded latency")
    p.add_argument("--status-latency-us", type=int, default=5_000)
    p.add_argument("--think-min-ms", type=int, default=1000)
    p.add_argument("--think-max-ms", type=int, default=3000)
    p.add_argument("--stagger-ms", type=int, default=500, help="students: between session starts")
    p.add_argument("--distinct", action="store_true", help="bulk: every body unique")
    p.add_argument("--body-bytes", type=int, default=200, help="bulk --distinct: text per body")
    p.add_argument("--think-us", type=int, default=0, help="bulk: think time between exchanges")
    p.add_argument("--session-len", type=int, default=0,
                   help="bulk: each connection's exchanges form sessions of this many (session ids c<conn>-<n>)")
    args = p.parse_args()
    if args.kind == "flat" and args.body is None:
        p.error("--kind flat needs --body")

    rng = random.Random(args.seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    if args.kind == "bulk":
        meta = bulk(args, rng, start)
        with open(args.out + ".meta.json", "w") as f:
            json.dump(meta, f, indent=1)
        print(f"{args.out}: {meta['exchanges']} exchanges in {meta['sessions']} sessions", file=sys.stderr)
        return
    b = Builder(start)
    meta = flat(args, rng, b) if args.kind == "flat" else students(args, rng, b)
    lines = list(b.lines())
    sessions = {}
    for e in lines:
        sessions.setdefault(e["session"], []).append(e)

    header = {"kind": "header", "format": "reprise.trace", "version": 1, "created_at": rfc3339(start),
              "source": {"generator": "bench/gen_trace.py", "kind": args.kind, "seed": args.seed},
              "tool": "reprise bench"}
    footer = {"kind": "footer", "exchanges": len(lines), "sessions": len(sessions), "dropped": 0}
    chunks = [[header]] + [lines[i:i + FRAME] for i in range(0, len(lines), FRAME)] + [[footer]]
    with open(args.out, "wb") as f:
        for chunk in chunks:
            raw = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in chunk).encode()
            f.write(subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, check=True,
                                   stdout=subprocess.PIPE).stdout)

    # per session: think time and request count, for the intended-rate arithmetic
    think_us = latency_us = 0
    for ex in sessions.values():
        ex.sort(key=lambda e: e["t_us"])
        for prev, cur in zip(ex, ex[1:]):
            think_us += cur["t_us"] - (prev["t_us"] + prev["done_us"])
        latency_us += sum(e["done_us"] for e in ex)
    meta.update({"kind": args.kind, "exchanges": len(lines), "sessions": len(sessions),
                 "think_us_total": think_us, "latency_us_total": latency_us,
                 "mean_think_per_request_s": think_us / len(lines) / 1e6,
                 "status_share": sum(e["req"]["method"] == "GET" for e in lines) / len(lines),
                 # the mock sleeps its LLM latency on continue only
                 "continue_share": sum(e["req"]["path"] == "/session/continue" for e in lines) / len(lines)})
    with open(args.out + ".meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{args.out}: {len(lines)} exchanges in {len(sessions)} sessions", file=sys.stderr)


if __name__ == "__main__":
    main()
