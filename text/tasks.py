"""Reading a Label Studio task's text: the one field the label config's <Text value="$field"> names. Pure."""

from __future__ import annotations

from typing import Any


def task_text(task: Any, value_key: str) -> str | None:
    """The task's text, or None when the task cannot be read (not an object, no data, field missing or not text)."""
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        return None
    text = task["data"].get(value_key)
    return text if isinstance(text, str) else None
