#!/usr/bin/env python3
"""A fuzzing campaign with CPU accounting (issue 18): both engines per target.

usage: fuzz/campaign.py [--out DIR] [--lf-min 12] [--afl-min 8] [--parallel 2] TARGET...
       fuzz/campaign.py --out DIR --commit TARGET...
       fuzz/campaign.py --out DIR --report

Needs the trees of `fuzz/afl.sh build` (build-afl/) and of fuzz/lib.sh's
fuzz build (build-fuzz/, e.g. made by fuzz/ci.sh); FUZZ_BUILD and AFL_BUILD
name others. Per target, libFuzzer in segments of at most 300 s until
--lf-min CPU-minutes are spent on it, then AFL++ (`-V` segments of at most
600 s) until --afl-min; both at nice 19, with the target's dictionary,
starting from DIR/corpus/<t> if present, else fuzz/corpus/<t>. After each
engine a libFuzzer -merge=1 of the start corpus and the new inputs becomes
DIR/corpus/<t>. The budgets are totals: a second run tops up what the
ledger (DIR/ledger.json) already holds.

CPU is what a cgroup's cpuacct says (v1 .../cpuacct/, or v2 cpu.stat) for
each segment and everything it started: timing afl-fuzz with rusage misses
its targets, whose fork server is killed rather than reaped. Without a
writable cgroup hierarchy it falls back to rusage and says so.

--commit merges DIR/corpus/<t> into fuzz/corpus/<t> (only inputs with new
features are added; nothing is replaced) and prints libFuzzer's count of
new features and coverage edges. --report prints the ledger as a table.
Crashes land in DIR/artifacts (libFuzzer) and DIR/artifacts/afl-<t>-<n>.
"""
import argparse
import glob
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_BUILD = os.environ.get("FUZZ_BUILD", os.path.join(ROOT, "build-fuzz"))
AFL_BUILD = os.environ.get("AFL_BUILD", os.path.join(ROOT, "build-afl"))
LOCK = threading.Lock()
OUT = ""


def dict_for(t):
    return os.path.join(ROOT, "fuzz", "dict", ("session" if t.startswith("session_") else t) + ".dict")


# ---- the ledger ---------------------------------------------------------------------------

def ledger_load():
    p = os.path.join(OUT, "ledger.json")
    return json.load(open(p)) if os.path.exists(p) else {}


def ledger_add(t, eng, cpu, execs, crashes, note):
    with LOCK:
        led = ledger_load()
        e = led.setdefault(t, {}).setdefault(eng, {"cpu_s": 0.0, "execs": 0, "crashes": 0, "runs": []})
        e["cpu_s"] += cpu
        e["execs"] += execs
        e["crashes"] += crashes
        e["runs"].append({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu_s": round(cpu, 1),
                          "execs": execs, "crashes": crashes, "note": note})
        tmp = os.path.join(OUT, "ledger.json.tmp")
        json.dump(led, open(tmp, "w"), indent=1)
        os.replace(tmp, os.path.join(OUT, "ledger.json"))


def spent(t, eng):
    return ledger_load().get(t, {}).get(eng, {}).get("cpu_s", 0.0)


# ---- CPU accounting ---------------------------------------------------------------------

def cgroup_base():
    """(directory in which to make groups, 'v1' or 'v2'), or None."""
    for base, kind in (("/sys/fs/cgroup/cpuacct", "v1"), ("/sys/fs/cgroup/unified", "v2"), ("/sys/fs/cgroup", "v2")):
        probe = os.path.join(base, "cairn-campaign-probe-%d" % os.getpid())
        want = "cpuacct.usage" if kind == "v1" else "cpu.stat"
        try:
            os.mkdir(probe)
        except OSError:
            continue
        ok = os.path.exists(os.path.join(probe, want))
        os.rmdir(probe)
        if ok:
            return base, kind
    return None


CGROUP = None


def cg_usage(cg, kind):
    if kind == "v1":
        return int(open(os.path.join(cg, "cpuacct.usage")).read()) / 1e9
    for line in open(os.path.join(cg, "cpu.stat")):
        k, v = line.split()
        if k == "usage_usec":
            return int(v) / 1e6
    return 0.0


