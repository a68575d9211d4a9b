"""Persistence and settings shared by the API and the workers."""
