"""The database's tables and how a connection to it is opened.

One SQLite file in the data dir (WAL, synchronous=FULL: a commit survives a power cut).
Every session of a course lives in the same file, told apart by `sid`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    pool_json TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'lobby',
    current_question_idx INTEGER,
    updated_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS participants (
    sid TEXT NOT NULL,
    student_id TEXT NOT NULL,
    name TEXT NOT NULL,
    cookie_id TEXT NOT NULL,
    joined_at_ms INTEGER NOT NULL,
    PRIMARY KEY (sid, student_id)
);
CREATE TABLE IF NOT EXISTS questions (
    sid TEXT NOT NULL,
    question_idx INTEGER NOT NULL,
    opened_at_ms INTEGER NOT NULL,
    time_limit INTEGER NOT NULL,
    closed_at_ms INTEGER,
    PRIMARY KEY (sid, question_idx)
);
CREATE TABLE IF NOT EXISTS submissions (
    sid TEXT NOT NULL,
    student_id TEXT NOT NULL,
    question_idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    answer TEXT,
    elapsed_ms INTEGER,
    points INTEGER NOT NULL DEFAULT 0,
    score REAL NOT NULL DEFAULT 0,
    correct INTEGER NOT NULL DEFAULT 0,
    submitted_at_ms INTEGER,
    PRIMARY KEY (sid, student_id, question_idx)
);
CREATE TABLE IF NOT EXISTS student_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL,
    student_id TEXT,
    question_idx INTEGER,
    kind TEXT NOT NULL,
    detail TEXT,
    ts_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS student_events_by_sid ON student_events (sid, kind);
CREATE TABLE IF NOT EXISTS roster (
    student_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    section TEXT NOT NULL DEFAULT '',
    extra_time REAL NOT NULL DEFAULT 1.0,
    login TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0
);
"""

# Columns added after the first release: (table, column, declaration). A database made by an
# older quizctl gets them on open, so a data dir keeps working across upgrades.
ADDED_COLUMNS = (
    ("sessions", "started_at_ms", "INTEGER"),
    ("sessions", "finished_at_ms", "INTEGER"),
    ("sessions", "pool_dir", "TEXT"),  # the pool file's folder: where its images are found again
    ("questions", "paused_at_ms", "INTEGER"),
    ("questions", "paused_ms", "INTEGER NOT NULL DEFAULT 0"),
    ("questions", "skipped", "INTEGER NOT NULL DEFAULT 0"),
)


def create_or_upgrade(connection: sqlite3.Connection) -> None:
    """Create the tables, and add the columns an older database lacks."""
    connection.executescript(SCHEMA)
    for table, column, declaration in ADDED_COLUMNS:
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def connect(db_path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection


def open_read_only(db_path: Path) -> sqlite3.Connection:
    """A connection that cannot write, for reading a data dir while a server may be using it."""
    if not db_path.exists():
        raise FileNotFoundError(db_path)
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
