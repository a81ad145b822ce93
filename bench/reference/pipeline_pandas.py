#!/usr/bin/env python3
"""The pandas + scikit-learn peer of `make bench`'s e2e suite: cvm's nightly pipeline, end to end, in vectorised pandas.

    python bench/reference/pipeline_pandas.py --data DIR --as-of 2026-06-30 --init C1,C2,C3,C4 --db OUT.sqlite
        [--threads 2] [--features-out FEATURES.parquet]

Stages, each timed (seconds in the JSON line it prints):
  extract_clean  every gz CSV of the preset (DIR/customers.csv.gz, orders/**, events/**), read per file with pandas'
                 pyarrow CSV engine as text (rows with the wrong number of fields are counted and dropped, as cvm's
                 `field_count` rule does); typed with cvm's parsers' rules (ISO 8601 with offsets, epoch ms, decimals with
                 at most 2 decimals, integers, dates: a value that does not parse rejects the row); then the config's
                 rules in cvm's order: required, enum (after lowercase), min/max (`on_invalid: null` nulls the value),
                 pattern, the row check `quantity * unit_price >= discount` (a null operand passes), duplicates on the
                 declared key among the rows passing so far (the first in file and line order is kept), references to
                 the clean customers. Rows kept and quarantined per source are counted (pipeline_common.SOURCES).
  sessions       the clean events with a customer and before the end of the as-of day, sorted per customer by time
                 (ties in input order), a new session after a gap of more than 30 minutes; cvm's stg_sessions columns.
  features       features_pandas.compute on the clean tables (the 314 features of cvm's default catalog).
  kmeans         cvm's preparation and scikit-learn's KMeans from the given initial customers (pipeline_common.kmeans).
  load           a fresh SQLite file: the clean orders, sessions and customers (email pseudonymised with HMAC-SHA256),
                 customer_features and cluster_assignments (pipeline_common.load_sqlite).

What it does not do, compared with `cvm run`: no quarantine table with reasons and raw text (only the counts), no data
quality profile, no freshness check or reject budget, no column artifacts (nothing is persisted between stages), no
cluster profiles, centroids or scaling tables, no value stage (RFM, CLV, lifecycle, Pareto), no star-schema extras
(dim_product, dim_date, history, views, indexes, run ledger) and no report. The suite compares it with cvm's stage
seconds for extract, clean, features, cluster and load only (cvm's value and report stages are left out).
"""
import datetime as dt
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features_pandas  # noqa: E402
from pipeline_common import (CLUSTERING, DECIMAL_PATTERN, DECIMAL_TOO_PRECISE, INT_PATTERN, ISO_TIMESTAMP,  # noqa: E402
                             NULL_VALUES, SESSION_GAP_US, SOURCE_ORDER, SOURCES, TOP_CATEGORIES, WINDOWS, Stopwatch,
                             cutoff_us, files, kmeans, load_sqlite, pipeline_args, pseudonym, report)

ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
RULES = ["required", "enum", "min", "max", "pattern", "length", "currency", "check", "duplicate", "reference"]
COUNTED = {"page_view": "page_views", "search": "searches", "add_to_cart": "add_to_cart", "checkout": "checkouts",
           "purchase": "purchases"}


def read_source(folder, name):
    """Every file of the source as text columns (declared `from` names), in file order; and the rows dropped for
    a wrong number of fields."""
    wanted = [d.get("from", c) for c, d in SOURCES[name]["columns"].items()]
    bad = [0]

    def skip(row):
        bad[0] += 1
        return "skip"

    parts = [pd.read_csv(f, engine="pyarrow", dtype=str, keep_default_na=False, on_bad_lines=skip, usecols=wanted)
             for f in files(folder, name)]
    return pd.concat(parts, ignore_index=True), bad[0]


def iso_micros(s):
    """ISO 8601 text -> (µs since the epoch as int64, ok mask); no offset means UTC (the sources' timezone)."""
    p = s.str.extract(ISO_TIMESTAMP)
    day = pd.to_datetime(p[0] + "-" + p[1] + "-" + p[2], format="%Y-%m-%d", errors="coerce")
    num = p[[3, 4, 5, 9, 10]].apply(pd.to_numeric).fillna(0)
    hh, mi, ss, oh, om = (num[c].to_numpy() for c in (3, 4, 5, 9, 10))
    frac = pd.to_numeric(p[6].str[:6].str.ljust(6, "0")).fillna(0).to_numpy()
    ok = day.notna().to_numpy() & (hh < 24) & (mi < 60) & (ss < 61) & (oh <= 18) & (om < 60)
    sign = np.where(p[8].to_numpy(dtype=object) == "-", -1, 1)
    days = day.to_numpy(dtype="datetime64[D]").astype(np.int64)
    seconds = days * 86_400 + (hh * 3600 + mi * 60 + ss).astype(np.int64) - sign * (oh * 3600 + om * 60).astype(np.int64)
    return np.where(ok, seconds * 1_000_000 + frac.astype(np.int64), 0), ok


