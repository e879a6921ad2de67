"""Backups with pgBackRest: what the repository holds and what it can restore."""
