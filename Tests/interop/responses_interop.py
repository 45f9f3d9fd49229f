#!/usr/bin/env python3
"""Drives the real `switchyard` binary's Responses API (/v1/responses) with the official `openai` SDK.

Starts `switchyard-mock` (OpenAI Chat Completions and Responses, Anthropic and Gemini wire formats,
each validating its requests) and `switchyard` on a generated config, then checks, for each kind
of target (OpenAI natively, OpenAI through Chat Completions, Anthropic, Gemini): responses.create
plain and streamed, responses.stream() with its accumulated final response, a function tool round
trip, text.format JSON schema and responses.parse with a pydantic model, an image input, and the
exception classes; then stored conversations: a three-turn previous_response_id chain whose
primary goes down after the first turn, retrieve, input_items, delete and ownership.

Usage: responses_interop.py BUILD_DIR   (e.g. .build/debug)
Prints one line per check and a closing "N passed, M failed".
"""
import json
import os
import sys
import tempfile

import openai
import pydantic

from harness import BUILD, KEY, PNG_BASE64, PROVIDER_KEY, check, mock, report, serve, stop

OTHER_KEY = "sk-interop-other-client-key-4567"
PNG = "data:image/png;base64," + PNG_BASE64
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
           "strict": False}
MODELS = ["via-openai", "via-openai-chat", "via-anthropic", "via-gemini"]


def config(mock_port, primary_port, path):
    base = f"http://127.0.0.1:{mock_port}"
    primary = f"http://127.0.0.1:{primary_port}"
    text = f"""
listen: 127.0.0.1:0
health_check_ms: 0
auth:
  keys:
    - {{name: interop, key_env: INTEROP_CLIENT_KEY}}
    - {{name: other, key_env: INTEROP_OTHER_KEY}}
providers:
  - {{name: openai, kind: openai, base_url: "{base}/v1", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: openai-chat, kind: openai, base_url: "{base}/v1", api_key_env: INTEROP_PROVIDER_KEY, responses_mode: chat}}
  - {{name: anthropic, kind: anthropic, base_url: "{base}", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: gemini, kind: gemini, base_url: "{base}", api_key_env: INTEROP_PROVIDER_KEY}}
  - {{name: primary, kind: openai, base_url: "{primary}/v1", api_key_env: INTEROP_PROVIDER_KEY, connect_timeout_ms: 500}}
models:
  - {{name: via-openai, targets: [{{provider: openai, model: gpt-4o-mini}}]}}
  - {{name: via-openai-chat, targets: [{{provider: openai-chat, model: gpt-4o-mini}}]}}
  - {{name: via-anthropic, targets: [{{provider: anthropic, model: claude-3-5-haiku-latest}}]}}
  - {{name: via-gemini, targets: [{{provider: gemini, model: gemini-2.0-flash}}]}}
  - name: conversation
    targets:
      - {{provider: primary, model: gpt-4o-mini, priority: 1}}
      - {{provider: anthropic, model: claude-3-5-haiku-latest, priority: 2}}
retry: {{attempts_per_target: 1, initial_backoff_ms: 10, max_backoff_ms: 50, multiplier: 2}}
store: {{path: "{os.path.dirname(path)}/switchyard.db"}}
"""
    with open(path, "w") as f:
        f.write(text)


def main():
    shared, mock_port = mock(BUILD)
    primary, primary_port = mock(BUILD)
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "switchyard.yaml")
    config(mock_port, primary_port, cfg)
    env = dict(os.environ, INTEROP_CLIENT_KEY=KEY, INTEROP_OTHER_KEY=OTHER_KEY, INTEROP_PROVIDER_KEY=PROVIDER_KEY)
    sy, port = serve(BUILD, cfg, env)
    base = f"http://127.0.0.1:{port}/v1"
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=20)
    try:
        run_checks(client, base)
        run_conversation(client, base, primary)
    finally:
        stop([sy, shared, primary])
    return report()


class Ok(pydantic.BaseModel):
    ok: bool


