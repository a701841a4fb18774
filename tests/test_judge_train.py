"""Style-judge training: a short real CPU run changes the weights and writes a loadable model; the
same stage runs as 2 DDP processes under torchrun (gloo)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import DEMO, PYTHON, REPO, free_port
from litstyle.config import load_recipe
from litstyle.rundir import run_stage

pytestmark = pytest.mark.slow

# 15 books of 11 authors (the targets and their second books + 7 more), author-disjoint: a small corpus of its own
BOOKS = ["corpus.include=[74, 1400, 158, 153, 2701, 1260, 84, 43, 1661, 345, 514]", "judge_pairs.split=author_disjoint"]
SMALL = [*BOOKS, "corpus.chunk_words=[128]", "judge_benchmark.chunk_words=[128]", "judge_pairs.graded_fraction=0", "judge_pairs.train_pairs=64",
         "judge_pairs.eval_pairs=16", "judge.max_steps=4", "judge.per_device_train_batch_size=8",
         "judge.eval_steps=2", "judge.save_steps=2", "judge.logging_steps=1", "judge.learning_rate=1e-4",
         "judge.max_seq_length=128"]


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from litstyle.stages import get_stage

    run_dir = tmp_path_factory.mktemp("judge_run")
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL])
    for stage in ("corpus", "judge_pairs"):
        run_stage(recipe, get_stage(stage))
    return run_dir


def test_short_training_changes_weights_and_saves_a_model(pairs_run: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from litstyle.stages import get_stage

    recipe = load_recipe(DEMO, [f"run.run_dir={pairs_run}", *SMALL])
    result = run_stage(recipe, get_stage("judge"))
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["tensors_changed"] > metrics["tensors"] // 2
    assert metrics["train_loss"] > 0 and -1 <= metrics["fine_tuned"]["test"]["test_spearman_cosine"] <= 1
    # metric_for_best_model names a metric the evaluator logs: the trainer picked a best checkpoint by it
    assert isinstance(metrics["best_metric"], float) and -1 <= metrics["best_metric"] <= 1
    assert not (result.path / "checkpoints").exists()
    model = SentenceTransformer(str(result.path / "model"), device="cpu")
    assert model.encode(["A sentence."]).shape == (1, 384) and model.max_seq_length == 128
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["counts"]["train_pairs"] == 64 and manifest["world_size"] == 1
    assert run_stage(recipe, get_stage("judge")).skipped


def test_torchrun_two_processes(pairs_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp"
    run_dir.mkdir()
    for stage in ("corpus", "judge_pairs"):
        (run_dir / stage).symlink_to(pairs_run / stage)
    cmd = [PYTHON, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(REPO / "Train" / "sentence_trainer.py"), "--config", str(DEMO), f"run.run_dir={run_dir}", *SMALL]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((run_dir / "judge" / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["counts"]["steps"] == 4
    assert (run_dir / "judge" / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".judge.tmp")) == []


def _mean_cosines(embeddings, labels) -> tuple[float, float]:
    sims = embeddings @ embeddings.T
    same = [sims[i, j] for i in range(len(labels)) for j in range(i) if labels[i] == labels[j]]
    cross = [sims[i, j] for i in range(len(labels)) for j in range(i) if labels[i] != labels[j]]
    return float(sum(same) / len(same)), float(sum(cross) / len(cross))


@pytest.fixture(scope="module")
def tiny_labelled(pairs_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """A run dir whose labelled training chunks are cut to 4 authors x 8 chunks (pairs as built)."""
    from datasets import load_from_disk

    run_dir = tmp_path_factory.mktemp("tiny")
    (run_dir / "judge_pairs").mkdir(parents=True)
    (run_dir / "corpus").symlink_to(pairs_run / "corpus")
    for item in (pairs_run / "judge_pairs").iterdir():
        if item.name != "labelled":
            (run_dir / "judge_pairs" / item.name).symlink_to(item)
    labelled = load_from_disk(str(pairs_run / "judge_pairs" / "labelled"))
    keep, seen = [], {}
    for i, label in enumerate(labelled["label"]):
        if seen.get(label, 0) < 8 and (label in seen or len(seen) < 4):
            seen[label] = seen.get(label, 0) + 1
            keep.append(i)
    tiny = labelled.select(keep)
    tiny.save_to_disk(str(run_dir / "judge_pairs" / "labelled"))
    assert len(tiny) == 32 and len(set(tiny["label"])) == 4
    return run_dir, tiny


@pytest.mark.parametrize("loss,view,batch", [("batch_hard_soft_margin", "topic_masked", 16), ("mnrl", "raw", 4)])
def test_contrastive_objective_pulls_authors_together_and_apart(tiny_labelled, tmp_path: Path, loss: str,
                                                               view: str, batch: int) -> None:
    """A label objective on a tiny labelled set (4 authors x 8 chunks): the batch-hard soft-margin
    triplet loss (topic view), and MNRL (rows of 4 distinct authors, each a chunk and a same-author positive)."""
    from litstyle import models
    from litstyle.stages import get_stage
    from litstyle.style.scorer import StyleScorer, judge_scorer

    source, tiny = tiny_labelled
    run_dir = tmp_path / loss
    run_dir.mkdir()
    for item in source.iterdir():
        (run_dir / item.name).symlink_to(item)
    steps = [f"judge.loss={loss}", f"judge.text_view={view}", "judge.max_steps=16",
             f"judge.per_device_train_batch_size={batch}", "judge.eval_steps=16", "judge.save_steps=16"]
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, *steps])
    result = run_stage(recipe, get_stage("judge"))
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["loss"] == loss and metrics["text_view"] == view
    assert metrics["steps"] == 16
    judge = judge_scorer(recipe, result.path, fused=False)  # the encoder's own cosines
    assert judge.view.name == view  # read from the model folder
    base = StyleScorer(models.resolve("minilm"), view=judge.view, max_seq_length=128)
    before = _mean_cosines(base.encode(tiny["text"]), tiny["label"])
    after = _mean_cosines(judge.encode(tiny["text"]), tiny["label"])
    print(f"\n{loss}: same/cross-author mean cosine: before {before}, after {after}")
    assert after[0] > before[0] + 0.02 and after[1] < before[1] - 0.02


def test_mnrl_batches_hold_distinct_authors() -> None:
    """MNRL rows pair chunks of one author (other book when it has one); no author twice in a batch."""
    from datasets import Dataset

    from litstyle.judge.train import positive_pairs
    from litstyle.registry import distinct_author_batches

    labelled = Dataset.from_dict({"text": [f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)] + ["c0", "c1"],
                                  "label": [0] * 6 + [1] * 6 + [2] * 2,
                                  "book_id": [1, 1, 1, 2, 2, 2] + [3] * 6 + [4, 4]})
    rows = positive_pairs(labelled, seed=7)
    assert len(rows) == 14
    book = dict(zip(labelled["text"], labelled["book_id"]))
    label = dict(zip(labelled["text"], labelled["label"]))
    for a, p, y in zip(rows["anchor"], rows["positive"], rows["label"]):
        assert a != p and label[a] == label[p] == y
        assert y != 0 or book[a] != book[p]  # author 0 has two books: always across them
    assert rows.to_dict() == positive_pairs(labelled, seed=7).to_dict()  # seeded
    batches = list(distinct_author_batches(rows, batch_size=3, drop_last=False, valid_label_columns=["label"]))
    assert sum(len(b) for b in batches) >= len(rows) - 2
    for batch in batches:
        assert len({rows[i]["label"] for i in batch}) == len(batch)
    # the scored pairs beside them (with_pairs) keep the trainer's default random batches
    pairs = Dataset.from_dict({"sentence1": ["x"] * 10, "sentence2": ["y"] * 10, "score": [1.0] * 10})
    batches = list(distinct_author_batches(pairs, batch_size=4, drop_last=False, valid_label_columns=["score"]))
    assert [len(b) for b in batches] == [4, 4, 2] and sorted(i for b in batches for i in b) == list(range(10))


def test_fused_weights_come_from_validation_only(pairs_run: Path, tmp_path: Path) -> None:
    from datasets import DatasetDict, load_from_disk

    from litstyle.stages import get_stage
    from litstyle.style.scorer import judge_scorer

    source = pairs_run / "judge_pairs"
    pairs = load_from_disk(str(source))
    weights = []
    for name, test in (("as built", pairs["test"]),
                       ("test flipped", pairs["test"].map(lambda r: {"score": 1.0 - r["score"]}))):
        run_dir = tmp_path / name.replace(" ", "_")
        (run_dir / "judge_pairs").mkdir(parents=True)
        (run_dir / "corpus").symlink_to(pairs_run / "corpus")
        DatasetDict({**pairs, "test": test}).save_to_disk(str(run_dir / "judge_pairs"))
        for extra in ("labelled", "split.json", "manifest.json"):
            (run_dir / "judge_pairs" / extra).symlink_to(source / extra)
        recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, "judge.fused=true",
                                    "judge.fused_features={function words: 300, char n-grams: 500}", "judge.fused_reference_chunks=200"])
        result = run_stage(recipe, get_stage("judge"))
        metrics = json.loads((result.path / "metrics.json").read_text())
        weights.append(metrics["fused_weights"])
        scorer = judge_scorer(recipe, result.path)
        assert scorer.fusion and scorer.fusion.weights == metrics["fused_weights"]
        emb = scorer.encode(["It was a fine day, and she was glad.", "The sea was grey and cold."])
        assert emb.shape == (2, 384 + 300 + 500) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert set(weights[0]) == {"judge", "function words", "char n-grams"}
    assert sum(weights[0].values()) == pytest.approx(1.0) and min(weights[0].values()) >= 0
    assert weights[0] == pytest.approx(weights[1], abs=1e-6)  # the test split does not move them


def test_a_released_judge_is_taken_as_is(pairs_run: Path, tmp_path: Path) -> None:
    """judge.train false: models.encoder (here a local folder standing in for a released judge) is scored on
    the held-out pairs and saved unchanged: it embeds exactly as the folder it came from."""
    from sentence_transformers import SentenceTransformer

    from litstyle.stages import get_stage

    released = tmp_path / "released-judge"
    SentenceTransformer(load_recipe(DEMO).models.path("encoder"), device="cpu").save(str(released))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for stage in ("corpus", "judge_pairs"):
        (run_dir / stage).symlink_to(pairs_run / stage)
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, f"models.encoder={released}", "judge.train=false",
                                    "judge.fused=false"])
    result = run_stage(recipe, get_stage("judge"))
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["trained"] is False and metrics["steps"] == 0 and metrics["encoder"] == str(released)
    assert -1 <= metrics["fine_tuned"]["test"]["test_spearman_cosine"] <= 1
    texts = ["The river was wide and slow.", "She wrote to her sister at once."]
    saved = SentenceTransformer(str(result.path / "model"), device="cpu").encode(texts)
    assert np.allclose(saved, SentenceTransformer(str(released), device="cpu").encode(texts), atol=1e-6)
    with pytest.raises(Exception, match="train: false takes the encoder as it is"):
        load_recipe(DEMO, ["judge.train=false", "judge.fused=true"])


def test_fold_pairs_from_an_older_litstyle_stop_before_training(pairs_run: Path, tmp_path: Path) -> None:
    """split.json names leave-book-out folds but the pairs have no train_fold<k> split (built before folds
    had pairs of their own): one error line naming the folder and the fix, before any model loads."""
    import shutil

    from litstyle.errors import StageError
    from litstyle.stages import get_stage

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "corpus").symlink_to(pairs_run / "corpus")
    shutil.copytree(pairs_run / "judge_pairs", run_dir / "judge_pairs")
    split = json.loads((run_dir / "judge_pairs" / "split.json").read_text())
    (run_dir / "judge_pairs" / "split.json").write_text(json.dumps({**split, "folds": [[74]]}))
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL])
    with pytest.raises(StageError, match=r"judge_pairs: no split train_fold0 .* rerun the judge_pairs stage"):
        run_stage(recipe, get_stage("judge"))
    assert not (run_dir / "judge" / "model").exists()
