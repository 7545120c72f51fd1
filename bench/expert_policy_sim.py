#!/usr/bin/env python3
"""Replays an expert-cache trace (LATTE_EXPERT_TRACE=FILE: "layer expert tokens" per acquisition, "t N" per
advance of N tokens) through LRU and decayed LFU (runtime/model/expert_policy.cpp, same rules: hits pinned first,
empty slots first, victim = oldest use / lowest decayed score, ties older use) at several cache sizes.
usage: expert_policy_sim.py TRACE SLOTS[,SLOTS...] [HALF_LIFE,...]"""
import math, sys

def replay(events, slots, policy, half_life=64.0):
    ln = math.log(0.5) / half_life
    now = 0; seq = 0
    last = {}; score = {}; at = {}
    resident = set(); hits = misses = 0
    def sc(k):
        return score.get(k, 0.0) * math.exp(ln * (now - at.get(k, now)))
    def step(layer, ids, toks, seq, hits, misses):
        keys = [layer * 1000 + e for e in ids]
        pinned = set(k for k in keys if k in resident)
        for k, w in zip(keys, toks):
            seq += 1; last[k] = seq
            score[k] = sc(k) + w; at[k] = now
        for k in keys:
            if k in resident: hits += 1; continue
            misses += 1
            if len(resident) < slots:
                resident.add(k); pinned.add(k); continue
            cand = [c for c in resident if c not in pinned]
            if policy == 'lru': v = min(cand, key=lambda c: last[c])
            else: v = min(cand, key=lambda c: (sc(c), last[c]))
            resident.remove(v); resident.add(k); pinned.add(k)
        return seq, hits, misses
    for ev in events:
        if ev[0] == 't':
            now += ev[1]; continue
        layer = ev[1]
        cap = max(1, slots // 2)  # the cache pins at most half its slots per call (ExpertCache::max_pin)
        for c0 in range(0, len(ev[2]), cap):
            ids, toks = ev[2][c0:c0 + cap], ev[3][c0:c0 + cap]
            seq, hits, misses = step(layer, ids, toks, seq, hits, misses)
    return hits / max(1, hits + misses)


def load(path):
    events = []; cur = None
    for line in open(path):
        p = line.split()
        if not p or (p[0] != "t" and len(p) < 3): continue
        if p[0] == 't':
            if cur: events.append(cur); cur = None
            events.append(('t', int(p[1]))); continue
        l, e, w = int(p[0]), int(p[1]), int(p[2])
        # consecutive lines of one layer form one acquisition (one call)
        if cur and cur[1] == l and e not in cur[2]: cur[2].append(e); cur[3].append(w)
        else:
            if cur: events.append(cur)
            cur = ('a', l, [e], [w])
    if cur: events.append(cur)
    return events

if __name__ == '__main__':
    ev = load(sys.argv[1])
    sizes = [int(x) for x in sys.argv[2].split(',')]
    hls = [float(x) for x in sys.argv[3].split(',')] if len(sys.argv) > 3 else [64.0]
    for n in sizes:
        row = [f"slots {n}: lru {replay(ev, n, 'lru'):.3f}"]
        for h in hls: row.append(f"lfu(h={h:g}) {replay(ev, n, 'lfu', h):.3f}")
        print(', '.join(row))
