"""LiteLLM's ``litellm.integrations`` names, for code that imports from there."""
