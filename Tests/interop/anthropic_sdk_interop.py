#!/usr/bin/env python3
"""Drives the real `switchyard` binary's Messages API (/v1/messages) with the official `anthropic` SDK.

Starts three `switchyard-mock` upstreams (one healthy, one whose Anthropic side answers 529
overloaded_error to every call, one that cuts every stream after five events and continues a
prefilled answer) and `switchyard` on a generated config, then checks, for each kind of target
(Anthropic natively, OpenAI, Gemini): messages.create plain and streamed, messages.stream() with
get_final_message(), a tool round trip (tool_use, then tool_result), a streamed tool call, an
image, system blocks with cache_control (byte for byte on Anthropic), count_tokens, and the SDK's
exception classes; then failover from an overloaded Anthropic to Gemini, a stream cut mid-answer
on Anthropic finished by continuation (native and for an OpenAI client), anthropic-beta
forwarding and an idempotent replay.

Usage: anthropic_sdk_interop.py BUILD_DIR   (e.g. .build/debug)
Prints one line per check and a closing "N passed, M failed".
"""
import json
import os
import sys
import tempfile
import time

import anthropic
import openai

from harness import BUILD, KEY, PNG_BASE64, PROVIDER_KEY, check, mock, report, serve, stop

PNG = PNG_BASE64
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
MODELS = ["via-anthropic", "via-openai", "via-gemini"]
ANSWER = "Hello from the mock: one two three four five"


def config(ports, path):
    ok, down, cut = (f"http://127.0.0.1:{p}" for p in ports)
    text = f"""
listen: 127.0.0.1:0
health_check_ms: 0
auth:
  keys:
    - {{name: interop, key_env: INTEROP_CLIENT_KEY}}
providers:
  - {{name: openai, kind: openai, base_url: "{ok}/v1", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: anthropic, kind: anthropic, base_url: "{ok}", api_key_env: INTEROP_PROVIDER_KEY,
      headers: {{anthropic-beta: configured-beta-1}}}}
  - {{name: gemini, kind: gemini, base_url: "{ok}", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: overloaded, kind: anthropic, base_url: "{down}", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: cutting, kind: anthropic, base_url: "{cut}", api_key_env: INTEROP_PROVIDER_KEY}}
models:
  - {{name: via-anthropic, targets: [{{provider: anthropic, model: claude-sonnet-4-5}}]}}
  - {{name: via-openai, targets: [{{provider: openai, model: gpt-4o-mini}}]}}
  - {{name: via-gemini, targets: [{{provider: gemini, model: gemini-2.0-flash}}]}}
  - {{name: overloaded-only, targets: [{{provider: overloaded, model: claude-sonnet-4-5}}]}}
  - name: claude-then-gemini
    targets:
      - {{provider: overloaded, model: claude-sonnet-4-5, priority: 1}}
      - {{provider: gemini, model: gemini-2.0-flash, priority: 2}}
  - {{name: cut-claude, targets: [{{provider: cutting, model: claude-sonnet-4-5}}]}}
retry: {{attempts_per_target: 1, initial_backoff_ms: 10, max_backoff_ms: 50, multiplier: 2}}
limits: {{max_body_bytes: 200000}}
store: {{path: "{os.path.dirname(path)}/switchyard.db"}}
"""
    with open(path, "w") as f:
        f.write(text)


def main():
    procs = []
    ports = []
    for args in ([], ["--fail", "anthropic"], ["--cut-streams-after", "5"]):
        p, port = mock(BUILD, *args)
        procs.append(p)
        ports.append(port)
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "switchyard.yaml")
    config(ports, cfg)
    env = dict(os.environ, INTEROP_CLIENT_KEY=KEY, INTEROP_PROVIDER_KEY=PROVIDER_KEY)
    sy, port = serve(BUILD, cfg, env)
    procs.insert(0, sy)
    base = f"http://127.0.0.1:{port}"
    client = anthropic.Anthropic(base_url=base, api_key=KEY, max_retries=0, timeout=20)
    try:
        for model in MODELS:
            run_checks(client, model)
        run_routing(client, base)
    finally:
        stop(procs)
    return report()


def user(text):
    return [{"role": "user", "content": text}]


def text_of(message):
    return "".join(b.text for b in message.content if b.type == "text")