def typed(name, raw):
    """The declared columns typed as cvm's extractor types them, and the rows that fail to parse (rule `parse`).
    Text is trimmed (spaces, tabs) and the null values become missing first; `lowercase` applies here too."""
    n = len(raw)
    out, failed = {}, np.zeros(n, bool)
    for col, d in SOURCES[name]["columns"].items():
        s = raw[d.get("from", col)].str.strip(" \t")
        null = s.isin(NULL_VALUES).to_numpy()
        kind = d["type"]
        if kind in ("string", "enum"):
            v = s.str.translate(ASCII_LOWER) if d.get("lowercase") else s
            out[col] = v.where(~null)
            continue
        if kind in ("int", "decimal"):
            ok = s.str.fullmatch(INT_PATTERN if kind == "int" else DECIMAL_PATTERN).to_numpy(dtype=bool, copy=True)
            if kind == "decimal":
                ok = ok & ~s.str.contains(DECIMAL_TOO_PRECISE).to_numpy(dtype=bool)
            v = pd.to_numeric(s.where(ok & ~null), errors="coerce").astype("float64")
        elif kind == "timestamp" and d.get("format") == "epoch_ms":
            ok = s.str.fullmatch(INT_PATTERN).to_numpy()
            ms = pd.to_numeric(s.where(ok & ~null), errors="coerce")
            v = pd.Series((ms.fillna(0).to_numpy(np.int64) * 1000).astype("datetime64[us]")).where(ms.notna())
        elif kind == "timestamp":
            us, ok = iso_micros(s.where(~null, "0000-00-00"))
            v = pd.Series(us.astype("datetime64[us]")).where(~null)
        elif kind == "date":
            day = pd.to_datetime(s.where(~null & s.str.fullmatch(r"\d{4}-\d{2}-\d{2}")), format="%Y-%m-%d", errors="coerce")
            ok = day.notna().to_numpy()
            v = day.astype("datetime64[s]")
        else:
            raise SystemExit(f"{name}.{col}: type {kind} is not handled by this peer")
        failed |= ~null & ~ok
        out[col] = v
    return pd.DataFrame(out), failed


def clean(name, t, references):
    """cvm's clean rules on a typed source; returns (clean frame, rows rejected by clean rules)."""
    spec = SOURCES[name]
    n = len(t)
    rule = np.zeros(n, np.int8)  # 0 passes, else 1 + the index in RULES of the first failing rule

    def mark(mask, r):
        rule[(rule == 0) & np.asarray(mask, bool)] = RULES.index(r) + 1

    def invalid(col, mask, r):
        if spec["columns"][col].get("on_invalid") == "null":
            t.loc[mask & (rule == 0), col] = np.nan
        else:
            mark(mask, r)

    cols = spec["columns"]
    for col, d in cols.items():
        if d.get("required"):
            mark(t[col].isna(), "required")
    for col, d in cols.items():
        if "values" in d:
            invalid(col, (t[col].notna() & ~t[col].isin(d["values"])).to_numpy(), "enum")
    for col, d in cols.items():
        if "min" in d or "max" in d:
            v = t[col].to_numpy(dtype="float64")
            low = v < d["min"] if "min" in d else np.zeros(n, bool)
            high = v > d["max"] if "max" in d else np.zeros(n, bool)
            invalid(col, low, "min")
            invalid(col, high & ~low, "max")
    for col, d in cols.items():
        if "pattern" in d:
            invalid(col, (t[col].notna() & ~t[col].str.fullmatch(d["pattern"]).fillna(False).astype(bool)).to_numpy(), "pattern")
    for check in spec["checks"]:
        assert check == "quantity * unit_price >= discount", check
        mark((t["quantity"] * t["unit_price"] < t["discount"]).to_numpy(), "check")  # NaN compares False: nulls pass
    passing = np.flatnonzero(rule == 0)
    dup = t.iloc[passing].duplicated(subset=spec["key"], keep="first").to_numpy()
    mark(np.isin(np.arange(n), passing[dup]), "duplicate")
    for col, target in spec["references"].items():
        mark((t[col].notna() & ~t[col].isin(references[target])).to_numpy(), "reference")
    kept = t[rule == 0].reset_index(drop=True)
    return kept, int((rule != 0).sum())


def extract_clean(folder):
    """{source: clean frame}, {source: [kept, quarantined]}."""
    tables, counts = {}, {}
    for name in SOURCE_ORDER:
        raw, bad_lines = read_source(folder, name)
        t, failed = typed(name, raw)
        del raw
        t = t[~failed].reset_index(drop=True)
        refs = {target: tables[target]["customer_id"] for target in SOURCES[name]["references"].values()}
        kept, rejected = clean(name, t, refs)
        tables[name] = kept
        counts[name] = [len(kept), bad_lines + int(failed.sum()) + rejected]
    return tables, counts


