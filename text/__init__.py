"""Pure text code shared by every task type: words, windows, encoding, a task's text, the label config.

Imports no torch, Flask, Redis or MLflow (import-linter checks it).
"""
