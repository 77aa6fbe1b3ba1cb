"""Readers' feedback: marks of an answer as helpful or not, stored in SQLite, summed up and exported.

- ``store``: the SQLite file (schema migrated at start, WAL, one connection per thread) and its rows.
- ``export``: the counts per question and passage, and the question set ``qa-service eval`` reads.

It knows passages (``corpus``) and nothing of the ranking or the HTTP service: the service checks that
a marked passage exists before it stores the mark.
"""

from .export import ExportResult, PassageStats, export_question_set, feedback_stats
from .store import FEEDBACK_FILE, SCHEMA_VERSION, FeedbackStore, Mark, StoredMark

__all__ = [
    "FEEDBACK_FILE",
    "SCHEMA_VERSION",
    "ExportResult",
    "FeedbackStore",
    "Mark",
    "PassageStats",
    "StoredMark",
    "export_question_set",
    "feedback_stats",
]
