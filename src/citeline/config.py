"""One settings model, read from ``citeline.toml`` and ``CITELINE_*`` environment variables.

Precedence (highest first): explicit overrides passed in code, environment variables
(``CITELINE_DATA_DIR``, nested with ``__``: ``CITELINE_INGEST__WORKERS=4``), the TOML file,
defaults. The resolved settings are hashed (:meth:`Settings.config_hash`); the hash is stored
with every ingestion run and, later, every answer. Secrets are ``SecretStr`` and never appear
in the hash input, in ``repr`` or in logs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from citeline.errors import ConfigError

CONFIG_ENV = "CITELINE_CONFIG"
DEFAULT_CONFIG_FILE = "citeline.toml"


class IngestSettings(BaseModel):
    workers: int = Field(0, ge=0, description="Extraction worker processes; 0 = number of CPUs.")
    file_timeout_s: float = Field(300.0, gt=0, description="A file taking longer is killed and reported.")
    worker_memory_mb: int = Field(2048, ge=128, description="Memory each extraction worker may add beyond its start-up size.")
    max_file_mb: float = Field(512.0, gt=0, description="Larger files are rejected with a reason.")
    ocr: bool = Field(True, description="OCR image-only PDF pages with Tesseract when it is installed.")
    ocr_dpi: int = Field(300, ge=72, le=600)
    ocr_max_pages: int = Field(200, ge=0, description="At most this many pages OCR'd per file.")
    include: list[str] = Field(
        default_factory=lambda: [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt", ".csv"],
        description="File extensions picked up when a directory is ingested.",
    )

    @field_validator("include")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        return [e.lower() if e.startswith(".") else "." + e.lower() for e in v]


class ChunkSettings(BaseModel):
    target_words: int = Field(280, ge=20)
    max_words: int = Field(400, ge=40)
    min_words: int = Field(40, ge=0, description="A section shorter than this is merged with the next.")


class EmbeddingSettings(BaseModel):
    model: str = Field("all-MiniLM-L6-v2", description="Sentence-embedding model name.")
    batch_size: int = Field(32, ge=1, le=1024)
    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads; 0 = number of CPUs.")
    max_tokens: int = Field(256, ge=8, le=512)
    memory_arena: bool = Field(False, description="onnxruntime's CPU memory arena: somewhat faster, but it keeps "
                               "the peak of every batch shape (1.5 GB measured vs 0.33 GB without).")


class RetrievalSettings(BaseModel):
    keyword_index: Literal["tantivy", "fts5"] = Field(
        "tantivy", description="Keyword (BM25) engine: tantivy (in-memory index per process, built from the store on "
        "first use) or SQLite FTS5 (slower at scale, nothing to build).")
    keyword_k: int = Field(50, ge=1, le=1000, description="Keyword (BM25) candidates fused.")
    keyword_feedback_docs: int = Field(
        5, ge=0, le=50, description="Pseudo-relevance feedback (RM3-like, tantivy engine): the top N keyword hits "
        "lend their most distinctive words to a second keyword query; 0 = off. 5 / 20 / 0.5 were chosen on the "
        "Cranfield dev half (bench/retrieval.py).")
    keyword_feedback_terms: int = Field(20, ge=1, le=100, description="Words added to the keyword query by feedback.")
    keyword_feedback_weight: float = Field(
        0.5, gt=0, le=1, description="Weight of the question's own words in the feedback query; the added words "
        "share the rest in proportion to their tf·idf in the feedback hits.")
    dense_k: int = Field(50, ge=0, le=1000, description="Dense (vector) candidates fused; 0 = keyword only.")
    dense_exact_max: int = Field(
        1_000_000, ge=0, description="Readable vectors up to which dense search is an exact scan (~100 ms at 1M on "
        "2 cores); beyond, candidates are pre-selected by sign-bit Hamming distance and only those scored exactly.")
    dense_oversample: int = Field(20, ge=1, le=1000, description="Candidates scored exactly per result wanted, "
                                  "past dense_exact_max.")
    blas_threads: int = Field(1, ge=0, le=256, description="BLAS threads for a query's dense scan; 0 = the library's "
                              "default. One avoids idle BLAS threads competing with the embedding model's.")
    keyword_weight: float = Field(1.0, ge=0)
    dense_weight: float = Field(1.0, ge=0)
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    rerank: bool = Field(True, description="Rerank the top fused chunks by query-sentence similarity.")
    rerank_depth: int = Field(20, ge=1, le=200)
    rerank_weight: float = Field(0.5, ge=0, le=1, description="Share of the sentence score in the reranked score.")
    dense_feedback_docs: int = Field(
        0, ge=0, le=50, description="Dense pseudo-relevance feedback at the rerank stage (Rocchio): the query vector "
        "plus dense_feedback_beta × the mean vector of the top N reranked chunks reorders the rerank_depth "
        "candidates; no second scan. 0 = off (the default); off whenever rerank is. Opt-in: 5 / 4.0 / 0.5 (chosen "
        "on the Cranfield dev half) lift Cranfield test nDCG@10 0.430 -> 0.433 but move answers' decline decisions "
        "on question-answer sets (demo decision_correct 0.89 -> 0.82), where one passage holds the answer.")
    dense_feedback_beta: float = Field(4.0, gt=0, le=20, description="Weight of the top chunks' mean vector in the "
                                       "feedback query vector.")
    dense_feedback_weight: float = Field(0.5, gt=0, le=1, description="Share of the feedback cosine (min-max scaled) "
                                         "in the final score; the reranked score (min-max scaled) has the rest.")
    top_k: int = Field(8, ge=1, le=100, description="Chunks returned by search.")


class AnswerSettings(BaseModel):
    max_sentences: int = Field(3, ge=1, le=10)
    context_chunks: int = Field(4, ge=1, le=20, description="Top chunks the extractive answer may quote.")
    decline_threshold: float = Field(
        0.5, ge=0, le=1,
        description="Decline when the estimated probability that the retrieved text answers the question is below"
                    " this. 0.5 was chosen on the CLAPNQ dev half by bench/answers.py (max of min(answer rate,"
                    " decline rate)) and is reported there on the held-out test half and the demo set.")


class LLMSettings(BaseModel):
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://localhost:8080/v1.")
    api_key: SecretStr | None = Field(None, description="Sent as a Bearer token; never logged or hashed.")
    model: str = Field("gpt-4o-mini", min_length=1)
    timeout_s: float = Field(30.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16, le=8192)
    prompt_price_per_mtok: float | None = Field(None, ge=0, description="USD per million prompt tokens; when set, "
                                                "every trace records its cost.")
    completion_price_per_mtok: float | None = Field(None, ge=0, description="USD per million completion tokens.")


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `citeline serve` binds to.")
    port: int = Field(8000, ge=1, le=65535)
    max_upload_mb: float = Field(50.0, gt=0, description="Larger uploads are refused with 413.")
    max_body_kb: int = Field(256, ge=4, description="Largest JSON request body; larger ones get 413.")
    rate_limit_per_minute: int = Field(600, ge=0, description="Requests per minute per API key; 0 = no limit.")
    rate_limit_burst: int = Field(60, ge=1, description="Requests a key may make at once before the rate applies.")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="Web sessions expire after this long.")
    secure_cookies: bool | None = Field(None, description="Mark the session cookie Secure; default: only when the "
                                        "request came over https.")


class GuardSettings(BaseModel):
    enabled: bool = Field(True, description="Run the input, output and document guards (citeline.guard).")
    policy: Path | None = Field(None, description="Guard policy file (TOML or YAML); unset = the built-in default "
                                "policy: injection and PII guards, no political opinions, no topic limit.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITELINE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Field(Path(".citeline"), description="Where the database and caches live.")
    tenant: str = Field("default", min_length=1, max_length=64)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    chunking: ChunkSettings = Field(default_factory=ChunkSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))

    @property
    def db_path(self) -> Path:
        return self.data_dir / "citeline.db"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def config_hash(self) -> str:
        """sha256 (first 16 hex) of the resolved settings that change results; no secrets, no paths.
        The guard policy counts by its content, not by where the file lies."""
        data = self.model_dump(mode="json", exclude={"data_dir": True, "llm": {"api_key"},
                                                          "server": True, "guard": {"policy"}})
        data["guard"]["policy_sha256"] = _file_digest(self.guard.policy) if self.guard.policy else None
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    """sha256 of a file's bytes, cached by (path, mtime, size): config_hash runs on every answer."""
    try:
        st = path.stat()
    except OSError:
        return f"missing:{path.name}"
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _DIGESTS[key]


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings; a bad value raises :class:`ConfigError` naming the field and the value."""
    from pydantic import ValidationError

    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file not found: {config_file}")
        os.environ[CONFIG_ENV] = str(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}={err.get('input')!r}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
