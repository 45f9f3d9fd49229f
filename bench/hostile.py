"""Driver of bench/hostile: starts the mock and Switchyard on free loopback ports, sends the hostile
requests over raw sockets, prints one line per figure. Standard library only."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIG_TIMEOUT = float(os.environ.get("BIG_TIMEOUT", "30"))
RSS_CAP_KB = 2 * 1024 * 1024
KEY = "sk-bench-hostile-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"port {port} never opened")


def proc_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def chat_request(port, body, path="/v1/chat/completions"):
    data = body.encode() if isinstance(body, str) else body
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


def read_response(sock):
    """Returns (status, body bytes); the whole response (Content-Length framed)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest[:length]


def timed_request(port, payload, timeout):
    """Sends a whole request; returns (status or None, seconds from the last byte sent, note)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(timeout)
    try:
        try:
            sock.sendall(payload)
        except OSError:
            pass  # refused early (413 before the body was read): the answer may still be there
        sent = time.monotonic()
        try:
            status, _ = read_response(sock)
            return status, time.monotonic() - sent, ""
        except socket.timeout:
            return None, time.monotonic() - sent, "gave up"
        except OSError as e:
            return None, time.monotonic() - sent, str(e)
    finally:
        sock.close()


SMALL = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "hello"}]})


def keyed_body(keys):
    metadata = ",".join(f'"k{i}":0' for i in range(keys))
    return '{"model":"bench","messages":[{"role":"user","content":"big"}],"metadata":{' + metadata + "}}"


def big_with_small(port, keys, pid):
    body = keyed_body(keys)
    payload = chat_request(port, body)
    result = {}

    def big():
        result["big"] = timed_request(port, payload, BIG_TIMEOUT)

    t = threading.Thread(target=big)
    t.start()
    time.sleep(0.3)  # the small request 0.3 s after the large one
    small_status, small_s, small_note = timed_request(port, chat_request(port, SMALL), BIG_TIMEOUT)
    t.join()
    status, seconds, note = result["big"]
    mb = len(body) / 1e6
    big_text = f"{status} in {seconds * 1000:.0f} ms" if status else f"no answer after {seconds:.1f} s ({note})"
    small_text = (f"{small_status} in {small_s * 1000:.1f} ms" if small_status
                  else f"no answer after {small_s:.1f} s ({small_note})")
    print(f"{mb:.1f} MB body, {keys:,} keys: {big_text} (target < 1000 ms); "
          f"small chat request sent 0.3 s later: {small_text} (target: milliseconds)")


def fanout_schema(ways=10, levels=8):
    defs = {}
    for level in range(levels):
        props = {f"p{i}": {"$ref": f"#/$defs/d{level + 1}"} for i in range(ways)}
        defs[f"d{level}"] = {"type": "object", "properties": props}
    defs[f"d{levels}"] = {"type": "string"}
    return {"type": "object", "properties": {"root": {"$ref": "#/$defs/d0"}}, "$defs": defs}


def schema_row(port, pid):
    params = fanout_schema()
    body = json.dumps({
        "model": "gem", "messages": [{"role": "user", "content": "call it"}],
        "tools": [{"type": "function", "function": {"name": "fan", "parameters": params}}],
    }, separators=(",", ":"))
    before = proc_kb(pid, "VmRSS")
    result = {}

    def send():
        result["r"] = timed_request(port, chat_request(port, body), BIG_TIMEOUT)

    t = threading.Thread(target=send)
    t.start()
    killed = False
    while t.is_alive():
        t.join(0.05)
        try:
            if proc_kb(pid, "VmRSS") > RSS_CAP_KB:
                os.kill(pid, signal.SIGKILL)
                killed = True
        except FileNotFoundError:
            break
    status, seconds, note = result["r"]
    try:
        peak = proc_kb(pid, "VmHWM")
    except FileNotFoundError:
        peak = 0
    answer = f"{status} in {seconds * 1000:.1f} ms" if status else f"no answer after {seconds:.1f} s ({note})"
    if killed:
        answer += "; killed past 2 GB RSS"
    print(f"$ref fan-out schema (10 ways x 8 levels, {len(json.dumps(params, separators=(',', ':'))):,} bytes): "
          f"{answer} (target: 400 in milliseconds); RSS {before / 1024:.1f} MB before, peak {peak / 1024:.1f} MB"
          " (target: flat)")


def size_rows(port):
    print("answer latency by body size (a long user message; median of 7, after a warm-up):")
    base = None
    for size in (16 << 10, 64 << 10, 128 << 10, 256 << 10, 1 << 20, 4 << 20):
        body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "a" * size}]})
        payload = chat_request(port, body)
        timed_request(port, payload, BIG_TIMEOUT)
        times = sorted(timed_request(port, payload, BIG_TIMEOUT)[1] for _ in range(7))
        median = times[3] * 1000
        base = base if base is not None else median
        print(f"  {size >> 10:>5} KiB: {median:.2f} ms ({median - base:+.2f} ms over 16 KiB)")


def start_mock(mock_binary):
    port = free_port()
    mock = subprocess.Popen([mock_binary, "--port", str(port)], stdout=subprocess.DEVNULL)
    wait_port(port)
    return mock, port


def start_switchyard(binary, mock_port, workdir):
    """A fresh server per row: work a previous row left running must not slow the next."""
    sy_port = free_port()
    config = os.path.join(workdir, "hostile.yaml")
    with open(config, "w") as f:
        f.write(f"""listen: 127.0.0.1:{sy_port}
