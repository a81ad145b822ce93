#!/usr/bin/env python3
"""The DuckDB + scikit-learn peer of `make bench`'s e2e suite: cvm's nightly pipeline, end to end, in DuckDB SQL.

    python bench/reference/pipeline_duckdb.py --data DIR --as-of 2026-06-30 --init C1,C2,C3,C4 --db OUT.sqlite
        [--threads 2] [--features-out FEATURES.parquet]

Stages, each timed (seconds in the JSON line it prints), all set-based SQL on one in-memory connection:
  extract_clean  read_csv over every gz file of each source (sorted path order, columns declared as text, no
                 sniffing; rows with the wrong number of fields go to DuckDB's rejects table, as cvm's `field_count`
                 rule); typed with cvm's parsers' rules (ISO 8601 with offsets, epoch ms, decimals with at most 2
                 decimals, integers, dates: a value that does not parse rejects the row); then the config's rules in
                 cvm's order in one CASE per row: required, enum (after lowercase), min/max (`on_invalid: null` nulls
                 the value), pattern, the row check `quantity * unit_price >= discount` (a null operand passes); then
                 duplicates on the declared key among the passing rows (QUALIFY row_number() over the input order: the
                 first is kept) and references to the clean customers (semi-join). Kept rows per source are counted;
                 quarantined = rows read (accepted by read_csv + rejected by it) - kept.
  sessions       window functions over the clean events with a customer and before the end of the as-of day: the
                 gap to the previous event (per customer, by time then input order), a running sum of session starts,
                 one GROUP BY per session; cvm's stg_sessions columns.
  features       features_duckdb.compute on the clean tables (the 314 features of cvm's default catalog).
  kmeans         cvm's preparation and scikit-learn's KMeans from the given initial customers (pipeline_common.kmeans),
                 on the feature table fetched as a DataFrame.
  load           a fresh SQLite file: the clean orders, sessions and customers (email pseudonymised with HMAC-SHA256),
                 customer_features and cluster_assignments, rows fetched from DuckDB and inserted with Python's
                 sqlite3 executemany (pipeline_common.load_sqlite).

Not done, compared with `cvm run` (as for the pandas peer): no quarantine table with reasons and raw text (only the
counts), no data-quality profile, no freshness check or reject budget, nothing persisted between stages, no cluster
profiles, centroids or scaling tables, no value stage, no star-schema extras (dim_product, dim_date, history, views,
indexes, run ledger) and no report. Columns are mapped by position (the generator writes one header), not by name.
"""
import datetime as dt
import os
import sys

import duckdb
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features_duckdb  # noqa: E402
from pipeline_common import (CLUSTERING, DECIMAL_PATTERN, DECIMAL_TOO_PRECISE, INT_PATTERN, ISO_TIMESTAMP,  # noqa: E402
                             NULL_VALUES, SESSION_GAP_US, SOURCE_ORDER, SOURCES, TOP_CATEGORIES, WINDOWS, Stopwatch,
                             cutoff_us, files, kmeans, load_sqlite, pipeline_args, pseudonym, report)

lit = features_duckdb.lit
ident = features_duckdb.ident
ISO_FIELDS = ["y", "m", "d", "hh", "mi", "ss", "frac", "z", "sign", "oh", "om"]
COUNTED = {"page_view": "page_views", "search": "searches", "add_to_cart": "add_to_cart", "checkout": "checkouts",
           "purchase": "purchases"}
SQL_TYPES = {"string": "VARCHAR", "enum": "VARCHAR", "int": "BIGINT", "decimal": "DOUBLE", "timestamp": "TIMESTAMP",
             "date": "DATE"}


def trimmed(col):
    """A raw field trimmed of spaces and tabs (the two-character trim only where a tab is present: it is slower)."""
    c = ident(col)
    return f"CASE WHEN contains({c}, chr(9)) THEN trim({c}, ' ' || chr(9)) ELSE trim({c}) END"