def run_checks(client, model):
    @check(f"{model}: messages.create")
    def _():
        r = client.messages.with_raw_response.create(model=model, max_tokens=256, messages=user("hi there"))
        msg = r.parse()
        assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_"), msg
        assert text_of(msg) == "Hello from the mock: hi there", msg.content
        assert msg.stop_reason == "end_turn" and msg.stop_sequence is None, msg
        assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0, msg.usage
        assert r.headers["request-id"] == r.headers["x-request-id"] and msg._request_id == r.headers["request-id"]
        assert r.headers["x-switchyard-attempts"] == "1"

    @check(f"{model}: messages.create(stream=True) yields Anthropic's events")
    def _():
        types, text = [], ""
        for event in client.messages.create(model=model, max_tokens=256, messages=user("stream me"), stream=True):
            types.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
            if event.type == "message_delta":
                assert event.delta.stop_reason == "end_turn" and event.usage.output_tokens > 0, event
        assert types[0] == "message_start" and types[-1] == "message_stop", types
        assert types.count("message_start") == 1 and types.count("message_delta") == 1, types
        assert types[1:].index("content_block_start") < types.index("content_block_delta"), types
        assert text == "Hello from the mock: stream me", text

    @check(f"{model}: messages.stream() accumulates get_final_message()")
    def _():
        with client.messages.stream(model=model, max_tokens=256, messages=user("accumulate this")) as s:
            streamed = "".join(s.text_stream)
            final = s.get_final_message()
        assert streamed == text_of(final) == "Hello from the mock: accumulate this", (streamed, final)
        assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0 and final.usage.input_tokens > 0

    @check(f"{model}: tool round trip (tool_use, then tool_result)")
    def _():
        messages = user("Weather in Paris?")
        first = client.messages.create(model=model, max_tokens=256, tools=[WEATHER], messages=messages)
        assert first.stop_reason == "tool_use", first
        calls = [b for b in first.content if b.type == "tool_use"]
        assert len(calls) == 1 and calls[0].name == "get_weather" and calls[0].input == {"city": "Paris"}, first
        messages = messages + [first.to_param(), {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": calls[0].id, "content": "18 C"}]}]
        second = client.messages.create(model=model, max_tokens=256, tools=[WEATHER], messages=messages)
        assert text_of(second) == "The tool said: 18 C", second

    @check(f"{model}: streamed tool call accumulates its input; tool_choice any")
    def _():
        with client.messages.stream(model=model, max_tokens=256, tools=[WEATHER], tool_choice={"type": "any"},
                                    messages=user("Weather?")) as s:
            final = s.get_final_message()
        call = [b for b in final.content if b.type == "tool_use"][0]
        assert call.input == {"city": "Paris"} and final.stop_reason == "tool_use", final

    @check(f"{model}: an image (base64) reaches the model")
    def _():
        msg = client.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "text", "text": "how many images?"}]}])
        assert text_of(msg) == "I see 1 image(s).", msg

    @check(f"{model}: system blocks with cache_control")
    def _():
        system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
                  {"type": "text", "text": "Answer in English.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
        if model != "via-anthropic":
            msg = client.messages.create(model=model, max_tokens=64, system=system, messages=user("hi there"))
            assert text_of(msg) == "Hello from the mock: hi there", msg
            return
        msg = client.messages.create(model=model, max_tokens=64, system=system, messages=user("echo request"),
                                     metadata={"user_id": "u-123"}, extra_body={"top_k": 5})
        received = text_of(msg)
        sent = json.loads(received)
        assert sent["system"] == system and sent["model"] == "claude-sonnet-4-5", sent
        assert json.dumps(system, separators=(",", ":")) in received, received
        assert sent["metadata"] == {"user_id": "u-123"} and sent["top_k"] == 5, sent

    @check(f"{model}: count_tokens")
    def _():
        r = client.messages.with_raw_response.count_tokens(model=model, messages=user("count these tokens please"),
                                                            system="Be brief.", tools=[WEATHER])
        count = r.parse()
        assert count.input_tokens > 0, count
        assert r.headers["x-switchyard-token-count"] == ("exact" if model == "via-anthropic" else "estimate")

    @check(f"{model}: errors are the SDK's exception classes")
    def _():
        try:
            client.messages.create(model=model, max_tokens=64, messages=user("hi"), extra_body={"temperature": 1.5})
            raise AssertionError("temperature 1.5 was accepted")
        except anthropic.BadRequestError as e:
            assert e.type == "invalid_request_error" and "temperature" in e.message, e
            assert e.request_id and e.body["request_id"] == e.request_id, e.body
        try:
            client.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": PNG}}]}])
            raise AssertionError("image/bmp was accepted")
        except anthropic.BadRequestError as e:
            assert "media_type" in e.message, e


def run_routing(client, base):
    @check("errors: unknown model, wrong key, body over the limit, an overloaded upstream, a server tool elsewhere")
    def _():
        try:
            client.messages.create(model="no-such-model", max_tokens=8, messages=user("hi"))
            raise AssertionError("unknown model accepted")
        except anthropic.NotFoundError as e:
            assert e.type == "not_found_error", e
        bad = anthropic.Anthropic(base_url=base, api_key="sk-wrong", max_retries=0)
        try:
            bad.messages.create(model="via-openai", max_tokens=8, messages=user("hi"))
            raise AssertionError("wrong key accepted")
        except anthropic.AuthenticationError as e:
            assert e.type == "authentication_error", e
        try:
            client.messages.create(model="via-openai", max_tokens=8, messages=user("x" * 250_000))
            raise AssertionError("oversized body accepted")
        except anthropic.ContentTooLargeError as e:
            assert e.type == "request_too_large" and e.request_id and e.body["request_id"] == e.request_id, e
        try:
            client.messages.create(model="overloaded-only", max_tokens=8, messages=user("hi"))
            raise AssertionError("overloaded upstream answered")
        except anthropic.OverloadedError as e:
            assert e.status_code == 529 and e.type == "overloaded_error", e
        try:
            client.messages.create(model="via-gemini", max_tokens=8, messages=user("hi"),
                                   tools=[{"type": "web_search_20250305", "name": "web_search"}])
            raise AssertionError("server tool accepted for Gemini")
        except anthropic.BadRequestError as e:
            assert "tools[0]" in e.message, e

    @check("failover: Anthropic answers 529 overloaded_error, Gemini answers; plain and streamed")
    def _():
        r = client.messages.with_raw_response.create(model="claude-then-gemini", max_tokens=64,
                                                     messages=user("hi there"))
        assert r.headers["x-switchyard-provider"] == "gemini" and r.headers["x-switchyard-attempts"] == "2"
        assert text_of(r.parse()) == "Hello from the mock: hi there"
        with client.messages.with_streaming_response.create(model="claude-then-gemini", max_tokens=64,
                                                            messages=user("hi there"), stream=True) as raw:
            assert raw.headers["x-switchyard-provider"] == "gemini"
        with client.messages.stream(model="claude-then-gemini", max_tokens=64, messages=user("hi there")) as s:
            assert text_of(s.get_final_message()) == "Hello from the mock: hi there"

    @check("continuation: a native Anthropic stream cut mid-answer is finished as one message")
    def _():
        events = list(client.messages.create(model="cut-claude", max_tokens=64, messages=user("one two three four five"),
                                             stream=True))
        types = [e.type for e in events]
        assert types.count("message_start") == 1 and types[-1] == "message_stop", types
        starts = [e.index for e in events if e.type == "content_block_start"]
        assert starts == list(range(len(starts))), starts
        assert all(e.index < len(starts) for e in events if e.type == "content_block_delta"), types
        first_input = events[0].message.usage.input_tokens
        delta = [e for e in events if e.type == "message_delta"][0]
        assert delta.usage.input_tokens > first_input, (delta.usage, first_input)
        with client.messages.stream(model="cut-claude", max_tokens=64, messages=user("one two three four five")) as s:
            final = s.get_final_message()
        assert text_of(final) == ANSWER and len(final.content) == 1 and final.stop_reason == "end_turn", final

    @check("continuation: the same cut stream for an OpenAI client (reference behaviour)")
    def _():
        oc = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0)
        text = "".join(c.choices[0].delta.content or "" for c in oc.chat.completions.create(
            model="cut-claude", stream=True, messages=user("one two three four five")) if c.choices)
        assert text == ANSWER, text

    @check("headers: anthropic-version and anthropic-beta reach Anthropic, betas merged with the provider's")
    def _():
        msg = client.messages.create(model="via-anthropic", max_tokens=64, messages=user("echo headers"),
                                     extra_headers={"anthropic-beta": "client-beta-2"})
        version = client.default_headers["anthropic-version"]
        assert text_of(msg) == f"anthropic-version={version};anthropic-beta=configured-beta-1,client-beta-2", msg
        plain = client.messages.create(model="via-anthropic", max_tokens=64, messages=user("echo headers"))
        assert text_of(plain) == f"anthropic-version={version};anthropic-beta=configured-beta-1", plain

    @check("idempotency: a repeat is replayed, as JSON and as a stream the SDK accumulates")
    def _():
        h = {"Idempotency-Key": f"interop-{time.monotonic_ns()}"}
        a = client.messages.with_raw_response.create(model="via-gemini", max_tokens=64, messages=user("once"),
                                                     extra_headers=h)
        b = client.messages.with_raw_response.create(model="via-gemini", max_tokens=64, messages=user("once"),
                                                     extra_headers=h)
        assert b.headers.get("x-switchyard-replayed") == "true" and b.parse().id == a.parse().id
        hs = {"Idempotency-Key": f"interop-stream-{time.monotonic_ns()}"}
        finals = []
        for _ in range(2):
            with client.messages.stream(model="via-anthropic", max_tokens=64, messages=user("once more"),
                                        extra_headers=hs) as s:
                finals.append(s.get_final_message())
        assert finals[0].model_dump() == finals[1].model_dump(), finals


if __name__ == "__main__":
    sys.exit(main())
