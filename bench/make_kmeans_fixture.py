#!/usr/bin/env python3
"""Makes the k-means reference fixture: seeded blobs, initial centroids, and scikit-learn's
Lloyd result from those centroids (same tol and max_iter), written to fixtures/kmeans/.

Run once (needs numpy and scikit-learn from PyPI):  python3 bench/make_kmeans_fixture.py
The Cluster tests compare cvm's inertia with sklearn's to 1e-6 relative.
"""
import json
import os
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score, calinski_harabasz_score, davies_bouldin_score

out = os.path.join(os.path.dirname(__file__), "..", "fixtures", "kmeans")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20261123)
centers = rng.normal(0, 4, size=(5, 6))
X = np.vstack([c + rng.normal(0, 3.5, size=(400, 6)) for c in centers])
X = (X - X.mean(axis=0)) / X.std(axis=0)
init = X[rng.choice(len(X), 5, replace=False)]
km = KMeans(n_clusters=5, init=init, n_init=1, algorithm="lloyd", tol=1e-4, max_iter=300).fit(X)
np.savetxt(os.path.join(out, "points.csv"), X, delimiter=",", header=",".join(f"x{i}" for i in range(6)), comments="", fmt="%.17g")
np.savetxt(os.path.join(out, "init.csv"), init, delimiter=",", header=",".join(f"x{i}" for i in range(6)), comments="", fmt="%.17g")
with open(os.path.join(out, "sklearn.json"), "w") as f:
    json.dump({
        "sklearn_version": __import__("sklearn").__version__,
        "k": 5, "tol": 1e-4, "max_iter": 300,
        "inertia": float(km.inertia_), "iterations": int(km.n_iter_),
        "labels": [int(l) for l in km.labels_],
        "silhouette": float(silhouette_score(X, km.labels_)),
        "calinski_harabasz": float(calinski_harabasz_score(X, km.labels_)),
        "davies_bouldin": float(davies_bouldin_score(X, km.labels_)),
    }, f, indent=1)
print("wrote", out, km.inertia_, km.n_iter_)
