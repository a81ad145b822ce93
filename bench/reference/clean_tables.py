#!/usr/bin/env python3
"""The clean tables the features stage reads, as typed Parquet for the peers of `make bench`.

    python3 bench/reference/clean_tables.py --csv DIR --out DIR

DIR (--csv) holds stg_orders.csv, stg_sessions.csv, stg_events.csv and stg_customers.csv from
`cvm export PIPELINE --table NAME`. Each becomes NAME.parquet in --out with the types cvm holds
in memory (timestamps as UTC TIMESTAMP, dates as DATE, counts as BIGINT, money as DOUBLE) and
without the lineage columns (_file, _line). The peers (features_pandas.py, features_duckdb.py)
read these files, so their timings start from a columnar, typed copy of the data, as cvm's do
(cvm reads its own column artifacts).
"""
import argparse
import os

import duckdb

SCHEMAS = {
    "stg_orders": {
        "order_id": "VARCHAR", "line_no": "BIGINT", "customer_id": "VARCHAR", "ordered_at": "TIMESTAMPTZ",
        "sku": "VARCHAR", "category": "VARCHAR", "quantity": "BIGINT", "unit_price": "DOUBLE",
        "discount": "DOUBLE", "status": "VARCHAR",
    },
    "stg_sessions": {
        "session_id": "VARCHAR", "visitor_id": "VARCHAR", "customer_id": "VARCHAR", "started_at": "TIMESTAMPTZ", "ended_at": "TIMESTAMPTZ",
        "duration_s": "BIGINT", "events": "BIGINT", "page_views": "BIGINT", "product_views": "BIGINT", "searches": "BIGINT",
        "landing_page": "VARCHAR", "exit_page": "VARCHAR",
        "add_to_cart": "BIGINT", "checkouts": "BIGINT", "purchases": "BIGINT", "device": "VARCHAR",
        "referrer": "VARCHAR", "is_bounce": "BOOLEAN",
    },
    "stg_events": {
        "event_id": "VARCHAR", "customer_id": "VARCHAR", "occurred_at": "TIMESTAMPTZ", "event_type": "VARCHAR",
        "sku": "VARCHAR", "category": "VARCHAR", "device": "VARCHAR", "referrer": "VARCHAR",
    },
    "stg_customers": {
        "customer_id": "VARCHAR", "email": "VARCHAR", "signup_date": "DATE", "country": "VARCHAR",
        "birth_year": "BIGINT", "channel": "VARCHAR",
    },
}


def convert(csv_dir, out_dir, threads=2):
    """Writes NAME.parquet for every stg table present in csv_dir; returns the names written."""
    os.makedirs(out_dir, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET threads = {threads}")
    written = []
    for name, schema in SCHEMAS.items():
        src = os.path.join(csv_dir, f"{name}.csv")
        if not os.path.exists(src):
            continue
        header = open(src, encoding="utf-8").readline().strip().split(",")
        # Every column as text first, so a column this schema does not know is an error, not a guess.
        unknown = [c for c in header if c not in schema and not c.startswith("_")]
        if unknown:
            raise SystemExit(f"{src}: columns {unknown} are not in clean_tables.SCHEMAS[{name!r}]; add them there")
        cols = ", ".join(
            f'CAST("{c}" AS TIMESTAMPTZ)::TIMESTAMP AS "{c}"' if t == "TIMESTAMPTZ" else f'CAST("{c}" AS {t}) AS "{c}"'
            for c, t in schema.items() if c in header)
        dst = os.path.join(out_dir, f"{name}.parquet")
        con.execute(f"""COPY (SELECT {cols} FROM read_csv('{src}', header = true, all_varchar = true))
                        TO '{dst}' (FORMAT parquet, COMPRESSION zstd)""")
        written.append(name)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    print("wrote", ", ".join(convert(args.csv, args.out)))


if __name__ == "__main__":
    main()
