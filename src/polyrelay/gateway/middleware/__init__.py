"""Pure-ASGI middleware, one concern per module. The stack is assembled in
``gateway/app.py``; each class takes the app it wraps plus its settings and
passes non-HTTP scopes (lifespan) straight through."""
