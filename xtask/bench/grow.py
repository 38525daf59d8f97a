"""Embeddings for a corpus that has none yet, for `cargo xtask bench --only scale`: as many rows
as the corpus has records, the 20k demo embeddings and then noisy copies of them (Gaussian noise
of 0.02 per dimension, rows renormalised), as the bench's 190k search cases grow theirs. They
measure speed and size only: row i is not the embedding of document i.

    python grow.py DEMO_EMBEDDINGS.npy CORPUS.jsonl.gz OUT.npy
"""
import gzip
import sys

import numpy as np

demo_path, corpus_path, out_path = sys.argv[1:]
real = np.load(demo_path)
with gzip.open(corpus_path, "rt", encoding="utf-8") as f:
    n = sum(1 for line in f if line.strip())
rng = np.random.default_rng(4)
out = np.empty((n, real.shape[1]), np.float32)
for start in range(0, n, real.shape[0]):
    part = real[: min(real.shape[0], n - start)]
    if start:
        part = part + rng.standard_normal(part.shape).astype(np.float32) * 0.02
    out[start : start + len(part)] = part / np.linalg.norm(part, axis=1, keepdims=True)
np.save(out_path, out)
print(n)
