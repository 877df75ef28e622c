from __future__ import annotations

import numpy as np
import pytest

from citeline.config import EmbeddingSettings
from citeline.errors import ConfigError
from citeline.ingest.embed import OnnxMiniLMEmbedder


def test_vectors_are_normalised_and_semantic(embedder):
    v = embedder.embed(["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell today.", ""])
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    # sentence-transformers gives 0.755 for this pair with the reference torch model
    assert abs(float(v[0] @ v[1]) - 0.755) < 0.02
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.4


def test_batching_and_order_do_not_change_vectors(embedder):
    texts = [f"Sentence {i} " + "about warranty and refunds " * (i % 7) for i in range(40)]
    whole = embedder.embed(texts)
    one_by_one = np.vstack([embedder.embed([t]) for t in texts[:5]])
    assert np.allclose(whole[:5], one_by_one, atol=1e-4)
    small = OnnxMiniLMEmbedder(EmbeddingSettings(batch_size=3))
    assert np.allclose(small.embed(texts), whole, atol=1e-4)


def test_long_text_is_truncated_not_rejected(embedder):
    assert embedder.embed(["word " * 5000]).shape == (1, 384)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ConfigError, match="supported: all-MiniLM-L6-v2"):
        OnnxMiniLMEmbedder(EmbeddingSettings(model="bge-large"))


def test_token_budget_batches_match_full_batches(embedder):
    texts = ["short one"] * 5 + ["long text about the warranty " * 60] * 5
    v = embedder.embed(texts)
    assert np.allclose(v[5:], embedder.embed(texts[5:6] * 5), atol=1e-4)
