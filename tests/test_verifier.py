"""The cross-book verifier (litstyle.style.verifier) on real book text: trained on some books of eight
authors, it recognises the targets' held-out books, saves and loads exactly, scores too-short text at the
floor, and is not gamed by planted text: another author's passage stuffed with the target's names or its
favourite function words, or the target's own reference sentences shuffled (with the anti-copy reward); as
the GRPO style reward it scores P(the row's author)."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gutenberg_server import SHARED
from litstyle.corpus.chunk import pack, sentence_units
from litstyle.corpus.clean import clean_book
from litstyle.judge.benchmark import auc
from litstyle.rewards import Resources, make_anti_copy
from litstyle.style.verifier import Verifier

TWAIN, DICKENS, AUSTEN, HARDY = "Mark Twain", "Charles Dickens", "Jane Austen", "Thomas Hardy"
TRAIN = {TWAIN: [74, 245, 86], DICKENS: [1400, 580], AUSTEN: [158, 141], HARDY: [153, 107],
         "Arthur Conan Doyle": [1661, 244], "Robert Louis Stevenson": [43, 421], "H. G. Wells": [35, 36],
         "Edith Wharton": [541, 284]}
HELD = {TWAIN: 76, DICKENS: 98, AUSTEN: 1342, HARDY: 110}  # never trained on
TARGETS = [TWAIN, DICKENS, AUSTEN, HARDY]
MARGIN = 0.05  # a planted variant may score at most this much above its clean passage (mean over passages)


def chunks(book: int, n: int, words: int = 500) -> list[str]:
    text, _ = clean_book((SHARED / f"{book}.txt").read_bytes())
    out, _ = pack(sentence_units(text), words)
    rng = random.Random(book)
    return [out[i] for i in sorted(rng.sample(range(len(out)), n))]


@pytest.fixture(scope="module")
def trained() -> tuple[Verifier, dict[str, list[str]], dict[str, list[str]]]:
    train = {a: [c for b in books for c in chunks(b, 20)] for a, books in TRAIN.items()}
    rows = [(a, b, c) for a, books in TRAIN.items() for b in books for c in chunks(b, 20)]
    verifier = Verifier.fit([r[2] for r in rows], [r[0] for r in rows], [r[1] for r in rows], seed=0)
    held = {a: chunks(b, 10) for a, b in HELD.items()}
    return verifier, train, held


def test_it_knows_the_targets_in_books_it_never_saw(trained) -> None:
    verifier, _, held = trained
    texts = [t for a in TARGETS for t in held[a]]
    truth = np.array([verifier.authors.index(a) for a in TARGETS for _ in held[a]])
    probs = verifier.probabilities(texts)
    assert probs.shape == (40, 8) and ((0 <= probs) & (probs <= 1)).all()
    own = probs[np.arange(40), truth]
    mask = np.ones_like(probs, dtype=bool)
    mask[np.arange(40), truth] = False
    others = probs[mask]
    assert auc(own, others) > 0.9  # own-profile AUC, 8 authors, held-out books
    four = [verifier.authors.index(a) for a in TARGETS]
    assert (np.asarray(four)[probs[:, four].argmax(axis=1)] == truth).mean() >= 0.8  # 4-way attribution
    assert verifier.score(held[TWAIN][:2], [TWAIN, TWAIN]) == pytest.approx(list(probs[:2, truth[0]]))
    # pairs: a held-out chunk with a chunk of the same author's other book against another author's
    same = verifier.pair_scores(held[TWAIN] + held[AUSTEN], trained[1][TWAIN][:10] + trained[1][AUSTEN][:10])
    cross = verifier.pair_scores(held[TWAIN] + held[AUSTEN], trained[1][AUSTEN][:10] + trained[1][TWAIN][:10])
    assert auc(same, cross) > 0.8


def test_it_saves_loads_and_floors_short_text(trained, tmp_path: Path) -> None:
    verifier, _, held = trained
    verifier.save(tmp_path)
    again = Verifier.load(tmp_path)
    assert again.authors == verifier.authors and again.view == verifier.view
    assert np.allclose(again.probabilities(held[HARDY]), verifier.probabilities(held[HARDY]))
    assert np.allclose(again.pair_scores(held[HARDY], held[DICKENS]), verifier.pair_scores(held[HARDY], held[DICKENS]))
    assert Verifier.load(tmp_path / "nothing") is None
    assert verifier.score(["", "Huck.", " ".join(held[TWAIN][0].split()[:40])], [TWAIN] * 3) == [0.0, 0.0, 0.0]
    with pytest.raises(KeyError, match="no profile of 'Herman Melville'"):
        verifier.score(["some text"], ["Herman Melville"])


def _names(texts: list[str], verifier: Verifier, n: int = 15) -> list[str]:
    """The author's most frequent capitalised words that the verifier's view masks: its character and
    place names (Huck, Tom, Jim, ...)."""
    counts = Counter(w for t in texts for w in re.findall(r"\b[A-Z][a-z]{2,}\b", t)
                     if w.lower() not in verifier.view.keep)
    return [w for w, _ in counts.most_common(n)]


def _function_words(texts: list[str], verifier: Verifier, over_used: bool, n: int = 10) -> list[str]:
    """The author's most frequent function words (``over_used``: those it over-uses most against the other
    authors, highest mean z-score in its training chunks)."""
    family = verifier.families["function words"]
    freqs = family.frequencies([verifier.view.apply(t) for t in texts])
    rank = ((freqs - family.mean) / family.std if over_used else freqs).mean(axis=0)
    return [family.vocab[i] for i in np.argsort(-rank)[:n]]


def _splice(text: str, words: list[str], every: int) -> str:
    out = []
    for i, w in enumerate(text.split()):
        out.append(w)
        if i % every == every - 1:
            out.append(words[(i // every) % len(words)])
    return " ".join(out)


def test_planted_text_does_not_game_it(trained) -> None:
    verifier, train, held = trained
    names = _names(train[TWAIN], verifier)
    assert {"Huck", "Becky", "Mississippi"} <= set(names), names
    clean = held[DICKENS][:4] + held[AUSTEN][:3] + held[HARDY][:3]  # another author's clean passages
    base = np.array(verifier.score(clean, [TWAIN] * len(clean)))
    planted = {"names, every 8th word": (names, 8)}
    for over_used in (False, True):
        words = _function_words(train[TWAIN], verifier, over_used)
        for every in (5, 12):
            planted[f"{'over-used' if over_used else 'most frequent'} function words, every {every}th"] = (words, every)
    for what, (words, every) in planted.items():
        score = np.array(verifier.score([_splice(t, words, every) for t in clean], [TWAIN] * len(clean)))
        print(f"P(Twain): clean {base.mean():.3f}, {what} {score.mean():.3f} ({', '.join(words[:5])}, ...)")
        assert (score - base).mean() <= MARGIN, what
    # Twain's own reference passages, sentences shuffled: the verifier likes them, the anti-copy reward does not
    anti_copy = make_anti_copy(Resources())
    refs = train[TWAIN][:5]
    shuffled = []
    for i, ref in enumerate(refs):
        sentences = re.split(r"(?<=[.!?])\s+", ref)
        random.Random(i).shuffle(sentences)
        shuffled.append(" ".join(sentences))
    fresh = held[TWAIN][:5]
    prompts = ["Write a story."] * 5
    planted = np.array(verifier.score(shuffled, [TWAIN] * 5)) + np.array(
        anti_copy(prompts, shuffled, sample_text=refs))
    honest = np.array(verifier.score(fresh, [TWAIN] * 5)) + np.array(anti_copy(prompts, fresh, sample_text=refs))
    print(f"style + anti_copy: shuffled reference {planted.mean():.3f}, clean held-out Twain {honest.mean():.3f}")
    assert planted.mean() < honest.mean()


def test_the_style_reward_scores_with_it(trained, tmp_path: Path) -> None:
    """``judge.style_score: verifier``: the GRPO style reward is P(the row's author), chat completions too."""
    import asyncio

    from conftest import DEMO
    from litstyle.config import load_recipe
    from litstyle.errors import StageError
    from litstyle.rewards import make_style
    from litstyle.style.scorer import StyleScore, style_score

    verifier, _, held = trained
    reward = make_style(Resources(style_scorer=StyleScore(verifier=verifier)))
    completions = [held[AUSTEN][0], [{"role": "assistant", "content": held[TWAIN][0]}], "Too short."]
    got = asyncio.run(reward(["p"] * 3, completions, sample_text=["ref"] * 3, author=[AUSTEN, TWAIN, TWAIN]))
    assert got == pytest.approx(verifier.score([held[AUSTEN][0], held[TWAIN][0], "Too short."],
                                               [AUSTEN, TWAIN, TWAIN]))
    assert all(0 <= g <= 1 for g in got) and got[2] == 0.0
    as_austen = asyncio.run(reward(["p"], [held[TWAIN][0]], sample_text=["ref"], author=[AUSTEN]))
    assert as_austen[0] < got[1]  # the row's author decides
    with pytest.raises(ValueError, match="exactly one"):
        StyleScore()
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path}", "judge.verifier.enabled=true", "judge.style_score=verifier"])
    (tmp_path / "judge" / "model").mkdir(parents=True)
    with pytest.raises(StageError, match=r"no verifier in .*judge/model .*rerun the judge stage"):
        style_score(recipe, tmp_path / "judge")
    verifier.save(tmp_path / "judge" / "model")
    assert style_score(recipe, tmp_path / "judge").score(held[HARDY][:1], ["x"], [HARDY]) == pytest.approx(
        verifier.score(held[HARDY][:1], [HARDY]))
