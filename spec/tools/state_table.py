#!/usr/bin/env python3
"""The session state table of spec §8.4, generated from spec/state-table.json.

  state_table.py render  [JSON]          print the Markdown table
  state_table.py --check SPEC [JSON]     exit 1 unless SPEC's table is exactly the rendering
  state_table.py --write SPEC [JSON]     replace SPEC's table with the rendering

The table sits between the lines BEGIN and END below, so an edit by hand fails the check.
"""
import json
import os
import sys

BEGIN = "<!-- generated from spec/state-table.json by spec/tools/state_table.py: do not edit -->"
END = "<!-- end of generated table -->"
HERE = os.path.dirname(os.path.abspath(__file__))


def cell_text(state, cell):
    if cell is None:
        return "—"
    text = cell.get("text")
    if text is None:
        codes = cell["code"]
        text = "close with " + " or ".join(codes) if codes else cell["action"]
    refs = ", ".join(cell["refs"])
    out = "%s (%s)" % (text, refs) if refs else text
    if cell["next"] != state:
        out += " → " + cell["next"]
    return out


def render(doc):
    states = doc["states"]
    lines = ["| Event | " + " | ".join(states) + " |", "|---" * (len(states) + 1) + "|"]
    for ev in doc["events"]:
        cells, prev = [], None
        for s in states:
            t = cell_text(s, ev["cells"].get(s))
            cells.append("same" if prev is not None and t == prev and t != "—" else t)
            prev = t
        lines.append("| %s | %s |" % (ev["event"], " | ".join(cells)))
    return "\n".join(lines) + "\n"


def check_doc(doc):
    """Every cell names a known next state and its requirement references."""
    states = set(doc["states"]) | {doc["final"]}
    problems = []
    ids = set()
    for ev in doc["events"]:
        if ev["id"] in ids:
            problems.append("duplicate event id %s" % ev["id"])
        ids.add(ev["id"])
        for s, c in ev["cells"].items():
            if s not in states or c["next"] not in states:
                problems.append("%s/%s: unknown state" % (ev["id"], s))
            if not c["refs"]:
                problems.append("%s/%s: cites no requirement" % (ev["id"], s))
    return problems


def split(spec_text):
    a = spec_text.index(BEGIN) + len(BEGIN) + 1
    b = spec_text.index(END)
    return a, b


def main(argv):
    mode = argv[1] if len(argv) > 1 else "render"
    rest = argv[2:]
    spec = rest.pop(0) if mode in ("--check", "--write") else None
    path = rest[0] if rest else os.path.join(HERE, "..", "state-table.json")
    with open(path) as f:
        doc = json.load(f)
    problems = check_doc(doc)
    for p in problems:
        print("state-table.json: " + p)
    table = render(doc)
    if mode == "render":
        sys.stdout.write(table)
        return 1 if problems else 0
    with open(spec) as f:
        text = f.read()
    a, b = split(text)
    if mode == "--write":
        with open(spec, "w") as f:
            f.write(text[:a] + table + text[b:])
        return 1 if problems else 0
    if text[a:b] != table:
        print("%s: the table of §8.4 differs from spec/state-table.json; run "
              "spec/tools/state_table.py --write %s" % (spec, spec))
        return 1
    print("§8.4 table matches state-table.json: %d events, %d states"
          % (len(doc["events"]), len(doc["states"])))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
