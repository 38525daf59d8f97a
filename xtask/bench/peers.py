"""The tools a user would otherwise pick, timed on the inputs `saescope bench` wrote.

    python peers.py DIR    # DIR holds ours.json and the .npy inputs; prints one JSON object

Each case of ours.json is run the same way here: one warm-up run, then the run policy of
ours.json (up to max_runs, at least min_runs, stopping after budget_s), median wall time.
Results are checked against ours: top-k agreement (encode), recall@10 (search), final inertia
(k-means). The map layout is umap-learn's UMAP on the same points, after one warm-up fit on a
small slice that compiles numba's code (timed apart); both maps' quality is measured here on
the sample ours.json names. `cargo xtask bench` installs the pinned packages
(requirements.txt) into a venv.
"""

import json
import math
import os
import platform
import sys
import time

import faiss
import networkx
import numpy as np
import scipy.sparse
import sklearn
import threadpoolctl
from sklearn.cluster import KMeans


def timed(policy, f):
    """Median milliseconds of `f` under `policy` (as saescope bench's RunPolicy), and its last
    result: one warm-up run, then timed runs until budget_s has passed, at least min_runs
    (unless one run alone took longer than the budget) and at most max_runs."""
    f()
    return repeated(policy, f)


def repeated(policy, f):
    """The timed runs of `timed` alone, for callers that warm up in their own way."""
    result = None
    budget_ms = policy["budget_s"] * 1e3
    times = []
    started = time.perf_counter()
    while len(times) < policy["max_runs"]:
        enough = len(times) >= policy["min_runs"] or any(t > budget_ms for t in times)
        if enough and (time.perf_counter() - started) * 1e3 >= budget_ms:
            break
        t = time.perf_counter()
        result = f()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"median_ms": times[len(times) // 2], "runs": len(times)}, result


def load(folder, name):
    return np.load(os.path.join(folder, name))


def versions():
    blas = [
        f"{p['internal_api']} {p['version']} ({p['prefix']}, {p['num_threads']} threads)"
        for p in threadpoolctl.threadpool_info()
        if p["user_api"] == "blas"
    ]
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "faiss-cpu": faiss.__version__,
        "scikit-learn": sklearn.__version__,
        "networkx": networkx.__version__,
        "blas": blas,
        "faiss_threads": faiss.omp_get_max_threads(),
    }


def sgemm(folder, case, policy):
    a, b = load(folder, case["files"]["a"]), load(folder, case["files"]["b"])
    timing, _ = timed(policy, lambda: a @ b)
    return {"numpy": timing}


