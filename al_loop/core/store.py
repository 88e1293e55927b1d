"""SQLite label store: the one source of truth for a run or a labelling project.

Every change is one transaction, so a process killed at any instant leaves either the state
before or the state after it. A unit is selected at most once while it is queued or labelled
(a partial unique index enforces it), so nothing is labelled twice.

Round life cycle: ``selected`` (units queued, best first) -> ``annotated`` (queue closed; the
unused rest is ``dropped`` and may be chosen again later) -> ``evaluated`` (metrics stored).

A ``held_out`` unit (a person's check set in the app) is labelled like any other but never
trains the model: its labels are only scored against, and its seconds are not the budget's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from al_loop.core.config import run_identity
from al_loop.core.errors import StoreError
from al_loop.core.protocols import UnitAnnotation
from al_loop.core.units import Unit
from al_loop.data.base import IGNORE

SCHEMA_VERSION = 2
# schema version -> statements that bring a store of that version to the next one
MIGRATIONS = {1: ["ALTER TABLE units ADD COLUMN held_out INTEGER NOT NULL DEFAULT 0"]}
STORE_FILE = "store.sqlite"  # a run directory's store
# meta key the loop writes when it ends ({"rounds", "seconds", "ended_by"}): a report tells a
# finished run from one still running or stopped midway
FINISHED_META = "finished"
# a run's labels trained like its full-supervision reference (al_loop/wiring/refit.py)
REFIT_META = "plateau_refit"
# images in the run's pool: what one epoch of its reference covered (a refit trains alike)
POOL_IMAGES_META = "pool_images"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    strategy TEXT NOT NULL,
    target_seconds REAL NOT NULL,        -- cumulative seconds at which this round stops
    status TEXT NOT NULL CHECK (status IN ('selected', 'annotated', 'evaluated')),
    seconds_total REAL,                  -- cumulative labelling seconds after the round
    metrics TEXT,                        -- JSON
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS units (
    id INTEGER PRIMARY KEY,
    round INTEGER NOT NULL REFERENCES rounds(round),
    image INTEGER NOT NULL,
    region INTEGER NOT NULL,
    image_name TEXT NOT NULL,
    rank INTEGER NOT NULL,
    score REAL,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'annotated', 'skipped', 'flagged', 'dropped')),
    lease_owner TEXT,
    lease_until REAL,
    held_out INTEGER NOT NULL DEFAULT 0  -- 1: a check unit, scored against, never trained on
);
CREATE UNIQUE INDEX IF NOT EXISTS units_live ON units(image, region) WHERE status != 'dropped';
CREATE INDEX IF NOT EXISTS units_round ON units(round, status, rank);
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL UNIQUE REFERENCES units(id),
    round INTEGER NOT NULL,
    method TEXT NOT NULL,
    annotator TEXT NOT NULL,
    seconds REAL NOT NULL CHECK (seconds >= 0),  -- the person's (or priced) seconds: the budget's
    n_interactions INTEGER NOT NULL,
    interactions TEXT NOT NULL,          -- JSON list
    y0 INTEGER NOT NULL, x0 INTEGER NOT NULL, y1 INTEGER NOT NULL, x1 INTEGER NOT NULL,
    mask BLOB NOT NULL,                  -- PNG, uint8 class ids inside the box, 255 = unlabelled
    created_at REAL NOT NULL,
    wait_seconds REAL NOT NULL DEFAULT 0  -- the app kept the person waiting (not the budget's)
);
"""
# Columns added since a store's schema version was fixed, each with a default that is right
# for every row written before it: added where missing when a store is opened for writing (no
# version change, so an older checkout still reads the store), read as the default otherwise.
ADDED_COLUMNS = {"annotations": {"wait_seconds": ("REAL NOT NULL DEFAULT 0", 0.0)}}


# Units of earlier rounds' queues that a new round's ranking replaces (parameters: the new
# round, now): queued, not check units, and held by nobody.
_REPLACEABLE = (
    "round < ? AND status = 'queued' AND held_out = 0 AND (lease_owner IS NULL OR lease_until < ?)"
)


