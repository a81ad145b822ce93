#!/usr/bin/env python3
"""The pandas peer of `make bench`: cvm's per-customer features, vectorised pandas.

    python3 bench/reference/features_pandas.py --dir DIR --as-of 2026-06-30 \
        [--windows 7,30,90,180,365] [--top-categories 5] [--out OUT.parquet] [--check] [--sample N]

DIR holds the typed clean tables written by clean_tables.py (stg_orders.parquet and, when the
pipeline has them, stg_sessions.parquet, stg_events.parquet, stg_customers.parquet). The
definitions are those of features_reference.py (the slow, readable reference); this file computes
the same values the way a pandas user would write it for speed: integer customer codes, boolean
masks, one groupby per table and window, no Python loop over customers or rows. One thread.

Prints one JSON line: {"peer": "pandas", "customers", "features", "read_s", "compute_s", "write_s"}.
--check compares the frame with cvm's DIR/customer_features.csv (compare.py) and exits 1 on any
difference. `read(dir)` and `compute(dir_or_tables, as_of, windows, top_n)` can be imported.
"""
import argparse
import datetime as dt
import json
import os
import sys
import time

import numpy as np
import pandas as pd

import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import slug  # noqa: E402  (the feature-name rule, shared by the feature scripts)

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
ALL_TIME = np.iinfo(np.int64).min  # the lower day bound of the `_all` window
EVENT_TYPES = ["page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase",
               "review", "share", "referral", "support_contact"]
RETURNED = ["returned", "refunded"]
CANCELLED = ["cancelled", "canceled"]
PROFILE_COLUMNS = ["email", "signup_date", "country", "birth_year", "channel"]
DOW = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HOURS = ["night", "morning", "afternoon", "evening"]

# The columns the features read, per table (the rest of each file is never loaded), and the text
# columns read dictionary-encoded (pandas categoricals): the work on text happens once per distinct
# value, the rows carry integer codes.
COLUMNS = {
    "stg_orders": ["order_id", "customer_id", "ordered_at", "sku", "category", "quantity", "unit_price",
                   "discount", "status"],
    "stg_sessions": ["customer_id", "started_at", "duration_s", "events", "page_views", "searches",
                     "add_to_cart", "checkouts", "purchases", "device", "referrer", "is_bounce"],
    "stg_events": ["customer_id", "occurred_at", "event_type"],
    "stg_customers": ["customer_id"] + PROFILE_COLUMNS,
}
CATEGORICAL = {"customer_id", "order_id", "sku", "category", "status", "device", "referrer", "event_type"}


def read(folder):
    """{table name: DataFrame of the columns the features use, or None when the file is absent}."""
    tables = {}
    for name, wanted in COLUMNS.items():
        path = os.path.join(folder, f"{name}.parquet")
        if not os.path.exists(path):
            tables[name] = None
            continue
        have = set(pq.read_schema(path).names)
        columns = [c for c in wanted if c in have]
        dictionary = [c for c in columns if c in CATEGORICAL and name != "stg_customers"]
        tables[name] = pd.read_parquet(path, columns=columns, read_dictionary=dictionary or None)
    return tables



def micros(col):
    """A timestamp column as int64 µs since the epoch, and its null mask."""
    a = col.to_numpy(dtype="datetime64[us]")
    return a.view(np.int64), np.isnat(a)


def blank_to_null(col):
    """Empty text is missing (as in the CSV the reference reads)."""
    return col.where(col != "")


def codes_of(col):
    """A text column as (int64 codes, distinct values): code -1 for missing or empty text."""
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("category")
    values = col.cat.categories
    codes = col.cat.codes.to_numpy(np.int64)
    if (values == "").any():
        codes = per_value(np.where(values == "", -1, np.arange(len(values))), codes, -1)
    return codes, values


def per_value(table, codes, missing):
    """table[code] for every row, `missing` where the code is -1."""
    return np.append(table, missing)[codes]


def used_values(col, mask):
    """The distinct non-empty values of col on the rows of mask."""
    codes, values = codes_of(col)
    codes = codes[mask]
    return values[np.bincount(codes[codes >= 0], minlength=len(values)) > 0]


def positions(col, index):
    """Each row's position in index (-1 when missing or not there), looked up once per distinct value."""
    codes, values = codes_of(col)
    return per_value(index.get_indexer(values), codes, -1)


