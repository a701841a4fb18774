"""Style-judge pairs: the integrity formula and its zones, author-disjoint splits, balanced bins,
byte-identical rebuilds, failed rewrites skipped and counted."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conftest import DEMO
from fault_llm_server import FaultServer
from litstyle.config import load_recipe
from litstyle.judge.pairs import (BOOK_SPLIT, Chunk, PairSampler, fold_books, Rewrite, fill_gaps, gap_prompts, graded_pairs,
                                  graded_score, integrity, mask_longest, split_authors, split_books)
from litstyle.rundir import file_sha256, run_stage


@pytest.mark.parametrize("r1,r2,integ,same,diff", [
    # hand-computed: integrity, then n = (max(i, .19) - .19) / .81, then the zone score rounded to 0.1
    (0.1, 0.1, 0.99, 0.9, 0.1),        # n = .9877: same .9938 -> 1.0 clipped to .9; diff .0062 -> .0 -> .1
    (0.5, 0.5, 0.75, 0.8, 0.2),        # n = .6914: .8457 / .1543
    (0.1, 0.9, 0.43370, 0.7, 0.3),     # n = .3009: .6504 / .3496
    (0.7, 0.3, 0.68125, 0.8, 0.2),     # n = .6065: .8032 / .1968
    (0.8, 0.8, 0.36, 0.6, 0.4),        # n = .2099: .6049 / .3951
    (0.9, 0.5, 0.37749, 0.6, 0.4),     # n = .2315: .6157 / .3843
    (0.9, 0.9, 0.19, 0.6, 0.4),        # n = 0: 0.5 is never used -> the zone's nearest bin
])
def test_integrity_formula_table(r1: float, r2: float, integ: float, same: float, diff: float) -> None:
    assert integrity(r1, r2) == pytest.approx(integ, abs=1e-4)
    assert graded_score(r1, r2, True) == same and graded_score(r1, r2, False) == diff
    assert graded_score(r2, r1, True) == same  # symmetric


def test_scores_never_half_and_stay_in_zones() -> None:
    ratios = [i / 20 for i in range(1, 20)]
    for r1 in ratios:
        for r2 in ratios:
            assert 0.6 <= graded_score(r1, r2, True) <= 0.9
            assert 0.1 <= graded_score(r1, r2, False) <= 0.4


def test_mask_longest_and_gap_filling() -> None:
    text = "We left early. The road ran long and grey beside the slow river. It rained on us. We slept."
    sentences, masked = mask_longest(text, 0.5)  # 19 words: the longest (10) covers half
    assert len(sentences) == 4 and masked == [1]
    sentences, masked = mask_longest(text, 0.7)  # 10 < 13.3: the next longest (4 words) too
    assert masked == [1, 2]
    prompts = gap_prompts(sentences, masked)
    assert len(prompts) == 2 and "[MISSING]" in prompts[0][1]["content"] and "[...]" in prompts[0][1]["content"]
    assert "grey" not in prompts[0][1]["content"] and "We left early." in prompts[0][1]["content"]
    assert "about 10 words" in prompts[0][1]["content"]
    assert fill_gaps(sentences, masked, ["New one.\nextra line", "Other."]) == "We left early. New one. Other. We slept."
    assert fill_gaps(sentences, masked, ["New one.", None]) is None
    assert fill_gaps(sentences, masked, ["New one.", "   "]) is None


def test_author_disjoint_splits_spread_multi_book_authors() -> None:
    chunks = {}
    for a in range(12):
        books = [a * 10, a * 10 + 1] if a < 4 else [a * 10]
        chunks[f"author{a}"] = [Chunk(f"{b}:{i}", f"author{a}", b, "x") for b in books for i in range(10 + a)]
    first = split_authors(chunks, [0.76, 0.12, 0.12], seed=3)
    assert first == split_authors(chunks, [0.76, 0.12, 0.12], seed=3)
    assert set(first) == set(chunks)
    for split in ("train", "validation", "test"):
        assert any(first[f"author{a}"] == split for a in range(4)), split  # same-author pairs everywhere
    share = sum(len(chunks[a]) for a, s in first.items() if s == "train") / sum(map(len, chunks.values()))
    assert 0.6 < share < 0.9


def _library(n_authors: int = 14, multi: int = 9) -> dict[str, list[Chunk]]:
    """``n_authors`` synthetic authors, the first ``multi`` with two books."""
    chunks = {}
    for a in range(n_authors):
        books = [a * 10, a * 10 + 1] if a < multi else [a * 10]
        chunks[f"author{a}"] = [Chunk(f"{b}:{i}", f"author{a}", b, "x") for b in books for i in range(10 + a)]
    return chunks


def test_author_disjoint_books_never_share_an_author() -> None:
    chunks = _library()
    books = split_books(chunks, [0.76, 0.12, 0.12], 5, "author_disjoint", targets=["author0"])
    assert BOOK_SPLIT not in books.values()
    for author, cs in chunks.items():
        assert len({books[c.book_id] for c in cs}) == 1, author  # an author's books all in one split
    with pytest.raises(ValueError, match="unknown split mode .by_title.: one of author_disjoint, book_disjoint, all_books"):
        split_books(chunks, [0.76, 0.12, 0.12], 5, "by_title")


def test_all_books_trains_every_book_and_folds_hold_out_one_book_of_distinct_authors() -> None:
    chunks = _library()
    targets = ["author0", "author1", "author2", "author3"]
    books = split_books(chunks, [0.76, 0.12, 0.12], 5, "all_books", targets=targets)
    assert BOOK_SPLIT not in books.values()
    for author, cs in chunks.items():  # every author's books in one split; the targets train on all of theirs
        assert len({books[c.book_id] for c in cs}) == 1, author
    assert all(books[c.book_id] == "train" for a in targets for c in chunks[a])
    folds = fold_books(chunks, books, 3, 5)
    assert folds == fold_books(chunks, books, 3, 5) and len(folds) == 3
    held = [b for fold in folds for b in fold]
    owner = {c.book_id: a for a, cs in chunks.items() for c in cs}
    multi = [a for a, cs in chunks.items() if books[cs[0].book_id] == "train" and len({c.book_id for c in cs}) >= 2]
    assert sorted(owner[b] for b in held) == sorted(multi)  # one book of every two-book training author, once
    assert all(books[b] == "train" for b in held) and max(map(len, folds)) - min(map(len, folds)) <= 1
    with pytest.raises(ValueError, match="40 folds need 40 training authors with 2\\+ books; there are"):
        fold_books(chunks, books, 40, 5)


def test_book_disjoint_holds_out_one_book_of_every_multi_book_training_author() -> None:
    chunks = _library()
    targets = ["author0", "author1", "author2", "author3"]  # all four pinned to training
    books = split_books(chunks, [0.76, 0.12, 0.12], 5, "book_disjoint", targets=targets)
    assert books == split_books(chunks, [0.76, 0.12, 0.12], 5, "book_disjoint", targets=targets)
    assert set(books) == {c.book_id for cs in chunks.values() for c in cs}  # every book in exactly one split
    training = {a for a, cs in chunks.items() if any(books[c.book_id] == "train" for c in cs)}
    assert set(targets) <= training
    for author, cs in chunks.items():
        splits = sorted(books[b] for b in {c.book_id for c in cs})
        if author in training and len(splits) == 2:
            assert splits == [BOOK_SPLIT, "train"], author  # one book learned, the other unseen
        else:
            assert len(set(splits)) == 1 and (author in training) == (splits[0] == "train"), author
    for split in ("validation", "test"):  # held-out authors keep both books for same-author pairs
        held = [a for a, cs in chunks.items() if books[cs[0].book_id] == split]
        assert held and any(len({c.book_id for c in chunks[a]}) == 2 for a in held), split


def test_pair_sampler_anchors_and_same_book_pairs() -> None:
    items = [("A", 1, f"a1-{i}") for i in range(5)] + [("A", 2, f"a2-{i}") for i in range(5)] + \
            [("B", 3, f"b3-{i}") for i in range(5)] + [("C", 4, f"c4-{i}") for i in range(5)]
    rng = random.Random(1)
    anchored = PairSampler(items, lambda c: c[0], lambda c: c[1], anchor=lambda c: c[1] == 2)
    assert anchored.multi == ["A"]
    for _ in range(50):
        first, second = anchored.same(rng)
        assert first[1] == 2 and second[1] == 1  # the unseen book first, the author's other book second
        first, second = anchored.cross(rng)
        assert first[1] == 2 and second[0] != "A"
    plain = PairSampler(items, lambda c: c[0], lambda c: c[1])
    assert plain.multi == ["A"]  # B and C have one book: no same-author pairs without same_book
    same_book = PairSampler(items, lambda c: c[0], lambda c: c[1], same_book=True)
    assert same_book.multi == ["A", "B", "C"]
    for _ in range(50):
        first, second = same_book.same(rng)
        assert first[0] == second[0] and first is not second
        if first[0] == "A":
            assert first[1] != second[1]  # an author with two books still pairs across books


def test_graded_pairs_fill_bins_evenly() -> None:
    rewrites = [Rewrite(Chunk(f"{a}{b}:{i}", a, b, f"t{a}{b}{i}"), r, f"text {a}{b}{i}")
                for a, books in (("A", (1, 2)), ("B", (3, 4)), ("C", (5,)))
                for b in books for i, r in enumerate((0.1, 0.3, 0.5, 0.7, 0.9))]
    rows = graded_pairs(rewrites, 40, random.Random(0))
    assert len(rows) == 40
    counts = {}
    for row in rows:
        counts[row["score"]] = counts.get(row["score"], 0) + 1
        assert row["score"] != 0.5 and (row["author1"] == row["author2"]) == (row["score"] > 0.5)
        assert not (row["author1"] == row["author2"] and row["book1"] == row["book2"])
        assert row["score"] == graded_score(row["mask1"], row["mask2"], row["author1"] == row["author2"])
    assert max(counts.values()) - min(counts.values()) <= 1 or len(counts) < 8


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus (local shared mirror), built once for this module."""
    from litstyle.stages import get_stage

    run_dir = tmp_path_factory.mktemp("pairs_run")
    run_stage(load_recipe(DEMO, [f"run.run_dir={run_dir}", "corpus.chunk_words=[128]", "judge_benchmark.chunk_words=[128]"]), get_stage("corpus"))
    return run_dir


