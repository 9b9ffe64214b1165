"""The offline eval suite: gold sets (gold/), metrics, SQuAD loading and reports."""
