"""The polyrelay gateway: an OpenAI-compatible HTTP API over the Router.

``polyrelay --config config.yaml`` (see ``cli.py``) serves it; ``app.create_app``
builds the ASGI app for embedding. Needs the ``proxy`` extra; the SDK alone
never imports this package.
"""
