"""What the two end-to-end peers of `make bench` (suite e2e) share: the cleaning rules of the bench pipeline, the
input files, cvm's clustering preparation and the scikit-learn fit, the SQLite load, and the JSON they print.

    pipeline_pandas.py   extract + clean, sessions, features in pandas (vectorised)
    pipeline_duckdb.py   the same in DuckDB SQL

Both then call `kmeans` (scikit-learn from the same initial centroids as cvm) and `load_sqlite` (Python's
sqlite3, executemany, one transaction per table) from here, so the last two stages are the same code in both.

SOURCES mirrors the `sources:` of bench/data/<P>/pipeline.yaml (pipelines/demo.yaml with its paths pointed at the
preset; the venv has no YAML parser, so the rules are written out here; the suite's equal-work check, kept and
quarantined rows per source equal to cvm's, fails when they drift apart). CLUSTERING mirrors the one clustering
of the e2e suite's config (run.py's e2e_config).
"""
import argparse
import datetime as dt
import glob
import hashlib
import hmac
import json
import os
import sqlite3
import time

import numpy as np
# Imported here, before any stage's clock starts (interpreter and library start-up are not timed, as cvm's stage
# seconds do not include its process start).
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

NULL_VALUES = ["", "NULL", "null", "NA", "N/A"]  # cvm's default null_values (after trimming spaces and tabs)

ORDER_STATUS = ["completed", "returned", "cancelled"]
EVENT_TYPES = ["page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase", "review", "share",
               "referral", "support_contact"]
CHANNELS = ["organic", "paid_search", "social", "email", "referral", "affiliate"]
DEVICES = ["desktop", "mobile", "tablet", "app"]

# name -> file glob, key, references, checks, columns: canonical name -> dict(type, from, required, min, max, pattern,
# values, lowercase, on_invalid, format). Column order is the declared order (cvm's stg_* column order).
SOURCES = {
    "customers": {
        "files": "customers.csv.gz", "key": ["customer_id"], "references": {}, "checks": [],
        "columns": {
            "customer_id": {"type": "string", "required": True},
            "email": {"type": "string", "lowercase": True},
            "signup_date": {"type": "date"},
            "country": {"type": "string", "pattern": "[A-Z]{2}"},
            "birth_year": {"type": "int", "min": 1900, "max": 2026, "on_invalid": "null"},
            "channel": {"type": "enum", "from": "acquisition_channel", "values": CHANNELS},
        },
    },
    "orders": {
        "files": "orders/**/*.csv.gz", "key": ["order_id", "line_no"], "references": {"customer_id": "customers"},
        "checks": ["quantity * unit_price >= discount"],
        "columns": {
            "order_id": {"type": "string", "required": True},
            "line_no": {"type": "int", "required": True, "min": 1},
            "customer_id": {"type": "string", "required": True},
            "ordered_at": {"type": "timestamp", "from": "order_ts", "required": True},
            "sku": {"type": "string", "required": True},
            "category": {"type": "string"},
            "quantity": {"type": "int", "required": True, "min": 1, "max": 1000},
            "unit_price": {"type": "decimal", "required": True, "min": 0},
            "discount": {"type": "decimal", "min": 0},
            "status": {"type": "enum", "values": ORDER_STATUS, "lowercase": True},
        },
    },
    "events": {
        "files": "events/**/*.csv.gz", "key": ["event_id"], "references": {"customer_id": "customers"}, "checks": [],
        "columns": {
            "event_id": {"type": "string", "required": True},
            "customer_id": {"type": "string"},
            "occurred_at": {"type": "timestamp", "from": "ts", "format": "epoch_ms", "required": True},
            "event_type": {"type": "enum", "required": True, "values": EVENT_TYPES},
            "sku": {"type": "string"},
            "category": {"type": "string"},
            "device": {"type": "enum", "values": DEVICES},
            "referrer": {"type": "string"},
        },
    },
}
SOURCE_ORDER = ["customers", "orders", "events"]  # referenced sources first, as cvm cleans them
DECIMAL_SCALE = 2
SESSION_GAP_US = 30 * 60 * 1_000_000
WINDOWS = (7, 30, 90, 180, 365)
TOP_CATEGORIES = 5

# The clustering the e2e suite declares (run.py writes the same into cvm's config).
CLUSTERING = {"name": "value", "features": ["recency_days", "orders_count_all", "revenue_sum_all", "aov_all"],
              "transform": "log1p", "k": 4, "max_iter": 300, "tol": 1e-4}

# ISO 8601 as cvm's parser accepts it: YYYY-MM-DD[(T|t| )HH:MM[:SS[(.|,)fraction]]][Z|z|±HH[[:]MM]|±HH:]
ISO_TIMESTAMP = (r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
                 r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2})|:)?)?$")
INT_PATTERN = r"^[+-]?\d+$"
# A decimal: optional sign, digits with at most one point, at least one digit; digits beyond the scale must be 0.
DECIMAL_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)$"
DECIMAL_TOO_PRECISE = r"\.\d{%d}\d*[1-9]" % DECIMAL_SCALE


def files(folder, source):
    """The source's files in sorted path order (as cvm reads them)."""
    return sorted(glob.glob(os.path.join(folder, SOURCES[source]["files"]), recursive=True))


