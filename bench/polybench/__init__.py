"""polyrelay's load benchmark: mock upstream (nginx), reference hop (nginx),
the gateway, and wrk, driven by ``bench/run.py``."""
