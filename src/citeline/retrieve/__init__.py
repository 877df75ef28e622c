"""Retrieval: keyword (store FTS), dense (ACL-partitioned matrix), fusion, sentence rerank."""

from citeline.retrieve.hybrid import HybridRetriever, Retrieved

__all__ = ["HybridRetriever", "Retrieved"]