def nulled(v):
    """NULL when a trimmed value is one of the null values."""
    return f"CASE WHEN {v} IN ({', '.join(lit(x) for x in NULL_VALUES)}) THEN NULL ELSE {v} END"


def parsed(v, d, p=None):
    """SQL for a trimmed text value typed as declared (NULL when it does not parse); `p` names the column holding
    regexp_extract(v, ISO_TIMESTAMP, ISO_FIELDS) for ISO timestamps (extracted once per row)."""
    kind = d["type"]
    if kind in ("string", "enum"):
        return f"lower({v})" if d.get("lowercase") else v  # the generator's text is ASCII: lower() is cvm's ASCII lowercase
    if kind == "int":
        return f"CASE WHEN regexp_full_match({v}, {lit(INT_PATTERN[1:-1])}) THEN TRY_CAST({v} AS BIGINT) END"
    if kind == "decimal":
        return (f"CASE WHEN regexp_full_match({v}, {lit(DECIMAL_PATTERN[1:-1])}) AND NOT regexp_matches({v}, "
                f"{lit(DECIMAL_TOO_PRECISE)}) THEN TRY_CAST({v} AS DOUBLE) END")
    if kind == "date":
        return f"CASE WHEN regexp_full_match({v}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') THEN try_strptime({v}, '%Y-%m-%d')::DATE END"
    if kind == "timestamp" and d.get("format") == "epoch_ms":
        return f"CASE WHEN regexp_full_match({v}, {lit(INT_PATTERN[1:-1])}) THEN make_timestamp(TRY_CAST({v} AS BIGINT) * 1000) END"
    if kind == "timestamp":
        n = {f: f"coalesce(TRY_CAST(nullif({p}.{f}, '') AS BIGINT), 0)" for f in ("hh", "mi", "ss", "oh", "om")}
        day = f"try_strptime({p}.y || '-' || {p}.m || '-' || {p}.d, '%Y-%m-%d')"
        frac = f"coalesce(TRY_CAST(nullif(rpad(left({p}.frac, 6), 6, '0'), '000000') AS BIGINT), 0)"
        sign = f"(CASE WHEN {p}.sign = '-' THEN -1 ELSE 1 END)"
        ok = (f"regexp_full_match({v}, {lit(ISO_TIMESTAMP[1:-1])}) AND {day} IS NOT NULL AND {n['hh']} < 24 AND "
              f"{n['mi']} < 60 AND {n['ss']} < 61 AND {n['oh']} <= 18 AND {n['om']} < 60")
        micros = (f"(epoch({day})::BIGINT + {n['hh']} * 3600 + {n['mi']} * 60 + {n['ss']} - {sign} * ({n['oh']} * 3600 + "
                  f"{n['om']} * 60)) * 1000000 + {frac}")
        return f"CASE WHEN {ok} THEN make_timestamp({micros}) END"
    raise SystemExit(f"type {kind} is not handled by this peer")