health_check_ms: 0
auth: {{keys: [{{name: bench, key_env: BENCH_CLIENT_KEY}}]}}
providers:
  - {{name: openai, kind: openai, base_url: "http://127.0.0.1:{mock_port}/v1", api_key_env: BENCH_UPSTREAM_KEY}}
  - {{name: gemini, kind: gemini, base_url: "http://127.0.0.1:{mock_port}", api_key_env: BENCH_UPSTREAM_KEY}}
models:
  - {{name: bench, targets: [{{provider: openai, model: gpt-4o-mini}}]}}
  - {{name: gem, targets: [{{provider: gemini, model: gemini-2.0-flash}}]}}
store: {{path: "{workdir}/hostile-{sy_port}.db"}}
""")
    env = dict(os.environ, BENCH_CLIENT_KEY=KEY, BENCH_UPSTREAM_KEY="upstream-key")
    sy = subprocess.Popen([binary, "serve", "--config", config, "--log-level", "error"], env=env,
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "sy.log"), "a"))
    wait_port(sy_port)
    return sy, sy_port


def alias_bomb(levels=9, scalar="x"):
    """A list of 10 plain scalars, then levels-1 lists of 10 aliases of the level below (10^levels
    values from about 400 bytes)."""
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = [f"a: &a [{', '.join([scalar] * 10)}]"]
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [{', '.join(['*' + names[i - 1]] * 10)}]")
    return "\n".join(lines) + f"\nmodels: *{names[levels - 1]}\n"


def config_rows(binary, workdir):
    for scalar in ["x", "1", '"x"']:
        path = os.path.join(workdir, "bomb.yaml")
        with open(path, "w") as f:
            f.write(alias_bomb(scalar=scalar))
        started = time.monotonic()
        p = subprocess.run([binary, "check-config", "--config", path], capture_output=True, text=True,
                           timeout=BIG_TIMEOUT)
        took = time.monotonic() - started
        refused = p.returncode == 2 and "more than" in p.stderr + p.stdout
        print(f"  check-config on a 10^9-value YAML alias bomb of {scalar}: exit {p.returncode} "
              f"({'refused' if refused else 'NOT refused'}) in {took * 1000:.0f} ms")


def main():
    binary, mock_binary = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as workdir:
        mock, mock_port = start_mock(mock_binary)
        print(f"hostile-input rows ({binary}, BIG_TIMEOUT={BIG_TIMEOUT:.0f} s):")
        config_rows(binary, workdir)
        rows = [
            lambda port, pid: size_rows(port),
            lambda port, pid: big_with_small(port, 160_000, pid),
            lambda port, pid: big_with_small(port, 600_000, pid),
            lambda port, pid: schema_row(port, pid),
        ]
        try:
            for row in rows:
                sy, port = start_switchyard(binary, mock_port, workdir)
                try:
                    row(port, sy.pid)
                finally:
                    sy.kill()
                    sy.wait()
        finally:
            mock.kill()
            mock.wait()


main()
