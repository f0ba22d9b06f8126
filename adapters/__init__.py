"""Adapters: LangChain, Anthropic memory tool, OpenAI-style tool calling."""
