"""Rasa channel connector for Apple iMessage over the LoopMessage API."""

__version__ = "0.1.0"
