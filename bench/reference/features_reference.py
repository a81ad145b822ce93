#!/usr/bin/env python3
"""An independent reference for cvm's feature families, written from the definitions in the
feature catalog (not from cvm's code paths): reads the clean tables a run exported as CSV and
recomputes every feature of `customer_features`, then compares with cvm's values.

    python3 bench/reference/features_reference.py --dir DIR --as-of 2026-06-30 [--zone UTC]

DIR holds stg_orders.csv, stg_sessions.csv, stg_events.csv, stg_customers.csv (from
`cvm export PIPELINE --table NAME`) and customer_features.csv and feature_catalog.csv (cvm's
output). Exit 0 when every feature of every customer agrees to 1e-9 relative (nulls must match
nulls); exit 1 with the first differences otherwise. Needs pandas (bench/requirements.txt).
The end-to-end test runs it on the demo (Tests/EndToEndTests, FeatureReferenceTests).
"""
import argparse
import datetime as dt
import math
import os
import statistics
import sys

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import slug  # noqa: E402  (the feature-name rule, shared by the feature scripts)

US_PER_DAY = 86_400_000_000
EVENT_TYPES = ["page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase",
               "review", "share", "referral", "support_contact"]
RETURNED = {"returned", "refunded"}
CANCELLED = {"cancelled", "canceled"}


