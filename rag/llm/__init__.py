"""LLM backends, all spoken to through the OpenAI chat-completions protocol."""
