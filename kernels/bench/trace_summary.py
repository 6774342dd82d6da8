#!/usr/bin/env python3
"""Summarises the block traces of a -DHF_TRACE build (run.sh TRACE=1): per kernel variant and batch,
medians over launches of the launch's span, a tile's wall time and SM clocks, the SM clock they imply,
the tiles each SM ran and the gaps between one tile's end and the next one's start on an SM."""
import collections
import re
import statistics
import sys

LINE = re.compile(r"trace (e\d+ c\d+ p\d) batch (\d+) tile (\d+) sm (\d+) ns (\d+) (\d+) clocks (\d+)")


def launches(lines):
    """Consecutive runs of tile 0, 1, ..: each launch's last tile prints them all in order."""
    current = []
    for key, batch, tile, sm, t0, t1, clocks in lines:
        if tile == 0 and current:
            yield current
            current = []
        current.append((key, batch, sm, t0, t1, clocks))
    if current:
        yield current


def summarise(launch):
    t0 = min(r[3] for r in launch)
    span = (max(r[4] for r in launch) - t0) / 1e3
    wall = [(r[4] - r[3]) / 1e3 for r in launch]
    ghz = [r[5] / (r[4] - r[3]) for r in launch if r[4] > r[3]]
    per_sm = collections.defaultdict(list)
    for r in launch:
        per_sm[r[2]].append(r)
    gaps = []
    for tiles in per_sm.values():
        tiles.sort(key=lambda r: r[3])
        gaps += [(b[3] - a[4]) / 1e3 for a, b in zip(tiles, tiles[1:])]
    waves = collections.Counter(len(v) for v in per_sm.values())
    return span, statistics.median(wall), max(wall), statistics.median(r[5] for r in launch) / 1e3, \
        statistics.median(ghz), len(per_sm), dict(sorted(waves.items())), statistics.median(gaps) if gaps else 0.0


def main(path):
    lines = []
    for text in open(path):
        m = LINE.search(text)
        if m:
            lines.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)),
                          int(m.group(6)), int(m.group(7))))
    by_variant = collections.defaultdict(list)
    for launch in launches(lines):
        by_variant[(launch[0][0], launch[0][1])].append(summarise(launch))
    print("variant     batch launches  span us  tile us (max)  tile kclocks  SM GHz  SMs  tiles per SM  gap us")
    for (key, batch), runs in sorted(by_variant.items()):
        med = lambda i: statistics.median(r[i] for r in runs)
        print("%-10s %6d %8d %8.1f %7.1f (%5.1f) %13.1f %7.3f %4d  %-12s %6.2f" % (
            key, batch, len(runs), med(0), med(1), med(2), med(3), med(4), runs[-1][5], runs[-1][6], med(7)))


if __name__ == "__main__":
    main(sys.argv[1])
