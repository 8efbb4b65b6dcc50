"""LiteLLM's ``litellm.integrations`` import paths, for handlers written against them."""
