"""A SQLite store of finished runs: one row per run, written the moment the run ends.

WAL journaling and one transaction per write let several processes share a
store; a comparison killed at any point loses no finished run, and re-running
it skips every run whose key is already stored.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .._errors import LosslabError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    comparison TEXT NOT NULL,
    law TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    history TEXT NOT NULL,
    arrays BLOB,
    seconds REAL NOT NULL,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS comparisons (key TEXT PRIMARY KEY, config TEXT NOT NULL, created REAL NOT NULL);
"""


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as an ``.npz`` archive (what ``np.load`` reads), deflated at zlib's fastest level.

    Level 1 instead of ``np.savez_compressed``'s 6: float predictions barely compress at any
    level, and the fastest level spends the least time trying.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, a in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(a), allow_pickle=False)
    return buf.getvalue()


def unpack_arrays(blob: bytes | None) -> dict[str, np.ndarray]:
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


#: seconds a writer waits for another process's transaction before giving up (SQLite's busy timeout)
BUSY_TIMEOUT_S = 60.0


class Store:
    """Runs of comparisons in one SQLite file (``":memory:"`` for a throw-away store).

    Several processes may write one store at once: WAL journaling lets readers go on while
    one writer commits, every write is one ``BEGIN IMMEDIATE`` transaction, and a writer
    waits up to :data:`BUSY_TIMEOUT_S` for another's lock instead of failing with
    "database is locked". The schema version is checked before anything is written, so a
    store from another losslab version (or another program's SQLite file) is never altered.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            parent = Path(self.path).resolve().parent
            if not parent.is_dir():
                raise LosslabError(f"store {self.path!r}: folder {str(parent)!r} does not exist")
        try:
            self._con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise LosslabError(f"store {self.path!r} cannot be opened ({e}); expected a writable file in a writable folder") from None
        try:
            self._con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            self._set_wal()
            self._check_version()
        except LosslabError:
            self._con.close()
            raise
        except sqlite3.DatabaseError as e:
            self._con.close()
            raise self._error(e, opening=True) from None

    def _set_wal(self) -> None:
        """Switch to WAL journaling, waiting for other processes as a write would.

        Changing the journal mode needs the database to itself, and SQLite answers "database is
        locked" at once, without its busy handler, when another process is opening or writing
        the same file (two comparisons creating one store together): so retry until the busy
        timeout, as a write would wait.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.005
        while True:
            try:
                self._con.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if not ("locked" in str(e) or "busy" in str(e)) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(2 * pause, 0.25)

    def _error(self, e: sqlite3.Error, *, opening: bool = False) -> LosslabError:
        """A one-line error for an SQLite failure: locked too long, disk full, read-only, or not a store."""
        text = str(e)
        if "locked" in text or "busy" in text:
            return LosslabError(
                f"store {self.path!r} stayed locked by another process for {BUSY_TIMEOUT_S:g} s ({text}); try again"
            )
        if "full" in text:
            return LosslabError(
                f"store {self.path!r}: the disk is full ({text}); every run finished before this one is kept: free "
                f"some space and run the same command again to resume"
            )
        if (opening and not isinstance(e, sqlite3.OperationalError)) or "not a database" in text:
            return LosslabError(f"store {self.path!r} is not a losslab store ({text})")
        return LosslabError(
            f"store {self.path!r} cannot be {'opened' if opening else 'written'} ({text}); expected a writable file "
            f"in a writable folder"
        )

    def _check_version(self) -> None:
        """Create the schema in an empty file; otherwise require this losslab's schema version, changing nothing."""
        with self._transaction() as cur:
            tables = {r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    cur.execute(statement)
                cur.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                return
            row = None
            if "meta" in tables:
                row = cur.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                raise LosslabError(
                    f"store {self.path!r} is not a losslab store (an SQLite file with tables {', '.join(sorted(tables))} "
                    f"and no schema version; expected schema version {SCHEMA_VERSION}); use a new --store file"
                )
            if str(row[0]) != str(SCHEMA_VERSION):
                raise LosslabError(
                    f"store {self.path!r} has schema version {row[0]}, this losslab reads schema version "
                    f"{SCHEMA_VERSION}; use a new --store file or the losslab version that wrote it"
                )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken up front (waiting up to the busy
        timeout), so a commit never meets another writer; on any error the transaction is rolled back."""
        con = self._con
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise self._error(e) from None
        try:
            yield con.cursor()
            con.execute("COMMIT")
        except BaseException as exc:
            if con.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise self._error(exc) from None
            raise

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ runs
    def has(self, key: str) -> bool:
        return self._con.execute("SELECT 1 FROM runs WHERE key=?", (key,)).fetchone() is not None

    def put_run(
        self,
        key: str,
        *,
        comparison: str,
        law: str,
        seed: int,
        status: str,
        config: dict,
        metrics: dict,
        history: dict,
        arrays: dict[str, np.ndarray],
        seconds: float,
    ) -> None:
        row = (
            key,
            comparison,
            law,
            int(seed),
            status,
            json.dumps(config, sort_keys=True),
            json.dumps(metrics, sort_keys=True, allow_nan=True),
            json.dumps(history, allow_nan=True),
            pack_arrays(arrays),
            float(seconds),
            time.time(),
        )
        with self._transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)

    def get_run(self, key: str, *, arrays: bool = True) -> dict | None:
        cols = "key, comparison, law, seed, status, config, metrics, history, seconds, finished" + (", arrays" if arrays else "")
        row = self._con.execute(f"SELECT {cols} FROM runs WHERE key=?", (key,)).fetchone()
        return None if row is None else self._row(row, arrays)

    def runs(self, comparison: str | None = None, *, arrays: bool = False) -> Iterator[dict]:
        cols = "key, comparison, law, seed, status, config, metrics, history, seconds, finished" + (", arrays" if arrays else "")
        if comparison is None:
            cur = self._con.execute(f"SELECT {cols} FROM runs ORDER BY finished")
        else:
            cur = self._con.execute(f"SELECT {cols} FROM runs WHERE comparison=? ORDER BY finished", (comparison,))
        for row in cur.fetchall():
            yield self._row(row, arrays)

    @staticmethod
    def _row(row: tuple, arrays: bool) -> dict:
        out = {
            "key": row[0],
            "comparison": row[1],
            "law": row[2],
            "seed": row[3],
            "status": row[4],
            "config": json.loads(row[5]),
            "metrics": json.loads(row[6]),
            "history": json.loads(row[7]),
            "seconds": row[8],
            "finished": row[9],
        }
        if arrays:
            out["arrays"] = unpack_arrays(row[10])
        return out

    # ----------------------------------------------------------- comparisons
    def put_comparison(self, key: str, config: dict) -> None:
        with self._transaction() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO comparisons VALUES (?,?,?)", (key, json.dumps(config, sort_keys=True), time.time())
            )

    def comparisons(self) -> list[dict]:
        rows = self._con.execute("SELECT key, config, created FROM comparisons ORDER BY created").fetchall()
        return [{"key": k, "config": json.loads(c), "created": t} for k, c, t in rows]
