"""GRPO rewards: hand-made completions with exact expected values, TRL's calling contract, failures as None."""

from __future__ import annotations

import asyncio
import math

import pytest

from fault_llm_server import FaultServer
from litstyle.llm.client import LLMClient
from litstyle.llm.judge import ContentJudge
from litstyle.errors import ConfigError
from litstyle.registry import REWARD_NAMES, reward_short_name
from litstyle.rewards import (REGISTRY, Resources, build_rewards, completeness_score, make_anti_copy, make_completeness,
                              make_content, text_of)

END = "\nTHE END."


def story(n_words: int, ending: str = END) -> str:
    """A text of ``n_words`` words in all, the ending's words (the reference counts them) included."""
    body = n_words - len([w for w in ending.split() if any(ch.isalpha() for ch in w)])
    return " ".join(["word"] * body) + "." + ending


@pytest.mark.parametrize("n, expected", [
    (499, 0.0), (500, 500 / 1200), (900, 0.75), (1199, 1199 / 1200), (1200, 1.0), (1450, 1.0), (1600, 1.0),
    (1700, 1 - math.sqrt(100 / 1500)), (2000, 1 - math.sqrt(400 / 1500)), (3100, 0.0), (4000, 0.0),
])
def test_completeness_reference_curve(n: int, expected: float) -> None:
    assert completeness_score(story(n)) == pytest.approx(expected)


def test_completeness_reference_value_at_500_is_0417() -> None:
    assert round(completeness_score(story(500)), 3) == 0.417


@pytest.mark.parametrize("ending, loose, strict", [
    (END, 1.0, 1.0), ("\nThe End", 1.0, 0.0), (" THE END!!", 1.0, 0.0), ("\nTHEEND.", 1.0, 0.0),
    ("", 0.0, 0.0), ("\nTHE END. Epilogue follows.", 0.0, 0.0),
])
def test_completeness_needs_the_ending(ending: str, loose: float, strict: float) -> None:
    assert completeness_score(story(1300, ending)) == loose
    assert completeness_score(story(1300, ending), strict=True) == strict


def test_completeness_scales_with_the_target_range() -> None:
    # a 60-100-word demo target: floor 25, plateau 60..106.7, decay 100 (the reference shape, scaled)
    assert completeness_score(story(24), 60, 100) == 0.0
    assert completeness_score(story(30), 60, 100) == pytest.approx(0.5)
    assert completeness_score(story(80), 60, 100) == 1.0
    assert completeness_score(story(131), 60, 100) == pytest.approx(1 - math.sqrt((131 - 1600 / 15) / 100))
    assert completeness_score(story(250), 60, 100) == 0.0


def test_punctuation_is_not_counted() -> None:
    text = " ".join(["word ,"] * 1198) + " -- ! ..." + END
    assert completeness_score(text) == 1.0
    assert completeness_score(" ".join(["word ,"] * 1197) + " --" + END) == pytest.approx(1199 / 1200)


def test_plain_and_chat_completions_give_the_same_values() -> None:
    reward = make_completeness(Resources())
    plain = [story(1300), story(300)]
    chat = [[{"role": "assistant", "content": t}] for t in plain]
    prompts_chat = [[{"role": "user", "content": "Write."}]] * 2
    assert reward(["Write."] * 2, plain) == reward(prompts_chat, chat) == [1.0, 0.0]
    # TRL passes dataset columns and its own helpers as keywords: unknown ones are ignored
    assert reward(["p"] * 2, plain, sample_text=["x", "y"], trainer_state=object(), completion_ids=[[1], [2]],
                  log_metric=lambda *a: None, whatever=1) == [1.0, 0.0]
    assert text_of({"role": "assistant", "content": "hi"}) == "hi"
    with pytest.raises(TypeError, match="expected str or chat messages"):
        text_of(42)


def test_anti_copy_on_hand_made_overlaps() -> None:
    reward = make_anti_copy(Resources(copy_ngram=4))
    sample = "the old mill stood by the river in the rain all winter long"
    prompt = [{"role": "user", "content": "Write about a silver fox in a green wood."}]
    completions = [
        "a b c d e f g h",                                   # nothing shared
        "the old mill stood and then nothing else at all",   # 4 of 10 words in a copied 4-gram
        "the old mill stood by the river in the rain",       # all copied
        "a silver fox in a green wood ran far",              # copied from the prompt: 7 of 9
    ]
    values = reward([prompt] * 4, completions, sample_text=[sample] * 4)
    assert values == pytest.approx([1.0, 0.6, 0.0, 2 / 9])
    # too short to measure (fewer words than two n-grams): 0, not a free 1.0
    assert reward([prompt] * 3, ["", "a b c", "a b c d e f g"], sample_text=[sample] * 3) == [0.0, 0.0, 0.0]


def test_registry_names_and_custom_import() -> None:
    assert REWARD_NAMES == ("style", "content", "completeness", "anti_copy")
    assert tuple(REGISTRY) == REWARD_NAMES  # the names the recipe validation allows are the ones implemented
    funcs = build_rewards(["completeness", "anti_copy", "rewards_for_tests:brevity"], Resources())
    assert [f.__name__ for f in funcs] == ["completeness", "anti_copy", "brevity"]
    assert reward_short_name("rewards_for_tests:brevity") == "brevity"
    with pytest.raises(ConfigError, match="cannot import 'rewards_for_tests:nothing'"):
        build_rewards(["rewards_for_tests:nothing"], Resources())
    with pytest.raises(ValueError, match="needs the style judge"):
        build_rewards(["style"], Resources())


def _content(server: FaultServer, retries: int = 0, concurrency: int = 4):
    client = LLMClient(server.base_url, "fake", timeout_s=2, retries=retries, concurrency=concurrency)
    judge = ContentJudge(client, "Grade {plot}.\n<story>\n{story}\n</story>\n")
    return client, make_content(Resources(content_judge=judge))


def test_content_reward_gates_digits_and_failures_as_none() -> None:
    metrics: dict[str, list[float]] = {}
    with FaultServer(answer="7") as server:
        server.behaviours.extend(["ok", "500", "ok"])
        client, reward = _content(server, concurrency=1)  # requests arrive in input order: the 2nd gets the 500
        try:
            kwargs = {"plot": ["a fox"] * 4, "author": ["Twain, Mark"] * 4, "title": ["Tom Sawyer"] * 4,
                      "sample_text": ["x"] * 4, "log_metric": lambda k, v: metrics.setdefault(k, []).append(v)}
            completions = ["A fox ran." + END, "A fox hid." + END, "Mark Twain wrote this." + END, "no ending"]
            values = asyncio.run(reward(["p"] * 4, completions, **kwargs))
        finally:
            client.close()
    # one 500 (no retries) -> None, not 0; named author -> capped at 0.2; no ending -> 0 without a call
    assert sorted(values[:3], key=lambda v: (v is None, v)) == [0.2, 0.7, None]
    assert values[3] == 0.0 and server.requests == 3
    assert metrics["content/none_rewards"] == [1.0]


def test_content_reward_against_a_dead_server_is_none_quickly() -> None:
    with FaultServer() as server:
        url = server.base_url
    client = LLMClient(url, "fake", timeout_s=1, retries=1, concurrency=2)
    judge = ContentJudge(client, "{plot} {story}")
    reward = make_content(Resources(content_judge=judge))
    try:
        values = asyncio.run(reward(["p"] * 2, ["a" + END, "b" + END], plot=["x"] * 2, author=["A, B"] * 2,
                                    title=["T"] * 2))
    finally:
        client.close()
    assert values == [None, None] and client.stats.failures == 2