def cutoff_us(as_of):
    """The end of the as-of day (UTC), µs since the epoch: later events are not sessionized."""
    return ((as_of - dt.date(1970, 1, 1)).days + 1) * 86_400_000_000


# ---------------------------------------------------------------- k-means

def prepare(frame, columns=None, transform=None):
    """cvm's preparation of one clustering (Sources/Cluster/ClusterStage.swift): per feature, nulls imputed with the
    median of the present values, then log1p applied symmetrically (t >= 0 ? log1p(t) : -log1p(-t)), then standard
    scaling with the population standard deviation (1 when it is 0). Returns the n x d float64 matrix."""
    columns = columns or CLUSTERING["features"]
    transform = transform or CLUSTERING["transform"]
    x = np.empty((len(frame), len(columns)))
    for j, name in enumerate(columns):
        v = frame[name].to_numpy(dtype="float64", na_value=np.nan)
        present = v[~np.isnan(v)]
        v = np.where(np.isnan(v), np.median(present) if len(present) else 0.0, v)
        if transform == "log1p":
            v = np.where(v >= 0, np.log1p(np.abs(v)), -np.log1p(np.abs(v)))
        center = v.mean()
        sd = np.sqrt(((v - center) ** 2).mean())
        x[:, j] = (v - center) / (sd if sd > 0 else 1.0)
    return x


def kmeans(frame, init_customers, threads):
    """scikit-learn's KMeans (Lloyd) on the prepared features, started from the rows of `init_customers` (cvm's
    `init: {customers: [...]}`), n_init 1, cvm's max_iter and tol. Returns (labels, inertia, iterations)."""
    x = prepare(frame)
    ids = frame["customer_id"].to_numpy(dtype=object)
    pos = {c: i for i, c in enumerate(ids)}
    init = x[[pos[c] for c in init_customers]]
    with threadpool_limits(limits=threads):
        km = KMeans(n_clusters=CLUSTERING["k"], init=init, n_init=1, max_iter=CLUSTERING["max_iter"],
                    tol=CLUSTERING["tol"], algorithm="lloyd").fit(x)
    return km.labels_, float(km.inertia_), int(km.n_iter_)


# ---------------------------------------------------------------- load

def pseudonym(key):
    """HMAC-SHA256 (hex) of a value under `key`, as cvm pseudonymises `email` (privacy.pseudonymize)."""
    k = key.encode()
    return lambda v: None if v is None else hmac.new(k, v.encode(), hashlib.sha256).hexdigest()


def remove_sqlite(path):
    """Deletes a SQLite file with its write-ahead log and shared-memory files, if present."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def fresh_sqlite(path):
    """A connection to a new, empty SQLite file (autocommit; WAL and synchronous=NORMAL as cvm's warehouse)."""
    remove_sqlite(path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    return con


def pipeline_args(doc, threads_help):
    """The command line both end-to-end peers take."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--init", required=True, help="k customer ids, comma-separated: the initial centroids")
    ap.add_argument("--db", required=True)
    ap.add_argument("--threads", type=int, default=2, help=threads_help)
    ap.add_argument("--features-out")
    ap.add_argument("--key", default=os.environ.get("CVM_PSEUDONYM_KEY", ""))
    return ap.parse_args()


def load_sqlite(path, tables):
    """A fresh SQLite file with one table per (name, columns, sqlite types, rows iterable); executemany in one
    transaction per table, WAL and synchronous=NORMAL as cvm's warehouse. Returns {name: rows inserted}."""
    con = fresh_sqlite(path)
    counts = {}
    for name, columns, types, rows in tables:
        con.execute(f'CREATE TABLE "{name}" (' + ", ".join(f'"{c}" {t}' for c, t in zip(columns, types)) + ")")
        con.execute("BEGIN")
        cur = con.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" for _ in columns)})', rows)
        con.execute("COMMIT")
        counts[name] = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        del cur
    con.close()
    return counts


class Stopwatch:
    """Stage seconds, in order."""

    def __init__(self):
        self.seconds = {}
        self._t = time.perf_counter()

    def lap(self, stage):
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._t
        self._t = now


def report(peer, watch, counts, sessions, features_shape, fit, loaded):
    """The peer's one JSON line: stage seconds, rows kept/quarantined per source, sessions, the features' shape,
    the k-means inertia and iterations, rows loaded per table."""
    labels, inertia, iterations = fit
    print(json.dumps({"peer": peer, "stages": {k: round(v, 4) for k, v in watch.seconds.items()},
                      "counts": counts, "sessions": sessions, "customers": features_shape[0],
                      "features": features_shape[1], "inertia": inertia, "iterations": iterations, "loaded": loaded}))


def choose_init(frame, k=None, columns=None):
    """The initial centroids the e2e suite declares: the first k customers in id order (UTF-8 bytes) whose clustering
    features are all present and whose rows differ from those already chosen (so no two centroids coincide)."""
    k = k or CLUSTERING["k"]
    columns = columns or CLUSTERING["features"]
    f = frame.dropna(subset=columns)
    f = f.loc[sorted(f.index, key=lambda i: str(f.at[i, "customer_id"]).encode())]
    chosen, seen = [], set()
    for cid, row in zip(f["customer_id"], f[columns].itertuples(index=False, name=None)):
        key = tuple(float(v) for v in row)
        if key not in seen:
            seen.add(key)
            chosen.append(str(cid))
            if len(chosen) == k:
                break
    return chosen
