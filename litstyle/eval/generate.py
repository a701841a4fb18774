"""Story generation for the evaluation: a local model folder (transformers, batched, sampled) or an
OpenAI-compatible server (the robust client: failures become None and are counted)."""

from __future__ import annotations

import logging
from typing import Sequence

from litstyle.llm.client import LLMClient
from litstyle.training import load_tokenizer

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]


def generate_local(path: str, prompts: Sequence[Messages], *, max_new_tokens: int, temperature: float, top_p: float,
                   repetition_penalty: float, batch_size: int, seed: int, trust_remote_code: bool = False,
                   min_p: float = 0.0, desc: str = "generate") -> list[str]:
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(path, trust_remote_code)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code,
                                                 dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    model.to(device).eval()
    texts: list[str] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, unit="batch"):
        batch = list(prompts[start:start + batch_size])
        enc = tokenizer.apply_chat_template(batch, add_generation_prompt=True, return_tensors="pt", padding=True,
                                            return_dict=True).to(device)
        torch.manual_seed(seed + start)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                                 temperature=temperature or None, top_p=top_p, min_p=min_p or None,
                                 repetition_penalty=repetition_penalty, pad_token_id=tokenizer.pad_token_id)
        texts += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    del model
    return [t.strip() for t in texts]


def generate_remote(base_url: str, model: str, prompts: Sequence[Messages], *, max_new_tokens: int,
                    temperature: float, top_p: float, seed: int, timeout_s: float, retries: int,
                    concurrency: int = 8, repetition_penalty: float | None = None, min_p: float = 0.0,
                    desc: str = "generate", api_key: str = "EMPTY", api: str = "chat") -> tuple[list[str | None], dict]:
    """``repetition_penalty`` and ``min_p`` are vLLM extensions (sent in the request body, only when set),
    not OpenAI parameters; ``api``: chat completions or the Responses API."""

    extra = {k: v for k, v in (("repetition_penalty", repetition_penalty), ("min_p", min_p or None)) if v is not None}
    extra = extra or None
    with LLMClient(base_url, model, timeout_s=timeout_s, retries=retries, concurrency=concurrency,
                   api_key=api_key, api=api) as client:
        texts = client.chat_many(list(prompts), max_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                 seed=[seed + i for i in range(len(prompts))], extra_body=extra, progress=desc)
        return [t.strip() if t is not None else None for t in texts], client.stats.summary()
