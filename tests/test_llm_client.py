"""The LLM client against a loopback server that misbehaves on purpose: None or the right answer,
counters that match, bounded time."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from conftest import free_port
from fault_llm_server import FaultServer
from litstyle.llm.client import LLMClient

HELLO = [{"role": "user", "content": "Answer with one digit."}]


def client(url: str, **kwargs) -> LLMClient:
    kwargs = {"timeout_s": 1.0, "retries": 2, "concurrency": 4, **kwargs}
    return LLMClient(url, "fake", **kwargs)


@pytest.mark.parametrize("faults,expected,requests,error", [
    (["500"], "7", 2, None),
    (["500", "500"], "7", 3, None),
    (["429"], "7", 2, None),
    (["500", "500", "500"], None, 3, "http_500"),
    (["400"], None, 1, "http_400"),  # other 4xx: not retried
    (["garbage"], None, 1, "JSONDecodeError"),
    (["text"], "a fine story", 1, None),  # the judge decides what a non-digit means
])
def test_fault_answers(faults: list[str], expected: str | None, requests: int, error: str | None) -> None:
    with FaultServer() as srv, client(srv.base_url) as llm:
        srv.behaviours.extend(faults)
        assert llm.chat(HELLO, max_tokens=3) == expected
        assert srv.requests == requests
        stats = llm.stats.summary()
        assert stats["calls"] == 1 and stats["retries"] == requests - 1
        assert stats["failures"] == (expected is None) and stats["ok"] == (expected is not None)
        assert stats["errors"] == ({error: 1} if error else {})


def test_slow_past_timeout_is_retried_then_none_in_bounded_time() -> None:
    with FaultServer(default="slow") as srv, client(srv.base_url, timeout_s=0.5, retries=1) as llm:
        started = time.time()
        assert llm.chat(HELLO) is None
        elapsed = time.time() - started
        assert srv.requests == 2 and llm.stats.errors == {"timeout": 1}
        assert elapsed < 10, elapsed  # 2 x 0.5 s timeouts + one backoff, not a hang
    with FaultServer() as srv, client(srv.base_url, timeout_s=0.5) as llm:
        srv.behaviours.append("slow")
        assert llm.chat(HELLO) == "7" and srv.requests == 2


def test_connection_refused_gives_none() -> None:
    port = free_port()
    with client(f"http://127.0.0.1:{port}/v1", retries=1) as llm:
        started = time.time()
        assert llm.chat_many([HELLO, HELLO]) == [None, None]
        assert llm.stats.errors == {"connection": 2} and llm.stats.retries == 2
        assert time.time() - started < 15


def test_server_killed_mid_batch() -> None:
    srv = FaultServer(delay_s=0.15)
    srv.__enter__()
    with client(srv.base_url, concurrency=2, retries=1, timeout_s=2.0) as llm:
        results: list = []
        worker = threading.Thread(target=lambda: results.extend(llm.chat_many([HELLO] * 16, max_tokens=3)))
        worker.start()
        while srv.requests < 4:
            time.sleep(0.01)
        srv.kill()
        worker.join(timeout=60)
        assert not worker.is_alive()
        assert len(results) == 16 and set(results) <= {"7", None}
        answered = results.count("7")
        assert 2 <= answered < 16 and results.count(None) == 16 - answered
        stats = llm.stats.summary()
        assert stats["calls"] == 16 and stats["ok"] == answered and stats["failures"] == 16 - answered


def test_concurrency_is_bounded_and_order_kept() -> None:
    with FaultServer(delay_s=0.1) as srv, client(srv.base_url, concurrency=3) as llm:
        answers = llm.chat_many([[{"role": "user", "content": f"q{i}"}] for i in range(12)])
        assert answers == ["7"] * 12
        assert srv.max_in_flight == 3
        assert srv.prompts and sorted(srv.prompts) == sorted(f"q{i}" for i in range(12))
        stats = llm.stats.summary()
        assert stats["latency_p50_s"] >= 0.1 and stats["latency_p95_s"] >= stats["latency_p50_s"]


def test_async_api_from_another_event_loop() -> None:
    with FaultServer() as srv, client(srv.base_url) as llm:
        async def many() -> list:
            return await asyncio.gather(*(llm.achat(HELLO, max_tokens=3) for _ in range(5)))

        assert asyncio.run(many()) == ["7"] * 5
        assert asyncio.run(many()) == ["7"] * 5  # a second loop works too


def test_response_cache_by_request_hash(tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    with FaultServer() as srv:
        with client(srv.base_url, cache_path=cache) as llm:
            assert llm.chat(HELLO, seed=1) == "7" and llm.chat(HELLO, seed=1) == "7"
            assert llm.chat(HELLO, seed=2) == "7"  # another request: another key
            assert srv.requests == 2 and llm.stats.cache_hits == 1
        srv.answer = "3"
        with client(srv.base_url, cache_path=cache) as again:  # persisted across clients
            assert again.chat(HELLO, seed=1) == "7" and srv.requests == 2


def test_the_cache_knows_which_model_answered(tmp_path: Path) -> None:
    """models.teacher_llm changed, served under the same name: the old model's answers are not reused."""
    cache = tmp_path / "cache.jsonl"
    with FaultServer() as srv:
        with client(srv.base_url, cache_path=cache, identity="sha256:old") as llm:
            assert llm.chat(HELLO, seed=1) == "7"
        srv.answer = "3"
        with client(srv.base_url, cache_path=cache, identity="sha256:new") as llm:
            assert llm.chat(HELLO, seed=1) == "3" and srv.requests == 2
        with client(srv.base_url, cache_path=cache, identity="sha256:old") as llm:
            assert llm.chat(HELLO, seed=1) == "7" and srv.requests == 2


