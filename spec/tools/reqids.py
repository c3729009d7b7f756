#!/usr/bin/env python3
"""Extract the requirement IDs of the Cairn spec.

A requirement is a Markdown list item `- [AREA-N] sentence` with exactly one
RFC 2119 keyword (MUST, MUST NOT, SHOULD, SHOULD NOT, MAY), its level.
  reqids.py SPEC.md            prints "ID<TAB>LEVEL<TAB>OBSERVABLE<TAB>TEXT" per requirement
  reqids.py --check SPEC.md    checks: >= 150 IDs, no duplicates, one keyword each
"""
import re
import sys

ITEM = re.compile(r"^- \[([A-Z]{2,6})-([0-9]+)\] (.*)$")
KEYWORDS = re.compile(r"\b(MUST NOT|MUST|SHOULD NOT|SHOULD|MAY|SHALL NOT|SHALL|REQUIRED|RECOMMENDED|OPTIONAL)\b")
HIDDEN = "*(not observable on the wire)*"


def requirements(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            m = ITEM.match(line.rstrip("\n"))
            if m:
                area, num, text = m.group(1), int(m.group(2)), m.group(3)
                out.append((lineno, "%s-%d" % (area, num), KEYWORDS.findall(text), text))
    return out


def main(argv):
    check = "--check" in argv
    path = [a for a in argv[1:] if not a.startswith("--")][0]
    reqs = requirements(path)
    problems = []
    seen = {}
    for lineno, rid, kws, text in reqs:
        if rid in seen:
            problems.append("%s:%d: %s duplicates line %d" % (path, lineno, rid, seen[rid]))
        seen[rid] = lineno
        if len(kws) != 1 or kws[0] not in ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY"):
            problems.append("%s:%d: %s has keywords %s" % (path, lineno, rid, kws))
        if not check:
            level = kws[0] if kws else "?"
            print("%s\t%s\t%s\t%s" % (rid, level, "no" if HIDDEN in text else "yes", text))
    if check:
        if len(seen) < 150:
            problems.append("only %d requirement IDs (need at least 150)" % len(seen))
        for p in problems:
            print(p)
        levels = {}
        for _, _, kws, _ in reqs:
            levels[kws[0] if kws else "?"] = levels.get(kws[0] if kws else "?", 0) + 1
        print("%d requirement IDs: %s" % (len(seen), ", ".join("%d %s" % (v, k) for k, v in sorted(levels.items()))))
        print("%d passed, %d failed" % (1 if not problems else 0, 1 if problems else 0))
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