def extract_clean(con, folder):
    """Creates stg_customers, stg_orders, stg_events (with _rid, the input order); returns {source: [kept, quarantined]}."""
    counts = {}
    for name in SOURCE_ORDER:
        spec = SOURCES[name]
        cols = spec["columns"]
        raw_cols = "{" + ", ".join(f"{lit(d.get('from', c))}: 'VARCHAR'" for c, d in cols.items()) + "}"
        con.execute(f"""CREATE OR REPLACE TEMP TABLE raw AS SELECT * FROM read_csv({files(folder, name)!r}, header = true,
                        auto_detect = false, columns = {raw_cols}, delim = ',', quote = '"', escape = '"',
                        store_rejects = true, rejects_table = 'rej', rejects_scan = 'rej_scan')""")
        read = con.execute("SELECT count(*) FROM raw").fetchone()[0]
        read += con.execute("SELECT count(DISTINCT (file_id, line)) FROM rej").fetchone()[0]
        iso = [c for c, d in cols.items() if d["type"] == "timestamp" and d.get("format") is None]
        extracted = "".join(f", regexp_extract(v_{c}, {lit(ISO_TIMESTAMP)}, [{', '.join(lit(f) for f in ISO_FIELDS)}]) AS p_{c}"
                            for c in iso)
        typed = {c: parsed(f"v_{c}", d, f"p_{c}") for c, d in cols.items()}
        ok = " AND ".join(f"(v_{c} IS NULL OR {c} IS NOT NULL)" for c in cols)
        # Rows that parse, typed; `on_invalid: null` columns nulled where invalid.
        value = {}
        for c, d in cols.items():
            bad = []
            if "values" in d:
                bad.append(f"{c} NOT IN ({', '.join(lit(x) for x in d['values'])})")
            if "min" in d:
                bad.append(f"{c} < {d['min']}")
            if "max" in d:
                bad.append(f"{c} > {d['max']}")
            if "pattern" in d:
                bad.append(f"NOT regexp_full_match({c}, {lit(d['pattern'])})")
            value[c] = (f"CASE WHEN {' OR '.join(bad)} THEN NULL ELSE {c} END"
                        if bad and d.get("on_invalid") == "null" else c)
        rules = []
        for c, d in cols.items():
            if d.get("required"):
                rules.append((f"{c} IS NULL", "required"))
        for c, d in cols.items():
            if "values" in d and d.get("on_invalid") != "null":
                rules.append((f"{c} NOT IN ({', '.join(lit(x) for x in d['values'])})", "enum"))
        for c, d in cols.items():
            if d.get("on_invalid") != "null":
                if "min" in d:
                    rules.append((f"{c} < {d['min']}", "min"))
                if "max" in d:
                    rules.append((f"{c} > {d['max']}", "max"))
        for c, d in cols.items():
            if "pattern" in d and d.get("on_invalid") != "null":
                rules.append((f"NOT regexp_full_match({c}, {lit(d['pattern'])})", "pattern"))
        for check in spec["checks"]:
            rules.append((f"coalesce(NOT ({check}), false)", "check"))
        rule = "CASE " + " ".join(f"WHEN {cond} THEN {lit(r)}" for cond, r in rules) + " END"
        refs = " AND ".join(f"({c} IS NULL OR {c} IN (SELECT customer_id FROM stg_{target}))"
                            for c, target in spec["references"].items()) or "TRUE"
        con.execute(f"""
            CREATE OR REPLACE TABLE stg_{name} AS
            WITH r AS (SELECT rowid AS _rid, {', '.join(f'{trimmed(d.get("from", c))} AS r_{c}' for c, d in cols.items())} FROM raw),
                 x AS (SELECT _rid, {', '.join(f'{nulled(f"r_{c}")} AS v_{c}' for c in cols)} FROM r),
                 p AS (SELECT *{extracted} FROM x),
                 t AS (SELECT _rid, {', '.join(f'{typed[c]} AS {c}' for c in cols)}, {', '.join(f'v_{c}' for c in cols)} FROM p),
                 v AS (SELECT _rid, {', '.join(f'{value[c]} AS {c}' for c in cols)} FROM t WHERE {ok}),
                 passing AS (SELECT * FROM v WHERE ({rule}) IS NULL
                             QUALIFY row_number() OVER (PARTITION BY {', '.join(spec['key'])} ORDER BY _rid) = 1)
            SELECT * FROM passing WHERE {refs} ORDER BY _rid""")
        kept = con.execute(f"SELECT count(*) FROM stg_{name}").fetchone()[0]
        counts[name] = [kept, read - kept]
        for t in ("raw", "rej", "rej_scan"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return counts


def sessionize(con, as_of):
    """Creates stg_sessions as cvm's Sessionizer builds it; returns its row count."""
    counted = ", ".join(f"count(*) FILTER (WHERE event_type = {lit(k)}) AS {c}" for k, c in COUNTED.items())
    first = "ORDER BY t, _rid"
    con.execute(f"""
        CREATE OR REPLACE TABLE stg_sessions AS
        WITH e AS (SELECT customer_id, occurred_at AS t, event_type, device, referrer, _rid FROM stg_events
                   WHERE customer_id IS NOT NULL AND occurred_at < make_timestamp({cutoff_us(as_of)})),
             g AS (SELECT *, (epoch_us(t) - epoch_us(lag(t) OVER w) <= {SESSION_GAP_US}) IS NOT TRUE AS starts
                   FROM e WINDOW w AS (PARTITION BY customer_id ORDER BY t, _rid)),
             s AS (SELECT *, sum(starts::INTEGER) OVER (PARTITION BY customer_id ORDER BY t, _rid ROWS UNBOUNDED PRECEDING) AS n
                   FROM g)
        SELECT customer_id || '-' || n AS session_id, customer_id, min(t) AS started_at, max(t) AS ended_at,
               (epoch_us(max(t)) - epoch_us(min(t))) // 1000000 AS duration_s, count(*) AS events, {counted},
               first(device {first}) AS device, first(referrer {first}) AS referrer,
               count(*) = 1 AND first(event_type {first}) = 'page_view' AS is_bounce
        FROM s GROUP BY customer_id, n ORDER BY customer_id, started_at""")
    return con.execute("SELECT count(*) FROM stg_sessions").fetchone()[0]


def fetch(con, table, columns=None):
    """(columns, sqlite types, row tuples) of a DuckDB table: timestamps as ISO text, dates as text."""
    desc = con.execute(f"DESCRIBE {table}").fetchall()
    desc = [(c, t) for c, t, *_ in desc if not c.startswith("_") and (columns is None or c in columns)]
    exprs, types = [], []
    for c, t in desc:
        if t.startswith("TIMESTAMP"):
            exprs.append(f"strftime({ident(c)}, '%Y-%m-%dT%H:%M:%S.%fZ')")
        elif t == "DATE":
            exprs.append(f"{ident(c)}::VARCHAR")
        else:
            exprs.append(ident(c))
        types.append("INTEGER" if t in ("BIGINT", "INTEGER", "BOOLEAN", "HUGEINT") else "REAL" if t == "DOUBLE" else "TEXT")
    return [c for c, _ in desc], types, con.execute(f"SELECT {', '.join(exprs)} FROM {table}").fetchall()


def main():
    args = pipeline_args(__doc__, "threads for DuckDB and scikit-learn")
    as_of = dt.date.fromisoformat(args.as_of)

    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    watch = Stopwatch()
    counts = extract_clean(con, args.data)
    watch.lap("extract_clean")
    sessions = sessionize(con, as_of)
    watch.lap("sessions")
    # The stg_* tables exist on the connection, so compute() reads them (no Parquet folder: a path without any).
    table = features_duckdb.compute(con, os.path.join(args.data, "no-parquet-here"), as_of, WINDOWS, TOP_CATEGORIES)
    features = con.table(table).df()
    watch.lap("features")
    fit = kmeans(features, args.init.split(","), args.threads)
    watch.lap("kmeans")
    labels = fit[0]
    con.register("labels", pd.DataFrame({"customer_id": features["customer_id"], "cluster": labels.astype("int64")}))
    con.execute(f"CREATE TABLE cluster_assignments AS SELECT {lit(CLUSTERING['name'])} AS clustering, customer_id, cluster FROM labels")
    tables = []
    for name, source in [("fact_order_line", "stg_orders"), ("fact_session", "stg_sessions"), ("dim_customer", "stg_customers"),
                         ("customer_features", table), ("cluster_assignments", "cluster_assignments")]:
        columns, types, rows = fetch(con, source)
        if name == "dim_customer":
            e = columns.index("email")
            p = pseudonym(args.key)
            rows = [r[:e] + (p(r[e]),) + r[e + 1:] for r in rows]
        tables.append((name, columns, types, rows))
    loaded = load_sqlite(args.db, tables)
    watch.lap("load")
    if args.features_out:
        con.execute(f"COPY {table} TO {lit(args.features_out)} (FORMAT parquet)")
    report("duckdb", watch, counts, sessions, (len(features), features.shape[1] - 1), fit, loaded)


if __name__ == "__main__":
    main()
