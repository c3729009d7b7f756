#!/usr/bin/env python3
"""Files integration tests (spec §11): seeders on 127.0.0.1 and `cairn fetch`.

    fetch_test.py CASE --bin DIR [--cairn PATH] [--cairnd PATH]

DIR holds files_cairn (fetch.c and manifest.c on their own) and files_peer (a
seeder on the node's share.c that can corrupt a chunk). --cairn runs the real
client instead of files_cairn; --cairnd is needed by the cairnd_* cases.
Every process a case starts is killed when it ends; every wait is bounded.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

KIB, MIB = 1024, 1024 * 1024


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Env:
    def __init__(self, args):
        self.bin = args.bin
        self.cairn = args.cairn or os.path.join(args.bin, "files_cairn")
        self.cairnd = args.cairnd
        self.dir = tempfile.mkdtemp(prefix="cairn-files-")
        self.procs = []
        self.n = 0

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def make_file(self, rel, size, seed=None):
        """A file of `size` pseudo-random bytes under share/ (or `rel`)."""
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            left = size
            while left:
                n = min(left, 4 * MIB)
                f.write(os.urandom(n))
                left -= n
        return p

    def manifest(self, path):
        out = subprocess.run([self.cairn, "manifest", path, "--json"], capture_output=True,
                             timeout=120, check=True)
        return json.loads(out.stdout)

    def peer(self, share, *extra, plaintext=True):
        """Starts files_peer on `share`; returns (process, "127.0.0.1:PORT")."""
        self.n += 1
        cache = self.path("cache%d" % self.n)
        cmd = [os.path.join(self.bin, "files_peer"), "--share", share, "--cache", cache]
        cmd += (["--plaintext"] if plaintext else []) + list(extra)
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        line = p.stdout.readline().decode()
        check(line.startswith("listening "), "files_peer did not start: %r" % line)
        return p, line.split()[1]

    def free_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def node(self, share, *extra, plaintext=True, chunk_log2=None):
        """Starts cairnd --share; returns (process, "127.0.0.1:PORT")."""
        self.n += 1
        port = self.free_port()
        addr = "127.0.0.1:%d" % port
        log = open(self.path("node%d.log" % self.n), "wb")
        cmd = [self.cairnd, "--datadir", self.path("node%d" % self.n), "--listen", addr,
               "--share", share] + (["--plaintext"] if plaintext else []) + list(extra)
        penv = dict(os.environ)
        if chunk_log2:
            penv["CAIRN_SHARE_CHUNK_LOG2"] = str(chunk_log2)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=penv)
        self.procs.append(p)
        end = time.time() + 60
        while time.time() < end:
            check(p.poll() is None, "cairnd exited at start; see %s" % log.name)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return p, addr
            except OSError:
                time.sleep(0.1)
        raise Fail("cairnd did not listen on %s" % addr)

    def fetch(self, file_id, peers, out, *extra, timeout=120, plaintext=True):
        cmd = [self.cairn, "fetch", file_id, "-o", out, "--json", "--timeout", "20"]
        for a in peers:
            cmd += ["--from", a]
        cmd += (["--plaintext"] if plaintext else []) + list(extra)
        return subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def fetch_bg(self, file_id, peers, out, *extra, plaintext=True):
        cmd = [self.cairn, "fetch", file_id, "-o", out, "--json", "--timeout", "20"]
        for a in peers:
            cmd += ["--from", a]
        cmd += (["--plaintext"] if plaintext else []) + list(extra)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def ok_json(r):
    if r.returncode != 0:
        raise Fail("fetch exited %d: %s %s" % (r.returncode, r.stdout.decode()[-2000:],
                                               r.stderr.decode()[-2000:]))
    return json.loads(r.stdout)


def same(a, b):
    with open(a, "rb") as x, open(b, "rb") as y:
        while True:
            p, q = x.read(MIB), y.read(MIB)
            if p != q:
                return False
            if not p:
                return True


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.02)
    raise Fail("timed out waiting for " + what)


# ---- cases ------------------------------------------------------------------------


def seeders_case(env, count, plaintext):
    src = env.make_file("share/movie.bin", 48 * MIB)
    m = env.manifest(src)
    addrs = [env.peer(env.path("share"), plaintext=plaintext)[1] for _ in range(count)]
    out = env.path("out.bin")
    s = ok_json(env.fetch(m["file_id"], addrs, out, plaintext=plaintext))
    check(same(src, out), "the fetched file differs")
    check(s["size"] == 48 * MIB and s["chunks"] == m["chunks"], "summary: %r" % s)
    used = [p for p in s["peers"] if p["chunks"] > 0]
    check(len(used) == count, "not every seeder served chunks: %r" % s["peers"])
    # seeders within their budget never answer BUSY or RATE_LIMITED
    check(all(p["refused"] == 0 for p in s["peers"]), "refusals: %r" % s["peers"])
    check(not os.path.exists(out + ".cairn-part"), "partial file left")


def case_two_seeders(env):
    """A 48 MiB file fetched from two seeders at once (TLS) is byte-exact."""
    seeders_case(env, 2, plaintext=False)


def case_three_seeders(env):
    """... and from three (plaintext)."""
    seeders_case(env, 3, plaintext=True)


def case_seeder_killed(env):
    """A seeder SIGKILLed mid-transfer costs only its in-flight chunks [DL-8]."""
    src = env.make_file("share/f.bin", 48 * MIB)
    m = env.manifest(src)
    peers = [env.peer(env.path("share"), "--rate", str(12 * MIB)) for _ in range(3)]
    out = env.path("out.bin")
    f = env.fetch_bg(m["file_id"], [a for _, a in peers], out)
    time.sleep(1.0)
    check(f.poll() is None, "fetch ended too early to test anything")
    peers[0][0].send_signal(signal.SIGKILL)
    stdout, stderr = f.communicate(timeout=120)
    r = subprocess.CompletedProcess(f.args, f.returncode, stdout, stderr)
    s = ok_json(r)
    check(same(src, out), "the fetched file differs")
    dead = [p for p in s["peers"] if p["addr"] == peers[0][1]][0]
    check(dead["status"] in ("closed", "failed"), "killed seeder: %r" % dead)
    check(dead["chunks"] > 0, "the killed seeder served nothing before it died")


def case_corrupt_chunk(env):
    """A seeder that corrupts a chunk is dropped with INVALID_CHUNK and reported;
    the file completes from the peers it pointed us to."""
    src = env.make_file("share/f.bin", 8 * MIB)
    m = env.manifest(src)
    good = [env.peer(env.path("share"))[1] for _ in range(2)]
    # the only --from: it corrupts chunk 0, the first it is asked for, after
    # answering GetPeers with the two honest seeders
    _, bad = env.peer(env.path("share"), "--corrupt", "0", "--advertise", good[0],
                      "--advertise", good[1])
    out = env.path("out.bin")
    r = env.fetch(m["file_id"], [bad], out)
    s = ok_json(r)
    check(same(src, out), "the fetched file differs")
    check(s["bad_peers"] == [bad], "bad peer not reported: %r" % s)
    b = [p for p in s["peers"] if p["addr"] == bad][0]
    check(b["status"] == "bad_chunk", "bad peer status: %r" % b)
    check(b"INVALID_CHUNK" in r.stderr, "no INVALID_CHUNK report on stderr")
    check(sum(1 for p in s["peers"] if p["discovered"] and p["chunks"] > 0) == 2,
          "discovered peers did not serve: %r" % s["peers"])


def case_resume(env):
    """A downloader SIGKILLed mid-transfer resumes from what it verified, and a
    kept chunk damaged on disk is verified again and fetched again [DL-10, DL-11]."""
    src = env.make_file("share/f.bin", 48 * MIB)
    m = env.manifest(src)
    _, slow = env.peer(env.path("share"), "--rate", str(16 * MIB))
    os.mkdir(env.path("out"))
    out = env.path("out")
    f = env.fetch_bg(m["file_id"], [slow], out)
    part = os.path.join(out, m["file_id"] + ".cairn-part")
    state = os.path.join(out, m["file_id"] + ".cairn-state")
    wait_for(lambda: os.path.exists(state), 30, "the state file")
    time.sleep(1.2)
    check(f.poll() is None, "fetch ended before it was killed")
    f.send_signal(signal.SIGKILL)
    f.wait(timeout=10)
    check(not os.path.exists(os.path.join(out, "f.bin")), "[DL-2] final name before completion")
    # damage the first kept chunk on disk
    with open(part, "r+b") as p:
        p.seek(100)
        b = p.read(1)
        p.seek(100)
        p.write(bytes([b[0] ^ 1]))
    _, fast = env.peer(env.path("share"))
    s = ok_json(env.fetch(m["file_id"], [fast], out))
    final = os.path.join(out, "f.bin")
    check(same(src, final), "the resumed file differs")
    check(0 < s["resumed_chunks"] < m["chunks"], "resumed_chunks: %r" % s["resumed_chunks"])
    check(s["downloaded_bytes"] < 48 * MIB, "everything was fetched again")
    check(not os.path.exists(part) and not os.path.exists(state), "partial files left")


def case_stalled_seeder(env):
    """A seeder that stops answering keeps its session (it answers Pings) but
    loses its chunks to the others after its stall timeout [DL-9]."""
    src = env.make_file("share/f.bin", 16 * MIB)
    m = env.manifest(src)
    _, stuck = env.peer(env.path("share"), "--stall-after", "3")
    _, good = env.peer(env.path("share"), "--rate", str(4 * MIB))
    out = env.path("out.bin")
    t = time.time()
    s = ok_json(env.fetch(m["file_id"], [stuck, good], out))
    check(same(src, out), "the fetched file differs")
    st = [p for p in s["peers"] if p["addr"] == stuck][0]
    check(st["chunks"] == 3, "the stalled seeder: %r" % st)
    check(time.time() - t < 30, "took too long")


def case_edge_sizes(env):
    """0, 1, chunk size - 1, chunk size and chunk size + 1 bytes."""
    cs = 16 * KIB
    files = {"zero": 0, "one": 1, "cs-1": cs - 1, "cs": cs, "cs+1": cs + 1}
    srcs = {n: env.make_file("share/" + n, s) for n, s in files.items()}
    addrs = [env.peer(env.path("share"))[1] for _ in range(2)]
    os.mkdir(env.path("out"))
    for name, size in files.items():
        m = env.manifest(srcs[name])
        check(m["size"] == size and m["chunk_size"] == cs, "manifest %r" % m)
        check(m["chunks"] == (size + cs - 1) // cs, "chunk count %r" % m)
        s = ok_json(env.fetch(m["file_id"], addrs, env.path("out")))
        got = env.path("out", name)
        check(s["path"].endswith("/" + name), "path %r" % s["path"])
        check(same(srcs[name], got), "%s differs" % name)


def case_path_safety(env):
    """Network names never leave the output directory; no overwrite without
    --force; no writing through a planted link [FILE-22..26]."""
    src = env.make_file("share/-rf", 40000)  # a name tools would read as an option
    m = env.manifest(src)
    _, a = env.peer(env.path("share"))
    out = env.path("out")
    os.mkdir(out)
    s = ok_json(env.fetch(m["file_id"], [a], out))
    check(s["name"] == m["file_id"], "[FILE-25] unsafe name kept: %r" % s["name"])
    check(same(src, os.path.join(out, m["file_id"])), "differs")
    # an existing file is not replaced without --force
    r = env.fetch(m["file_id"], [a], out)
    check(r.returncode == 1 and b"exists" in r.stderr, "[FILE-26] overwrote: %r" % r.stderr)
    r = env.fetch(m["file_id"], [a], os.path.join(out, "named.bin"))
    ok_json(r)
    with open(os.path.join(out, "named.bin"), "wb") as f:
        f.write(b"precious")
    r = env.fetch(m["file_id"], [a], os.path.join(out, "named.bin"))
    check(r.returncode == 1, "[FILE-26] overwrote an existing file")
    ok_json(env.fetch(m["file_id"], [a], os.path.join(out, "named.bin"), "--force"))
    check(same(src, os.path.join(out, "named.bin")), "--force did not replace")
    # a link planted where the partial file goes is not followed [FILE-24]
    victim = env.path("victim")
    with open(victim, "wb") as f:
        f.write(b"untouched")
    out2 = env.path("out2")
    os.mkdir(out2)
    os.symlink(victim, os.path.join(out2, m["file_id"] + ".cairn-part"))
    r = env.fetch(m["file_id"], [a], out2)
    check(r.returncode != 0, "fetch wrote through a link")
    with open(victim, "rb") as f:
        check(f.read() == b"untouched", "[FILE-24] the link target was written")


def case_not_found(env):
    """No peer has the file: exit 3 and nothing written."""
    env.make_file("share/x", 100)
    _, a = env.peer(env.path("share"))
    out = env.path("out")
    os.mkdir(out)
    r = env.fetch("ab" * 32, [a], out)
    check(r.returncode == 3, "exit %d: %r" % (r.returncode, r.stderr))
    check(json.loads(r.stdout)["error"]["exit"] == 3, "json error %r" % r.stdout)
    check(os.listdir(out) == [], "files written: %r" % os.listdir(out))


def case_partial_seeders(env):
    """Seeders that each hold part of the file (have ranges) complete it together
    [DL-3, DL-6]."""
    src = env.make_file("share/f.bin", 4 * MIB)  # 256 chunks of 16 KiB
    m = env.manifest(src)
    n = m["chunks"]
    _, a = env.peer(env.path("share"), "--have", "0-%d" % (n // 2 + 10))
    _, b = env.peer(env.path("share"), "--have", "%d-%d" % (n // 2 - 10, n))
    out = env.path("out.bin")
    s = ok_json(env.fetch(m["file_id"], [a, b], out))
    check(same(src, out), "differs")
    check(all(p["chunks"] > 0 for p in s["peers"]), "%r" % s["peers"])


def cairnd_case(env, count):
    check(env.cairnd and os.access(env.cairnd, os.X_OK), "cairnd not given")
    src = env.make_file("share/data.bin", 48 * MIB)
    m = env.manifest(src)
    addrs = [env.node(env.path("share"))[1] for _ in range(count)]
    out = env.path("out.bin")
    s = ok_json(env.fetch(m["file_id"], addrs, out, "--no-discover"))
    check(same(src, out), "the fetched file differs")
    check(all(p["chunks"] > 0 for p in s["peers"]), "a node served nothing: %r" % s["peers"])


def case_cairnd_two(env):
    """The issue's bar: a 48 MiB file shared by two cairnd nodes, fetched from both
    at once, byte-exact."""
    cairnd_case(env, 2)


def case_cairnd_three(env):
    """... three nodes, over TLS."""
    check(env.cairnd and os.access(env.cairnd, os.X_OK), "cairnd not given")
    src = env.make_file("share/data.bin", 48 * MIB)
    m = env.manifest(src)
    addrs = [env.node(env.path("share"), plaintext=False)[1] for _ in range(3)]
    out = env.path("out.bin")
    s = ok_json(env.fetch(m["file_id"], addrs, out, "--no-discover", plaintext=False))
    check(same(src, out), "the fetched file differs")
    check(all(p["chunks"] > 0 for p in s["peers"]), "a node served nothing: %r" % s["peers"])


def case_cairnd_discover(env):
    """Only one node given: the peer it points to (GetPeers) serves too."""
    check(env.cairnd and os.access(env.cairnd, os.X_OK), "cairnd not given")
    src = env.make_file("share/data.bin", 48 * MIB)
    m = env.manifest(src)
    _, a = env.node(env.path("share"))
    _, b = env.node(env.path("share"), "--peer", a)
    log = env.path("node%d.log" % env.n)
    wait_for(lambda: b"ready" in open(log, "rb").read(), 30, "the two nodes to connect")
    out = env.path("out.bin")
    s = ok_json(env.fetch(m["file_id"], [b], out))
    check(same(src, out), "the fetched file differs")
    found = [p for p in s["peers"] if p["addr"] == a]
    check(found and found[0]["discovered"] and found[0]["chunks"] > 0,
          "the node was not discovered or served nothing: %r" % s["peers"])


def case_cairnd_big_chunks(env):
    """1 MiB chunks (forced): a pipelined window of them fills a node's output
    queue past its high-water mark, and the requests it held back meanwhile
    must be answered once the queue drains (plaintext and TLS)."""
    check(env.cairnd and os.access(env.cairnd, os.X_OK), "cairnd not given")
    src = env.make_file("share/big.bin", 48 * MIB)
    for plaintext in (True, False):
        _, a = env.node(env.path("share"), plaintext=plaintext, chunk_log2=20)
        r = subprocess.run([env.cairn, "manifest", src, "--json", "--chunk-log2", "20"],
                           capture_output=True, timeout=120, check=True)
        m = json.loads(r.stdout)
        out = env.path("out%d.bin" % plaintext)
        ok_json(env.fetch(m["file_id"], [a], out, "--no-discover", plaintext=plaintext))
        check(same(src, out), "the fetched file differs")


def case_cairnd_kill(env):
    """A cairnd seeder SIGKILLed mid-transfer: the others finish the file."""
    check(env.cairnd and os.access(env.cairnd, os.X_OK), "cairnd not given")
    src = env.make_file("share/data.bin", 48 * MIB)
    m = env.manifest(src)
    nodes = [env.node(env.path("share")) for _ in range(2)]
    # a rate-limited files_peer keeps the transfer going long enough to kill
    # a node in the middle of it
    _, slow = env.peer(env.path("share"), "--rate", str(8 * MIB))
    out = env.path("out.bin")
    f = env.fetch_bg(m["file_id"], [a for _, a in nodes] + [slow], out, "--no-discover")
    wait_for(lambda: os.path.exists(os.path.join(env.dir, m["file_id"] + ".cairn-state")), 30,
             "the download to start")
    nodes[0][0].send_signal(signal.SIGKILL)
    stdout, stderr = f.communicate(timeout=120)
    s = ok_json(subprocess.CompletedProcess(f.args, f.returncode, stdout, stderr))
    check(same(src, out), "the fetched file differs")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cairn")
    ap.add_argument("--cairnd")
    args = ap.parse_args()
    env = Env(args)
    t = time.time()
    try:
        CASES[args.case](env)
    except Fail as e:
        print("FAIL %s: %s" % (args.case, e))
        print("0 passed, 1 failed")
        return 1
    finally:
        env.close()
    print("ok %s (%.1f s)" % (args.case, time.time() - t))
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
