#!/usr/bin/env python3
"""rx_delay.py -- B's receive-delay percentiles over a run, from two
`evcast stats` snapshots taken before and after it (the rx_delay histogram,
src/daemon/rxdelay.c: each percentile is its bucket's upper edge, in us).

Usage: bench/rx_delay.py BEFORE.json AFTER.json [PREFIX]
Prints "PREFIX_p50_us=.. PREFIX_p99_us=.. PREFIX_n=.." (PREFIX: node).
Used by bench_v2.sh and bench_ab.sh."""
import json
import sys


def buckets(path):
    with open(path) as f:
        return dict((u, c) for u, c in json.load(f).get("rx_delay", {}).get("buckets", []))


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    prefix = sys.argv[3] if len(sys.argv) == 4 else "node"
    h0, h1 = buckets(sys.argv[1]), buckets(sys.argv[2])
    d = sorted((u, c - h0.get(u, 0)) for u, c in h1.items() if c > h0.get(u, 0))
    n = sum(c for _, c in d)

    def q(p):
        want, seen = max(1, int(p * n + 0.999999)), 0
        for u, c in d:
            seen += c
            if seen >= want:
                return u
        return 0

    print(f"{prefix}_p50_us={q(0.50)} {prefix}_p99_us={q(0.99)} {prefix}_n={n}")


if __name__ == "__main__":
    main()
