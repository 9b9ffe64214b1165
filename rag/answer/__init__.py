"""Answering: prompting the LLM, verifying its citations, abstaining, reporting conflicts."""
