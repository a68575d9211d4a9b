"""Celery app, tasks and the in-process runner: thin adapters around pipeline stages."""
