"""Model providers: one gateway per protocol. Today: any OpenAI-compatible chat endpoint."""

from citeline.models.openai_compat import ChatResult, ChatStream, OpenAICompatProvider

__all__ = ["ChatResult", "ChatStream", "OpenAICompatProvider"]
