#!/usr/bin/env python3
"""Drives the real `switchyard` binary with the official `openai` Python SDK.

Starts `switchyard-mock` (one port speaking the OpenAI, Anthropic and Gemini wire formats, with
request validation) and `switchyard` on a generated config, then checks what an application
using the SDK sees: plain and streamed completions through each provider kind, models listing,
tool calls, images, JSON mode, usage in streams, failover, and the exception classes.

Usage: openai_sdk_interop.py BUILD_DIR   (e.g. .build/debug)
Prints one line per check and a closing "N passed, M failed".
"""
import json
import os
import subprocess
import sys
import tempfile

import openai

from harness import BUILD, KEY, PNG_BASE64, PROVIDER_KEY, check, mock, report, serve, stop

PNG = "data:image/png;base64," + PNG_BASE64


def config(mock_port, cutting_port, path):
    base = f"http://127.0.0.1:{mock_port}"
    cutting = f"http://127.0.0.1:{cutting_port}"
    text = f"""
listen: 127.0.0.1:0
auth:
  keys:
    - {{name: interop, key_env: INTEROP_CLIENT_KEY}}
providers:
  - {{name: openai, kind: openai, base_url: "{base}/v1", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: anthropic, kind: anthropic, base_url: "{base}", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: gemini, kind: gemini, base_url: "{base}", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: cutting, kind: anthropic, base_url: "{cutting}", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: broken, kind: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: INTEROP_PROVIDER_KEY, connect_timeout_ms: 500}}
models:
  - {{name: via-openai, targets: [{{provider: openai, model: gpt-4o-mini}}]}}
  - {{name: via-anthropic, targets: [{{provider: anthropic, model: claude-3-5-haiku-latest}}]}}
  - {{name: via-gemini, targets: [{{provider: gemini, model: gemini-2.0-flash}}]}}
  - name: failover
    targets:
      - {{provider: broken, model: gpt-4o-mini, priority: 1}}
      - {{provider: anthropic, model: claude-3-5-haiku-latest, priority: 2}}
  - {{name: recovering, targets: [{{provider: cutting, model: claude-3-5-haiku-latest}}]}}
retry: {{attempts_per_target: 1, initial_backoff_ms: 10, max_backoff_ms: 50, multiplier: 2}}
store: {{path: "{os.path.dirname(path)}/switchyard.db"}}
"""
    with open(path, "w") as f:
        f.write(text)


def main():
    shared, mock_port = mock(BUILD)
    cutter, cutting_port = mock(BUILD, "--cut-streams-after", "5")
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "switchyard.yaml")
    config(mock_port, cutting_port, cfg)
    env = dict(os.environ, INTEROP_CLIENT_KEY=KEY, INTEROP_PROVIDER_KEY=PROVIDER_KEY)
    sy, port = serve(BUILD, cfg, env)
    base = f"http://127.0.0.1:{port}/v1"
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=20)
    try:
        run_checks(client, base)
    finally:
        stop([sy, shared, cutter])
    return report()


