"""The content judge: one digit 0-9 from an LLM for plot adherence + writing quality, as reward/10.

The hard rules are enforced in code, whatever the LLM answers:
- the last non-empty line is not exactly ``THE END.`` -> 0 (no call is made);
- the author or the title is named in the story (as a name: capitalised) -> at most 2.

A story is text to grade, never instructions, so the prompt is built for a hostile one:
- it sits in a block whose delimiter (``<story-XXXXXXXXXX>``) is new for every story and plot: derived
  from their hash, so the story's writer cannot know it, and the same story still gets the same prompt
  (cached answers, reproducible rewards);
- every character that looks like an angle bracket (``<``, ``‹``, ``＜``, ``〈``, ...) becomes a
  parenthesis, zero-width characters are dropped and ``[INST]``-style chat markers are broken, so
  nothing in the story or plot can close the block, open another or forge a chat-template turn;
- the template repeats the rubric and the answer format after the block, so the last instruction the
  LLM reads is the editor's;
- the fixed instructions and the plot come first, so vLLM's prefix cache re-uses them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from pathlib import Path
from typing import Sequence

from litstyle.command import parser, report_errors
from litstyle.config import load_recipe
from litstyle.errors import ConfigError
from litstyle.llm.client import LLMClient
from litstyle.log import setup_logging
from litstyle.serve import client_for
from litstyle.text import ends_properly

log = logging.getLogger(__name__)

NAMED_CAP = 2
DIGIT = re.compile(r"\s*([0-9])\b")
# vLLM >= 0.12 reads structured_outputs; the older guided_regex is silently ignored there.
DIGIT_ONLY = {"structured_outputs": {"regex": "^[0-9]$"}}
# angle brackets and their look-alikes -> parentheses; invisible characters -> nothing
_LEFT, _RIGHT = "<\u2039\uff1c\u3008\u2329\u27e8\u300a\ufe64\u02c2\u276c\u276e\u2770\u1438", \
    ">\u203a\uff1e\u3009\u232a\u27e9\u300b\ufe65\u02c3\u276d\u276f\u2771\u1433"
_NEUTRAL = str.maketrans({**dict.fromkeys(_LEFT, "("), **dict.fromkeys(_RIGHT, ")"),
                          **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad")})
_CHAT_MARKER = re.compile(r"\[(/?)(INST|SYS|SYSTEM|ASSISTANT|USER)\]", re.IGNORECASE)


def neutralise(text: str) -> str:
    """``text`` with nothing that can act as a tag or a chat-template marker."""
    return _CHAT_MARKER.sub(r"(\1\2)", text.translate(_NEUTRAL))


def block_tag(story: str, plot: str) -> str:
    """The story block's delimiter: from the hash of the story and the plot, absent from both."""
    for salt in range(100):
        tag = "story-" + hashlib.sha256(f"{salt}\0{plot}\0{story}".encode()).hexdigest()[:10]
        if tag not in story and tag not in plot:
            return tag
    raise ValueError("no story delimiter found that the story does not contain")  # 100 hash collisions


def _name_pattern(name: str, *, exact_case: bool) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", 0 if exact_case else re.IGNORECASE)


def names_author_or_title(story: str, author: str, title: str) -> bool:
    """True when the story names the author or the book's main title *as a name*: the surname and the
    title as written (capitalised: "Hardy", not "the hardy shepherd"; "Hard Times", not "hard times"),
    the full name "First Last" in any case."""
    last, _, first = (part.strip() for part in author.partition(","))
    first = re.sub(r"\s*\(.*?\)", "", first).strip()  # "Charles (1812-1870)", "H. G. (Herbert George)"
    main_title = re.split(r"[:;]", title)[0].strip()
    patterns = []
    if last:
        patterns.append(_name_pattern(last, exact_case=True))
        if first:
            patterns.append(_name_pattern(f"{first} {last}", exact_case=False))
    if len(main_title) > 3:
        patterns.append(_name_pattern(main_title, exact_case=True))
    return any(p.search(story) for p in patterns)


