"""LoopMessage API client and models. This package never imports Rasa."""
