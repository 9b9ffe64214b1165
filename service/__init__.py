"""HTTP glue over `rag.pipeline.Pipeline`: parse, call the pipeline, shape the response."""
