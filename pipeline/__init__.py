"""Pure media stages: functions over files and frozen dataclasses (no Celery, Flask or DB)."""
