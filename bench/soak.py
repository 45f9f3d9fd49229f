#!/usr/bin/env python3
"""Soak: Switchyard under a long mixed load, and whether its memory, descriptors and threads stay
flat (a leak per request shows as growth over millions of requests).

    bench/soak.py BIN [--seconds 600] [--sample 30] [--loops N]

BIN is a switchyard binary; switchyard-mock is taken from the same directory. Four mocks: one
healthy (every wire format), one answering 503 to OpenAI calls, one cutting every stream after two
events, one pausing 200 ms between stream events. wrk (16 connections) sends a rotating mix: plain
and streamed Chat Completions to OpenAI (passthrough), Anthropic and Gemini (translated), failover
from the failing mock to the healthy one, streams cut mid-way and recovered on the next target, an
unknown model (404), a body that is not JSON (400), plain and streamed Messages API and Responses
API requests (the Responses ones stored, as by default), and a request with an `Idempotency-Key`
of its own (a stored record each). Beside it, clients that leave: streams from the slow mock
abandoned after their first event (half closed with FIN, half reset), heads over the size limit
(431), and heads that stop half-way, the FIN in the segment of their last bytes; and durable
tasks, two steps each, one about every 20 ms (35 a second here), some listed and some cancelled.

Printed every --sample seconds: requests so far (`switchyard_requests_total`), RSS, open
descriptors, threads, and tasks open (planning or executing: whether the task runtime keeps up).
Then the load stops and, after the loops' idle memory release, the idle figures are compared with
the same idle figures taken after a warm-up minute of the same load.
Nothing here is a test: it prints figures (README, Benchmarks).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc=None, log=None):
    for _ in range(400):
        if proc is not None and proc.poll() is not None:
            sys.exit(f"process on port {port} exited with {proc.returncode}" + (f": {open(log).read()}" if log else ""))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened")


def proc_figures(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = len(os.listdir(f"/proc/{pid}/task"))
    return rss, fds, threads


def socket_states(pid):
    """Switchyard's TCP sockets by state (`ss`): a client socket left in CLOSE-WAIT is one whose
    client has gone while the server still holds it."""
    states = {}
    out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if f"pid={pid}," in line:
            state = line.split()[0]
            states[state] = states.get(state, 0) + 1
    return states


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def open_tasks(text):
    """Tasks waiting for or running a step (`switchyard_tasks`, planning and executing)."""
    n = 0
    for line in text.splitlines():
        if line.startswith("switchyard_tasks{") and ('"planning"' in line or '"executing"' in line):
            n += int(float(line.rsplit(" ", 1)[1]))
    return n


def requests_by(label, text):
    out = {}
    for line in text.splitlines():
        if line.startswith("switchyard_requests_total{"):
            m = re.search(label + r'="([^"]+)"', line)
            out[m.group(1)] = out.get(m.group(1), 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


# A streamed request to the slow mock, whole: what an abandoning client sends.
SLOW_STREAM_BODY = b'{"model":"slow","stream":true,"messages":[{"role":"user","content":"Tell me about soak tests."}]}'
SLOW_STREAM_REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
    b"Authorization: Bearer sk-soak\r\nContent-Length: %d\r\n\r\n%s" % (len(SLOW_STREAM_BODY), SLOW_STREAM_BODY))


class Tasks(threading.Thread):
    """Durable tasks beside the load: a two-step task about every 20 ms (each step a chat call),
    a listing every tenth, a cancel every tenth; at the end, whether every task came to an end."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.counts = {"created": 0, "listed": 0, "cancelled": 0, "unexpected": 0}
        self.ids = []

    def call(self, conn, method, path, body=None):
        conn.request(method, path, body=body, headers={"Authorization": "Bearer sk-soak",
                                                       "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def run(self):
        step = lambda i: {"id": f"s{i}", "request": {"model": "openai", "messages": [
            {"role": "user", "content": "Tell me about soak tests." if i == 1 else "Go on: {{steps.s1.output}}"}]}}
        task_body = json.dumps({"agent": "soak", "steps": [step(1), step(2)]})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        n = 0
        while not self.stop.is_set():
            try:
                status, task = self.call(conn, "POST", "/v1/tasks", task_body)
                if status == 202:
                    self.counts["created"] += 1
                    self.ids.append(task["id"])
                else:
                    self.counts["unexpected"] += 1
                if n % 10 == 5:
                    status, _ = self.call(conn, "GET", "/v1/tasks?limit=20")
                    self.counts["listed" if status == 200 else "unexpected"] += 1
                if n % 10 == 9 and self.ids:
                    status, _ = self.call(conn, "POST", f"/v1/tasks/{self.ids[-1]}/cancel")
                    # 409: it finished first.
                    self.counts["cancelled" if status in (200, 409) else "unexpected"] += 1
            except (OSError, http.client.HTTPException, ValueError):
                self.counts["unexpected"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            n += 1
            self.stop.wait(0.02)
        conn.close()

    def states(self):
        """The states of the last 200 tasks created, by state."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        states = {}
        for task_id in self.ids[-200:]:
            _, task = self.call(conn, "GET", f"/v1/tasks/{task_id}")
            states[task["state"]] = states.get(task["state"], 0) + 1
        conn.close()
        return states


class Leavers(threading.Thread):
    """Clients that go away: streams abandoned after their first event, oversized heads, heads
    cut half-way. Counts what each got, so the run shows they were exercised."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.counts = {"abandoned_fin": 0, "abandoned_rst": 0, "head_431": 0, "head_cut": 0, "unexpected": 0}

    def abandon(self, reset):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(SLOW_STREAM_REQUEST)
            got = b""
            while b"data:" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            if not got.startswith(b"HTTP/1.1 200") or b"data:" not in got:
                self.counts["unexpected"] += 1
                return
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.counts["abandoned_rst" if reset else "abandoned_fin"] += 1

    def oversized(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: soak\r\nX-Pad: " + b"a" * 40000 + b"\r\n\r\n")
            got = s.recv(4096)
        self.counts["head_431" if got.startswith(b"HTTP/1.1 431") else "unexpected"] += 1

    def cut_head(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # the FIN rides on the bytes
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: soak\r\nContent-Le")
        self.counts["head_cut"] += 1

    def run(self):
        n = 0
        while not self.stop.is_set():
            try:
                if n % 4 < 2:
                    self.abandon(reset=n % 4 == 1)
                elif n % 4 == 2:
                    self.oversized()
                else:
                    self.cut_head()
            except OSError:
                self.counts["unexpected"] += 1
            n += 1
            self.stop.wait(0.01)


WRK_SCRIPT = r"""
local requests = {}
local function add(path, body)
  table.insert(requests, {path, body})
end
local function chat(model, stream)
  add("/v1/chat/completions", string.format(
    '{"model":"%s","stream":%s,"messages":[{"role":"user","content":"Tell me about soak tests."}]}',
    model, stream and "true" or "false"))
end
chat("openai", false); chat("openai", true)
chat("claude", false); chat("claude", true)
chat("gemini", false); chat("gemini", true)
chat("failover", false); chat("failover", true)
chat("cut", true)
chat("no-such-model", false)
add("/v1/chat/completions", '{"model": "openai", "messages": [')
for _, stream in ipairs({"false", "true"}) do
  add("/v1/messages", '{"model":"claude","max_tokens":64,"stream":' .. stream ..
    ',"messages":[{"role":"user","content":"Tell me about soak tests."}]}')
  add("/v1/responses", '{"model":"gemini","stream":' .. stream .. ',"input":"Tell me about soak tests."}')
end
-- Last: a request with an Idempotency-Key of its own (a stored record per request).
add("/v1/chat/completions", '{"model":"openai","messages":[{"role":"user","content":"Tell me about soak tests."}]}')
local i, n = 0, 0
request = function()
  i = i % #requests + 1
  n = n + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer sk-soak"}
  if i == #requests then headers["Idempotency-Key"] = string.format("soak-%d-%d", os.time(), n) end
  return wrk.format("POST", requests[i][1], headers, requests[i][2])
end
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--seconds", type=int, default=600, help="length of the measured load")
    ap.add_argument("--sample", type=int, default=30, help="seconds between samples")
    ap.add_argument("--warmup", type=int, default=60, help="seconds of load before the reference idle figures")
    ap.add_argument("--loops", type=int, default=0)
    a = ap.parse_args()
    mock_bin = os.path.join(os.path.dirname(os.path.abspath(a.bin)), "switchyard-mock")
    work = tempfile.mkdtemp()
    procs = []
    try:
        ports = {name: free_port() for name in ("ok", "down", "cut", "slow", "sy")}
        for name, extra in (("ok", []), ("down", ["--fail", "openai"]), ("cut", ["--cut-streams-after", "2"]),
                            ("slow", ["--event-pause-ms", "200"])):
            p = subprocess.Popen([mock_bin, "--port", str(ports[name]), *extra],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            wait_port(ports[name], p)
        url = lambda name, suffix="": f"http://127.0.0.1:{ports[name]}{suffix}"
        config = os.path.join(work, "sy.yaml")
        with open(config, "w") as f:
            f.write(f"""listen: "127.0.0.1:{ports['sy']}"
auth: {{keys: [{{name: soak, key_env: SOAK_CLIENT_KEY}}]}}
providers:
  - {{name: openai, kind: openai, base_url: "{url('ok', '/v1')}", api_key_env: SOAK_KEY}}
  - {{name: anthropic, kind: anthropic, base_url: "{url('ok')}", api_key_env: SOAK_KEY}}
  - {{name: gemini, kind: gemini, base_url: "{url('ok')}", api_key_env: SOAK_KEY}}
  - {{name: openai-down, kind: openai, base_url: "{url('down', '/v1')}", api_key_env: SOAK_KEY}}
  - {{name: openai-cut, kind: openai, base_url: "{url('cut', '/v1')}", api_key_env: SOAK_KEY}}
  - {{name: openai-slow, kind: openai, base_url: "{url('slow', '/v1')}", api_key_env: SOAK_KEY}}
models:
  - {{name: openai, targets: [{{provider: openai, model: gpt-4o-mini}}]}}
  - {{name: claude, targets: [{{provider: anthropic, model: claude-3-5-haiku-latest}}]}}
  - {{name: gemini, targets: [{{provider: gemini, model: gemini-2.0-flash}}]}}
  - name: failover
    targets: [{{provider: openai-down, model: gpt-4o-mini, priority: 1}}, {{provider: anthropic, model: claude-3-5-haiku-latest, priority: 2}}]
  - name: cut
    targets: [{{provider: openai-cut, model: gpt-4o-mini, priority: 1}}, {{provider: anthropic, model: claude-3-5-haiku-latest, priority: 2}}]
  - {{name: slow, targets: [{{provider: openai-slow, model: gpt-4o-mini}}]}}
retry: {{attempts_per_target: 1, initial_backoff_ms: 1, max_backoff_ms: 2, budget_percent: 100}}
circuit_breaker: {{failure_threshold: 1000000, open_ms: 1000}}
health_check_ms: 0
{f"event_loops: {a.loops}" if a.loops else ""}
store: {{path: "{work}/sy.db"}}
""")
        lua = os.path.join(work, "soak.lua")
        with open(lua, "w") as f:
            f.write(WRK_SCRIPT)
        env = dict(os.environ, SOAK_CLIENT_KEY="sk-soak", SOAK_KEY="sk-upstream")
        log = open(os.path.join(work, "sy.log"), "w")
        sy = subprocess.Popen([a.bin, "serve", "--config", config, "--log-level", "error"], env=env, stderr=log)
        procs.append(sy)
        wait_port(ports["sy"], sy, log.name)
        target = f"http://127.0.0.1:{ports['sy']}/v1/chat/completions"

        def load(seconds):
            out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", lua, target],
                                 capture_output=True, text=True, check=True).stdout
            m = re.search(r"(\d+) requests in", out)
            return int(m.group(1)) if m else 0

        def idle_figures():
            time.sleep(5)  # past the loops' 2 s idle delay before they give freed heap memory back
            return proc_figures(sy.pid)

        load(a.warmup)
        ref = idle_figures()
        print(f"after a {a.warmup} s warm-up, idle: RSS {ref[0] / 1024:.1f} MB, {ref[1]} descriptors, {ref[2]} threads; "
              + "TCP sockets " + ", ".join(f"{k} {v}" for k, v in sorted(socket_states(sy.pid).items())))
        leavers = Leavers(ports["sy"])
        leavers.start()
        tasks = Tasks(ports["sy"])
        tasks.start()
        wrk = threading.Thread(target=lambda: load(a.seconds), daemon=True)
        wrk.start()
        start = time.monotonic()
        print(f"{'s':>5} {'requests':>10} {'RSS MB':>7} {'fds':>5} {'threads':>7} {'open tasks':>10}")
        peak = 0
        while wrk.is_alive():
            wrk.join(timeout=a.sample)
            rss, fds, threads = proc_figures(sy.pid)
            peak = max(peak, rss)
            text = metrics(ports["sy"])
            total = sum(requests_by("outcome", text).values())
            print(f"{time.monotonic() - start:5.0f} {total:10d} {rss / 1024:7.1f} {fds:5d} {threads:7d} "
                  f"{open_tasks(text):10d}", flush=True)
        leavers.stop.set()
        tasks.stop.set()
        leavers.join()
        tasks.join()
        end = idle_figures()
        text = metrics(ports["sy"])
        outcomes = requests_by("outcome", text)
        total = sum(outcomes.values())
        print("requests by outcome: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
        print("requests by API: " + ", ".join(f"{k} {v}" for k, v in sorted(requests_by("api", text).items())))
        print("leaving clients: " + ", ".join(f"{k} {v}" for k, v in leavers.counts.items()))
        print("tasks: " + ", ".join(f"{k} {v}" for k, v in tasks.counts.items())
              + "; states of the last 200: " + ", ".join(f"{k} {v}" for k, v in sorted(tasks.states().items())))
        growth = (end[0] - ref[0]) / 1024
        print(f"idle after the soak: RSS {end[0] / 1024:.1f} MB ({growth:+.1f} MB; peak under load {peak / 1024:.1f} MB), "
              f"{end[1]} descriptors ({end[1] - ref[1]:+d}), {end[2]} threads ({end[2] - ref[2]:+d})")
        print("TCP sockets, idle: " + ", ".join(f"{k} {v}" for k, v in sorted(socket_states(sy.pid).items()))
              + " (ESTAB: upstream keep-alive connections; CLOSE-WAIT: clients gone, sockets still held)")
        per_million = growth * 1024 / max(1, total) * 1e6
        print(f"growth per million requests: {per_million:+.0f} KB over {total} requests")
        if sy.poll() is not None:
            print(f"switchyard exited with {sy.returncode}")
            sys.exit(1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        # The store holds every stored Responses turn and idempotency record: gigabytes after ten minutes.
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
