"""Where cache entries live. Each backend stores opaque bytes under a string
key with an optional time to live, behind the same five coroutines:
``get``, ``set``, ``delete``, ``ping``, ``close``. The facade (cache.py)
adds timeouts, bypass on failure, and what an entry means."""
