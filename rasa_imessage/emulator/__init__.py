"""A local LoopMessage-compatible server with a chat page, for development and tests."""
