"""joulebench-transformers: the Power Hungry Processing study's pipelines as a model server.

Hugging Face `transformers` models (FP32, batch size 1, one inference at a time) behind the
wire formats of the reference server: OpenAI, TGI, TEI and KServe v2. torch and transformers
are imported only when real models are loaded (`torch_backend`), so the HTTP layer, the
protocols, the stand-in tokenizer and the built-in configuration table work without them.
"""

SERVER_NAME = "joulebench-transformers"
VERSION = "0.1.0"
