#!/usr/bin/env python3
"""Concurrent streams and memory: Switchyard's RSS while N streamed answers are open at once and
after they end, over several rounds (the target: 2,000 concurrent streams, memory flat once they
end).

    bench/streams.py BIN [--streams 2000] [--rounds 3] [--events 20] [--gap-ms 50] [--loops N] [--settle S]

BIN is a switchyard binary. The upstream is an asyncio server in this process speaking the
OpenAI stream format: a role chunk, `--events` content chunks `--gap-ms` apart, the finish chunk
and [DONE]; so every stream stays open about events x gap. The client side opens all streams at
once (raw asyncio connections, no HTTP library), reads each to its end and checks it ended with
[DONE]. Printed per round: streams completed, peak RSS while they were open, RSS after they ended
(VmRSS of the switchyard process from /proc).
"""
import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def chunk(delta, finish=None):
    return "data: " + json.dumps({
        "id": "chatcmpl-streams", "object": "chat.completion.chunk", "created": 1732550400,
        "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }, separators=(",", ":")) + "\n\n"


async def upstream(reader, writer, events, gap):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            parts = [chunk({"role": "assistant", "content": ""})]
            parts += [None] * events
            parts += [chunk({}, "stop"), "data: [DONE]\n\n"]
            for p in parts:
                if p is None:
                    await asyncio.sleep(gap)
                    p = chunk({"content": "tok "})
                data = p.encode()
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
        pass
    finally:
        writer.close()


async def client(port, opened, body):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer sk-streams\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    opened.append(1)
    rest = await reader.read()
    writer.close()
    return head.startswith(b"HTTP/1.1 200") and b"data: [DONE]" in rest


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--gap-ms", type=int, default=50)
    ap.add_argument("--loops", type=int, default=0)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds to wait after a round before reading RSS")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = 2 * a.streams + 200
    if hard < need:
        sys.exit(f"open-file limit {hard} is below the {need} descriptors {a.streams} streams need")

    server = await asyncio.start_server(
        lambda r, w: upstream(r, w, a.events, a.gap_ms / 1000), "127.0.0.1", 0, backlog=4096)
    up_port = server.sockets[0].getsockname()[1]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    sy_port = s.getsockname()[1]
    s.close()
    work = tempfile.mkdtemp()
    config = os.path.join(work, "sy.yaml")
    with open(config, "w") as f:
        f.write(f"""listen: "127.0.0.1:{sy_port}"
auth: {{keys: [{{name: bench, key_env: SY_BENCH_KEY}}]}}
providers: [{{name: openai, kind: openai, base_url: "http://127.0.0.1:{up_port}/v1", api_key_env: SY_UPSTREAM_KEY}}]
models: [{{name: gpt-4o-mini, targets: [{{provider: openai, model: gpt-4o-mini}}]}}]
health_check_ms: 0
{f"event_loops: {a.loops}" if a.loops else ""}
limits: {{max_connections: {a.streams + 100}}}
store: {{path: "{work}/sy.db"}}
""")
    env = dict(os.environ, SY_BENCH_KEY="sk-streams", SY_UPSTREAM_KEY="up")
    proc = subprocess.Popen([a.bin, "serve", "--config", config, "--log-level", "error"], env=env,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", sy_port)).close()
                break
            except OSError:
                time.sleep(0.05)
        body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                           "messages": [{"role": "user", "content": "hi"}]}).encode()
        # One small request first, so the idle figure includes what the first request loads.
        await client(sy_port, [], body)
        await asyncio.sleep(0.5)
        idle = rss_kb(proc.pid)
        print(f"switchyard idle RSS {idle / 1024:.1f} MB; {a.streams} streams per round, each open "
              f"~{a.events * a.gap_ms / 1000:.1f} s")
        after = []
        for r in range(1, a.rounds + 1):
            opened = []
            peak = 0
            tasks = [asyncio.create_task(client(sy_port, opened, body)) for _ in range(a.streams)]
            done = asyncio.gather(*tasks, return_exceptions=True)
            all_open = None
            while not done.done():
                peak = max(peak, rss_kb(proc.pid))
                if all_open is None and len(opened) == a.streams:
                    all_open = time.monotonic()
                await asyncio.sleep(0.05)
            results = done.result()
            ok = sum(1 for x in results if x is True)
            # Longer than the event loops' idle delay before they give freed heap memory back.
            await asyncio.sleep(a.settle)
            after.append(rss_kb(proc.pid))
            fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
            print(f"round {r}: {ok}/{a.streams} streams ended with [DONE]"
                  f"{'' if all_open else ' (not all open at once)'}; peak RSS {peak / 1024:.1f} MB, "
                  f"after {after[-1] / 1024:.1f} MB ({fds} open descriptors)")
        growth = (after[-1] - after[0]) / 1024
        print(f"RSS after the last round vs after the first: {growth:+.1f} MB (flat: within a few MB)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.close()
        # Upstream handlers still waiting on switchyard's idle keep-alive connections end here.
        for t in asyncio.all_tasks():
            if t is not asyncio.current_task():
                t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