def sessionize(events, as_of):
    """cvm's Sessionizer: stg_sessions sorted by customer id (UTF-8 byte order) then start time."""
    e = events.loc[events["customer_id"].notna() & (events["occurred_at"] < pd.Timestamp(cutoff_us(as_of), unit="us")),
                   ["customer_id", "occurred_at", "event_type", "device", "referrer"]]
    e = e.sort_values(["customer_id", "occurred_at"], kind="stable")  # Python str order = UTF-8 byte order
    t = e["occurred_at"].to_numpy(dtype="datetime64[us]").view(np.int64)
    cust = e["customer_id"].to_numpy(dtype=object)
    new_customer = np.r_[True, cust[1:] != cust[:-1]]
    start = new_customer | np.r_[True, np.diff(t) > SESSION_GAP_US]
    sid = np.cumsum(start) - 1
    ordinal = pd.Series(start).groupby(np.cumsum(new_customer)).cumsum().to_numpy()[start]
    firsts = np.flatnonzero(start)
    lasts = np.r_[firsts[1:], len(t)] - 1
    sizes = np.diff(np.r_[firsts, len(t)])
    first_type = e["event_type"].to_numpy(dtype=object)[firsts]
    out = pd.DataFrame({
        "session_id": pd.Series(cust[firsts]).astype(str) + "-" + pd.Series(ordinal).astype(str),
        "customer_id": cust[firsts],
        "started_at": t[firsts].astype("datetime64[us]"),
        "ended_at": t[lasts].astype("datetime64[us]"),
        "duration_s": (t[lasts] - t[firsts]) // 1_000_000,
        "events": sizes,
    })
    etype = e["event_type"].to_numpy(dtype=object)
    for kind, column in COUNTED.items():
        out[column] = np.bincount(sid, weights=(etype == kind), minlength=len(firsts)).astype(np.int64)
    out["device"] = e["device"].to_numpy(dtype=object)[firsts]
    out["referrer"] = e["referrer"].to_numpy(dtype=object)[firsts]
    out["is_bounce"] = (sizes == 1) & (first_type == "page_view")
    return out


def feature_inputs(t, sessions):
    """The clean tables as features_pandas.compute reads them (text as categoricals, as its read() does)."""
    def cat(frame, cols):
        frame = frame[cols].copy()
        for c in cols:
            if c in features_pandas.CATEGORICAL:
                frame[c] = frame[c].astype("category")
        return frame
    customers = t["customers"][features_pandas.COLUMNS["stg_customers"]]
    return {"stg_orders": cat(t["orders"], features_pandas.COLUMNS["stg_orders"]),
            "stg_sessions": cat(sessions, features_pandas.COLUMNS["stg_sessions"]),
            "stg_events": cat(t["events"], features_pandas.COLUMNS["stg_events"]),
            "stg_customers": customers}


def rows(frame):
    """Row tuples of Python values (None for missing; timestamps as ISO text) for sqlite3."""
    cols = []
    for c in frame.columns:
        s = frame[c]
        if s.dtype.kind == "M":
            s = s.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif s.dtype.kind == "b":
            s = s.astype(np.int64)
        cols.append(s.astype(object).where(s.notna(), None).tolist())
    return list(zip(*cols))


def sqlite_type(s):
    return {"i": "INTEGER", "u": "INTEGER", "b": "INTEGER", "f": "REAL"}.get(s.dtype.kind, "TEXT")


def main():
    args = pipeline_args(__doc__, "threads for scikit-learn (pandas uses one)")
    as_of = dt.date.fromisoformat(args.as_of)

    watch = Stopwatch()
    t, counts = extract_clean(args.data)
    watch.lap("extract_clean")
    sessions = sessionize(t["events"], as_of)
    watch.lap("sessions")
    features = features_pandas.compute(feature_inputs(t, sessions), as_of, WINDOWS, TOP_CATEGORIES)
    watch.lap("features")
    fit = kmeans(features, args.init.split(","), args.threads)
    watch.lap("kmeans")
    customers = t["customers"].copy()
    customers["email"] = customers["email"].map(pseudonym(args.key), na_action="ignore")
    labels, _, _ = fit
    assignments = pd.DataFrame({"clustering": CLUSTERING["name"], "customer_id": features["customer_id"],
                                "cluster": labels.astype(np.int64)})
    tables = [(name, list(f.columns), [sqlite_type(f[c]) for c in f.columns], rows(f))
              for name, f in [("fact_order_line", t["orders"]), ("fact_session", sessions), ("dim_customer", customers),
                              ("customer_features", features), ("cluster_assignments", assignments)]]
    loaded = load_sqlite(args.db, tables)
    watch.lap("load")
    if args.features_out:
        features.to_parquet(args.features_out, index=False)
    report("pandas", watch, counts, len(sessions), (len(features), features.shape[1] - 1), fit, loaded)


if __name__ == "__main__":
    main()
