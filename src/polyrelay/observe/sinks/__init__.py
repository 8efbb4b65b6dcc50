"""One module per named sink. Each speaks its service's own protocol and
raises on a failed delivery, so the dispatcher retries it with backoff."""
