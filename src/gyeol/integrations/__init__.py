"""Adapters to host frameworks, each an optional extra imported only when its module is.

- langchain.py: `GyeolVectorStore` (a LangChain `VectorStore`; `.as_retriever()`), `GyeolRetriever`
  (a LangChain `BaseRetriever` over `col.search`, hybrid by default),
  `LangChainEmbedder` (a LangChain `Embeddings` as a gyeol embedder) and `GyeolEmbeddings`
  (a gyeol embedder as LangChain `Embeddings`). Extra `langchain` (langchain-core).
- llamaindex.py: `GyeolLlamaIndexStore` (a LlamaIndex `BasePydanticVectorStore`). Extra
  `llamaindex` (llama-index-core).

`import gyeol` imports neither; `import gyeol.integrations.langchain` imports langchain-core.
"""
