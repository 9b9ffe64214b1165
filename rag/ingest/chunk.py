"""Chunking with llama-index's sentence splitter; every chunk keeps its span."""

from __future__ import annotations

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from rag.schema import Article, timestamp


_NOT_EMBEDDED = ["doc_id", "url", "published_ts", "start", "end", "content_hash", "publisher", "author"]


class Chunker:
    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        self.signature = f"{chunk_size}/{chunk_overlap}"  # stored with each article: a change re-chunks it
        # The default overlap (200) exceeds small chunk sizes: always set it.
        self.splitter = SentenceSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, paragraph_separator="\n"
        )

    def warm_up(self) -> None:
        """Split a paragraph longer than a chunk, so that the splitter's sentence tokenizer (NLTK's
        punkt, which llama-index imports at first use: ~3 s) is loaded now."""
        self.splitter.split_text(" ".join(["This sentence is here to be split."] * (self.splitter.chunk_size // 4 + 2)))

    def split(self, article: Article) -> list[TextNode]:
        """Nodes with ids `doc_id#n`, metadata for filtering and exact character spans."""
        nodes = []
        cursor = 0
        for n, piece in enumerate(self.splitter.split_text(article.text)):
            start = article.text.find(piece, cursor)
            if start < 0:  # the splitter normalised some whitespace; fall back to a search from 0
                start = article.text.find(piece)
            if start < 0:
                raise ValueError(f"chunk {n} of {article.doc_id} not found in its article")
            end = start + len(piece)
            cursor = start + 1
            nodes.append(
                TextNode(
                    id_=f"{article.doc_id}#{n}",
                    text=piece,
                    start_char_idx=start,
                    # llama-index writes the source's id into the `doc_id` metadata key: make it ours.
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=article.doc_id)},
                    end_char_idx=end,
                    metadata={
                        "doc_id": article.doc_id,
                        "title": article.title,
                        "url": article.url or "",
                        "published_ts": timestamp(article.published_at) if article.published_at else -1,
                        "start": start,
                        "end": end,
                        "content_hash": article.content_hash,
                        # Shown on citations next to the date (empty: unknown).
                        "publisher": article.publisher or "",
                        "author": article.author or "",
                    },
                    excluded_embed_metadata_keys=[*_NOT_EMBEDDED, "title"],
                    excluded_llm_metadata_keys=_NOT_EMBEDDED,
                )
            )
        return nodes