def _pairs_recipe(run_dir: Path, url: str, *extra: str):
    return load_recipe(DEMO, [f"run.run_dir={run_dir}", "corpus.chunk_words=[128]", "judge_benchmark.chunk_words=[128]", f"llm.rewriter.base_url={url}",
                              "llm.rewriter.retries=0", "judge_pairs.graded_fraction=0.2", "judge_pairs.train_pairs=240",
                              "judge_pairs.split=author_disjoint", *extra])


def test_pairs_stage_end_to_end(corpus_run: Path) -> None:
    from datasets import load_from_disk

    from litstyle.stages import get_stage

    with FaultServer(answer="The wind moved softly over the quiet fields at dusk.") as srv:
        srv.behaviours.extend(["400"] * 3)  # three failed rewrites: their chunks are skipped and counted
        result = run_stage(_pairs_recipe(corpus_run, srv.base_url), get_stage("judge_pairs"))
    data = load_from_disk(str(result.path))
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert 1 <= manifest["counts"]["rewrites_failed"] <= 3 and manifest["rewriter_calls"]["failures"] == 3
    assert manifest["counts"]["rewrites"] > 20
    authors = {s: set(data[s]["author1"]) | set(data[s]["author2"]) for s in data}
    assert not authors["train"] & authors["validation"] and not authors["train"] & authors["test"]
    assert not authors["validation"] & authors["test"]
    for split in data:
        scores = data[split]["score"]
        assert 0.5 not in scores
        assert set(round(x, 1) for x in scores) <= {0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0}
        extremes = [x for x, k in zip(scores, data[split]["kind"]) if k == "extreme"]
        assert abs(extremes.count(1.0) - extremes.count(0.0)) <= 1
        for row in data[split]:
            if row["score"] == 1.0:
                assert row["author1"] == row["author2"] and row["book1"] != row["book2"]
            if row["score"] == 0.0:
                assert row["author1"] != row["author2"]
    assert len(data["train"]) == 240 and sum(k == "graded" for k in data["train"]["kind"]) >= 40
    assert manifest["counts"]["splits"]["train"]["pairs"] == 240
    card = (result.path / "README.md").read_text()
    assert "| train | 240 |" in card and "0.5 never used" in card