def ranked(counts, n):
    """Keys by count (or revenue) descending, then by name; the first n."""
    return sorted(counts.index, key=lambda k: (-counts[k], k))[:n]


def compute(source, as_of, windows=(7, 30, 90, 180, 365), top_n=5):
    """The feature frame (customer_id, then every feature), customers in UTF-8 byte order.
    `source` is a folder of clean tables or the dict `read` returns."""
    t = read(source) if isinstance(source, (str, os.PathLike)) else source
    orders, sessions, events, customers = (t.get("stg_orders"), t.get("stg_sessions"),
                                           t.get("stg_events"), t.get("stg_customers"))
    D = (as_of - dt.date(1970, 1, 1)).days
    cut = (D + 1) * US_PER_DAY
    spans = [(f"_{w}d", D - w) for w in windows] + [("_all", ALL_TIME)]  # in window: day > lo

    # ---- the customer universe: signed up, ordered or active by the end of the as-of day
    o_us, o_nat = micros(orders["ordered_at"])
    ids = [used_values(orders["customer_id"], o_nat | (o_us < cut))]
    if events is not None:
        e_us, e_nat = micros(events["occurred_at"])
        ids.append(used_values(events["customer_id"], e_nat | (e_us < cut)))
    if customers is not None:
        customers = customers.copy()
        for c in ["email", "country", "channel"]:
            if c in customers:
                customers[c] = blank_to_null(customers[c])
        if "signup_date" in customers:
            signup = pd.to_datetime(customers["signup_date"]).to_numpy(dtype="datetime64[D]")
            signup_day, signup_nat = signup.view(np.int64), np.isnat(signup)
        else:
            signup_day = np.zeros(len(customers), np.int64)
            signup_nat = np.ones(len(customers), bool)
        ids.append(used_values(customers["customer_id"], signup_nat | (signup_day < D + 1)))
    universe = pd.Index(np.concatenate([np.asarray(i, dtype=object) for i in ids])).unique().sort_values()
    N = len(universe)
    everyone = pd.RangeIndex(N)

    def full(s, fill=np.nan):
        """A per-customer Series (indexed by customer code) as an array over the universe."""
        return s.reindex(everyone, fill_value=fill).to_numpy()

    def matrix(s, width, fill=0):
        """A Series indexed by (customer code, k) as an N x width array."""
        return s.unstack(fill_value=fill).reindex(index=everyone, columns=range(width), fill_value=fill).to_numpy()

    def ratio(num, den, ok):
        out = np.full(N, np.nan)
        np.divide(num, den, out=out, where=ok)
        return out

    F = {}

    # ---- order lines before the cutoff
    keep = ~o_nat & (o_us < cut)
    ol = orders[keep]
    st_codes, statuses = codes_of(ol["status"])
    lower = statuses.str.lower()
    st = per_value(np.where(lower.isin(RETURNED), 1, np.where(lower.isin(CANCELLED), 2, 0)), st_codes, 0)
    q = ol["quantity"].fillna(1).to_numpy(np.int64)
    gross = q * ol["unit_price"].fillna(0.0).to_numpy(np.float64)
    disc = ol["discount"].fillna(0.0).to_numpy(np.float64) if "discount" in ol else np.zeros(len(ol))
    net = gross - disc
    cat, cat_names = codes_of(ol["category"])
    comp = st == 0
    # Top categories by completed net revenue over all lines (any customer), then by name.
    cat_rev = (pd.Series(net[comp & (cat >= 0)]).groupby(cat[comp & (cat >= 0)]).sum()
               .reindex(np.unique(cat[cat >= 0]), fill_value=0.0))
    cat_rev.index = cat_names[cat_rev.index]
    top_cats = ranked(cat_rev, top_n)
    oid, order_ids = codes_of(ol["order_id"])
    oid = np.where(oid >= 0, oid, len(order_ids))  # the orders without an id are one order
    lines = pd.DataFrame({
        "code": positions(ol["customer_id"], universe),
        "t": o_us[keep], "day": o_us[keep] // US_PER_DAY,
        "okey": oid,
        "sku": codes_of(ol["sku"])[0],
        "cat": cat,
        "top": per_value(pd.Index(top_cats, dtype=object).get_indexer(cat_names), cat, -1),
        "n": 1, "c": comp.astype(np.int64), "r": (st == 1).astype(np.int64), "x": (st == 2).astype(np.int64),
        "qc": q * comp, "gc": np.where(comp, gross, 0.0), "dc": np.where(comp, disc, 0.0),
        "net": net, "cnet": np.where(comp, net, 0.0),
    })
    lines = lines[lines["code"] >= 0]
    # (time, row) order: the rows are in file order, so a stable sort by time.
    lines = lines.sort_values("t", kind="stable")
    lines["okey"] = lines["code"] * (len(order_ids) + 1) + lines["okey"]

    # Orders keyed by (customer, order id), in the order of their first line.
    orders_ = lines.groupby("okey", sort=False).agg(code=("code", "first"), t=("t", "first"), day=("day", "first"),
                                                    rev=("cnet", "sum"), c=("c", "sum"))
    done = orders_[orders_["c"] > 0].sort_values("code", kind="stable")  # completed orders, per customer in sequence
    g = done.groupby("code")
    n_done = full(g.size(), 0)
    first = full(g["day"].min())
    last = full(g["day"].max())
    has_done = n_done > 0

    # Profile (needed early for days_since_signup).
    p_signup = np.full(N, np.nan)
    p_birth = np.full(N, np.nan)
    p_country = np.full(N, np.nan)
    p_channel = np.full(N, np.nan)
    p_complete = np.full(N, np.nan)
    if customers is not None:
        cols = [c for c in PROFILE_COLUMNS if c in customers]
        filled = np.zeros(len(customers))
        for c in cols:
            filled += customers[c].notna().to_numpy()
        codes = {}
        for c in ["country", "channel"]:
            if c in customers:
                values = customers[c]
                codes[c] = pd.Index(sorted(values.dropna().unique()), dtype=object).get_indexer(values).astype(float)
                codes[c][values.isna().to_numpy()] = np.nan
            else:
                codes[c] = np.full(len(customers), np.nan)
        pcode = positions(customers["customer_id"], universe)
        # A customer listed twice: the last row wins.
        last_row = (pcode >= 0) & ~pd.Series(pcode).duplicated(keep="last").to_numpy()
        at = pcode[last_row]
        p_signup[at] = np.where(signup_nat, np.nan, signup_day)[last_row]
        if "birth_year" in customers:
            p_birth[at] = np.trunc(customers["birth_year"].to_numpy(np.float64))[last_row]
        p_country[at] = codes["country"][last_row]
        p_channel[at] = codes["channel"][last_row]
        p_complete[at] = (filled / len(cols))[last_row] if cols else np.nan

    F["recency_days"] = D - last
    F["frequency"] = n_done
    F["monetary"] = full(g["rev"].sum(), 0.0)
    F["aov_all"] = ratio(F["monetary"], n_done, has_done)
    F["tenure_days"] = D - first
    F["days_since_signup"] = D - p_signup

    # ---- orders and lines per window
    # A product (category) counts in a window when its latest completed line falls inside it.
    bought = lines[lines["c"] == 1]
    last_sku = bought[bought["sku"] >= 0].groupby(["code", "sku"])["day"].max()
    last_cat = bought[bought["cat"] >= 0].groupby(["code", "cat"])["day"].max()
    rr_all = cr_all = None
    for suf, lo in spans:
        in_w = done[done["day"] > lo]
        rev = in_w.groupby("code")["rev"]
        F["orders_count" + suf] = full(rev.size(), 0)
        F["revenue_sum" + suf] = full(rev.sum(), 0.0)
        F["revenue_mean" + suf] = full(rev.mean())
        F["revenue_max" + suf] = full(rev.max())
        F["revenue_min" + suf] = full(rev.min())
        F["revenue_std" + suf] = full(rev.std(ddof=0))
        lw = lines[lines["day"] > lo].groupby("code")[["n", "c", "r", "x", "qc", "gc", "dc"]].sum()
        lw = lw.reindex(everyone, fill_value=0)
        n, c, r, x = (lw[k].to_numpy() for k in ["n", "c", "r", "x"])
        gc, dc = lw["gc"].to_numpy(), lw["dc"].to_numpy()
        F["items" + suf] = lw["qc"].to_numpy()
        F["distinct_products" + suf] = full((last_sku > lo).groupby(level="code").sum(), 0)
        F["distinct_categories" + suf] = full((last_cat > lo).groupby(level="code").sum(), 0)
        F["discount_share" + suf] = ratio(dc, gc, gc > 0)
        F["return_rate" + suf] = ratio(r, c + r, (c + r) > 0)
        F["cancel_rate" + suf] = ratio(x, n, n > 0)
        rr_all, cr_all = F["return_rate" + suf], F["cancel_rate" + suf]

    # ---- sessions before the cutoff
    sess = None
    if sessions is not None:
        s_us, s_nat = micros(sessions["started_at"])
        sk = sessions[~s_nat & (s_us < cut)]
        dev, dev_names = codes_of(sk["device"])
        ref, ref_names = codes_of(sk["referrer"])
        dev_count = pd.Series(np.bincount(dev[dev >= 0], minlength=len(dev_names)), index=dev_names)
        ref_count = pd.Series(np.bincount(ref[ref >= 0], minlength=len(ref_names)), index=ref_names)
        devices = ranked(dev_count[dev_count > 0], 4)
        referrers = ranked(ref_count[ref_count > 0], 5)

        def count(col):
            return sk[col].fillna(0).to_numpy(np.int64)

        purchases = count("purchases")
        cart, check = count("add_to_cart") > 0, count("checkouts") > 0
        sess = pd.DataFrame({
            "code": positions(sk["customer_id"], universe),
            "day": s_us[~s_nat & (s_us < cut)] // US_PER_DAY,
            "dur": sk["duration_s"].fillna(0).to_numpy(np.float64),
            "n": 1, "views": count("page_views"), "searches": count("searches"), "events": count("events"),
            "bounce": sk["is_bounce"].fillna(False).to_numpy(bool).astype(np.int64),
            "cart": cart.astype(np.int64), "cart_ab": (cart & (purchases == 0)).astype(np.int64),
            "check": check.astype(np.int64), "check_ab": (check & (purchases == 0)).astype(np.int64),
            "conv": (purchases > 0).astype(np.int64),
        })
        mix = [f"d{k}" for k in range(len(devices))] + [f"r{k}" for k in range(len(referrers))]
        for k, d in enumerate(devices):
            sess[f"d{k}"] = (dev == dev_names.get_loc(d)).astype(np.int64)
        for k, d in enumerate(referrers):
            sess[f"r{k}"] = (ref == ref_names.get_loc(d)).astype(np.int64)
        sess = sess[sess["code"] >= 0]
        active = sess[["code", "day"]].drop_duplicates()
        sums_cols = ["n", "views", "dur", "bounce", "cart", "cart_ab", "check", "check_ab", "conv", "searches",
                     "events"] + mix
        shares = {}
        for suf, lo in spans:
            sw = sess[sess["day"] > lo].groupby("code")
            s = sw[sums_cols].sum().reindex(everyone, fill_value=0)
            n = s["n"].to_numpy()
            has = n > 0
            F["sessions" + suf] = n
            F["active_days" + suf] = full(active[active["day"] > lo].groupby("code").size(), 0)
            F["page_views" + suf] = s["views"].to_numpy()
            F["pv_per_session" + suf] = ratio(s["views"].to_numpy(), n, has)
            F["session_duration_mean_s" + suf] = ratio(s["dur"].to_numpy(), n, has)
            F["session_duration_median_s" + suf] = full(sw["dur"].median())
            F["bounce_rate" + suf] = ratio(s["bounce"].to_numpy(), n, has)
            F["add_to_cart_rate" + suf] = ratio(s["cart"].to_numpy(), n, has)
            F["cart_abandonment" + suf] = ratio(s["cart_ab"].to_numpy(), s["cart"].to_numpy(), s["cart"].to_numpy() > 0)
            F["checkout_abandonment" + suf] = ratio(s["check_ab"].to_numpy(), s["check"].to_numpy(),
                                                    s["check"].to_numpy() > 0)
            F["conversion" + suf] = ratio(s["conv"].to_numpy(), n, has)
            F["search_share" + suf] = ratio(s["searches"].to_numpy(), s["events"].to_numpy(), s["events"].to_numpy() > 0)
            shares[suf] = {}
            for k, d in enumerate(devices):
                shares[suf][f"device_share_{slug(d)}{suf}"] = ratio(s[f"d{k}"].to_numpy(), n, has)
            for k, d in enumerate(referrers):
                shares[suf][f"referrer_share_{slug(d)}{suf}"] = ratio(s[f"r{k}"].to_numpy(), n, has)
        for suf, _ in spans:
            F.update(shares[suf])

    # ---- events before the cutoff
    n_events = np.zeros(N, np.int64)
    type_all = None
    if events is not None:
        ek = ~e_nat & (e_us < cut)
        ev = pd.DataFrame({"code": positions(events["customer_id"], universe)[ek],
                           "day": e_us[ek] // US_PER_DAY,
                           "type": positions(events["event_type"], pd.Index(EVENT_TYPES, dtype=object))[ek]})
        ev = ev[ev["code"] >= 0]
        n_events = full(ev.groupby("code").size(), 0)
        ev = ev[ev["type"] >= 0]
        # Each event once, in the smallest window that holds it; a window's count is the running sum.
        ws = np.sort(np.asarray(windows))
        bucket = np.searchsorted(ws, D - ev["day"].to_numpy(), side="right")  # in windows ws[bucket:] and _all
        T, B = len(EVENT_TYPES), len(ws) + 1
        key = (ev["code"].to_numpy() * T + ev["type"].to_numpy()) * B + bucket
        cube = np.bincount(key, minlength=N * T * B).reshape(N, T, B).cumsum(axis=2)
        position = {w: j for j, w in enumerate(ws)}
        for suf, lo in spans:
            j = len(ws) if lo == ALL_TIME else position[D - lo]
            for k, ty in enumerate(EVENT_TYPES):
                F[f"events_{ty}{suf}"] = cube[:, k, j]
        type_all = dict(zip(EVENT_TYPES, cube[:, :, len(ws)].T))

    # ---- category mix over all time (completed lines)
    if top_cats:
        K = len(top_cats)
        total = full(bought.groupby("code")["net"].sum(), 0.0)
        in_top = bought[bought["top"] >= 0]
        spend = matrix(in_top.groupby(["code", "top"])["net"].sum(), K, 0.0)
        with_c = matrix(in_top.drop_duplicates(["okey", "top"]).groupby(["code", "top"]).size(), K, 0)
        for j, cname in enumerate(top_cats):
            F[f"category_spend_share_{slug(cname)}"] = ratio(spend[:, j], total, total > 0)
        for j, cname in enumerate(top_cats):
            F[f"category_order_share_{slug(cname)}"] = ratio(with_c[:, j], n_done, has_done)
        best = spend.argmax(axis=1)  # ties: the lowest index
        F["favourite_category"] = np.where(spend[np.arange(N), best] > 0, best, np.nan)

    # ---- timing of completed orders
    dow = (done["day"] + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    hour = np.minimum(3, ((done["t"] - done["day"] * US_PER_DAY) // US_PER_HOUR) // 6)
    dows = matrix(done.groupby(["code", dow.rename("dow")]).size(), 7)
    hours = matrix(done.groupby(["code", hour.rename("hour")]).size(), 4)
    for k, nm in enumerate(DOW):
        F[f"dow_share_{nm}"] = ratio(dows[:, k], n_done, has_done)
    for k, nm in enumerate(HOURS):
        F[f"hour_share_{nm}"] = ratio(hours[:, k], n_done, has_done)
    F["weekend_share"] = ratio(dows[:, 5] + dows[:, 6], n_done, has_done)
    gaps = (g["t"].diff() / US_PER_DAY).dropna()
    gg = gaps.groupby(done.loc[gaps.index, "code"])
    mean_gap, std_gap = full(gg.mean()), full(gg.std(ddof=0))
    F["interval_mean_days"] = mean_gap
    F["interval_std_days"] = std_gap
    F["interval_min_days"] = full(gg.min())
    F["interval_max_days"] = full(gg.max())
    regularity = ratio(std_gap, mean_gap, mean_gap > 0)
    F["purchase_regularity_cv"] = regularity
    F["signup_to_first_order_days"] = first - p_signup
    F["interval_last_days"] = full(gg.last())

    # ---- trends: (current + 1) / (previous + 1) over (from, to] days
    def between(frame, lo, hi):
        return frame[(frame["day"] > lo) & (frame["day"] <= hi)].groupby("code")

    trends = {}
    for span in (30, 90):
        cur, prev = between(done, D - span, D), between(done, D - 2 * span, D - span)
        trends[f"revenue_trend_{span}v{span}"] = (full(cur["rev"].sum(), 0.0) + 1) / (full(prev["rev"].sum(), 0.0) + 1)
        trends[f"orders_trend_{span}v{span}"] = (full(cur.size(), 0) + 1) / (full(prev.size(), 0) + 1)
        if sess is not None:
            trends[f"sessions_trend_{span}v{span}"] = ((full(between(sess, D - span, D).size(), 0) + 1)
                                                       / (full(between(sess, D - 2 * span, D - span).size(), 0) + 1))
        else:
            trends[f"sessions_trend_{span}v{span}"] = np.full(N, np.nan)
    for kind in ["revenue", "orders", "sessions"]:
        for span in (30, 90):
            F[f"{kind}_trend_{span}v{span}"] = trends[f"{kind}_trend_{span}v{span}"]
    # Least-squares slope of monthly (30-day) revenue over the last 12 months.
    recent = done[done["day"] > D - 360]
    month = (11 - (D - recent["day"]) // 30).rename("month")
    months = matrix(recent.groupby(["code", month])["rev"].sum(), 12, 0.0)
    x = np.arange(12) - 5.5
    ym = months.sum(axis=1) / 12
    F["revenue_slope_12m"] = ((months - ym[:, None]) * x).sum(axis=1) / (x * x).sum()

    # ---- profile
    age = as_of.year - p_birth
    F["age"] = age
    F["age_band"] = np.select([np.isnan(age), age < 25, age < 35, age < 45, age < 55, age < 65],
                              [np.nan, 1, 2, 3, 4, 5], 6)
    F["country_code"] = p_country
    F["channel_code"] = p_channel
    F["profile_completeness"] = p_complete

    # ---- BG/NBD and Gamma-Gamma inputs: purchase days (same-day completed orders are one)
    n_days = full(done.drop_duplicates(["code", "day"]).groupby("code").size(), 0)
    repeat_value = full(done[done["day"] != first[done["code"]]].groupby("code")["rev"].sum(), 0.0)
    F["clv_repeat_days"] = np.where(has_done, n_days - 1, np.nan)
    F["clv_recency_days"] = last - first
    F["clv_age_days"] = D - first
    F["clv_repeat_value"] = np.where(n_days > 1, repeat_value / np.maximum(n_days - 1, 1), np.where(has_done, 0.0, np.nan))

    # ---- the value parts
    if type_all is not None:
        F["value_reputation"] = type_all["review"] + type_all["share"] + type_all["referral"]
    else:
        F["value_reputation"] = np.full(N, np.nan)
    F["value_information"] = 0.5 * np.nan_to_num(p_complete) + 0.5 * np.minimum(100, n_events) / 100
    if type_all is not None:
        F["value_knowledge"] = type_all["review"] + type_all["support_contact"]
    else:
        F["value_knowledge"] = np.full(N, np.nan)
    F["value_transaction"] = np.where(
        has_done, (1 - np.nan_to_num(rr_all)) * (1 - np.nan_to_num(cr_all)) / (1 + np.nan_to_num(regularity)), np.nan)

    frame = pd.DataFrame(F)
    frame.insert(0, "customer_id", universe.to_numpy())
    return frame


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--windows", default="7,30,90,180,365")
    ap.add_argument("--top-categories", type=int, default=5)
    ap.add_argument("--out")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--sample", type=int)
    args = ap.parse_args()
    windows = [int(w) for w in args.windows.split(",")]

    t0 = time.perf_counter()
    tables = read(args.dir)
    t1 = time.perf_counter()
    frame = compute(tables, dt.date.fromisoformat(args.as_of), windows, args.top_categories)
    t2 = time.perf_counter()
    if args.out:
        frame.to_parquet(args.out, index=False)
    t3 = time.perf_counter()
    print(json.dumps({"peer": "pandas", "customers": len(frame), "features": frame.shape[1] - 1,
                      "read_s": round(t1 - t0, 4), "compute_s": round(t2 - t1, 4), "write_s": round(t3 - t2, 4)}))
    if args.check:
        from compare import check_and_exit
        check_and_exit(frame, args.dir, args.sample)


if __name__ == "__main__":
    main()