def run_checks(client, base):
    for model in MODELS:
        @check(f"{model}: responses.create with instructions")
        def _():
            r = client.responses.with_raw_response.create(model=model, instructions="Be brief.", input="hi there")
            resp = r.parse()
            assert resp.object == "response" and resp.id.startswith("resp_"), resp
            assert resp.status == "completed", resp.status
            assert resp.output_text == "Hello from the mock: hi there", resp.output_text
            assert resp.output[-1].type == "message" and resp.output[-1].role == "assistant"
            assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens > 0, resp.usage
            assert r.headers["x-switchyard-attempts"] == "1" and r.headers["x-request-id"]

        @check(f"{model}: streamed create yields typed events with sequence numbers")
        def _():
            stream = client.responses.create(model=model, input="stream me please", stream=True)
            types, seqs, text, final = [], [], "", None
            for event in stream:
                types.append(event.type)
                seqs.append(event.sequence_number)
                if event.type == "response.output_text.delta":
                    text += event.delta
                if event.type == "response.completed":
                    final = event.response
            assert types[:2] == ["response.created", "response.in_progress"], types
            assert types[-1] == "response.completed", types
            for t in ["response.output_item.added", "response.content_part.added", "response.output_text.done",
                      "response.content_part.done", "response.output_item.done"]:
                assert t in types, (t, types)
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
            assert text == "Hello from the mock: stream me please", text
            assert final.output_text == text and final.usage.output_tokens > 0

        @check(f"{model}: responses.stream() accumulates the final response")
        def _():
            with client.responses.stream(model=model, input="accumulate this") as s:
                deltas = "".join(e.delta for e in s if e.type == "response.output_text.delta")
                final = s.get_final_response()
            assert final.output_text == "Hello from the mock: accumulate this" == deltas, final

        @check(f"{model}: function tool round trip (function_call, then function_call_output)")
        def _():
            first = client.responses.create(model=model, input="Weather in Paris?", tools=[WEATHER])
            calls = [o for o in first.output if o.type == "function_call"]
            assert len(calls) == 1 and calls[0].name == "get_weather", first.output
            assert json.loads(calls[0].arguments) == {"city": "Paris"}
            second = client.responses.create(
                model=model, tools=[WEATHER], previous_response_id=first.id,
                input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "18 C"}])
            assert second.output_text == "The tool said: 18 C", second.output

        @check(f"{model}: streamed tool call, context managed by the client")
        def _():
            items = [{"role": "user", "content": "Weather?"}]
            with client.responses.stream(model=model, input=items, tools=[WEATHER], store=False) as s:
                final = s.get_final_response()
            call = [o for o in final.output if o.type == "function_call"][0]
            assert json.loads(call.arguments) == {"city": "Paris"}, call
            items += [o.model_dump(exclude_none=True) for o in final.output]
            items.append({"type": "function_call_output", "call_id": call.call_id, "output": "21 C"})
            again = client.responses.create(model=model, input=items, tools=[WEATHER], store=False)
            assert again.output_text == "The tool said: 21 C", again.output

        @check(f"{model}: text.format json_schema and responses.parse with a pydantic model")
        def _():
            r = client.responses.create(model=model, input="answer in json", text={"format": {
                "type": "json_schema", "name": "ok", "strict": True,
                "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
                           "additionalProperties": False}}})
            assert json.loads(r.output_text) == {"ok": True}, r.output_text
            parsed = client.responses.parse(model=model, input="answer in json", text_format=Ok)
            assert parsed.output_parsed == Ok(ok=True), parsed

        @check(f"{model}: image input")
        def _():
            r = client.responses.create(model=model, input=[{"role": "user", "content": [
                {"type": "input_text", "text": "what is this"},
                {"type": "input_image", "image_url": PNG, "detail": "auto"}]}])
            assert r.output_text.startswith("Hello from the mock: what is this"), r.output_text

    @check("web_search runs natively on OpenAI; elsewhere a 400 names the tool")
    def _():
        r = client.responses.create(model="via-openai", input="news?", tools=[{"type": "web_search"}])
        assert [o.type for o in r.output] == ["web_search_call", "message"], r.output
        for model in ["via-openai-chat", "via-anthropic", "via-gemini"]:
            try:
                client.responses.create(model=model, input="news?", tools=[{"type": "web_search"}])
            except openai.BadRequestError as e:
                assert e.param == "tools[0]" and "web_search" in e.message, e.body
                continue
            raise AssertionError(f"{model}: no BadRequestError")

    @check("AuthenticationError for a wrong client key")
    def _():
        bad = openai.OpenAI(base_url=base, api_key="wrong", max_retries=0)
        try:
            bad.responses.create(model="via-openai", input="x")
        except openai.AuthenticationError as e:
            assert e.code == "invalid_api_key" and KEY not in e.response.text
            return
        raise AssertionError("no AuthenticationError")

    @check("BadRequestError naming the field, NotFoundError for an unknown model")
    def _():
        try:
            client.responses.create(model="via-anthropic", input=[{"role": "robot", "content": "x"}])
            raise AssertionError("no BadRequestError")
        except openai.BadRequestError as e:
            assert e.param == "input[0].role", e.body
        try:
            client.responses.create(model="no-such-model", input="x")
            raise AssertionError("no NotFoundError")
        except openai.NotFoundError as e:
            assert e.code == "model_not_found", e.body


def run_conversation(client, base, primary):
    ids = {}

    @check("three turns chained by previous_response_id; the primary dies after the first")
    def _():
        r1 = client.responses.with_raw_response.create(model="conversation", input="turn one")
        assert r1.headers["x-switchyard-provider"] == "primary", dict(r1.headers)
        first = r1.parse()
        primary.kill()
        primary.wait(timeout=10)
        r2 = client.responses.with_raw_response.create(
            model="conversation", input="turn two", previous_response_id=first.id)
        second = r2.parse()
        assert r2.headers["x-switchyard-provider"] == "anthropic", dict(r2.headers)
        assert second.output_text == "Hello from the mock: turn two"
        assert second.previous_response_id == first.id
        with client.responses.stream(model="conversation", input="recap", previous_response_id=second.id) as s:
            third = s.get_final_response()
        assert third.output_text == "Recap: turn one | turn two", third.output_text
        ids.update(first=first.id, second=second.id, third=third.id)

    @check("retrieve and input_items read the stored turns")
    def _():
        second = client.responses.retrieve(ids["second"])
        assert second.output_text == "Hello from the mock: turn two" and second.id == ids["second"]
        items = client.responses.input_items.list(ids["third"])
        texts = [c.text for i in items.data for c in i.content]
        assert texts == ["recap"], texts

    @check("another client key cannot read or delete them (404)")
    def _():
        other = openai.OpenAI(base_url=base, api_key=OTHER_KEY, max_retries=0)
        for call in (lambda: other.responses.retrieve(ids["second"]),
                     lambda: other.responses.delete(ids["second"]),
                     lambda: other.responses.create(model="via-anthropic", input="x",
                                                    previous_response_id=ids["second"])):
            try:
                call()
                raise AssertionError("no NotFoundError")
            except openai.NotFoundError:
                pass

    @check("delete removes a stored response")
    def _():
        client.responses.delete(ids["first"])
        try:
            client.responses.retrieve(ids["first"])
            raise AssertionError("still there")
        except openai.NotFoundError:
            pass


if __name__ == "__main__":
    sys.exit(main())
