"""What every recipe section shares: the strict ``Section`` base, the stylometric feature names, server URLs
without credentials, API keys by environment variable, and "did you mean" for misspelt names."""

from __future__ import annotations

import difflib
import os
import re
from typing import Annotated, Iterable, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict

from litstyle.errors import ConfigError


def closest(name: str, candidates: Iterable[str]) -> str:
    """`` did you mean 'x'?`` for the nearest candidate, or an empty string."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


# the stylometric features of litstyle.style.stylometry (FEATURES; a test keeps the two lists equal)
Stylometry = Literal["function words", "char n-grams", "char 1-5-grams", "punctuation", "sentence lengths",
                     "function-word n-grams"]


class Section(BaseModel):
    """A recipe section: unknown keys, wrong types and unset required keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def keyless_url(value: str | None, where: str = "") -> str | None:
    """An OpenAI-compatible base URL without credentials: they would reach logs and manifests."""
    if value is None:
        return value
    if not is_url(value):
        raise ValueError(f"{where}expected an http(s) URL such as http://127.0.0.1:8000/v1, got {value!r}")
    parts = urlsplit(value)
    if parts.username or parts.password or parts.query:
        raise ValueError(f"{where}the URL holds credentials or a query string; a URL is logged and kept in manifests: "
                         "put the key in an environment variable and name it with api_key_env")
    return value


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError("api_key_env is the NAME of the environment variable that holds the key (such as "
                         "OPENAI_API_KEY), never the key itself")
    return value


EnvName = Annotated[str | None, AfterValidator(_env_name)]


def api_key(env_name: str | None, where: str) -> str:
    """The key from the environment variable ``env_name`` ("EMPTY" for a local vLLM when none is named)."""
    if env_name is None:
        return "EMPTY"
    key = os.environ.get(env_name, "")
    if not key:
        raise ConfigError(f"{where}.api_key_env: the environment variable {env_name} is not set (export it; "
                          "keys never go in a recipe)")
    return key
