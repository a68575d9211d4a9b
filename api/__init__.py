"""The HTTP API: a thin Flask layer that validates, writes rows and enqueues."""