def top_k_rows(pre, k):
    """The k largest of each row, largest first (argpartition, then a sort of the k)."""
    part = np.argpartition(-pre, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(pre, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.maximum(np.take_along_axis(vals, order, axis=1), 0)


def same_sets(a, b):
    return float(np.mean(np.all(np.sort(a, axis=1) == np.sort(b, axis=1), axis=1)))


def encode(folder, case, policy):
    f = case["files"]
    x, w_enc, b_enc, b_dec = (load(folder, f[n]) for n in ("x", "w_enc", "b_enc", "b_dec"))

    def run():
        return top_k_rows((x - b_dec) @ w_enc + b_enc, case["k"])

    timing, (indices, _) = timed(policy, run)
    return {"numpy": timing, "agreement": same_sets(indices, load(folder, f["cpu_indices"]))}


def recall(reference, got):
    """Fraction of the reference's hits that `got` also returns, over all queries."""
    found = sum(len(set(r) & set(g)) for r, g in zip(reference.tolist(), got.tolist()))
    return found / reference.size


def search(folder, case, policy):
    f = case["files"]
    stored = load(folder, f["corpus"])
    corpus = np.ascontiguousarray(stored.astype(np.float32))
    original = np.ascontiguousarray(load(folder, f["original"]), dtype=np.float32)
    queries = np.ascontiguousarray(original[: case["queries"]])
    k = case["k"]
    # The exact reference: IndexFlatIP over the values as stored (f16 ones, and int8 ones
    # dequantised, widened to f32); and over the original f32 values, what compact storage costs.
    flat = faiss.IndexFlatIP(corpus.shape[1])
    flat.add(corpus)
    flat_original = faiss.IndexFlatIP(original.shape[1])
    flat_original.add(original)
    if case["storage"] == "f16":
        # faiss's own f16 storage, the peer of ours.
        index = faiss.IndexScalarQuantizer(corpus.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        index.add(original)
        name = "IndexScalarQuantizer(QT_fp16)"
    elif case["storage"] == "i8":
        # faiss's int8 storage: a range per dimension, trained on the same f32 values.
        index = faiss.IndexScalarQuantizer(original.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.train(original)
        index.add(original)
        name = "IndexScalarQuantizer(QT_8bit)"
    else:
        index, name = flat, "IndexFlatIP"
    timing, (_, peer) = timed(policy, lambda: index.search(queries, k))
    _, exact = flat.search(queries, k)
    _, exact_original = flat_original.search(queries, k)
    out = {
        "faiss": timing,
        "faiss_index": name,
        "peer_recall": recall(exact, peer) if name == "IndexFlatIP" or case["storage"] == "f16" else None,
        "peer_recall_f32": recall(exact_original, peer),
    }
    for who in ("cpu", "gpu"):
        if f.get(f"{who}_indices"):
            got = load(folder, f[f"{who}_indices"]).astype(np.int64)
            out[f"recall_{who}"] = recall(exact, got)
            out[f"recall_{who}_f32"] = recall(exact_original, got)
    return out


def kmeans(folder, case, policy):
    x = np.ascontiguousarray(load(folder, case["files"]["points"]), dtype=np.float32)
    init = np.ascontiguousarray(load(folder, case["files"]["init"]), dtype=np.float32)
    n, d = x.shape
    clusters, iterations = case["clusters"], case["iterations"]

    def run_faiss():
        # All points every iteration (faiss subsamples to 256 per centroid by default; the
        # minimum only sets when it warns).
        km = faiss.Kmeans(d, clusters, niter=iterations, max_points_per_centroid=n, min_points_per_centroid=1, seed=1)
        km.train(x, init_centroids=init)
        # obj[i] is the inertia of iteration i's assignment, before its update: as ours.
        return float(km.obj[-1])

    def run_sklearn():
        # Ours makes `iterations` assignments with an update between each two; scikit-learn's
        # max_iter counts updates and then assigns once more: iterations - 1 of them.
        km = KMeans(clusters, init=init, n_init=1, max_iter=iterations - 1, tol=0.0, algorithm="lloyd")
        km.fit(x)
        return float(km.inertia_), int(km.n_iter_) + 1

    faiss_timing, faiss_inertia = timed(policy, run_faiss)
    sklearn_timing, (sklearn_inertia, sklearn_assignments) = timed(policy, run_sklearn)
    return {
        "faiss": faiss_timing,
        "faiss_inertia": faiss_inertia,
        "faiss_assignments": iterations,
        "sklearn": sklearn_timing,
        "sklearn_inertia": sklearn_inertia,
        "sklearn_assignments": sklearn_assignments,
    }


def cooccurrence(indices, values, d_sae):
    """C = A^T A of the binarised codes, with scipy.sparse: what a numpy user would write."""
    rows = np.repeat(np.arange(indices.shape[0]), indices.shape[1])
    fired = values.reshape(-1) > 0
    a = scipy.sparse.csr_matrix(
        (np.ones(int(fired.sum()), dtype=np.int32), (rows[fired], indices.reshape(-1)[fired].astype(np.int64))),
        shape=(indices.shape[0], d_sae),
    )
    return (a.T @ a).tocoo()


def find_families(cooc, documents, params):
    """The families algorithm of saescope's `families.rs` (the paper's, with its documented
    choices), written the straightforward way: a networkx graph per round and
    `maximum_spanning_tree` (Kruskal). Edges are added in (i, j) order so that networkx breaks
    weight ties the way ours does."""
    diagonal = np.zeros(cooc.shape[0], dtype=np.int64)
    on_diagonal = cooc.row == cooc.col
    diagonal[cooc.row[on_diagonal]] = cooc.data[on_diagonal]
    upper = cooc.row < cooc.col
    pairs = sorted(zip(cooc.row[upper].tolist(), cooc.col[upper].tolist(), cooc.data[upper].tolist()))
    in_graph = {int(i) for i in np.flatnonzero((diagonal > 0) & (diagonal / max(documents, 1) < params["max_density"]))}
    found = []
    for round_ in range(params["repeats"] + 1):
        threshold = params["first_threshold"] if round_ == 0 else params["later_threshold"]
        graph = networkx.Graph()
        graph.add_nodes_from(sorted(in_graph))
        for i, j, c in pairs:
            if i in in_graph and j in in_graph:
                p = c / (min(diagonal[i], diagonal[j]) + 1.0)
                if p >= threshold:
                    graph.add_edge(i, j, weight=math.exp(p))
        tree = networkx.maximum_spanning_tree(graph, algorithm="kruskal")
        children = {n: [] for n in graph.nodes}
        has_parent = set()
        for i, j in tree.edges():
            i, j = min(i, j), max(i, j)
            parent, child = (i, j) if diagonal[i] >= diagonal[j] else (j, i)
            children[parent].append(child)
            has_parent.add(child)
        oriented = networkx.DiGraph((p, c) for p in children for c in children[p])
        is_root = lambda n: len(children[n]) >= params["root_min_children"]
        stack = [n for n in sorted(in_graph) if n not in has_parent and is_root(n)]
        roots = []
        while stack:
            root = stack.pop()
            roots.append(root)
            stack.extend(c for c in children[root] if is_root(c))
            members = list(networkx.descendants(oriented, root))
            if len(members) >= params["min_members"]:
                found.append((root, sorted(members), round_))
        if not roots and round_ > 0:
            break
        in_graph -= set(roots)
    found.sort(key=lambda f: (-len(f[1]), f[2], f[0]))
    kept = []
    for parent, members, round_ in found:
        m = set(members)
        if all(len(m & k) / len(m | k) <= params["merge_jaccard"] for _, k in kept):
            kept.append((parent, m))
    return [(parent, sorted(m)) for parent, m in kept]


def families(folder, case, policy):
    f = case["files"]
    indices, values = load(folder, f["indices"]), load(folder, f["values"])
    cooc_timing, cooc = timed(policy, lambda: cooccurrence(indices, values, case["d_sae"]))
    families_timing, peer = timed(policy, lambda: find_families(cooc, case["documents"], case["params"]))
    with open(os.path.join(folder, f["ours"])) as fh:
        ours = {(parent, tuple(sorted(children))) for parent, children in json.load(fh)}
    theirs = {(parent, tuple(members)) for parent, members in peer}
    return {
        "cooccurrence": cooc_timing,
        "families": families_timing,
        "count": len(peer),
        "identical": len(ours & theirs),
    }


def cosine_neighbours(x, k):
    """Each row's k nearest other rows by cosine (exact)."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return np.argpartition(-sims, k - 1, axis=1)[:, :k]


def map_neighbours(y, k):
    """Each map point's k nearest other map points (Euclidean, exact)."""
    y = y.astype(np.float64)
    squared = (y * y).sum(axis=1)
    d2 = squared[:, None] + squared[None, :] - 2.0 * (y @ y.T)
    np.fill_diagonal(d2, np.inf)
    return np.argpartition(d2, k - 1, axis=1)[:, :k]


def map_quality(x, y, k, data_neighbours):
    """trustworthiness@k (scikit-learn's, cosine in the data) and recall@k: the share of each
    point's k nearest data neighbours among its k nearest on the map."""
    from sklearn.manifold import trustworthiness

    found = map_neighbours(y, k)
    recall = sum(len(set(a) & set(b)) for a, b in zip(data_neighbours.tolist(), found.tolist()))
    return {
        "trustworthiness": float(trustworthiness(x, y, n_neighbors=k, metric="cosine")),
        "recall": recall / data_neighbours.size,
    }


def layout(folder, cases, policy):
    """umap-learn on the points of each of our layout runs, with our epochs; both maps' quality
    on our sample of the first run's points."""
    import warnings
    from importlib.metadata import version

    import numba

    started = time.perf_counter()
    import umap

    import_s = time.perf_counter() - started

    def fit(x, epochs, **extra):
        # random_state makes umap-learn run single-threaded (n_jobs=1) and say so in a warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = umap.UMAP(
                n_neighbors=cases["neighbors"],
                metric="cosine",
                n_epochs=epochs,
                random_state=cases["seed"],
                min_dist=cases["min_dist"],
                **extra,
            )
            return model.fit_transform(x)

    points = {}

    def points_of(name):
        if name not in points:
            points[name] = load(folder, name)
        return points[name]

    runs = cases["runs"]
    # The warm-up: numba compiles umap-learn's and pynndescent's code on first use. umap-learn
    # runs NN-descent from 4096 points on (forced here on a small slice) and below that, exact
    # neighbours from scikit-learn's pairwise_distances with its numba metric called per pair
    # (compiled here only if a timed run is that small: --quick).
    started = time.perf_counter()
    warm_up = points_of(runs[0]["files"]["points"])[:500]
    fit(warm_up, runs[0]["epochs"], force_approximation_algorithm=True)
    if any(run["rows"] < 4096 for run in runs):
        fit(warm_up, runs[0]["epochs"])
    jit_s = time.perf_counter() - started
    packages = ("umap-learn", "pynndescent", "numba", "llvmlite", "tqdm", "numpy", "scikit-learn", "scipy")
    out = {
        "versions": {p: version(p) for p in packages} | {"numba_threads": numba.get_num_threads()},
        "import_s": import_s,
        "jit_s": jit_s,
        "runs": {},
    }
    for run in runs:
        print(run["id"], file=sys.stderr)
        x = points_of(run["files"]["points"])
        box = {}

        def once():
            box["layout"] = fit(x, run["epochs"])

        timing, _ = repeated(policy, once)
        name = f"layout-umap-learn-{run['rows']}.npy"
        np.save(os.path.join(folder, name), np.ascontiguousarray(box["layout"], dtype=np.float32))
        out["runs"][run["id"]] = {"umap_learn": timing, "layout": name, "points": run["files"]["points"]}

    q = cases["quality"]
    print(f"layout-quality-{q['rows']}", file=sys.stderr)
    sample = load(folder, q["files"]["sample"]).astype(np.int64)
    x = points_of(q["files"]["points"])[sample].astype(np.float64)
    data_neighbours = cosine_neighbours(x, q["k"])
    theirs = next(r["layout"] for r in out["runs"].values() if r["points"] == q["files"]["points"])
    out["quality"] = {
        "ours": map_quality(x, load(folder, q["files"]["ours"])[sample], q["k"], data_neighbours),
        "umap_learn": map_quality(x, load(folder, theirs)[sample], q["k"], data_neighbours),
    }
    return out


def selection(folder, case, policy):
    """The map's lasso with numpy: the documents inside the polygon (even-odd rule, only the
    points in its bounding box tested), then the features over-represented in them (Haldane
    log-odds, Woolf's lower bound, Benjamini-Hochberg), as saescope_interp::selection."""
    from scipy.stats import norm

    xy = load(folder, case["files"]["layout"]).astype(np.float32)
    polygon = load(folder, case["files"]["polygon"]).astype(np.float32)
    indices = load(folder, case["files"]["indices"]).astype(np.int64)
    values = load(folder, case["files"]["values"])
    latents = case["latents"]

    def inside():
        lo, hi = polygon.min(axis=0), polygon.max(axis=0)
        x, y = xy[:, 0], xy[:, 1]
        candidates = np.nonzero((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]))[0]
        px, py = x[candidates], y[candidates]
        odd = np.zeros(len(candidates), dtype=bool)
        previous = polygon[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            for corner in polygon:
                (xi, yi), (xj, yj) = corner, previous
                straddles = (yi > py) != (yj > py)
                odd ^= straddles & (px < (xj - xi) * (py - yi) / (yj - yi) + xi)
                previous = corner
        return candidates[odd]

    def enrich(selected):
        # Counted per call, as ours does (a selection is compared with the whole corpus).
        fires = values > 0
        total = np.bincount(indices[fires], minlength=latents)
        n_in, n_out = len(selected), len(xy) - len(selected)
        inside_counts = np.bincount(indices[selected][fires[selected]], minlength=latents)
        tested = total > 0
        a = inside_counts + 0.5
        b = n_in - inside_counts + 0.5
        c = total - inside_counts + 0.5
        d = n_out - (total - inside_counts) + 0.5
        log_odds = np.log(a * d / (b * c))
        se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        lower = log_odds - 1.959963984540054 * se
        p = norm.sf(log_odds / se)
        # Benjamini-Hochberg over the tested features.
        m = int(tested.sum())
        order = np.argsort(np.where(tested, p, np.inf))[:m]
        q = np.empty(m)
        q[:] = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
        over = np.nonzero(tested & (inside_counts > 0) & (log_odds > 0))[0]
        best = over[np.lexsort((over, -lower[over]))]
        return int(best[0]), q

    timing_inside, selected = timed(policy, inside)
    timing_enrich, (top, _) = timed(policy, lambda: enrich(selected))
    return {"inside": timing_inside, "enrich": timing_enrich, "selected": int(len(selected)), "top_feature": top}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: peers.py DIR (the folder saescope bench wrote)")
    folder = sys.argv[1]
    try:
        with open(os.path.join(folder, "ours.json")) as f:
            ours = json.load(f)
    except OSError as e:
        sys.exit(f"cannot read ours.json in {folder}: {e} (run saescope bench first)")
    policy = ours["policy"]
    out = {"versions": versions()}
    if ours.get("sgemm"):
        out["sgemm"] = sgemm(folder, ours["sgemm"], policy)
    for section, run in (("encode", encode), ("search", search), ("kmeans", kmeans)):
        out[section] = {}
        for case in ours.get(section, []):
            print(case["id"], file=sys.stderr)
            out[section][case["id"]] = run(folder, case, policy)
    if ours.get("families"):
        print("families", file=sys.stderr)
        out["families"] = families(folder, ours["families"], policy)
    if ours.get("layout"):
        out["layout"] = layout(folder, ours["layout"], policy)
    if ours.get("selection"):
        print("selection", file=sys.stderr)
        out["selection"] = selection(folder, ours["selection"], policy)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
