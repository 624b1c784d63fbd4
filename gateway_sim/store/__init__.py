"""Keeping what happened: messages, parts, statuses, callback attempts and the journal, written in
batches to SQLite (in memory or a --db file).
"""