def test_rebuild_is_byte_identical(corpus_run: Path, tmp_path: Path) -> None:
    from litstyle.stages import get_stage

    builds = []
    with FaultServer(answer="A plain new sentence stood in its place.") as srv:
        for name in ("one", "two"):
            recipe = _pairs_recipe(tmp_path / name, srv.base_url)
            (tmp_path / name).mkdir()
            (tmp_path / name / "corpus").symlink_to(corpus_run / "corpus")
            builds.append(run_stage(recipe, get_stage("judge_pairs")).path)
    for split in ("train", "validation", "test"):
        names = sorted(p.name for p in (builds[0] / split).glob("*.arrow"))
        assert names
        assert [file_sha256(builds[0] / split / n) for n in names] == \
               [file_sha256(builds[1] / split / n) for n in names]


def test_book_disjoint_stage(corpus_run: Path, tmp_path: Path) -> None:
    from datasets import load_from_disk

    from litstyle.stages import get_stage

    (tmp_path / "corpus").symlink_to(corpus_run / "corpus")
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path}", "corpus.chunk_words=[128]",
                                       "judge_benchmark.chunk_words=[128]", "judge_pairs.graded_fraction=0",
                                       "judge_pairs.split=book_disjoint", 'run.authors=["Twain, Mark", "Dickens, Charles"]'])
    result = run_stage(recipe, get_stage("judge_pairs"))
    split = json.loads((result.path / "split.json").read_text())
    books = {int(b): s for b, s in split["books"].items()}
    assert split["mode"] == "book_disjoint"
    assert {"Twain, Mark", "Dickens, Charles"} <= set(split["authors"]["train"]) & set(split["authors"][BOOK_SPLIT])
    data = load_from_disk(str(result.path))
    assert sorted(data) == sorted(["train", "validation", "test", BOOK_SPLIT])
    for row in data["train"]:  # training never reads a held-out book
        assert books[row["book1"]] == books[row["book2"]] == "train"
        assert (row["score"] == 1.0) == (row["author1"] == row["author2"])
    for row in data[BOOK_SPLIT]:  # one chunk of an unseen book, the other of another book
        assert books[row["book1"]] == BOOK_SPLIT and row["book2"] != row["book1"]
        assert books[row["book2"]] in ("train", BOOK_SPLIT)
        assert (row["score"] == 1.0) == (row["author1"] == row["author2"])
    assert sum(data[BOOK_SPLIT]["score"]) == 30  # 60 pairs, half same-author
    labelled = load_from_disk(str(result.path / "labelled"))
    assert {books[b] for b in labelled["book_id"]} == {"train"}
    assert len(set(labelled["label"])) == len(split["authors"]["train"])


