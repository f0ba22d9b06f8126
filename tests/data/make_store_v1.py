"""Builds tests/data/store_v1 with the format-1 store code (run once; its output is committed).

Usage: python make_store_v1.py STORE_DIR EXPECTED_JSON
"""

import json
import sys

from automem_sdk.store import MemoryStore

root = sys.argv[1]
s = MemoryStore(root)
s.write("notes.md", "# Notes\n- likes tea\n")
for i in range(5):
    s.append("log.md", f"step {i}: moved east\n")
s.write("plans/today.md", "1. find key\n2. open door\n")
s.replace("plans/today.md", "open door", "open the red door")
with s.batch():
    s.append("log.md", "step 5: found key\n")
    s.write("map.md", "#####\n#..@#\n#####\n")
s.rename("notes.md", "profile/notes.md")
s.write("tmp.md", "scratch")
s.delete("tmp.md")
s.restore(8)
s.append("log.md", "step 6: after restore\n")
paths = ["log.md", "notes.md", "map.md", "plans/today.md", "profile/notes.md"]
expect = {
    "version": s.version,
    "snapshots": {v: s.snapshot(v) for v in range(s.version + 1)},
    "history": {p: [e.version for e in s.history(p)] for p in paths},
    "diff_3_9": s.diff(3, 9),
}
s.close()
with open(sys.argv[2], "w", encoding="utf-8") as fh:
    json.dump(expect, fh, indent=1, sort_keys=True)