def micros(series):
    """ISO 8601 text (UTC, 'Z') to µs since the epoch, as integers; NaT stays None."""
    t = pd.to_datetime(series, utc=True, format="ISO8601")
    return [None if pd.isna(v) else int(v.value // 1000) for v in t]


def day_of(us):
    return us // US_PER_DAY


def epoch_day(d):
    return (d - dt.date(1970, 1, 1)).days


def load(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]) if os.path.exists(path) else None


def mean(xs):
    return sum(xs) / len(xs)


def pstd(xs):
    m = mean(xs)
    return math.sqrt(sum((x - m) * (x - m) for x in xs) / len(xs))


def compute(folder, as_of, windows, top_n):
    D = epoch_day(as_of)
    cut = (D + 1) * US_PER_DAY
    orders = load(os.path.join(folder, "stg_orders.csv"))
    sessions = load(os.path.join(folder, "stg_sessions.csv"))
    events = load(os.path.join(folder, "stg_events.csv"))
    customers = load(os.path.join(folder, "stg_customers.csv"))

    # --- the customer universe: signed up, ordered or active by the end of the as-of day
    universe = set()
    if customers is not None:
        for cid, sd in zip(customers.customer_id, customers.signup_date):
            if pd.isna(cid):
                continue
            if pd.isna(sd) or epoch_day(dt.date.fromisoformat(sd)) < D + 1:
                universe.add(cid)
    o_time = micros(orders.ordered_at)
    for cid, t in zip(orders.customer_id, o_time):
        if not pd.isna(cid) and (t is None or t < cut):
            universe.add(cid)
    e_time = micros(events.occurred_at) if events is not None else []
    if events is not None:
        for cid, t in zip(events.customer_id, e_time):
            if not pd.isna(cid) and (t is None or t < cut):
                universe.add(cid)

    # --- order lines before the cutoff
    lines = []  # (row, customer, time, order, status, qty, gross, discount, net, sku, category)
    for r in range(len(orders)):
        t = o_time[r]
        if t is None or t >= cut:
            continue
        st = orders.status.iat[r]
        st = 0 if pd.isna(st) else (1 if st.lower() in RETURNED else (2 if st.lower() in CANCELLED else 0))
        q = 1 if pd.isna(orders.quantity.iat[r]) else int(orders.quantity.iat[r])
        price = 0.0 if pd.isna(orders.unit_price.iat[r]) else float(orders.unit_price.iat[r])
        disc = 0.0 if "discount" not in orders or pd.isna(orders.discount.iat[r]) else float(orders.discount.iat[r])
        gross = float(q) * price
        lines.append((r, orders.customer_id.iat[r], t, orders.order_id.iat[r], st, q, gross, disc, gross - disc,
                      None if pd.isna(orders.sku.iat[r]) else orders.sku.iat[r],
                      None if pd.isna(orders.category.iat[r]) else orders.category.iat[r]))
    # Top categories by completed net revenue over all lines, then by name.
    rev_by_cat = {}
    for ln in lines:
        if ln[10] is not None and ln[4] == 0:
            rev_by_cat[ln[10]] = rev_by_cat.get(ln[10], 0.0) + ln[8]
    for ln in lines:
        if ln[10] is not None:
            rev_by_cat.setdefault(ln[10], 0.0)
    top_cats = sorted(rev_by_cat, key=lambda c: (-rev_by_cat[c], c))[:top_n]
    by_customer = {}
    for ln in sorted(lines, key=lambda ln: (ln[2], ln[0])):
        by_customer.setdefault(ln[1], []).append(ln)

    # --- sessions before the cutoff
    sess = {}
    devices, referrers = [], []
    has_sessions = sessions is not None
    if has_sessions:
        s_time = micros(sessions.started_at)
        dev_count, ref_count = {}, {}
        for r in range(len(sessions)):
            t = s_time[r]
            if t is None or t >= cut:
                continue
            row = dict(start=t, duration=float(int(sessions.duration_s.iat[r])) if not pd.isna(sessions.duration_s.iat[r]) else 0.0,
                       events=int(sessions.events.iat[r] or 0), views=int(sessions.page_views.iat[r] or 0),
                       searches=int(sessions.searches.iat[r] or 0), carts=int(sessions.add_to_cart.iat[r] or 0),
                       checkouts=int(sessions.checkouts.iat[r] or 0), purchases=int(sessions.purchases.iat[r] or 0),
                       bounce=sessions.is_bounce.iat[r] in ("true", "1"),
                       device=None if pd.isna(sessions.device.iat[r]) else sessions.device.iat[r],
                       referrer=None if pd.isna(sessions.referrer.iat[r]) else sessions.referrer.iat[r])
            if row["device"]:
                dev_count[row["device"]] = dev_count.get(row["device"], 0) + 1
            if row["referrer"]:
                ref_count[row["referrer"]] = ref_count.get(row["referrer"], 0) + 1
            cid = sessions.customer_id.iat[r]
            if not pd.isna(cid):
                sess.setdefault(cid, []).append(row)
        devices = sorted(dev_count, key=lambda d: (-dev_count[d], d))[:4]
        referrers = sorted(ref_count, key=lambda d: (-ref_count[d], d))[:5]

    # --- events before the cutoff
    ev = {}
    has_events = events is not None
    if has_events:
        for r in range(len(events)):
            t = e_time[r]
            if t is None or t >= cut:
                continue
            cid = events.customer_id.iat[r]
            if not pd.isna(cid):
                ev.setdefault(cid, []).append((t, events.event_type.iat[r]))

    # --- profiles
    prof = {}
    countries, channels = [], []
    if customers is not None:
        countries = sorted(set(customers.country.dropna()))
        channels = sorted(set(customers.channel.dropna()))
        cols = [c for c in ["email", "signup_date", "country", "birth_year", "channel"] if c in customers]
        for r in range(len(customers)):
            cid = customers.customer_id.iat[r]
            filled = sum(1 for c in cols if not pd.isna(customers[c].iat[r]) and customers[c].iat[r] != "")
            prof[cid] = dict(
                signup=None if pd.isna(customers.signup_date.iat[r]) else epoch_day(dt.date.fromisoformat(customers.signup_date.iat[r])),
                birth=None if pd.isna(customers.birth_year.iat[r]) else int(customers.birth_year.iat[r]),
                country=None if pd.isna(customers.country.iat[r]) else countries.index(customers.country.iat[r]),
                channel=None if pd.isna(customers.channel.iat[r]) else channels.index(customers.channel.iat[r]),
                completeness=filled / len(cols))

    allw = list(windows) + [None]

    def suffix(w):
        return f"_{w}d" if w else "_all"

    def inw(day, w):
        return w is None or day > D - w

    out = {}
    for cid in sorted(universe, key=lambda s: s.encode()):
        f = {}
        my = by_customer.get(cid, [])
        # Orders, keyed by order id in the order of their first line.
        agg = {}
        for ln in my:
            o = agg.setdefault(ln[3], dict(time=ln[2], day=day_of(ln[2]), revenue=0.0, completed=False))
            if ln[4] == 0:
                o["revenue"] += ln[8]
                o["completed"] = True
        completed = [o for o in agg.values() if o["completed"]]
        first = completed[0]["day"] if completed else None
        last = completed[-1]["day"] if completed else None
        p = prof.get(cid)
        f["recency_days"] = None if last is None else D - last
        f["frequency"] = len(completed)
        f["monetary"] = sum(o["revenue"] for o in completed)
        f["aov_all"] = f["monetary"] / len(completed) if completed else None
        f["tenure_days"] = None if first is None else D - first
        f["days_since_signup"] = None if not p or p["signup"] is None else D - p["signup"]
        rr_all = cr_all = None
        for w in allw:
            s = suffix(w)
            os_ = [o for o in completed if inw(o["day"], w)]
            rev = [o["revenue"] for o in os_]
            f["orders_count" + s] = len(os_)
            f["revenue_sum" + s] = sum(rev)
            f["revenue_mean" + s] = mean(rev) if rev else None
            f["revenue_max" + s] = max(rev) if rev else None
            f["revenue_min" + s] = min(rev) if rev else None
            f["revenue_std" + s] = pstd(rev) if rev else None
            inl = [ln for ln in my if inw(day_of(ln[2]), w)]
            bought = [ln for ln in inl if ln[4] == 0]
            returned = sum(1 for ln in inl if ln[4] == 1)
            cancelled = sum(1 for ln in inl if ln[4] == 2)
            gross = sum(ln[6] for ln in bought)
            disc = sum(ln[7] for ln in bought)
            f["items" + s] = sum(ln[5] for ln in bought)
            f["distinct_products" + s] = len({ln[9] for ln in bought if ln[9] is not None})
            f["distinct_categories" + s] = len({ln[10] for ln in bought if ln[10] is not None})
            f["discount_share" + s] = disc / gross if gross > 0 else None
            f["return_rate" + s] = returned / (len(bought) + returned) if bought or returned else None
            f["cancel_rate" + s] = cancelled / len(inl) if inl else None
            if w is None:
                rr_all, cr_all = f["return_rate" + s], f["cancel_rate" + s]
        ss = sess.get(cid, [])
        if has_sessions:
            for w in allw:
                s = suffix(w)
                sw = [x for x in ss if inw(day_of(x["start"]), w)]
                n = len(sw)
                f["sessions" + s] = n
                f["active_days" + s] = len({day_of(x["start"]) for x in sw})
                views = sum(x["views"] for x in sw)
                f["page_views" + s] = views
                durations = [x["duration"] for x in sw]
                carts = [x for x in sw if x["carts"] > 0]
                checks = [x for x in sw if x["checkouts"] > 0]
                evs = sum(x["events"] for x in sw)
                f["pv_per_session" + s] = views / n if n else None
                f["session_duration_mean_s" + s] = sum(durations) / n if n else None
                f["session_duration_median_s" + s] = statistics.median(durations) if n else None
                f["bounce_rate" + s] = sum(1 for x in sw if x["bounce"]) / n if n else None
                f["add_to_cart_rate" + s] = len(carts) / n if n else None
                f["cart_abandonment" + s] = sum(1 for x in carts if x["purchases"] == 0) / len(carts) if carts else None
                f["checkout_abandonment" + s] = sum(1 for x in checks if x["purchases"] == 0) / len(checks) if checks else None
                f["conversion" + s] = sum(1 for x in sw if x["purchases"] > 0) / n if n else None
                f["search_share" + s] = sum(x["searches"] for x in sw) / evs if evs > 0 else None
            for w in allw:
                sw = [x for x in ss if inw(day_of(x["start"]), w)]
                for d in devices:
                    f[f"device_share_{slug(d)}{suffix(w)}"] = sum(1 for x in sw if x["device"] == d) / len(sw) if sw else None
                for d in referrers:
                    f[f"referrer_share_{slug(d)}{suffix(w)}"] = sum(1 for x in sw if x["referrer"] == d) / len(sw) if sw else None
        ee = ev.get(cid, [])
        type_all = {t: 0 for t in EVENT_TYPES}
        if has_events:
            for w in allw:
                for t in EVENT_TYPES:
                    c = sum(1 for (tm, ty) in ee if ty == t and inw(day_of(tm), w))
                    f[f"events_{t}{suffix(w)}"] = c
                    if w is None:
                        type_all[t] = c
        # Category mix over all time (completed lines).
        total = sum(ln[8] for ln in my if ln[4] == 0)
        spend = [sum(ln[8] for ln in my if ln[4] == 0 and ln[10] == c) for c in top_cats]
        for j, c in enumerate(top_cats):
            f[f"category_spend_share_{slug(c)}"] = spend[j] / total if total > 0 else None
            with_c = {ln[3] for ln in my if ln[4] == 0 and ln[10] == c}
            f[f"category_order_share_{slug(c)}"] = len(with_c) / len(completed) if completed else None
        if top_cats:
            best = max(range(len(top_cats)), key=lambda j: (spend[j], -j))
            f["favourite_category"] = best if spend[best] > 0 else None
        # Timing.
        names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        regularity = None
        if completed:
            n = len(completed)
            dows = [dt.date(1970, 1, 1).fromordinal(dt.date(1970, 1, 1).toordinal() + o["day"]).isoweekday() for o in completed]
            for k, nm in enumerate(names):
                f[f"dow_share_{nm}"] = sum(1 for d in dows if d == k + 1) / n
            hours = [min(3, ((o["time"] - o["day"] * US_PER_DAY) // 3_600_000_000) // 6) for o in completed]
            for k, nm in enumerate(["night", "morning", "afternoon", "evening"]):
                f[f"hour_share_{nm}"] = sum(1 for h in hours if h == k) / n
            f["weekend_share"] = sum(1 for d in dows if d >= 6) / n
        else:
            for nm in names:
                f[f"dow_share_{nm}"] = None
            for nm in ["night", "morning", "afternoon", "evening"]:
                f[f"hour_share_{nm}"] = None
            f["weekend_share"] = None
        if len(completed) >= 2:
            gaps = [(completed[k]["time"] - completed[k - 1]["time"]) / US_PER_DAY for k in range(1, len(completed))]
            m, sd = mean(gaps), pstd(gaps)
            f["interval_mean_days"], f["interval_std_days"] = m, sd
            f["interval_min_days"], f["interval_max_days"] = min(gaps), max(gaps)
            regularity = sd / m if m > 0 else None
            f["purchase_regularity_cv"] = regularity
            f["interval_last_days"] = gaps[-1]
        else:
            for k in ["interval_mean_days", "interval_std_days", "interval_min_days", "interval_max_days", "purchase_regularity_cv",
                      "interval_last_days"]:
                f[k] = None
        f["signup_to_first_order_days"] = first - p["signup"] if first is not None and p and p["signup"] is not None else None
        # Trends: (current + 1) / (previous + 1) over (from, to] days.
        def sums(lo, hi):
            rev = sum(o["revenue"] for o in completed if lo < o["day"] <= hi)
            cnt = sum(1 for o in completed if lo < o["day"] <= hi)
            se = sum(1 for x in ss if lo < day_of(x["start"]) <= hi)
            return rev, cnt, se
        for span in (30, 90):
            cur, prev = sums(D - span, D), sums(D - 2 * span, D - span)
            f[f"revenue_trend_{span}v{span}"] = (cur[0] + 1) / (prev[0] + 1)
            f[f"orders_trend_{span}v{span}"] = (cur[1] + 1) / (prev[1] + 1)
            f[f"sessions_trend_{span}v{span}"] = (cur[2] + 1) / (prev[2] + 1) if has_sessions else None
        months = [0.0] * 12
        for o in completed:
            if o["day"] > D - 360:
                mth = (D - o["day"]) // 30
                if mth < 12:
                    months[11 - mth] += o["revenue"]
        ym = sum(months) / 12
        f["revenue_slope_12m"] = sum((x - 5.5) * (y - ym) for x, y in enumerate(months)) / sum((x - 5.5) ** 2 for x in range(12))
        # Profile.
        if p and p["birth"] is not None:
            age = as_of.year - p["birth"]
            f["age"] = age
            f["age_band"] = 1 if age < 25 else 2 if age < 35 else 3 if age < 45 else 4 if age < 55 else 5 if age < 65 else 6
        else:
            f["age"] = f["age_band"] = None
        f["country_code"] = p["country"] if p else None
        f["channel_code"] = p["channel"] if p else None
        f["profile_completeness"] = p["completeness"] if p else None
        # BG/NBD and Gamma-Gamma inputs: purchase days.
        if completed:
            days = []
            for o in completed:
                if days and days[-1][0] == o["day"]:
                    days[-1][1] += o["revenue"]
                else:
                    days.append([o["day"], o["revenue"]])
            rep = days[1:]
            f["clv_repeat_days"] = len(rep)
            f["clv_recency_days"] = days[-1][0] - days[0][0]
            f["clv_age_days"] = D - days[0][0]
            f["clv_repeat_value"] = sum(x[1] for x in rep) / len(rep) if rep else 0.0
        else:
            f["clv_repeat_days"] = f["clv_recency_days"] = f["clv_age_days"] = f["clv_repeat_value"] = None
        # The value parts.
        f["value_reputation"] = type_all["review"] + type_all["share"] + type_all["referral"] if has_events else None
        f["value_knowledge"] = type_all["review"] + type_all["support_contact"] if has_events else None
        f["value_information"] = 0.5 * (p["completeness"] if p else 0) + 0.5 * min(100, len(ee)) / 100
        f["value_transaction"] = (1 - (rr_all or 0)) * (1 - (cr_all or 0)) / (1 + (regularity or 0)) if completed else None
        out[cid] = f
    return out



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--windows", default="7,30,90,180,365")
    ap.add_argument("--top-categories", type=int, default=5)
    ap.add_argument("--tolerance", type=float, default=1e-9)
    args = ap.parse_args()
    ref = compute(args.dir, dt.date.fromisoformat(args.as_of), [int(w) for w in args.windows.split(",")], args.top_categories)
    cvm = pd.read_csv(os.path.join(args.dir, "customer_features.csv"), dtype=str, keep_default_na=False, na_values=[""])
    catalog = pd.read_csv(os.path.join(args.dir, "feature_catalog.csv"), dtype=str, keep_default_na=False)
    features = list(catalog.name)
    problems = []
    if sorted(cvm.customer_id) != sorted(ref):
        problems.append(f"customers differ: cvm {len(cvm)} vs reference {len(ref)}")
    missing = [n for n in features if n not in next(iter(ref.values()), {})]
    if missing:
        problems.append(f"the reference does not compute {len(missing)} features: {missing[:10]}")
    checked = 0
    for r in range(len(cvm)):
        cid = cvm.customer_id.iat[r]
        mine = ref.get(cid)
        if mine is None:
            continue
        for name in features:
            if name not in mine:
                continue
            a = cvm[name].iat[r]
            b = mine[name]
            checked += 1
            if pd.isna(a) or b is None:
                if not (pd.isna(a) and b is None):
                    problems.append(f"{cid} {name}: cvm {a!r}, reference {b!r}")
                continue
            a = float(a)
            if abs(a - b) > args.tolerance * max(1.0, abs(b)):
                problems.append(f"{cid} {name}: cvm {a!r}, reference {b!r}")
    print(f"compared {checked} values ({len(features)} features x {len(cvm)} customers): {len(problems)} differences")
    for p in problems[:25]:
        print("  " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
