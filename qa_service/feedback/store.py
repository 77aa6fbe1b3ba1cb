"""The feedback store: one SQLite file, shared by every worker process and thread of the service.

Why SQLite through the standard library's ``sqlite3`` (and not SQLAlchemy): the store is one table
written by short INSERTs and read whole by the CLI; SQLite is embedded (nothing to run), its WAL mode
lets readers and a writer work at once across processes, and ``sqlite3`` ships with Python, so the
store adds no dependency and no ORM layer to learn for ~150 lines of SQL.

Concurrency: gunicorn runs several worker processes, each with many threads. Each thread gets its own
connection (a ``sqlite3`` connection must not be shared across threads, nor across a fork); writes are
single-statement autocommit transactions, so a lock is held for a moment only (``synchronous=NORMAL``,
WAL's recommended level, spares each commit an fsync), and ``busy_timeout`` makes a writer wait for
another's lock instead of failing.

Schema changes: ``PRAGMA user_version`` holds the schema's version; at start the store applies the
migrations it lacks, inside one ``BEGIN IMMEDIATE`` transaction, so two workers starting together
migrate once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..files import exclusive_lock

#: The database's file name inside the data folder (``QA_DATA_DIR``).
FEEDBACK_FILE = "feedback.sqlite3"

#: Milliseconds a connection waits for another's write lock before giving up.
BUSY_TIMEOUT_MS = 30_000

#: ``MIGRATIONS[i]`` brings the schema from version ``i`` to ``i + 1``.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE feedback (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at   TEXT    NOT NULL,
        question     TEXT    NOT NULL,
        document     TEXT    NOT NULL,
        passage      INTEGER NOT NULL CHECK (passage >= 1),
        passage_text TEXT    NOT NULL,
        helpful      INTEGER NOT NULL CHECK (helpful IN (0, 1)),
        comment      TEXT    NOT NULL DEFAULT '',
        via          TEXT    NOT NULL CHECK (via IN ('api', 'page')),
        request_id   TEXT    NOT NULL DEFAULT '',
        index_build  TEXT    NOT NULL DEFAULT ''
    );
    CREATE INDEX feedback_by_passage ON feedback (document, passage);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Mark:
    """A reader's mark of one answer: the question, the passage it was answered with, helpful or not.

    ``passage_text`` is the passage as the reader saw it, kept so that the mark still means something
    after the corpus changes and passages are renumbered.
    """

    question: str
    document: str
    passage: int
    passage_text: str
    helpful: bool
    comment: str = ""
    via: str = "api"
    request_id: str = ""
    index_build: str = ""


@dataclass(frozen=True)
class StoredMark(Mark):
    """A mark as stored: with its id and when it was made (UTC, ISO 8601)."""

    id: int = 0
    created_at: str = ""


class FeedbackStore:
    """The SQLite file of readers' marks; safe to use from many threads and processes at once."""

    def __init__(self, path: Path) -> None:
        """Open (creating the folder and file when missing) and migrate the schema to the current version."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (made on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: autocommit, each INSERT its own short transaction.
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # WAL's recommended level: a commit survives the process dying; only a power cut may undo the last.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def _migrate(self) -> None:
        # Workers starting together take turns (a file lock beside the database): WAL mode is switched on
        # once, when no other connection holds the file, and the schema is migrated once.
        with exclusive_lock(self.path.parent):
            conn = self._connection()
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            self._apply_migrations(conn)

    def _apply_migrations(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has feedback schema version {version}, newer than this service's "
                    f"{SCHEMA_VERSION}: upgrade the service"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        """The schema version of the file (``PRAGMA user_version``)."""
        return self._connection().execute("PRAGMA user_version").fetchone()[0]

    def add(self, mark: Mark) -> int:
        """Store a mark; returns its id."""
        created = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        cursor = self._connection().execute(
            "INSERT INTO feedback (created_at, question, document, passage, passage_text, helpful, comment, via,"
            " request_id, index_build) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                created,
                mark.question,
                mark.document,
                mark.passage,
                mark.passage_text,
                int(mark.helpful),
                mark.comment,
                mark.via,
                mark.request_id,
                mark.index_build,
            ),
        )
        return int(cursor.lastrowid)

    def marks(self) -> Iterator[StoredMark]:
        """Every stored mark, oldest first."""
        rows = self._connection().execute("SELECT * FROM feedback ORDER BY id")
        for row in rows:
            yield StoredMark(
                id=row["id"],
                created_at=row["created_at"],
                question=row["question"],
                document=row["document"],
                passage=row["passage"],
                passage_text=row["passage_text"],
                helpful=bool(row["helpful"]),
                comment=row["comment"],
                via=row["via"],
                request_id=row["request_id"],
                index_build=row["index_build"],
            )

    def count(self) -> int:
        """How many marks are stored."""
        return self._connection().execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end or the process exits)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
