"""What the harness tells the operator while it runs, and the notes kept for the report."""

from __future__ import annotations


class Journal:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def say(self, text: str) -> None:
        print(text, flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.say(f"note: {text}")
