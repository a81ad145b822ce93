"""Compares a peer's feature table with cvm's `customer_features` export, value by value; also the helpers
the feature scripts share (`slug`, the feature-name rule; `check_and_exit`, their --check).

    from compare import compare_features
    checked, problems = compare_features(peer_df, "DIR/customer_features.csv", "DIR/feature_catalog.csv")

Every feature named in cvm's catalog must be a column of the peer's frame (plus customer_id);
the customers must be the same; each value must agree to `tolerance` relative (absolute below 1),
and a null must meet a null. Used by the peers' --check and by `make bench` (equal work).
"""
import math
import os
import sys

import pandas as pd


def slug(s):
    """A data label (category, device, referrer) as part of a feature name, as cvm's Layout makes it: lower-case
    ASCII letters and digits, any run of other characters as one '_', "other" when nothing is left."""
    out, last = "", False
    for ch in s.lower():
        if ("a" <= ch <= "z") or ("0" <= ch <= "9"):
            out += ch
            last = False
        elif not last and out:
            out += "_"
            last = True
    return out.rstrip("_") or "other"


def check_and_exit(peer, folder, sample=None):
    """A peer's --check: compares with cvm's tables in `folder`, prints the differences, exits 1 on any."""
    checked, problems = compare_features(peer, os.path.join(folder, "customer_features.csv"),
                                         os.path.join(folder, "feature_catalog.csv"), sample=sample)
    print(f"compared {checked} values: {len(problems)} differences")
    for p in problems:
        print("  " + p)
    sys.exit(1 if problems else 0)


def compare_features(peer, cvm_csv, catalog_csv, tolerance=1e-9, sample=None, limit=25):
    """Returns (values checked, list of readable differences, at most `limit`). `sample` checks
    every n-th customer of cvm's table (sorted order) instead of all."""
    cvm = pd.read_csv(cvm_csv, dtype=str, keep_default_na=False, na_values=[""])
    names = list(pd.read_csv(catalog_csv, dtype=str, keep_default_na=False).name)
    problems = []
    missing = [n for n in names if n not in peer.columns]
    if missing:
        problems.append(f"the peer does not compute {len(missing)} features: {missing[:10]}")
    peer = peer.set_index("customer_id")
    if set(peer.index) != set(cvm.customer_id):
        only_cvm = sorted(set(cvm.customer_id) - set(peer.index))[:5]
        only_peer = sorted(set(peer.index) - set(cvm.customer_id))[:5]
        problems.append(f"customers differ: cvm {len(cvm)}, peer {len(peer)}; only in cvm {only_cvm}, only in peer {only_peer}")
    rows = range(0, len(cvm), sample) if sample else range(len(cvm))
    checked = 0
    for name in names:
        if name not in peer.columns:
            continue
        ours = cvm[name]
        theirs = peer[name]
        for r in rows:
            cid = cvm.customer_id.iat[r]
            if cid not in peer.index:
                continue
            a, b = ours.iat[r], theirs.at[cid]
            checked += 1
            a_null = pd.isna(a)
            b_null = b is None or (isinstance(b, float) and math.isnan(b)) or pd.isna(b)
            if a_null or b_null:
                if a_null != b_null:
                    problems.append(f"{cid} {name}: cvm {a!r}, peer {b!r}")
            elif abs(float(a) - float(b)) > tolerance * max(1.0, abs(float(b))):
                problems.append(f"{cid} {name}: cvm {a!r}, peer {b!r}")
            if len(problems) >= limit:
                return checked, problems
    return checked, problems
