"""Garbage in, one clear line out: books are decoded by their byte-order mark or a charset detector, files
that are not English prose are refused with their reason, and every shared book passes.  The planted
inputs are real book bytes re-encoded or damaged, an HTML error page, and chapters of French and German
written for this test."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gutenberg_server import SHARED
from litstyle.config import load_recipe
from litstyle.corpus.clean import decode_book
from litstyle.corpus.screen import not_prose
from litstyle.rundir import run_stage

FRENCH = ("Le vieux marin regardait la mer depuis la fenêtre de sa maison, et il pensait aux années perdues. "
          "Sa fille était partie pour la ville au printemps, et elle n'écrivait plus que rarement. Chaque soir, "
          "il allumait la lampe et attendait le bateau qui ne venait jamais. ")
GERMAN = ("Der alte Seemann sah aus dem Fenster seines Hauses auf das Meer und dachte an die verlorenen Jahre. "
          "Seine Tochter war im Frühling in die Stadt gegangen, und sie schrieb nur noch selten. Jeden Abend "
          "zündete er die Lampe an und wartete auf das Schiff, das niemals kam. ")
HTML_404 = ("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>\n<h1>Not Found</h1>\n"
            "<p>The requested URL was not found on this server.</p>\n<hr><address>Apache Server</address>\n"
            "</body></html>\n")


def _book(book: int) -> str:
    return (SHARED / f"{book}.txt").read_bytes().decode("utf-8")


def test_every_shared_book_is_utf8_prose() -> None:
    for path in sorted(SHARED.glob("*.txt")):
        text, decoding = decode_book(path.read_bytes())
        assert decoding in ("utf-8", "utf-8-sig (BOM)") and not_prose(text) is None, path.name


PLANTED = {  # case -> (bytes, the decoding, None when accepted or the start of the refusal)
    "UTF-16 LE with BOM": (lambda: _book(1661).encode("utf-16"), "utf-16 (BOM)", None),
    "UTF-16 BE with BOM": (lambda: b"\xfe\xff" + _book(1661).encode("utf-16-be"), "utf-16 (BOM)", None),
    "UTF-32 with BOM": (lambda: _book(1661).encode("utf-32"), "utf-32 (BOM)", None),
    "cp1252 edition": (lambda: _book(98).encode("cp1252", errors="replace"), "cp1252 (detected)", None),
    "truncated book": (lambda: _book(84).encode()[:60000], "utf-8", None),
    "random bytes": (lambda: random.Random(0).randbytes(300_000), None, "0."),
    "HTML 404 page": (lambda: HTML_404.encode(), "utf-8", "an HTML page"),
    "French chapter": (lambda: (FRENCH * 200).encode(), "utf-8", "common English words are"),
    "German chapter": (lambda: (GERMAN * 200).encode("cp1252"), "cp1252 (detected)", "common English words are"),
    "table of numbers": (lambda: "\n".join(f"{i} {i * 7.31:.2f} {i * i}" for i in range(5000)).encode(), "utf-8",
                         "letters are"),
}


@pytest.mark.parametrize("case", list(PLANTED))
def test_planted_inputs(case: str) -> None:
    make, decoding, refusal = PLANTED[case]
    text, used = decode_book(make())
    if decoding is not None:
        assert used == decoding
    reason = not_prose(text)
    if refusal is None:
        assert reason is None
        if "BOM" in used:  # decoded exactly: the same text as the UTF-8 original
            assert text == _book(1661)
        if used.startswith("cp1252"):
            assert text == _book(98).encode("cp1252", errors="replace").decode("cp1252")
    else:
        assert reason is not None and refusal in reason, reason


def test_damaged_mirror_books_fail_with_their_reason(demo_recipe: Path, tmp_path: Path) -> None:
    """The issue's folder: UTF-16 Doyle enters the corpus with its real words, random-byte Shelley and an HTML
    Stevenson are refused, an empty Melville too; each failure has its reason in the manifest and summary."""
    from datasets import load_from_disk

    from litstyle.stages import get_stage

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for book in (76, 98, 1342, 110):
        (mirror / f"{book}.txt").symlink_to(SHARED / f"{book}.txt")
    (mirror / "1661.txt").write_bytes(_book(1661).encode("utf-16"))
    (mirror / "84.txt").write_bytes(random.Random(1).randbytes(200_000))
    (mirror / "43.txt").write_text(HTML_404)
    (mirror / "2701.txt").write_bytes(b"")
    recipe = load_recipe(demo_recipe, [f"corpus.mirror={mirror}", "corpus.include=[1661, 84, 43, 2701]",
                                       "corpus.chunk_words=[128, 500]"])
    result = run_stage(recipe, get_stage("corpus"))
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert set(manifest["failed"]) == {"84", "43", "2701"}
    assert manifest["failed"]["84"].startswith("not a book in English prose: ")
    assert "control or replacement characters" in manifest["failed"]["84"]
    assert "an HTML page" in manifest["failed"]["43"] and "decoded as utf-8" in manifest["failed"]["43"]
    assert manifest["decoding"]["1661"] == "utf-16 (BOM)" and manifest["decoding"]["76"] == "utf-8-sig (BOM)"
    assert manifest["counts"]["books_not_utf8"] == 2  # 1661 and the random bytes
    books = load_from_disk(str(result.path / "books"))
    words = dict(zip(books["id"], books["n_words"]))
    assert 50_000 < words[1661] < 130_000 and 1661 in words  # real words, not 123,735 "ÿþP\x00r\x00..."
    assert "\x00" not in "".join(books["text"])
    summary = (result.path / "summary.md").read_text()
    assert "an HTML page" in summary and "control or replacement characters" in summary


@pytest.mark.parametrize("error", [
    OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device"),  # as pyarrow
    PermissionError(13, "Permission denied", "chunks/data-00000-of-00001.arrow"),
])
def test_a_disk_error_is_one_line_and_a_rerun_completes(error: OSError, demo_recipe: Path, monkeypatch,
                                                       capsys) -> None:
    """ENOSPC / EACCES while the corpus stage writes its datasets (injected at the write call, after part of
    the file is written): one line naming the stage, the error and the path, exit 1, no traceback, no
    staging folder left; once the disk is fine again a rerun completes."""
    from datasets import Dataset

    from litstyle import cli

    real_save = Dataset.save_to_disk

    def full_disk(self, path, *args, **kwargs):
        (Path(path) / "data-00000-of-00001.arrow").parent.mkdir(parents=True, exist_ok=True)
        (Path(path) / "data-00000-of-00001.arrow").write_bytes(b"half a file")
        raise error

    args = ["--config", str(demo_recipe), "corpus.include=[]", "corpus.chunk_words=[128, 500]"]
    monkeypatch.setattr(Dataset, "save_to_disk", full_disk)
    assert cli.stage_main("corpus", args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    what = "no space left on device" if "28" in str(error) else "permission denied"
    assert err[-1].startswith(f"error: stage corpus: {what} writing ") and "Traceback" not in "\n".join(err)
    run_dir = load_recipe(demo_recipe).run_dir
    assert not list(run_dir.glob(".corpus.tmp-*")) and not (run_dir / "corpus").exists()  # the lock file stays
    assert cli.stage_main("corpus", [*args, "--log-level", "DEBUG"]) == 1  # asked for: the traceback too
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setattr(Dataset, "save_to_disk", real_save)
    assert cli.stage_main("corpus", args) == 0
    assert (run_dir / "corpus" / "manifest.json").is_file()
