"""LiteLLM's ``litellm.types.utils`` path, so ``from polyrelay.types.utils
import ModelResponse, Usage, Message`` runs where LiteLLM's import did.

The classes are polyrelay's own (``polyrelay.types``); the extra names are
LiteLLM's for the same shapes.
"""

from . import (
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    Choices,
    CompletionTokensDetails,
    Delta,
    Embedding,
    EmbeddingResponse,
    FunctionCall,
    Message,
    ModelResponse,
    ModelResponseStream,
    ModerationResponse,
    PromptTokensDetails,
    StreamingChoices,
    TextChoices,
    TextCompletionResponse,
    ToolCall,
    Usage,
)

# LiteLLM's names for the same classes.
Function = FunctionCall
ChatCompletionMessageToolCall = ToolCall
ChatCompletionDeltaToolCall = ChoiceDeltaToolCall
PromptTokensDetailsWrapper = PromptTokensDetails
CompletionTokensDetailsWrapper = CompletionTokensDetails

__all__ = [
    "ChatCompletionDeltaToolCall", "ChatCompletionMessageToolCall", "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction", "Choices", "CompletionTokensDetails", "CompletionTokensDetailsWrapper", "Delta",
    "Embedding", "EmbeddingResponse", "Function", "FunctionCall", "Message", "ModelResponse", "ModelResponseStream",
    "ModerationResponse", "PromptTokensDetails", "PromptTokensDetailsWrapper", "StreamingChoices", "TextChoices",
    "TextCompletionResponse", "ToolCall", "Usage",
]
