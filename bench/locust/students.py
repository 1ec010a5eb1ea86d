"""Locust with the seed's student behaviour, for users10k.sh (and by hand).

Each user plays sessions back to back: POST /session/start, then 5–10 turns of
POST /session/continue with an answer that fits the current node (AR: 80 % correct,
20 % incorrect), a GET /session/status/{thread_id} before a turn about 10 % of the time, and
1–3 s of think time before every request but a user's first. FastHttpUser (Locust's fastest
client) with keep-alive.

Lag, measured like reprise's: for every request, actual send time − intended send time
(previous completion + think). Kept as a 1 ms-bucket histogram and written as JSON to
$LOCUST_LAG_OUT when Locust quits: {"count", "p50_ms", "p99_ms", "max_ms", "think_s_mean"}.
"""
import json
import os
import random
import time

import gevent
from locust import FastHttpUser, constant, events, task

THINK_MIN = float(os.environ.get("THINK_MIN_S", "1"))
THINK_MAX = float(os.environ.get("THINK_MAX_S", "3"))
ANSWERS = {
    "APK": "I think plants get food from the soil and from sunlight.",
    "CI": "Photosynthesis is how plants use light energy to make glucose from CO2 and water.",
    "GE": "If I cover a leaf, it probably makes less sugar because it gets no light.",
    "AR": "Chlorophyll absorbs the light energy.",
    "TC": "Solar panels are similar: they capture light and turn it into usable energy.",
    "RLC": "B",
}
WRONG = "The roots make the sugar at night."

LAG_MS = {}  # 1 ms bucket -> count


def record_lag(seconds):
    bucket = max(0, int(seconds * 1000))
    LAG_MS[bucket] = LAG_MS.get(bucket, 0) + 1


@events.quitting.add_listener
def write_lag(environment, **_kw):
    out = os.environ.get("LOCUST_LAG_OUT")
    if not out:
        return
    total = sum(LAG_MS.values())

    def q(p):
        if not total:
            return None
        seen = 0
        for ms in sorted(LAG_MS):
            seen += LAG_MS[ms]
            if seen >= p * total:
                return float(ms)
        return float(max(LAG_MS))

    with open(out, "w") as f:
        json.dump({"count": total, "p50_ms": q(0.5), "p99_ms": q(0.99),
                   "max_ms": float(max(LAG_MS)) if LAG_MS else None,
                   "think_s_mean": (THINK_MIN + THINK_MAX) / 2}, f)


class Student(FastHttpUser):
    wait_time = constant(0)  # think time is played inside the session, before each request

    def on_start(self):
        self.last_done = None

    def think(self):
        """Sleep the think time from the previous completion; record the lag."""
        if self.last_done is None:
            return
        intended = self.last_done + random.uniform(THINK_MIN, THINK_MAX)
        delay = intended - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        record_lag(max(0.0, time.monotonic() - intended))

    def send(self, method, path, name, **kw):
        self.think()
        with self.client.request(method, path, name=name, catch_response=True, **kw) as r:
            self.last_done = time.monotonic()
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
                return None
            try:
                return r.json()
            except ValueError:
                r.failure("body is not JSON")
                return None

    @task
    def session(self):
        state = self.send("POST", "/session/start", "/session/start",
                          json={"student_id": f"s-{random.randint(1, 10**6)}", "topic": "photosynthesis"})
        if not state:
            return
        thread = state["thread_id"]
        node = state.get("current_node", "APK")
        for _ in range(random.randint(5, 10)):
            if random.random() < 0.10:
                if self.send("GET", f"/session/status/{thread}", "/session/status/{thread_id}") is None:
                    return
            answer = ANSWERS.get(node, "I am not sure.")
            if node == "AR" and random.random() < 0.2:
                answer = WRONG
            state = self.send("POST", "/session/continue", "/session/continue",
                              json={"thread_id": thread, "user_response": answer})
            if not state:
                return
            node = state.get("current_node", node)
            if state.get("session_complete"):
                return
