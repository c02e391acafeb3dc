"""Deduplication: exact (canonical URL, text hash) and near-duplicate story clusters."""

from worker.dedupe.settings import DedupeConfig
from worker.dedupe.stories import StoryAssignment, StoryIndex, story_update_due

__all__ = ["DedupeConfig", "StoryAssignment", "StoryIndex", "story_update_due"]