def missing_fields(template: str) -> list[str]:
    """The fields a judge prompt template must hold (``{plot}``, ``{story}``) that ``template`` lacks."""
    return [field for field in ("{plot}", "{story}") if field not in template]


def parse_digit(text: str | None) -> int | None:
    match = DIGIT.match(text or "")
    return int(match.group(1)) if match else None


class ContentJudge:
    """Scores completions through an :class:`LLMClient`; returns reward in [0, 1] or None."""

    def __init__(self, client: LLMClient, template: str) -> None:
        if missing_fields(template):
            raise ValueError("judge prompt template needs the placeholders {plot} and {story}")
        self.client = client
        self.template = template
        self.unparseable = 0

    @classmethod
    def from_file(cls, client: LLMClient, path: str | Path) -> ContentJudge:
        return cls(client, Path(path).read_text(encoding="utf-8"))

    def prompt(self, story: str, plot: str) -> str:
        story, plot = neutralise(story.strip()), neutralise(plot)
        tag = block_tag(story, plot)
        # the template's fields are filled before the story and plot go in (str.replace, not str.format:
        # braces in a story are text, and a "{tag}" in it is not a field)
        head, _, tail = self.template.replace("{tag}", tag).partition("{story}")
        return head.replace("{plot}", plot) + story + tail

    def _messages(self, story: str, plot: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompt(story, plot)}]

    def _reward(self, answer: str | None, capped: bool) -> float | None:
        digit = parse_digit(answer)
        if digit is None:
            if answer is not None:
                self.unparseable += 1
                log.warning("content judge answered %r, not a digit: reward None", answer[:40])
            return None
        return min(digit, NAMED_CAP) / 10 if capped else digit / 10

    async def ascore(self, story: str, plot: str, author: str, title: str) -> float | None:
        if not ends_properly(story):
            return 0.0
        answer = await self.client.achat(self._messages(story, plot), max_tokens=3, temperature=0.0,
                                         extra_body=DIGIT_ONLY)
        return self._reward(answer, names_author_or_title(story, author, title))

    def score(self, stories: Sequence[str], plots: Sequence[str], authors: Sequence[str],
              titles: Sequence[str]) -> list[float | None]:
        """Blocking batch scoring (concurrent up to the client's limit)."""
        rewards: list[float | None] = [0.0] * len(stories)
        todo = [i for i, story in enumerate(stories) if ends_properly(story)]
        answers = self.client.chat_many([self._messages(stories[i], plots[i]) for i in todo], max_tokens=3,
                                        temperature=0.0, extra_body=DIGIT_ONLY)
        for i, answer in zip(todo, answers):
            rewards[i] = self._reward(answer, names_author_or_title(stories[i], authors[i], titles[i]))
        return rewards


def main(argv: list[str] | None = None) -> int:
    """Score one story file through the judge server of a recipe (started with litstyle.serve)."""
    p = parser("python -m litstyle.llm.judge", "Score one story with the content judge.", stage_flags=False)
    p.add_argument("--story", required=True, help="a text file with the story")
    p.add_argument("--plot", required=True)
    p.add_argument("--author", required=True, help='as in run.authors, e.g. "Twain, Mark"')
    p.add_argument("--title", required=True)
    args = p.parse_intermixed_args(argv)

    def body() -> int:
        recipe = load_recipe(args.config, args.overrides)
        story_file = Path(args.story)
        if not story_file.is_file():
            raise ConfigError(f"--story: file not found: {story_file}")
        setup_logging(args.log_level or recipe.run.log_level)
        with client_for(recipe, "judge") as client:
            judge = ContentJudge.from_file(client, recipe.llm.judge_prompt)
            reward = judge.score([story_file.read_text(encoding="utf-8")], [args.plot], [args.author],
                                 [args.title])[0]
        sys.stdout.write(f"{'None' if reward is None else f'{reward:.1f}'}\n")
        return 0 if reward is not None else 1

    return report_errors(body)


if __name__ == "__main__":
    sys.exit(main())
