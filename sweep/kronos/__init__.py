"""The project's own Kronos (shiyu-coder/Kronos, arXiv:2508.02739), loading the published checkpoints unchanged.

Modules (import them directly; only :mod:`.card` is free of torch):

- :mod:`.card` — published checkpoints, their tokenizers and max contexts;
- :mod:`.layers`, :mod:`.tokenizer`, :mod:`.model` — the networks;
- :mod:`.checkpoint` — loading and saving ``config.json`` + ``model.safetensors``;
- :mod:`.sampler` — the batched KV-cached sampler and how it deviates from upstream.
"""
