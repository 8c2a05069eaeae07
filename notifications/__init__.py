"""The wires: how words reach people. Knows nothing of concerns: it takes a recipient, words and an
idempotency key, keeps an outbox row for each, and delivers after the caller's transaction commits."""
