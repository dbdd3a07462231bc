#!/usr/bin/env python3
"""Writes the benchmark dataset: DIR/big (MiB of random bytes) and DIR/tree
(N files of 1-16 KiB random bytes, 200 to a directory). Reproducible tree."""
import os
import random
import sys

out, mib, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "big"), "wb") as f:
    for _ in range(mib):
        f.write(os.urandom(1 << 20))
rng = random.Random(1)
for i in range(n):
    d = os.path.join(out, "tree", "d%03d" % (i // 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 16384)))