def test_all_books_stage_pairs_cross_books_and_writes_folds_and_long_fusion_pairs(tmp_path: Path) -> None:
    from datasets import load_from_disk

    from litstyle.stages import get_stage

    common = [f"run.run_dir={tmp_path}", "corpus.chunk_words=[128, 256]", "judge_benchmark.chunk_words=[128]"]
    run_stage(load_recipe(DEMO, common), get_stage("corpus"))
    recipe = load_recipe(DEMO, [*common, "judge_pairs.graded_fraction=0", "judge_pairs.split=all_books",
                                "judge_pairs.folds=2", "judge_pairs.fusion_words=256",
                                'run.authors=["Twain, Mark", "Dickens, Charles"]'])
    result = run_stage(recipe, get_stage("judge_pairs"))
    split = json.loads((result.path / "split.json").read_text())
    books = {int(b): s for b, s in split["books"].items()}
    assert split["mode"] == "all_books" and BOOK_SPLIT not in books.values()
    data = load_from_disk(str(result.path))
    assert sorted(data) == ["fusion", "test", "train", "train_fold0", "train_fold1", "validation"]
    same = [r for r in data["train"] if r["score"] == 1.0]
    assert same and all(r["book1"] != r["book2"] for r in same)  # every same-author training pair crosses books
    assert {"Twain, Mark", "Dickens, Charles"} <= {r["author1"] for r in same}
    assert len(split["folds"]) == 2 and all(books[b] == "train" for fold in split["folds"] for b in fold)
    for k, fold in enumerate(split["folds"]):  # each fold's own training pairs: as many, none touching its books
        rows = data[f"train_fold{k}"]
        assert len(rows) == len(data["train"]) and not set(fold) & (set(rows["book1"]) | set(rows["book2"]))
        assert all(books[b] == "train" for b in list(rows["book1"]) + list(rows["book2"]))
    fusion = data["fusion"]
    assert {books[b] for b in list(fusion["book1"]) + list(fusion["book2"])} == {"validation"}
    assert 200 < sum(len(t.split()) for t in fusion["sentence1"]) / len(fusion) < 300  # 256-word chunks
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["counts"]["splits"]["fusion"]["words"] == 256
    with pytest.raises(Exception, match="folds 2: 0, or 2\\+ with split all_books \\(split is book_disjoint\\)"):
        load_recipe(DEMO, ["judge_pairs.folds=2", "judge_pairs.split=book_disjoint"])


