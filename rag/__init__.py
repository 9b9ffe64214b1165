"""Question answering over news articles, with citations that check out."""

__version__ = "0.1.0"
