"""Locust FastHttpUser for efficiency.sh: GET one path in a loop, no think time.

The path comes from BENCH_PATH (default /api/state). Keep-alive is FastHttpUser's default.
"""
import os

from locust import FastHttpUser, constant, task

PATH = os.environ.get("BENCH_PATH", "/api/state")


class Bench(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get(PATH)