@dataclass(frozen=True)
class QueuedUnit:
    id: int
    unit: Unit
    rank: int
    score: float | None
    held_out: bool = False


@dataclass(frozen=True)
class RoundRecord:
    round: int
    strategy: str
    target_seconds: float
    status: str
    seconds_total: float | None
    metrics: dict | None
    n_annotated: int


def encode_mask(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(mask, dtype=np.uint8))
    if not ok:
        raise StoreError("could not encode a mask as PNG")
    return buf.tobytes()


def decode_mask(blob: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_UNCHANGED)


class LabelStore:
    """``read_only``: for readers (reports, the ``run`` data set), which also works on a run
    directory they may not write (an archive, a read-only mount); never creates a store."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise StoreError(f"{self.path}: no label store here")
        if self.path.is_file() and self.path.stat().st_size == 0:
            # sqlite would take an empty file for a new store and silently start over
            raise StoreError(
                f"{self.path}: empty file (0 bytes), not a label store; restore it from a backup, "
                "or delete it to start this run again from round 0"
            )
        try:
            if read_only:
                self._open_read_only()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if not self.path.exists():
                    self._create()
                self._open()
            version = int(self.get_meta("schema_version"))
        except sqlite3.DatabaseError as err:
            if hasattr(self, "_conn"):
                self._conn.close()
            raise self._error(err) from err
        if version != SCHEMA_VERSION:
            self._conn.close()
            raise StoreError(
                f"{self.path}: schema version {version}, this code reads {SCHEMA_VERSION}"
                + ("; open it once for writing to migrate it" if read_only else "")
            )

    def _create(self) -> None:
        """Make a new store beside its path and link it in when complete: a process killed
        while creating it leaves no store (a fresh start), never an empty or half-made one."""
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        partial.unlink(missing_ok=True)
        conn = sqlite3.connect(partial, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: recorded in the file
            conn.executescript(SCHEMA)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        finally:
            conn.close()  # the last connection: everything is in the file, no -wal left
        try:
            os.link(partial, self.path)  # never replaces a store another process just made
        except FileExistsError:
            pass
        finally:
            partial.unlink()

    def _open(self) -> None:
        # isolation_level=None: we open transactions ourselves with BEGIN IMMEDIATE, so two
        # processes (loop and app) never interleave a read-modify-write.
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # durable across process kills
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(SCHEMA)  # idempotent: IF NOT EXISTS everywhere
        with self._transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            for table, columns in ADDED_COLUMNS.items():
                present = {r["name"] for r in c.execute(f"PRAGMA table_info({table})")}
                for name, (declaration, _) in columns.items():
                    if name not in present:
                        c.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
        self._migrate()

    def _open_read_only(self) -> None:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        if not os.access(self.path.parent, os.W_OK):
            # WAL readers need a -shm file beside the store; where none can be made, nobody can
            # write either, so the file may be read as immutable
            uri += "&immutable=1"
        self._conn = sqlite3.connect(uri, uri=True, timeout=30.0)
        self._conn.row_factory = sqlite3.Row

    def _error(self, err: sqlite3.Error) -> StoreError:
        """A one-line StoreError for a failed sqlite call: disk full, busy, or a damaged file."""
        message = str(err)
        if "full" in message:
            return StoreError(
                f"{self.path}: disk full ({message}); what was stored before is intact: free some "
                "space, then resume"
            )
        if isinstance(err, sqlite3.OperationalError):
            return StoreError(f"{self.path}: {message}")
        return StoreError(
            f"{self.path}: damaged or not a label store ({message}); restore it from a backup, "
            "or move it away to start this run again from round 0"
        )

    def check_integrity(self) -> None:
        """A damaged store (truncated, overwritten) fails here in one line, not mid-run."""
        try:
            rows = self._conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as err:
            raise self._error(err) from err
        problems = [row[0] for row in rows if row[0] != "ok"]
        if problems:
            raise self._error(sqlite3.DatabaseError(problems[0]))

    # -- plumbing -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Bring an older store up to SCHEMA_VERSION in place, one version per transaction
        (re-read inside it: two processes opening an old store migrate it once)."""
        while True:
            with self._transaction() as c:
                row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row["value"])
                if version >= SCHEMA_VERSION or version not in MIGRATIONS:
                    return
                for statement in MIGRATIONS[version]:
                    c.execute(statement)
                c.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version + 1),)
                )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # sqlite rolls back itself after some errors
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as err:  # disk full, busy too long: one line
            raise self._error(err) from err

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row["value"]

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def bind_config(self, config: dict) -> None:
        """Record the run's config, or check that a resumed run uses the same one."""
        if self.get_meta("config") is None:
            self.set_meta("config", json.dumps(config, sort_keys=True))
        else:
            self.check_same_config(config)

    def check_same_config(self, config: dict) -> None:
        """Refuse (one line, nothing written) a config other than the stored one, if any."""
        stored = self.get_meta("config")
        if stored is None:
            return
        old, new = run_identity(json.loads(stored)), run_identity(config)
        if old != new:
            diff = sorted(_diff_keys(old, new))
            raise StoreError(
                f"{self.path}: holds a run with another config (differs at {', '.join(diff[:5])}); "
                "use a new run directory"
            )

    # -- rounds -------------------------------------------------------------------------------
    def rounds(self) -> list[RoundRecord]:
        rows = self._conn.execute(
            """SELECT r.*, (SELECT COUNT(*) FROM annotations a JOIN units u ON u.id = a.unit_id
                            WHERE a.round = r.round AND u.held_out = 0) AS n_annotated
               FROM rounds r ORDER BY r.round"""
        ).fetchall()
        return [
            RoundRecord(
                round=row["round"],
                strategy=row["strategy"],
                target_seconds=row["target_seconds"],
                status=row["status"],
                seconds_total=row["seconds_total"],
                metrics=None if row["metrics"] is None else json.loads(row["metrics"]),
                n_annotated=row["n_annotated"],
            )
            for row in rows
        ]

    def last_round(self) -> RoundRecord | None:
        rounds = self.rounds()
        return rounds[-1] if rounds else None

    def labelling_round(self) -> int:
        """The round a label made now belongs to: the open (``selected``) round, or, while the
        last round is being trained (a person labels on from its queue meanwhile), the next one:
        its model never saw the label."""
        last = self.last_round()
        if last is None:
            return 0
        return last.round if last.status == "selected" else last.round + 1

    def start_round(
        self,
        round_index: int,
        strategy: str,
        target_seconds: float,
        ranked: Sequence[Unit],
        image_names: Sequence[str],
        scores: Sequence[float] | None = None,
    ) -> None:
        """Create the round and queue its units, best first, in one transaction. The new
        ranking replaces what earlier rounds left queued (a person labelled on from it while
        this round was trained), except units someone holds now and check units."""
        now = time.time()
        with self._transaction() as c:
            c.execute(
                "INSERT INTO rounds(round, strategy, target_seconds, status, created_at) "
                "VALUES (?, ?, ?, 'selected', ?)",
                (round_index, strategy, float(target_seconds), now),
            )
            c.execute(
                "UPDATE units SET status = 'dropped', lease_owner = NULL, lease_until = NULL "
                f"WHERE {_REPLACEABLE}",
                (round_index, now),
            )
            # ranked while the old queue was labelled on: what was labelled or is still held
            # since is not queued again
            taken = {
                Unit(r["image"], r["region"])
                for r in c.execute(
                    "SELECT image, region FROM units u WHERE round < ? AND (status = 'queued' "
                    "OR EXISTS (SELECT 1 FROM annotations a WHERE a.unit_id = u.id "
                    "AND a.round >= ?))",
                    (round_index, round_index),
                )
            }
            keep = [i for i, u in enumerate(ranked) if u not in taken]
            ranked = [ranked[i] for i in keep]
            scores = None if scores is None else [scores[i] for i in keep]
            self._queue(c, round_index, ranked, image_names, scores, first_rank=0)

    def extend_round(
        self,
        round_index: int,
        ranked: Sequence[Unit],
        image_names: Sequence[str],
        scores: Sequence[float] | None = None,
        held_out: bool = False,
    ) -> None:
        """Queue more units when the round's budget outlasts its queue (or, ``held_out``,
        check units, which leases hand out first)."""
        with self._transaction() as c:
            row = c.execute(
                "SELECT COALESCE(MAX(rank) + 1, 0) AS n FROM units WHERE round = ?", (round_index,)
            ).fetchone()
            self._queue(c, round_index, ranked, image_names, scores, row["n"], held_out)

    @staticmethod
    def _queue(c, round_index, ranked, image_names, scores, first_rank, held_out=False) -> None:
        rows = [
            (
                round_index,
                u.image,
                u.region,
                image_names[u.image],
                first_rank + i,
                None if scores is None else float(scores[i]),
                int(held_out),
            )
            for i, u in enumerate(ranked)
        ]
        try:
            c.executemany(
                "INSERT INTO units(round, image, region, image_name, rank, score, held_out) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError as err:
            raise StoreError(
                f"a unit was queued twice ({err}); the strategy must skip labelled units"
            ) from err

    def queued(self, round_index: int) -> list[QueuedUnit]:
        rows = self._conn.execute(
            "SELECT id, image, region, rank, score, held_out FROM units "
            "WHERE round = ? AND status = 'queued' ORDER BY rank",
            (round_index,),
        ).fetchall()
        return [
            QueuedUnit(
                r["id"], Unit(r["image"], r["region"]), r["rank"], r["score"], bool(r["held_out"])
            )
            for r in rows
        ]

    def close_round(self, round_index: int, keep_queue: bool = False) -> None:
        """The round's budget is spent: mark it annotated and drop what is still queued, or,
        ``keep_queue`` (the app), leave the queue to be labelled on from until the next round's
        ranking replaces it (``start_round``)."""
        with self._transaction() as c:
            if not keep_queue:
                c.execute(
                    "UPDATE units SET status = 'dropped', lease_owner = NULL, lease_until = NULL "
                    "WHERE round = ? AND status = 'queued'",
                    (round_index,),
                )
            c.execute(
                "UPDATE rounds SET status = 'annotated' WHERE round = ? AND status = 'selected'",
                (round_index,),
            )

    def finish_round(self, round_index: int, metrics: dict) -> None:
        with self._transaction() as c:
            seconds = self._seconds(c, max_round=round_index)  # not labels made since
            c.execute(
                "UPDATE rounds SET status = 'evaluated', metrics = ?, seconds_total = ?, "
                "finished_at = ? WHERE round = ?",
                (json.dumps(metrics), seconds, time.time(), round_index),
            )

    # -- annotations --------------------------------------------------------------------------
    def add_annotation(self, unit_id: int, round_index: int, ann: UnitAnnotation) -> None:
        y0, x0, y1, x1 = (int(v) for v in ann.box)
        if ann.mask.shape != (y1 - y0, x1 - x0):
            raise StoreError(f"annotation mask {ann.mask.shape} does not fit its box {ann.box}")
        with self._transaction() as c:
            updated = c.execute(
                "UPDATE units SET status = 'annotated', lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND status = 'queued'",
                (unit_id,),
            ).rowcount
            if updated != 1:
                raise StoreError(
                    f"unit {ann.unit.key} (row {unit_id}) is not queued; not labelled twice"
                )
            c.execute(
                "INSERT INTO annotations(unit_id, round, method, annotator, seconds, n_interactions, "
                "interactions, y0, x0, y1, x1, mask, created_at, wait_seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    unit_id,
                    round_index,
                    ann.method,
                    ann.annotator,
                    float(ann.seconds),
                    sum(1 for i in ann.interactions if i.get("type")),
                    json.dumps(ann.interactions),
                    y0,
                    x0,
                    y1,
                    x1,
                    encode_mask(ann.mask),
                    time.time(),
                    max(0.0, float(ann.wait_seconds)),
                ),
            )

    def set_unit_status(self, unit_id: int, status: str) -> None:
        """Skip or flag a queued unit (a person in the app)."""
        if status not in ("skipped", "flagged"):
            raise StoreError(f"status must be 'skipped' or 'flagged', got '{status}'")
        with self._transaction() as c:
            c.execute(
                "UPDATE units SET status = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND status = 'queued'",
                (status, unit_id),
            )

    def hold_out(self, unit_ids: Iterable[int]) -> int:
        """Make queued units no tab holds check units (held out); how many became one."""
        now = time.time()
        with self._transaction() as c:
            return sum(
                c.execute(
                    "UPDATE units SET held_out = 1 WHERE id = ? AND status = 'queued' "
                    "AND (lease_owner IS NULL OR lease_until < ?)",
                    (int(i), now),
                ).rowcount
                for i in unit_ids
            )

    def lease_next(
        self,
        round_index: int,
        owner: str,
        ttl_seconds: float = 600.0,
        held_out: bool | None = None,
    ) -> QueuedUnit | None:
        """Give the best queued unit nobody else holds; two app tabs never get the same one.
        First the unit ``owner`` holds already (of any round: a person labelling while the next
        round was selected keeps it), then check units (of any round: never dropped), then
        round ``round_index``'s queue. ``held_out``: only check units, or none (None: both)."""
        now = time.time()
        kind = "" if held_out is None else f"AND held_out = {int(bool(held_out))} "
        with self._transaction() as c:
            row = c.execute(
                "SELECT id, image, region, rank, score, held_out FROM units "
                "WHERE status = 'queued' AND (lease_owner IS NULL OR lease_owner = :owner "
                "OR lease_until < :now) AND (round = :round OR held_out = 1 "
                f"OR (lease_owner = :owner AND lease_until >= :now)) {kind}"
                "ORDER BY (lease_owner = :owner AND lease_until >= :now) DESC, held_out DESC, "
                "round DESC, rank LIMIT 1",
                {"round": round_index, "owner": owner, "now": now},
            ).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE units SET lease_owner = ?, lease_until = ? WHERE id = ?",
                (owner, now + ttl_seconds, row["id"]),
            )
        return QueuedUnit(
            row["id"],
            Unit(row["image"], row["region"]),
            row["rank"],
            row["score"],
            bool(row["held_out"]),
        )

    @staticmethod
    def _seconds(c, held_out: bool = False, max_round: int | None = None) -> float:
        last = "" if max_round is None else f" AND a.round <= {int(max_round)}"
        return float(
            c.execute(
                "SELECT COALESCE(SUM(a.seconds), 0) AS s FROM annotations a "
                "JOIN units u ON u.id = a.unit_id WHERE u.held_out = ?" + last,
                (int(held_out),),
            ).fetchone()["s"]
        )

    def seconds_spent(self, held_out: bool = False, max_round: int | None = None) -> float:
        """Labelling seconds of training labels (of the check set, ``held_out``), of rounds up
        to ``max_round`` if given."""
        return self._seconds(self._conn, held_out, max_round)

    def unavailable_units(self, ranking: int | None = None) -> set[Unit]:
        """Units labelled, queued, skipped or flagged: no strategy may choose them again.
        ``ranking``: for the ranking of that round, which replaces earlier rounds' queues,
        so their units nobody holds are available again (``start_round``)."""
        query = "SELECT image, region FROM units WHERE status != 'dropped'"
        args: tuple = ()
        if ranking is not None:
            query += f" AND NOT ({_REPLACEABLE})"
            args = (ranking, time.time())
        return {Unit(r["image"], r["region"]) for r in self._conn.execute(query, args)}

    def annotation_seconds(self) -> list[float]:
        return [
            r["seconds"] for r in self._conn.execute("SELECT seconds FROM annotations ORDER BY id")
        ]

    def unit_seconds(self) -> dict[Unit, float]:
        """What each labelled unit cost, without decoding any mask."""
        rows = self._conn.execute(
            "SELECT u.image, u.region, a.seconds FROM annotations a JOIN units u ON u.id = a.unit_id"
        )
        return {Unit(r["image"], r["region"]): r["seconds"] for r in rows}

    def annotation_logs(self) -> list[dict]:
        """Every annotation's annotator, method, seconds and interaction log; no masks."""
        rows = self._conn.execute(
            "SELECT annotator, method, seconds, interactions FROM annotations ORDER BY id"
        )
        return [{**dict(r), "interactions": json.loads(r["interactions"])} for r in rows]

    def annotations(self, round_index: int | None = None) -> list[dict]:
        query = (
            "SELECT a.*, u.image, u.region, u.image_name, u.held_out FROM annotations a "
            "JOIN units u ON u.id = a.unit_id"
        )
        args: tuple = ()
        if round_index is not None:
            query += " WHERE a.round = ?"
            args = (round_index,)
        rows = self._conn.execute(query + " ORDER BY a.id", args).fetchall()
        defaults = {name: value for name, (_, value) in ADDED_COLUMNS["annotations"].items()}
        return [
            {
                **defaults,  # a store opened read-only may predate these columns
                **{k: row[k] for k in row.keys() if k not in ("mask", "interactions")},  # noqa: SIM118 (Row iterates values)
                "interactions": json.loads(row["interactions"]),
                "mask": decode_mask(row["mask"]),
            }
            for row in rows
        ]

    def labelled_pixels_per_class(self, num_classes: int) -> np.ndarray:
        """int64 [num_classes]: pixels each class got in the pool's annotations (the check set
        left out): which classes a strategy asked people to label."""
        counts = np.zeros(num_classes, dtype=np.int64)
        rows = self._conn.execute(
            "SELECT a.mask FROM annotations a JOIN units u ON u.id = a.unit_id WHERE u.held_out = 0"
        )
        for row in rows:
            mask = decode_mask(row["mask"])
            counts += np.bincount(mask[mask < num_classes].ravel(), minlength=num_classes)
        return counts

    def label_maps(
        self,
        num_images: int,
        hw: tuple[int, int],
        held_out: bool = False,
        max_round: int | None = None,
    ) -> np.ndarray:
        """uint8 [N,H,W] training labels (the check set's, ``held_out``): IGNORE except where
        an annotation labelled a pixel; only annotations of rounds up to ``max_round``, if
        given (what a round's models saw, even after later rounds started)."""
        labels = np.full((num_images, *hw), IGNORE, dtype=np.uint8)
        query = (
            "SELECT u.image, a.y0, a.x0, a.y1, a.x1, a.mask FROM annotations a "
            "JOIN units u ON u.id = a.unit_id WHERE u.held_out = ?"
        )
        params: list[int] = [int(held_out)]
        if max_round is not None:
            query += " AND a.round <= ?"
            params.append(max_round)
        rows = self._conn.execute(query + " ORDER BY a.id", params)
        for row in rows:
            mask = decode_mask(row["mask"])
            view = labels[row["image"], row["y0"] : row["y1"], row["x0"] : row["x1"]]
            known = mask != IGNORE
            view[known] = mask[known]
        return labels


def _diff_keys(old, new, prefix: str = "") -> Iterable[str]:
    # a section left out (every key at its default) against one that is not: name the keys
    if isinstance(old, dict) and new is None or old is None and isinstance(new, dict):
        old, new = old or {}, new or {}
    if isinstance(old, dict) and isinstance(new, dict):
        for key in set(old) | set(new):
            yield from _diff_keys(old.get(key), new.get(key), f"{prefix}{key}.")
    elif old != new:
        yield prefix.rstrip(".")
