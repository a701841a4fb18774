"""Corpus stage over a real loopback HTTP server: the download code runs for real, faults included."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from conftest import free_port
from gutenberg_server import SHARED, MirrorServer
from litstyle.config import load_recipe
from litstyle.corpus.download import DownloadPolicy, book_url, fetch_books
from litstyle.rundir import file_sha256, run_stage

FAST = DownloadPolicy(timeout_s=1.0, retries=2, backoff_s=0.05, workers=2)


def _sources() -> dict[int, dict[str, str]]:
    assert SHARED.is_dir(), f"the shared Gutenberg mirror is missing: {SHARED}"
    with open(SHARED / "SOURCES.tsv", newline="") as handle:
        return {int(r["pg_id"]): r for r in csv.DictReader(handle, delimiter="\t")}


@pytest.fixture()
def server():
    with MirrorServer() as srv:
        yield srv


def test_corpus_stage_over_http(server: MirrorServer, demo_recipe: Path, tmp_path: Path) -> None:
    from datasets import load_from_disk

    from litstyle.stages import get_stage

    overrides = [f"corpus.mirror={server.url}", f"corpus.catalog={server.url}/cache/epub/feeds/pg_catalog.csv",
                 "corpus.targets=[1342, 98]", "corpus.include=[158, 43, 99999999]", "corpus.chunk_words=[128, 500]",
                 f"corpus.download.cache_dir={tmp_path / 'cache'}", "run.authors=['Austen, Jane', 'Dickens, Charles']"]
    with pytest.raises(Exception, match=r"corpus.include: book\(s\) \[99999999\] are not in the catalog"):
        run_stage(load_recipe(demo_recipe, overrides), get_stage("corpus"))
    overrides[3] = "corpus.include=[158, 43]"
    recipe = load_recipe(demo_recipe, overrides)
    result = run_stage(recipe, get_stage("corpus"))
    books = load_from_disk(str(result.path / "books"))
    chunks = load_from_disk(str(result.path / "chunks"))
    assert sorted(zip(books["id"], books["role"])) == [(43, "contrast"), (98, "target"), (158, "same_author"),
                                                      (1342, "target")]
    sources = _sources()
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["sha256"] == {str(i): sources[i]["sha256"] for i in (43, 98, 158, 1342)}
    assert manifest["counts"]["books"] == 4 and manifest["counts"]["catalog_rows_skipped"] == 1
    assert manifest["failed"] == {}
    for target in (128, 500):
        sizes = [n for n, t in zip(chunks["n_words"], chunks["target_words"]) if t == target]
        assert sizes and min(sizes) >= 0.85 * target and max(sizes) <= 1.15 * target
    assert set(chunks["book_id"]) == {43, 98, 158, 1342}
    assert "| 1342 | Austen, Jane | Pride and Prejudice | target |" in (result.path / "summary.md").read_text()
    # up to date: skipped without a single request; a fresh run dir re-uses the download cache
    before = sum(server.requests.values())
    assert run_stage(recipe, get_stage("corpus")).skipped
    other = load_recipe(demo_recipe, overrides + [f"run.run_dir={tmp_path / 'run2'}"])
    assert not run_stage(other, get_stage("corpus")).skipped
    assert sum(server.requests.values()) == before + 0  # catalog and books both cached
    # same inputs -> byte-identical datasets
    for name in ("books", "chunks"):
        files = sorted(p.name for p in (result.path / name).glob("*.arrow"))
        assert [file_sha256(result.path / name / f) for f in files] == \
               [file_sha256(tmp_path / "run2" / "corpus" / name / f) for f in files]


def test_500_then_success_is_retried(server: MirrorServer, tmp_path: Path) -> None:
    server.faults[43].extend(["500", "500"])
    server.faults[84].append("429")
    found, failed = fetch_books([43, 84], server.url, tmp_path, FAST)
    assert failed == {} and server.book_requests(43) == 3 and server.book_requests(84) == 2
    assert file_sha256(found[43]) == _sources()[43]["sha256"]


def test_404_is_listed_as_failed_and_others_finish(server: MirrorServer, tmp_path: Path) -> None:
    found, failed = fetch_books([43, 999999, 84], server.url, tmp_path, FAST)
    assert sorted(found) == [43, 84]
    assert list(failed) == [999999] and "HTTP 404" in failed[999999]
    assert server.book_requests(999999) == 1  # a 404 is final: no retry


def test_persistent_500_gives_up_after_bounded_retries(server: MirrorServer, tmp_path: Path) -> None:
    server.faults[43].extend(["500"] * 10)
    found, failed = fetch_books([43], server.url, tmp_path, FAST)
    assert found == {} and "HTTP 500" in failed[43]
    assert server.book_requests(43) == FAST.retries + 1
    assert not list(tmp_path.glob("*")), "no partial file left in the cache"


def test_stalled_body_times_out_and_is_retried(server: MirrorServer, tmp_path: Path) -> None:
    server.faults[43].append("stall")
    started = time.time()
    found, failed = fetch_books([43], server.url, tmp_path, FAST)
    assert failed == {} and file_sha256(found[43]) == _sources()[43]["sha256"]
    assert server.book_requests(43) == 2
    assert time.time() - started < 20


def test_stalling_forever_fails_in_bounded_time(server: MirrorServer, tmp_path: Path) -> None:
    server.faults[43].extend(["stall"] * 5)
    started = time.time()
    found, failed = fetch_books([43], server.url, tmp_path, FAST)
    elapsed = time.time() - started
    assert found == {} and "gave up after 3 attempts" in failed[43]
    assert elapsed < 30, elapsed  # (retries + 1) read timeouts plus backoff, not a hang


def test_short_body_is_detected_and_retried(server: MirrorServer, tmp_path: Path) -> None:
    server.faults[1342].append("short")
    found, failed = fetch_books([1342], server.url, tmp_path, FAST)
    assert failed == {} and server.book_requests(1342) == 2
    assert found[1342].stat().st_size == (SHARED / "1342.txt").stat().st_size
    server.faults[74].extend(["short"] * 5)
    found, failed = fetch_books([74], server.url, tmp_path, FAST)
    assert 74 not in found and "gave up" in failed[74]


def test_connection_refused_fails_in_bounded_time(tmp_path: Path) -> None:
    port = free_port()
    started = time.time()
    found, failed = fetch_books([43], f"http://127.0.0.1:{port}", tmp_path, FAST)
    assert found == {} and "ConnectionError" in failed[43]
    assert time.time() - started < 20


def test_local_folder_mirror_and_url_pattern(tmp_path: Path) -> None:
    found, failed = fetch_books([43, 5], str(SHARED), tmp_path, FAST)
    assert found == {43: SHARED / "43.txt"} and "not in mirror folder" in failed[5]
    assert book_url("https://www.gutenberg.org/", 76) == "https://www.gutenberg.org/cache/epub/76/pg76.txt"


def test_zero_usable_books_is_a_clear_error(demo_recipe: Path, tmp_path: Path, capsys) -> None:
    from litstyle.stages import get_stage
    from litstyle.errors import StageError

    empty = tmp_path / "empty_mirror"
    empty.mkdir()
    recipe = load_recipe(demo_recipe, [f"corpus.mirror={empty}", "corpus.include=[]"])
    with pytest.raises(StageError, match=r"corpus: no usable book \(4 failed; first error: not in mirror folder"):
        run_stage(recipe, get_stage("corpus"))
    assert not (recipe.run_dir / "corpus").exists()


@pytest.mark.slow
def test_demo_corpus_script_builds_then_skips(demo_recipe: Path) -> None:
    """The documented command on the demo recipe (local mirror folder), then the up-to-date rerun."""
    import subprocess

    from conftest import PYTHON, REPO

    script = [PYTHON, str(REPO / "data_processing" / "gutenberg_download.py"), "--config", str(demo_recipe)]
    first = subprocess.run(script, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "stage corpus: done" in first.stderr
    manifest = json.loads((load_recipe(demo_recipe).run_dir / "corpus" / "manifest.json").read_text())
    assert manifest["counts"]["books"] == 62 and manifest["counts"]["books_failed"] == 0
    assert manifest["counts"]["chunks"]["1500"] > 500
    second = subprocess.run(script, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert second.returncode == 0 and "stage corpus: up to date, skipped" in second.stderr
    # the up-to-date path imports no ML stack (that is what keeps it well under 2 s)
    probe = ("import sys; from litstyle.cli import stage_main; rc = stage_main('corpus', sys.argv[1:]); "
             "print(rc, sorted(m for m in ('torch', 'datasets', 'transformers', 'trl') if m in sys.modules))")
    third = subprocess.run([PYTHON, "-c", probe, "--config", str(demo_recipe)], capture_output=True, text=True,
                           cwd=REPO, timeout=60)
    assert third.stdout.strip() == "0 []", third.stdout + third.stderr[-1000:]


def test_book_gutted_by_cleaning_falls_back_to_wrapper_only(demo_recipe: Path, tmp_path: Path) -> None:
    """A header-less edition whose only chapter-like heading comes late (here: before an editor's
    note at the end) makes the front-matter detection skip nearly the whole book: the guard keeps
    the wrapper-only text instead, with a warning and a count in the manifest."""
    from datasets import load_from_disk

    from litstyle.corpus.clean import clean_book, clean_text
    from litstyle.stages import get_stage

    prose = clean_text((SHARED / "43.txt").read_bytes())
    planted = prose + "\n\nCHAPTER I.\n\nA note by the editor on the text of this edition, which follows the " \
                      "first printing of the story in every particular of spelling and punctuation.\n"
    assert len(clean_text(planted).split()) < 50  # what the full cleaning alone would keep
    text, fell_back = clean_book(planted)
    assert fell_back and len(text.split()) >= len(prose.split())
    assert clean_book((SHARED / "76.txt").read_bytes())[1] is False

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for book in (76, 98, 1342, 110):
        (mirror / f"{book}.txt").symlink_to(SHARED / f"{book}.txt")
    (mirror / "43.txt").write_text(planted)
    recipe = load_recipe(demo_recipe, [f"corpus.mirror={mirror}", "corpus.include=[43]", "corpus.chunk_words=[128, 500]"])
    result = run_stage(recipe, get_stage("corpus"))
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["counts"]["books_wrapper_only_cleaning"] == 1 and manifest["wrapper_only_cleaning"] == [43]
    assert manifest["failed"] == {}
    books = load_from_disk(str(result.path / "books"))
    assert dict(zip(books["id"], books["n_words"]))[43] >= len(prose.split())