def run_checks(client, base):
    @check("models.list lists configured names and provider/model targets")
    def _():
        ids = [m.id for m in client.models.list()]
        assert "via-openai" in ids and "failover" in ids, ids
        assert "anthropic/claude-3-5-haiku-latest" in ids, ids

    for model in ["via-openai", "via-anthropic", "via-gemini"]:
        @check(f"{model}: plain completion")
        def _():
            r = client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi there"}])
            c = r.parse()
            assert c.choices[0].message.content == "Hello from the mock: hi there", c
            assert c.choices[0].finish_reason == "stop"
            assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens > 0
            assert r.headers["x-switchyard-attempts"] == "1"
            assert r.headers["x-request-id"]

        @check(f"{model}: streaming with usage")
        def _():
            stream = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "stream me please"}], stream=True,
                stream_options={"include_usage": True})
            text, finish, usage = "", None, None
            for chunk in stream:
                if chunk.usage:
                    usage = chunk.usage
                for ch in chunk.choices:
                    text += ch.delta.content or ""
                    finish = ch.finish_reason or finish
            assert text == "Hello from the mock: stream me please", text
            assert finish == "stop"
            assert usage is not None and usage.completion_tokens > 0

        @check(f"{model}: tool call then tool result turn")
        def _():
            tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
            msgs = [{"role": "user", "content": "Weather in Paris?"}]
            c = client.chat.completions.create(model=model, messages=msgs, tools=tools)
            call = c.choices[0].message.tool_calls[0]
            assert c.choices[0].finish_reason == "tool_calls"
            assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
            msgs += [c.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": "18 C"}]
            c2 = client.chat.completions.create(model=model, messages=msgs, tools=tools)
            assert c2.choices[0].message.content == "The tool said: 18 C", c2

        @check(f"{model}: streamed tool call accumulates")
        def _():
            tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}}}}]
            with client.chat.completions.stream(
                    model=model, messages=[{"role": "user", "content": "Weather?"}], tools=tools) as s:
                final = s.get_final_completion()
            call = final.choices[0].message.tool_calls[0]
            assert json.loads(call.function.arguments) == {"city": "Paris"}, call

        @check(f"{model}: image input")
        def _():
            c = client.chat.completions.create(model=model, messages=[{"role": "user", "content": [
                {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": PNG}}]}])
            assert c.choices[0].message.content.startswith("Hello from the mock"), c

        @check(f"{model}: JSON mode, stop and max tokens")
        def _():
            c = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "answer in json"}],
                response_format={"type": "json_object"}, stop=["END"], max_tokens=50)
            assert json.loads(c.choices[0].message.content) == {"ok": True}, c

    @check("mid-stream recovery: a stream cut after the first words reads as one normal stream")
    def _():
        stream = client.chat.completions.create(
            model="recovering", messages=[{"role": "user", "content": "tell me about recovery"}], stream=True,
            stream_options={"include_usage": True})
        text, finish, roles, usage = "", None, 0, None
        for chunk in stream:
            usage = chunk.usage or usage
            for ch in chunk.choices:
                text += ch.delta.content or ""
                roles += 1 if ch.delta.role else 0
                finish = ch.finish_reason or finish
        assert text == "Hello from the mock: tell me about recovery", repr(text)
        assert finish == "stop" and roles == 1
        assert usage is not None and usage.completion_tokens > 0

    @check("failover: a dead primary is answered by the next target")
    def _():
        r = client.chat.completions.with_raw_response.create(model="failover", messages=[{"role": "user", "content": "hi"}])
        c = r.parse()
        assert c.choices[0].message.content == "Hello from the mock: hi"
        assert r.headers["x-switchyard-provider"] == "anthropic", dict(r.headers)
        assert int(r.headers["x-switchyard-attempts"]) >= 2

    @check("AuthenticationError for a wrong client key")
    def _():
        bad = openai.OpenAI(base_url=base, api_key="wrong", max_retries=0)
        try:
            bad.chat.completions.create(model="via-openai", messages=[{"role": "user", "content": "x"}])
        except openai.AuthenticationError as e:
            assert e.code == "invalid_api_key"
            assert KEY not in str(e.response.text) and "wrong" not in str(e.response.text)
            return
        raise AssertionError("no AuthenticationError")

    @check("BadRequestError for empty messages, naming the field")
    def _():
        try:
            client.chat.completions.create(model="via-openai", messages=[])
        except openai.BadRequestError as e:
            assert e.param == "messages", e.body
            return
        raise AssertionError("no BadRequestError")

    @check("/metrics after the traffic above passes promtool check metrics")
    def _():
        import shutil
        import urllib.request
        text = urllib.request.urlopen(base.replace("/v1", "/metrics"), timeout=5).read().decode()
        assert "switchyard_requests_total" in text and "switchyard_fallbacks_total" in text, text[:500]
        assert KEY not in text and PROVIDER_KEY not in text
        promtool = shutil.which("promtool")
        assert promtool, "promtool not installed (scripts/install-deps --test installs it)"
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr

    @check("NotFoundError for an unknown model")
    def _():
        try:
            client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        except openai.NotFoundError as e:
            assert e.code == "model_not_found"
            return
        raise AssertionError("no NotFoundError")


if __name__ == "__main__":
    sys.exit(main())