def run_timed(cmd, log, env=None):
    """Runs cmd at nice 19; returns (rc, CPU seconds of it and all it started)."""
    with open(log, "ab") as f:
        if not CGROUP:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            rc = subprocess.call(["nice", "-n", "19"] + cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            return rc, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        base, kind = CGROUP
        cg = os.path.join(base, "cairn-campaign-%d-%d" % (os.getpid(), threading.get_ident()))
        os.makedirs(cg, exist_ok=True)
        start = cg_usage(cg, kind)
        wrap = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec nice -n 19 "$@"', cg]
        rc = subprocess.call(wrap + cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    for _ in range(50):  # what a killed fork server left behind
        procs = open(os.path.join(cg, "cgroup.procs")).read().split()
        if not procs:
            break
        for pid in procs:
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        time.sleep(0.1)
    cpu = cg_usage(cg, kind) - start
    try:
        os.rmdir(cg)
    except OSError:
        pass
    return rc, cpu


# ---- the engines ------------------------------------------------------------------------

def merge(t, dst, srcs, log):
    """libFuzzer -merge=1 of srcs into a fresh dst; returns libFuzzer's summary line."""
    tmp = dst + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    srcs = [s for s in srcs if os.path.isdir(s) and os.listdir(s)]
    mark = os.path.getsize(log) if os.path.exists(log) else 0
    rc, _ = run_timed([os.path.join(FUZZ_BUILD, "bin", "fuzz_" + t), "-merge=1", "-rss_limit_mb=2560",
                       "-timeout=25", tmp] + srcs, log)
    if rc == 0 and os.listdir(tmp):
        shutil.rmtree(dst, ignore_errors=True)
        os.replace(tmp, dst)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    found = re.findall(r"MERGE-OUTER: .*", open(log, errors="replace").read()[mark:])
    return found[-1] if found else "merge rc %d" % rc


def start_corpus(t):
    corp = os.path.join(OUT, "corpus", t)
    return corp if os.path.isdir(corp) else os.path.join(ROOT, "fuzz", "corpus", t)


def libfuzzer(t, budget):
    work = os.path.join(OUT, "work", t)
    scratch = os.path.join(work, "lf.new")
    os.makedirs(scratch, exist_ok=True)
    arts = os.path.join(OUT, "artifacts")
    os.makedirs(arts, exist_ok=True)
    log = os.path.join(work, "lf.log")
    start = start_corpus(t)
    while spent(t, "libfuzzer") < budget:
        seg = int(max(30, min(300, budget - spent(t, "libfuzzer"))))  # wall s; at nice 19 CPU <= wall
        before = len(glob.glob(os.path.join(arts, t + "-*")))
        mark = os.path.getsize(log) if os.path.exists(log) else 0
        rc, cpu = run_timed([os.path.join(FUZZ_BUILD, "bin", "fuzz_" + t), "-max_total_time=%d" % seg,
                             "-timeout=25", "-rss_limit_mb=2560", "-dict=" + dict_for(t), "-print_final_stats=1",
                             "-close_fd_mask=1", "-artifact_prefix=" + os.path.join(arts, t + "-"), scratch, start],
                            log)
        m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", open(log, errors="replace").read()[mark:])
        crashes = len(glob.glob(os.path.join(arts, t + "-*"))) - before
        ledger_add(t, "libfuzzer", cpu, int(m[-1]) if m else 0, crashes, "rc %d" % rc)
        if cpu < 1 and rc != 0:
            print("%s: libFuzzer rc %d with no CPU; stopping this target" % (t, rc), flush=True)
            break
    if os.listdir(scratch):
        merge(t, os.path.join(OUT, "corpus", t), [start, scratch], os.path.join(work, "merge.log"))
    shutil.rmtree(scratch, ignore_errors=True)


def afl(t, budget):
    work = os.path.join(OUT, "work", t)
    log = os.path.join(work, "afl.log")
    env = dict(os.environ, AFL_SKIP_CPUFREQ="1", AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES="1", AFL_NO_UI="1",
               AFL_NO_AFFINITY="1", AFL_FAST_CAL="1", AFL_NO_WARN_INSTABILITY="1",
               ASAN_OPTIONS="abort_on_error=1:symbolize=0:detect_leaks=0",
               UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:symbolize=0")
    n = 0
    while spent(t, "afl") < budget:
        seg = int(max(60, min(600, budget - spent(t, "afl"))))
        start = start_corpus(t)
        inp = os.path.join(work, "afl.in")
        shutil.rmtree(inp, ignore_errors=True)
        os.makedirs(inp)
        files = [os.path.join(start, f) for f in os.listdir(start)]
        files = [p for p in files if os.path.isfile(p) and os.path.getsize(p) < 1024 * 1024]
        if t == "node_core":  # ~0.4 s an input: calibrating 1,000 of them would be the run (as fuzz/ci.sh)
            files = sorted(files, key=os.path.getsize)[:150]
        for p in files:
            shutil.copy(p, inp)
        if not os.listdir(inp):
            open(os.path.join(inp, "empty"), "w").close()
        o = os.path.join(work, "afl.out.%d" % n)
        shutil.rmtree(o, ignore_errors=True)
        rc, cpu = run_timed(["afl-fuzz", "-i", inp, "-o", o, "-x", dict_for(t), "-m", "none", "-t", "25000",
                             "-V", str(seg), "--", os.path.join(AFL_BUILD, "bin", "fuzz_" + t)], log, env)
        st = {}
        try:
            for line in open(os.path.join(o, "default", "fuzzer_stats")):
                k, _, v = line.partition(":")
                st[k.strip()] = v.strip()
        except OSError:
            pass
        crashes = int(st.get("saved_crashes", 0)) + int(st.get("saved_hangs", 0))
        ledger_add(t, "afl", cpu, int(st.get("execs_done", 0)), crashes, "rc %d" % rc)
        if crashes:
            shutil.copytree(os.path.join(o, "default"), os.path.join(OUT, "artifacts", "afl-%s-%d" % (t, n)),
                            dirs_exist_ok=True)
        q = os.path.join(o, "default", "queue")
        if os.path.isdir(q):
            merge(t, os.path.join(OUT, "corpus", t), [start, q], os.path.join(work, "merge.log"))
        shutil.rmtree(o, ignore_errors=True)
        n += 1
        if cpu < 1 and rc != 0:
            print("%s: afl-fuzz rc %d with no CPU; stopping this target" % (t, rc), flush=True)
            break


# ---- commit and report ------------------------------------------------------------------

def commit(t):
    src = os.path.join(OUT, "corpus", t)
    dst = os.path.join(ROOT, "fuzz", "corpus", t)
    if not os.path.isdir(src):
        print("%s: no campaign corpus" % t)
        return
    before = len(os.listdir(dst))
    log = os.path.join(OUT, "work", t, "commit.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    mark = os.path.getsize(log) if os.path.exists(log) else 0
    rc, _ = run_timed([os.path.join(FUZZ_BUILD, "bin", "fuzz_" + t), "-merge=1", "-rss_limit_mb=2560",
                       "-timeout=25", dst, src], log)
    found = re.findall(r"MERGE-OUTER: .*", open(log, errors="replace").read()[mark:])
    print("%s: %d -> %d files; %s" % (t, before, len(os.listdir(dst)), found[-1] if found else "rc %d" % rc))


def report():
    led = ledger_load()
    print("| target | libFuzzer CPU-min | AFL++ CPU-min | total | libFuzzer execs | AFL++ execs | crashes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t in sorted(led):
        lf = led[t].get("libfuzzer", {"cpu_s": 0, "execs": 0, "crashes": 0})
        af = led[t].get("afl", {"cpu_s": 0, "execs": 0, "crashes": 0})
        print("| %s | %.1f | %.1f | %.1f | %s | %s | %d |" % (
            t, lf["cpu_s"] / 60, af["cpu_s"] / 60, (lf["cpu_s"] + af["cpu_s"]) / 60, format(lf["execs"], ","),
            format(af["execs"], ","), lf["crashes"] + af["crashes"]))


def main():
    global OUT, CGROUP
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(FUZZ_BUILD, "campaign"))
    ap.add_argument("--lf-min", type=float, default=12)
    ap.add_argument("--afl-min", type=float, default=8)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--commit", action="store_true", help="merge the campaign corpora into fuzz/corpus")
    ap.add_argument("--report", action="store_true", help="print the ledger")
    ap.add_argument("targets", nargs="*")
    a = ap.parse_args()
    OUT = os.path.abspath(a.out)
    os.makedirs(OUT, exist_ok=True)
    if a.report:
        report()
        return 0
    CGROUP = cgroup_base()
    if not CGROUP:
        print("campaign: no writable cgroup hierarchy; CPU from rusage (AFL++'s targets are missed)", flush=True)
    for t in a.targets:
        if not os.path.exists(os.path.join(FUZZ_BUILD, "bin", "fuzz_" + t)):
            sys.exit("campaign: no %s/bin/fuzz_%s (build the fuzz trees first)" % (FUZZ_BUILD, t))
    if a.commit:
        for t in a.targets:
            commit(t)
        return 0
    todo = list(a.targets)

    def worker():
        while True:
            with LOCK:
                if not todo:
                    return
                t = todo.pop(0)
            os.makedirs(os.path.join(OUT, "work", t), exist_ok=True)
            print("%s %s: libFuzzer" % (time.strftime("%H:%M:%S"), t), flush=True)
            libfuzzer(t, a.lf_min * 60)
            print("%s %s: AFL++" % (time.strftime("%H:%M:%S"), t), flush=True)
            afl(t, a.afl_min * 60)
            e = ledger_load().get(t, {})
            print("%s %s: done, CPU-min libFuzzer %.1f AFL++ %.1f" % (
                time.strftime("%H:%M:%S"), t, e.get("libfuzzer", {}).get("cpu_s", 0) / 60,
                e.get("afl", {}).get("cpu_s", 0) / 60), flush=True)

    threads = [threading.Thread(target=worker) for _ in range(a.parallel)]
    for x in threads:
        x.start()
    for x in threads:
        x.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
