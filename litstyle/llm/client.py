"""One robust client for every OpenAI-compatible LLM server of the pipeline (judge, teacher, rewriter).

- Built on ``openai.AsyncOpenAI``: its own retry logic (exponential backoff with jitter, honours
  ``Retry-After``) retries timeouts, connection errors, 408/409/429 and 5xx, ``retries`` times;
  other 4xx are not retried.
- Bounded concurrency (a semaphore) and a per-call timeout.
- A call that still fails returns ``None`` and is counted; it never raises into the caller (a
  trainer), never exits, never loops forever.
- Runs on a private event loop in a daemon thread, so it works from plain code (``chat``,
  ``chat_many``) and from any other event loop (``achat``), e.g. TRL's async reward functions.
- Optional response cache keyed by a hash of the model's identity, served name and the whole request
  (messages and sampling settings), JSON lines on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import statistics
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Coroutine, Sequence

from litstyle.jsonl import append_records, read_records

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]


@dataclass
class CallStats:
    calls: int = 0  # logical calls (one per request asked for)
    ok: int = 0
    failures: int = 0  # calls that returned None
    attempts: int = 0  # HTTP requests sent, retries included
    cache_hits: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # failure kind -> count
    latencies: list[float] = field(default_factory=list)  # seconds, successful calls

    @property
    def retries(self) -> int:
        return max(0, self.attempts - (self.calls - self.cache_hits))

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))], 4) if lat else None

        return {"calls": self.calls, "ok": self.ok, "failures": self.failures, "retries": self.retries,
                "cache_hits": self.cache_hits, "errors": dict(self.errors),
                "latency_p50_s": pct(0.5), "latency_p95_s": pct(0.95),
                "latency_mean_s": round(statistics.fmean(lat), 4) if lat else None}


class LLMClient:
    def __init__(self, base_url: str, model: str, *, timeout_s: float = 60.0, retries: int = 3,
                 concurrency: int = 8, cache_path: str | Path | None = None, api_key: str = "EMPTY",
                 identity: str | None = None, api: str = "chat") -> None:
        """``api``: ``chat`` (chat completions) or ``responses`` (the Responses API, e.g. gpt-oss: the messages
        are its input; it takes no seed or stop)."""
        if api not in ("chat", "responses"):
            raise ValueError(f"api must be chat or responses, got {api!r}")
        self.base_url = base_url
        self.model = model
        self.api = api
        # what the served name stands for (models.identity): another model behind the same name, or the
        # same name at another server, is another cache key
        self.identity = identity or base_url
        self.stats = CallStats()
        self._lock = threading.Lock()
        self._cache_path = Path(cache_path) if cache_path else None
        self._cache: dict[str, str] = self._load_cache()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="litstyle-llm", daemon=True)
        self._thread.start()
        self._submit(self._setup(timeout_s, retries, concurrency, api_key)).result()

    async def _setup(self, timeout_s: float, retries: int, concurrency: int, api_key: str) -> None:
        from openai import AsyncOpenAI, DefaultAsyncHttpxClient

        async def count_attempt(_request: Any) -> None:
            with self._lock:
                self.stats.attempts += 1

        http = DefaultAsyncHttpxClient(event_hooks={"request": [count_attempt]})
        self._client = AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout_s,
                                   max_retries=retries, http_client=http)
        self._semaphore = asyncio.Semaphore(concurrency)

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # --- cache -------------------------------------------------------------------------------
    def _load_cache(self) -> dict[str, str]:
        if not self._cache_path:
            return {}
        return {r["key"]: r["text"] for r in read_records(self._cache_path) if isinstance(r.get("text"), str) and "key" in r}

    def _remember(self, key: str, text: str) -> None:
        self._cache[key] = text
        if self._cache_path:
            append_records(self._cache_path, [{"key": key, "text": text}])

    # --- calls -------------------------------------------------------------------------------
    async def _chat(self, messages: Messages, params: dict[str, Any]) -> str | None:
        from openai import APIConnectionError, APIStatusError, APITimeoutError, OpenAIError

        request = {"model": self.model, "identity": self.identity, "messages": messages, **params,
                   **({"api": self.api} if self.api != "chat" else {})}
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        with self._lock:
            self.stats.calls += 1
            if key in self._cache:
                self.stats.cache_hits += 1
                self.stats.ok += 1
                return self._cache[key]
        extra_body = params.pop("extra_body", None)
        kind = None
        started = time.perf_counter()
        async with self._semaphore:
            try:
                if self.api == "responses":
                    response = await self._client.responses.create(
                        model=self.model, input=messages, extra_body=extra_body, **_responses_params(params))
                    text = response.output_text or None
                else:
                    response = await self._client.chat.completions.create(
                        model=self.model, messages=messages, extra_body=extra_body, **params)
                    text = response.choices[0].message.content if response.choices else None
                if not isinstance(text, str):
                    kind = "no_text"
            except APITimeoutError:
                kind = "timeout"
            except APIConnectionError:
                kind = "connection"
            except APIStatusError as exc:
                kind = f"http_{exc.status_code}"
            except (OpenAIError, ValueError, AttributeError, IndexError, TypeError) as exc:
                kind = type(exc).__name__  # e.g. a body that is not JSON
        with self._lock:
            if kind is not None:
                self.stats.failures += 1
                self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
                log.warning("LLM call to %s failed after retries: %s", self.base_url, kind)
                return None
            self.stats.ok += 1
            self.stats.latencies.append(time.perf_counter() - started)
            if self._cache_path is not None:
                self._remember(key, text)
        return text

    @staticmethod
    def _params(max_tokens: int, temperature: float, seed: int | None, extra_body: dict | None,
                stop: Sequence[str] | None, top_p: float | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        if top_p is not None:
            params["top_p"] = top_p
        if seed is not None:
            params["seed"] = seed
        if stop:
            params["stop"] = list(stop)
        if extra_body:
            params["extra_body"] = extra_body
        return params

    async def achat(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0,
                    seed: int | None = None, extra_body: dict | None = None,
                    stop: Sequence[str] | None = None) -> str | None:
        """Await one chat completion from any event loop. Returns the text or None."""
        params = self._params(max_tokens, temperature, seed, extra_body, stop)
        return await asyncio.wrap_future(self._submit(self._chat(messages, params)))

    def chat(self, messages: Messages, **kwargs: Any) -> str | None:
        """One chat completion (blocking). Returns the text or None."""
        return self.chat_many([messages], **kwargs)[0]

    def chat_many(self, batch: Sequence[Messages], *, max_tokens: int = 256, temperature: float = 0.0,
                  seed: int | Sequence[int] | None = None, extra_body: dict | None = None,
                  stop: Sequence[str] | None = None, top_p: float | None = None,
                  progress: str | None = None) -> list[str | None]:
        """Many chat completions, at most ``concurrency`` at a time; results in input order.
        ``seed`` may be one seed per request (several samples of one prompt); ``progress`` names a
        tqdm bar."""
        from tqdm.auto import tqdm

        seeds = list(seed) if isinstance(seed, Sequence) else [seed] * len(batch)
        if len(seeds) != len(batch):
            raise ValueError(f"{len(seeds)} seeds for {len(batch)} requests")
        futures = [self._submit(self._chat(m, self._params(max_tokens, temperature, s, extra_body, stop, top_p)))
                   for m, s in zip(batch, seeds)]
        return [f.result() for f in tqdm(futures, desc=progress, unit="call", disable=progress is None)]

    def close(self) -> None:
        if self._loop.is_running():
            self._submit(self._client.close()).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _responses_params(params: dict[str, Any]) -> dict[str, Any]:
    """Chat-completion sampling parameters as the Responses API names them (it has no seed or stop)."""
    out = {k: v for k, v in params.items() if k not in ("seed", "stop", "max_tokens")}
    out["max_output_tokens"] = params["max_tokens"]
    return out
