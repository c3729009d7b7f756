#!/usr/bin/env python3
"""Checks a cairn-conform --html report by parsing it (html.parser):
index.html links one page per case and the captures of --pcap match them;
each page names its case and verdict, quotes every requirement it covers
with the text of the spec's requirement line, shows the permitted outcomes
from the case file, and a wire log with timing; no page has a script.

  check_html.py HTML_DIR SPEC_FILE [PCAP_DIR]"""
import html.parser
import os
import re
import sys

failures = []


def check(cond, what):
    if not cond:
        print("FAIL " + what)
        failures.append(what)


class Page(html.parser.HTMLParser):
    def __init__(self, path):
        super().__init__(convert_charrefs=True)
        self.links, self.scripts, self.h2, self.pre, self.rows = [], 0, [], [], []
        self._tag, self._buf, self._row, self._cell = None, "", None, None
        self.feed(open(path, encoding="utf-8").read())
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "script" or any(k.startswith("on") for k in a):
            self.scripts += 1
        if tag in ("h1", "h2", "pre", "title"):
            self._tag, self._buf = tag, ""
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == self._tag:
            {"h1": lambda b: setattr(self, "h1", b), "h2": self.h2.append, "pre": self.pre.append,
             "title": lambda b: setattr(self, "title", b)}[tag](self._buf)
            self._tag = None
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._tag:
            self._buf += data
        if self._cell is not None:
            self._cell += data


def main():
    hdir, spec = sys.argv[1], sys.argv[2]
    pdir = sys.argv[3] if len(sys.argv) > 3 else None
    reqs = {}
    for line in open(spec, encoding="utf-8"):
        m = re.match(r"- \[([A-Z]+-\d+)\] (.*)", line.rstrip("\n"))
        if m:
            reqs[m.group(1)] = m.group(2)
    index = Page(os.path.join(hdir, "index.html"))
    check(index.scripts == 0, "index.html has no script")
    cases = [r for r in index.rows[1:] if len(r) == 5]
    pages = [l for l in index.links if l.endswith(".html") and l != "index.html"]
    check(len(cases) > 0 and len(cases) == len(pages), "index lists %d cases, links %d pages" %
          (len(cases), len(pages)))
    for verdict, cid, title, secs, covers in cases:
        page = Page(os.path.join(hdir, cid + ".html"))
        where = cid + ".html"
        check(page.scripts == 0, where + ": no script")
        check(page.h1 == cid, where + ": names its case")
        check(verdict in page.title, where + ": verdict %s in the title" % verdict)
        check(re.fullmatch(r"\d+\.\d\d s", secs) is not None, where + ": time in the index")
        check("index.html" in page.links, where + ": links back to the index")
        for want in ("Requirements", "Permitted outcomes", "Actual outcome", "Wire log"):
            check(want in page.h2, where + ": section " + want)
        ids = covers.split()
        table = {r[0]: r[2] for r in page.rows[1:] if len(r) == 3}
        for rid in ids:
            check(rid in reqs and table.get(rid) == reqs[rid],
                  where + ": requirement %s quoted from the spec" % rid)
        log = page.pre[-1] if page.pre else ""
        check(verdict in ("SKIP", "UNSUPPORTED") or re.search(r"^\s*\+\d+ms ", log, re.M) is not None,
              where + ": wire log with timing")
        check(any("expect" in p or "no expect step" in p for p in page.pre),
              where + ": permitted outcomes from the case file")
        if pdir:
            check(os.path.exists(os.path.join(pdir, cid + ".pcap")), where + ": has a capture")
            check(any(l.endswith("/" + cid + ".pcap") for l in page.links), where + ": links its capture")
    if pdir:
        caps = sorted(f[:-5] for f in os.listdir(pdir) if f.endswith(".pcap"))
        check(caps == sorted(c[1] for c in cases), "one capture per case, no more")
    print("%d pages checked, %d failed checks" % (len(cases), len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
