"""The fake OpenAI server against the real clients: openai SDK and langchain-openai, JSON and SSE, failures included."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any

import openai
import pytest
from fake_llm import (
    DEFAULT_REPLY,
    CutStream,
    Delay,
    FakeLLMServer,
    Malformed,
    Refuse,
    Reply,
    Status,
    closed_base_url,
    closed_port,
    fake_embedding,
    fake_llm_fixture,  # noqa: F401 - registers the `fake_llm` fixture in this module
    last_user_text,
    messages_text,
)
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is attention?"}]


@pytest.fixture
def server():
    with FakeLLMServer() as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
        yield sdk


def chat(server: FakeLLMServer, **kwargs: Any) -> ChatOpenAI:
    kwargs.setdefault("max_retries", 0)
    return ChatOpenAI(model="fake-model", base_url=server.base_url, api_key="x", **kwargs)


# -- the happy path with the openai SDK ---------------------------------------------------------------------------


def test_openai_sdk_gets_the_scripted_reply_and_the_server_records_the_request(server, client):
    server.script(Reply("Attention weighs tokens [1]."))
    completion = client.chat.completions.create(model="fake-model", messages=MESSAGES)
    assert completion.choices[0].message.content == "Attention weighs tokens [1]."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "fake-model"
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer x"
    assert request.json["messages"] == MESSAGES
    assert server.chat_requests == [request.json]


def test_openai_sdk_streams_the_reply_in_several_pieces(server, client):
    server.script(Reply("Attention weighs every token against every other token."))
    stream = client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True)
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) == 8
    assert "".join(pieces) == "Attention weighs every token against every other token."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert server.requests[0].json["stream"] is True


def test_stream_usage_chunk_is_sent_when_asked(server, client):
    stream = client.chat.completions.create(
        model="fake-model", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 5  # "Be brief." + "What is attention?"


def test_default_reply_answers_once_the_script_is_used_up(server, client):
    server.script(Reply("first"))
    server.set_default(Reply("always this"))
    answers = [
        client.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content
        for _ in range(3)
    ]
    assert answers == ["first", "always this", "always this"]
    assert server.remaining() == 0


def test_responder_computes_the_reply_from_the_prompt(server, client):
    def cite_every_source(request: dict[str, Any]) -> Reply:
        numbers = re.findall(r"<source n=(\d+)>", messages_text(request))
        return Reply(" ".join(f"Claim [{n}]." for n in numbers) + f" Q: {last_user_text(request)}")

    server.set_default(cite_every_source)
    prompt = "<source n=1>A</source>\n<source n=3>B</source>\nWhat is attention?"
    completion = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": prompt}])
    assert completion.choices[0].message.content == f"Claim [1]. Claim [3]. Q: {prompt}"


def test_models_endpoint_lists_the_configured_models():
    with (
        FakeLLMServer(models=("small", "large")) as fake,
        openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0) as sdk,
    ):
        assert [m.id for m in sdk.models.list()] == ["small", "large"]


def test_wrong_api_key_gets_401_when_the_server_requires_one():
    with FakeLLMServer(api_key="secret") as fake:
        with (
            openai.OpenAI(base_url=fake.base_url, api_key="wrong", max_retries=0) as sdk,
            pytest.raises(openai.AuthenticationError),
        ):
            sdk.chat.completions.create(model="fake-model", messages=MESSAGES)
        with openai.OpenAI(base_url=fake.base_url, api_key="secret", max_retries=0) as sdk:
            assert sdk.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content


# -- langchain-openai ---------------------------------------------------------------------------------------------


def test_chat_openai_invoke(server):
    server.script(Reply("Transformers use attention [2]."))
    message = chat(server, max_tokens=64).invoke([SystemMessage("Be brief."), HumanMessage("What is attention?")])
    assert message.content == "Transformers use attention [2]."
    body = server.requests[0].json
    assert body["model"] == "fake-model" and body["max_completion_tokens"] == 64
    assert body["messages"][1] == {"role": "user", "content": "What is attention?"}


def test_chat_openai_stream(server):
    server.script(Reply("Transformers use attention [2]."))
    pieces = [chunk.content for chunk in chat(server).stream("What is attention?")]
    text_pieces = [p for p in pieces if p]
    assert len(text_pieces) == 4
    assert "".join(text_pieces) == "Transformers use attention [2]."
    assert server.requests[0].json["stream"] is True


async def test_chat_openai_async_stream(server):
    server.script(Reply("Async works too."))
    pieces = [chunk.content async for chunk in chat(server).astream("Hi")]
    assert "".join(pieces) == "Async works too."


# -- failures -----------------------------------------------------------------------------------------------------


def test_429_then_success_is_retried_once(server):
    # `retry-after-ms` makes the SDK wait 10 ms; a bare `Retry-After: 0` falls back to its ~0.5 s backoff.
    server.script(Status(429, headers={"retry-after-ms": "10"}), Reply("after the retry"))
    started = time.monotonic()
    assert chat(server, max_retries=1).invoke("hi").content == "after the retry"
    assert len(server.requests) == 2  # the retry is the SDK's, inside one invoke
    assert time.monotonic() - started < 2


def test_429_with_no_retries_raises_rate_limit_error(server):
    server.script(Status(429, headers={"Retry-After": "0"}))
    with pytest.raises(openai.RateLimitError, match="429"):
        chat(server).invoke("hi")
    assert len(server.requests) == 1


def test_500_then_503_exhaust_one_retry(server):
    server.script(Status(500, headers={"retry-after-ms": "10"}), Status(503))
    with (
        openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=1) as sdk,
        pytest.raises(openai.InternalServerError) as excinfo,
    ):
        sdk.chat.completions.create(model="fake-model", messages=MESSAGES)
    assert excinfo.value.status_code == 503
    assert len(server.requests) == 2


def test_status_with_a_raw_body_and_headers(server, client):
    server.script(Status(400, body={"error": {"message": "context too long", "type": "invalid_request_error"}}))
    with pytest.raises(openai.BadRequestError, match="context too long"):
        client.chat.completions.create(model="fake-model", messages=MESSAGES)


def test_delay_longer_than_the_timeout_raises_a_timeout_in_about_the_timeout(server):
    server.script(Delay(5, then=Reply("too late")))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(server, timeout=0.3).invoke("hi")
    elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 1.5, elapsed


def test_delay_shorter_than_the_timeout_still_answers(server, client):
    server.script(Delay(0.2, then=Reply("slow but fine")))
    started = time.monotonic()
    assert client.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content == (
        "slow but fine"
    )
    assert time.monotonic() - started >= 0.2


def test_slow_pieces_trip_the_read_timeout_mid_stream(server):
    server.script(Reply("one two three", piece_delay=1.0))
    with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=0.3) as sdk:
        stream = sdk.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True)
        with pytest.raises(openai.APITimeoutError):
            list(stream)


def test_cut_stream_raises_api_connection_error_after_the_text_before_the_cut(server, client):
    # The stream is chunked; the socket closes without the final chunk, so httpx sees an incomplete body and the
    # SDK raises APIConnectionError (it does not end quietly).
    server.script(CutStream("The answer starts here"))
    received: list[str] = []
    stream = client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "The answer starts here"


def test_cut_stream_raises_in_chat_openai_stream_too(server):
    server.script(CutStream("Partial answer"))
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in chat(server).stream("hi"):
            received.append(chunk.content)
    assert "".join(received) == "Partial answer"


def test_cut_non_streaming_body_raises_api_connection_error(server, client):
    server.script(CutStream())
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="fake-model", messages=MESSAGES)


def test_malformed_json_body_raises(server, client):
    server.script(Malformed())
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="fake-model", messages=MESSAGES)


def test_malformed_json_body_raises_in_chat_openai(server):
    server.script(Malformed(), Malformed())
    with pytest.raises(json.JSONDecodeError):
        chat(server).invoke("hi")
    with pytest.raises(json.JSONDecodeError):
        list(chat(server).stream("hi"))


def test_refused_connection_raises_api_connection_error(server, client):
    server.script(Refuse())
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="fake-model", messages=MESSAGES)
    assert len(server.requests) == 1  # the request was read before the socket closed


def test_refused_then_success_is_retried(server):
    server.script(Refuse(), Reply("second try"))
    assert chat(server, max_retries=1).invoke("hi").content == "second try"
    assert len(server.requests) == 2


def test_closed_port_refuses_connections():
    port = closed_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with (
        openai.OpenAI(base_url=closed_base_url(), api_key="x", max_retries=0) as sdk,
        pytest.raises(openai.APIConnectionError),
    ):
        sdk.chat.completions.create(model="fake-model", messages=MESSAGES)


def test_raising_responder_answers_500_and_is_reported():
    def broken(request: dict[str, Any]) -> Reply:
        raise ValueError("bug in the responder")

    with FakeLLMServer(default=broken) as fake:
        with (
            openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=2) as sdk,
            pytest.raises(openai.InternalServerError),
        ):
            sdk.chat.completions.create(model="fake-model", messages=MESSAGES)
        assert len(fake.requests) == 1  # x-should-retry: false stops the SDK's retries
        assert "bug in the responder" in fake.errors[0]


# -- embeddings ---------------------------------------------------------------------------------------------------


def test_embeddings_are_deterministic_in_both_encodings(server, client):
    texts = ["attention is all you need", "Attention is all you need!", "protein folding"]
    as_base64 = client.embeddings.create(model="text-embedding-3-small", input=texts)  # the SDK's default
    as_float = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
    assert server.requests[0].json["encoding_format"] == "base64"
    for item_b64, item_float, text in zip(as_base64.data, as_float.data, texts, strict=True):
        assert item_float.embedding == fake_embedding(text, 32)
        assert item_b64.embedding == pytest.approx(item_float.embedding, abs=1e-6)
    same, other = as_float.data[0].embedding, as_float.data
    assert sum(a * b for a, b in zip(same, other[1].embedding, strict=True)) == pytest.approx(1.0)  # same words
    assert sum(a * b for a, b in zip(same, other[2].embedding, strict=True)) < 0.5


def test_langchain_openai_embeddings_use_the_configured_dimension():
    with FakeLLMServer(embedding_dim=8) as fake:
        embedder = OpenAIEmbeddings(
            model="text-embedding-3-small", base_url=fake.base_url, api_key="x", check_embedding_ctx_length=False
        )
        vectors = embedder.embed_documents(["a b", "c"])
        assert [len(v) for v in vectors] == [8, 8]
        assert embedder.embed_query("a b") == pytest.approx(vectors[0], abs=1e-6)


def test_embedding_route_has_its_own_script(server, client):
    server.script(Status(500), route="embeddings")
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="e", input="x")
    assert client.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content


# -- lifecycle ----------------------------------------------------------------------------------------------------


def test_close_is_quick_with_a_pending_delay_and_leaves_no_threads():
    fake = FakeLLMServer()
    fake.script(Delay(30))
    sdk = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0, timeout=10)
    raised: list[BaseException] = []

    def call() -> None:
        try:
            sdk.chat.completions.create(model="m", messages=MESSAGES)
        except openai.APIError as err:
            raised.append(err)

    caller = threading.Thread(target=call)
    caller.start()
    while not fake.requests:
        time.sleep(0.01)
    started = time.monotonic()
    fake.close()
    caller.join(5)
    sdk.close()
    assert time.monotonic() - started < 1.0
    assert not caller.is_alive()
    assert [type(e) for e in raised] == [openai.APIConnectionError]  # the dropped connection reached the client
    assert [t.name for t in threading.enumerate() if t.name.startswith("fake-llm")] == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", fake.port), timeout=1).close()
    fake.close()  # idempotent


def test_the_exported_fixture_serves_and_is_closed_afterwards(fake_llm):
    with openai.OpenAI(base_url=fake_llm.base_url, api_key="x", max_retries=0) as sdk:
        assert sdk.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == DEFAULT_REPLY
