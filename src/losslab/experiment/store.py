"""A SQLite store of finished runs: one row per run, written the moment the run ends.

WAL journaling and one transaction per write let several processes share a
store; a comparison killed at any point loses no finished run, and re-running
it skips every run whose key is already stored.

A damaged row (metrics, config or history that are not JSON, an arrays blob that is
not the ``.npz`` :func:`pack_arrays` wrote) never surfaces as a JSON or numpy error:
:meth:`Store.get_run` reads it as missing, so resuming the comparison retrains that
run and replaces the row, and :meth:`Store.runs` and :meth:`Store.comparisons` raise
a one-line :class:`~losslab.LosslabError` naming the store, the row and the repair.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sqlite3
import time
import zipfile
import zlib
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
    """The arrays of a :func:`pack_arrays` blob; anything else raises ``ValueError`` saying what it is.

    Never unpickles: an object array, or a blob that is a pickle, is refused.

    >>> unpack_arrays(pack_arrays({"y": np.arange(3)}))["y"].tolist()
    [0, 1, 2]
    >>> unpack_arrays(b"garbage")
    Traceback (most recent call last):
    ...
    ValueError: not an .npz archive of arrays (7 bytes starting b'garbage')
    """
    if not blob:
        return {}
    blob = bytes(blob)
    if not blob.startswith(b"PK"):  # every zip archive starts so; np.load would try other formats (and pickle)
        raise ValueError(f"not an .npz archive of arrays ({len(blob)} bytes starting {blob[:8]!r})")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e):  # numpy's advice to allow_pickle: an object array, never loaded here
            raise ValueError("an .npz archive holding an object array, which a run never stores") from None
        raise ValueError(f"a damaged .npz archive ({e})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError) as e:
        raise ValueError(f"a damaged .npz archive ({type(e).__name__}: {e})") from None


#: seconds a writer waits for another process's transaction before giving up (SQLite's busy timeout)
BUSY_TIMEOUT_S = 60.0

_RUN_COLUMNS = "key, comparison, law, seed, status, config, metrics, history, seconds, finished"


@functools.cache
def _columns() -> dict[str, list[str]]:
    """``{table: column names}`` of this schema version, read off :data:`_SCHEMA` itself."""
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(_SCHEMA)
        return {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")] for t in ("meta", "runs", "comparisons")}
    finally:
        con.close()


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

    def _error(self, e: sqlite3.Error, *, opening: bool = False, reading: bool = False) -> LosslabError:
        """A one-line error for an SQLite failure: locked too long, disk full, read-only, damaged, or not a store."""
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
        if "malformed" in text:
            return LosslabError(
                f"store {self.path!r} is damaged ({text}): the SQLite file itself is corrupt; sqlite3's .recover "
                f"command may save its finished runs, else use a new --store file"
            )
        if reading:
            return LosslabError(f"store {self.path!r} cannot be read ({text}); use a new --store file")
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
            # The version alone does not prove the layout: a store altered by hand, or written by a
            # development version, would otherwise fail at its first read or write with a raw SQL error.
            for table, want in _columns().items():
                have = [r[1] for r in cur.execute(f"PRAGMA table_info({table})")]
                if have != want:
                    found = f"has columns ({', '.join(have)})" if have else "is missing"
                    raise LosslabError(
                        f"store {self.path!r} says schema version {SCHEMA_VERSION} but its table {table} {found}, not "
                        f"({', '.join(want)}): another losslab version or a hand edit made it, so it was left as it "
                        f"was; use a new --store file"
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

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a query; an SQLite failure becomes a one-line error."""
        try:
            return self._con.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise self._error(e, reading=True) from None

    # ------------------------------------------------------------------ runs
    def has(self, key: str) -> bool:
        return bool(self._read("SELECT 1 FROM runs WHERE key=?", (key,)))

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
        """The run stored under ``key``, or None when there is none or its row is damaged.

        A damaged row (config, metrics or history that are not a JSON object, an arrays blob
        that is not the ``.npz`` :func:`pack_arrays` wrote, a seed that is not an integer)
        reads as missing, with no warning: :func:`~losslab.experiment.compare` then
        retrains that run, deterministically as the first time, and :meth:`put_run` replaces
        the row, so resuming a comparison repairs its store. With ``arrays=False`` the blob
        is not read, so a damaged blob is not noticed. :meth:`runs` raises on a damaged row
        instead, naming it.
        """
        rows = self._read(f"SELECT {_RUN_COLUMNS}{', arrays' if arrays else ''} FROM runs WHERE key=?", (key,))
        if not rows:
            return None
        try:
            return self._row(rows[0], arrays)
        except LosslabError:  # the only error _row raises: a damaged row
            return None

    def runs(self, comparison: str | None = None, *, arrays: bool = False) -> Iterator[dict]:
        """The runs (of one comparison, or all), oldest first.

        A damaged row raises a one-line :class:`~losslab.LosslabError` naming the store, the
        run's key, law and seed, what is wrong, and the repair: resume the comparison (which
        retrains that run, see :meth:`get_run`) or delete the row.
        """
        cols = _RUN_COLUMNS + (", arrays" if arrays else "")
        if comparison is None:
            rows = self._read(f"SELECT {cols} FROM runs ORDER BY finished")
        else:
            rows = self._read(f"SELECT {cols} FROM runs WHERE comparison=? ORDER BY finished", (comparison,))
        for row in rows:
            yield self._row(row, arrays)

    def _row(self, row: tuple, arrays: bool) -> dict:
        key, comparison, law, seed, status = row[:5]

        def damaged(what: str) -> LosslabError:
            return LosslabError(
                f"store {self.path!r}: run {key!r} (law {law!r}, seed {seed!r}) is damaged: {what}; run the same "
                f"comparison with this store again to retrain it (a resumed comparison replaces a damaged row), or "
                f"delete the row (DELETE FROM runs WHERE key={key!r})"
            )

        if not (isinstance(seed, int) and isinstance(law, str) and isinstance(status, str) and isinstance(comparison, str)):
            raise damaged("its comparison, law, seed or status column holds a value of the wrong type")
        if not all(isinstance(v, (int, float)) for v in row[8:10]):
            raise damaged("its seconds or finished column is not a number")
        out: dict[str, Any] = {"key": key, "comparison": comparison, "law": law, "seed": seed, "status": status}
        for i, col in ((5, "config"), (6, "metrics"), (7, "history")):
            try:
                value = json.loads(row[i])
            except (TypeError, ValueError) as e:  # JSONDecodeError is a ValueError
                raise damaged(f"its {col} column is not JSON ({e})") from None
            if not isinstance(value, dict):
                raise damaged(f"its {col} column is a JSON {type(value).__name__}, not an object")
            out[col] = value
        out["seconds"], out["finished"] = row[8], row[9]
        if arrays:
            try:
                out["arrays"] = unpack_arrays(row[10])
            except ValueError as e:
                raise damaged(f"its arrays blob is {e}") from None
        return out

    # ----------------------------------------------------------- comparisons
    def put_comparison(self, key: str, config: dict) -> None:
        """Record the grid a comparison last ran: its configuration (laws and seeds included) and the time.

        A comparison's key covers the data and the training settings, not the laws and seeds, so
        that a grid with more laws or seeds reuses the runs it shares with an earlier one. Each run
        of :func:`~losslab.compare` therefore rewrites the record (a damaged one too), and
        :meth:`comparisons` lists the grids last run first-to-last: the latest is the one the user
        ran last, with its own laws and seeds.
        """
        text = json.dumps(config, sort_keys=True)
        with self._transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO comparisons VALUES (?,?,?)", (key, text, time.time()))

    def comparisons(self) -> list[dict]:
        """The comparisons' keys, configurations and the times their grids were last run, least recent first.

        A damaged configuration raises a one-line :class:`~losslab.LosslabError` naming the
        comparison; running that comparison again with this store rewrites it.
        """
        out = []
        for k, c, t in self._read("SELECT key, config, created FROM comparisons ORDER BY created"):
            config = _json_or_none(c)
            if not isinstance(config, dict):
                raise LosslabError(
                    f"store {self.path!r}: comparison {k!r} in table comparisons is damaged: its config is not a JSON "
                    f"object; run the same comparison with this store again to rewrite it, or use a new --store file"
                )
            out.append({"key": k, "config": config, "created": t})
        return out


def _json_or_none(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None