def test_split_without_a_multi_book_author_is_a_clear_error(tmp_path: Path) -> None:
    from litstyle.stages import get_stage
    from litstyle.errors import StageError

    # only Twain and Dickens keep a second book: three splits cannot all have same-author pairs
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path}", "corpus.chunk_words=[128]", "judge_benchmark.chunk_words=[128]",
                                "corpus.include=[74, 1400, 2701, 1260, 84, 43]", "judge_pairs.graded_fraction=0"])
    run_stage(recipe, get_stage("corpus"))
    with pytest.raises(StageError, match=r"judge_pairs: split '\w+' needs 2\+ authors, one with 2\+ books"):
        run_stage(recipe, get_stage("judge_pairs"))
    assert not (tmp_path / "judge_pairs").exists()


def test_a_published_pair_set_in_place_of_built_pairs(corpus_run: Path, tmp_path: Path) -> None:
    """judge_pairs.from_dataset: the reference uploader's schema (sentence1, sentence2, score, type, authors_match,
    titles_match per split) read from a local folder in the hub layout; no rewriter is asked (none listens at
    its URL); the corpus split, labelled chunks and split.json are built as usual; a missing column is one line."""
    from datasets import load_from_disk

    from litstyle.errors import StageError
    from litstyle.stages import get_stage

    published = tmp_path / "style-judge-dataset"
    published.mkdir()
    for split, n in (("train", 30), ("validation", 6), ("test", 6)):
        rows = [{"sentence1": f"{split} left {i}", "sentence2": f"{split} right {i}", "score": (i % 3) / 2,
                 "type": "negative_cross_author" if i % 3 == 0 else "positive_masked_different_title",
                 "authors_match": i % 3 != 0, "titles_match": False} for i in range(n)]
        (published / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "corpus").symlink_to(corpus_run / "corpus")
    recipe = _pairs_recipe(run_dir, "http://127.0.0.1:9/v1", f"judge_pairs.from_dataset={published}",
                           "judge_pairs.train_pairs=20")
    assert get_stage("judge_pairs").server_roles(recipe) == ()
    result = run_stage(recipe, get_stage("judge_pairs"))
    data = load_from_disk(str(result.path))
    assert sorted(data) == ["test", "train", "validation"] and len(data["train"]) == 20 and len(data["test"]) == 6
    assert set(data["train"]["sentence1"]) <= {f"train left {i}" for i in range(30)}
    row = next(r for r in data["test"] if r["sentence1"] == "test left 1")
    assert (row["sentence2"], row["score"], row["kind"], row["author1"], row["book1"]) == \
        ("test right 1", 0.5, "positive_masked_different_title", "", -1)
    assert len(load_from_disk(str(result.path / "labelled"))) > 0
    assert json.loads((result.path / "split.json").read_text())["mode"] == "author_disjoint"
    assert result.manifest["counts"]["from_dataset"] == str(published) and "rewriter_calls" not in result.manifest
    assert "Pairs from the published set" in (result.path / "README.md").read_text()

    (published / "test.jsonl").write_text(json.dumps({"sentence1": "a", "sentence2": "b"}) + "\n")
    with pytest.raises(StageError, match=r"judge_pairs.from_dataset .*: split test lacks score in 1 of 1 rows "
                                         r"\(needs sentence1, sentence2, score\)"):
        run_stage(recipe, get_stage("judge_pairs"), force=True)