def test_a_line_cut_by_a_kill_loses_no_later_record(tmp_path: Path) -> None:
    """A kill mid-write leaves half a line; the next record appended after it must still be read back."""
    cache = tmp_path / "cache.jsonl"
    with FaultServer() as srv:
        with client(srv.base_url, cache_path=cache) as llm:
            assert llm.chat(HELLO, seed=1) == "7"
        with open(cache, "a") as handle:
            handle.write('{"key": "cut-by-a-ki')  # no newline: the process died here
        with client(srv.base_url, cache_path=cache) as llm:
            assert llm.chat(HELLO, seed=2) == "7" and srv.requests == 2
        with client(srv.base_url, cache_path=cache) as again:
            assert again.chat(HELLO, seed=1) == again.chat(HELLO, seed=2) == "7"
            assert srv.requests == 2 and again.stats.cache_hits == 2  # both records survived


def test_generation_parameters_reach_the_server() -> None:
    """Teacher and rewriter use the same client: sampling parameters and seed are sent as given."""
    with FaultServer(answer="Once upon a time.") as srv, client(srv.base_url) as llm:
        system = {"role": "system", "content": "You are a novelist."}
        texts = llm.chat_many([[system, {"role": "user", "content": "Write."}]] * 2, max_tokens=900,
                              temperature=0.8, seed=11, stop=["THE END."])
        assert texts == ["Once upon a time."] * 2
        body = srv.bodies[0]
        assert (body["max_tokens"], body["temperature"], body["seed"], body["stop"]) == (900, 0.8, 11, ["THE END."])
        assert body["model"] == "fake" and body["messages"][0] == system


def test_the_responses_api_with_faults() -> None:
    """api=responses (the paper's gpt-oss): the messages are the request's input, the sampling parameters keep
    their Responses names, and a failure is a counted None as with chat completions."""
    with FaultServer(answer="A story.") as srv:
        srv.behaviours.extend(["ok", "500", "500", "garbage"])
        with LLMClient(srv.base_url, "fake", timeout_s=5, retries=1, concurrency=1, api="responses") as llm:
            texts = llm.chat_many([HELLO] * 3, max_tokens=700, temperature=1.0, top_p=0.9, seed=3,
                                  extra_body={"min_p": 0.05})
            assert texts == ["A story.", None, None] and llm.stats.errors == {"http_500": 1, "JSONDecodeError": 1}
        body = srv.bodies[0]
        assert body["input"] == HELLO and "messages" not in body and "seed" not in body
        assert (body["max_output_tokens"], body["temperature"], body["top_p"], body["min_p"]) == (700, 1.0, 0.9, 0.05)
    with pytest.raises(ValueError, match="api must be chat or responses"):
        LLMClient("http://127.0.0.1:9/v1", "fake", api="completions")
