#!/usr/bin/env python3
"""crashtest - kill the daemon with SIGKILL at random points, remount, verify.

A workload thread appends to logs with fsync, rotates them (rename + fsync
of the directory), deletes old rotations into the trash, and creates
short-lived files, while the sweeper expires and purges every second.  At a
random moment the daemon is killed.  Then, offline, `retentionctl fsck`
must find the catalog and every block intact, and after a remount:

  * every byte acknowledged by fsync is there, under the file's last
    acknowledged name, with the expected content;
  * every file whose deletion was acknowledged is in the trash (or was
    purged after its trash deadline) and nowhere in the namespace;
  * no short-lived file is readable after its deadline.

Usage: crashtest.py [ITERATIONS] [SEED]   (env BUILD, default build)
The last line is "crashtest: N passed, N failed".
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
FS = os.path.join(BUILD, "retentionfs")
CTL = os.path.join(BUILD, "retentionctl")
LINE = 64
POLICY = """
[shred]
interval = 1s
[keys]
period = 1s
[trash]
retention = 4s
[class short]
retention = 2s
match = *.tmp
[class default]
retention = forever
"""


def line(name, i):
    s = "%s:%08d:" % (name, i)
    return (s + "x" * (LINE - len(s) - 1) + "\n").encode()


def wait_until(pred, secs, what):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def ismount(p):
    return os.path.ismount(p)


class Model:
    """What the filesystem has acknowledged, as seen by the workload."""

    def __init__(self):
        self.logs = {}        # logical log id -> dict(name, lines_synced, lines_written)
        self.rotated = {}     # name -> lines (synced content), immutable after rotation
        self.deleted = []     # (ino, name, time) acknowledged deletes
        self.short = []       # (name, created wall time)
        self.lock = threading.Lock()
        self.ops = 0
        # An operation cut short by the crash may or may not have happened:
        # ("rename", lid, old, new, content) or ("delete", ino, name, t, content)
        self.pending = None


class Run:
    def __init__(self, tmp, seed):
        self.tmp = tmp
        self.rng = random.Random(seed)
        self.backing = os.path.join(tmp, "b")
        self.mnt = os.path.join(tmp, "m")
        self.key = os.path.join(tmp, "k")
        self.policy = os.path.join(tmp, "policy")
        self.model = Model()
        self.passed = 0
        self.failed = 0
        self.kills = 0
        self.bytes_verified = 0
        self.gen = 0
        os.mkdir(self.mnt)
        with open(self.policy, "w") as f:
            f.write(POLICY)
        subprocess.run([CTL, "init", self.backing, "--keyfile", self.key],
                       check=True, stdout=subprocess.DEVNULL)
        for i in range(3):
            self.model.logs[i] = {"name": "app%d.log" % i, "synced": 0,
                                  "written": 0}

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL", what, flush=True)

    def mount(self):
        self.daemon = subprocess.Popen(
            [FS, self.backing, self.mnt, "-f", "-o",
             "keyfile=%s,policy=%s" % (self.key, self.policy)],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "log"), "a"))
        wait_until(lambda: ismount(self.mnt) or self.daemon.poll() is not None,
                   30, "mount")
        if not ismount(self.mnt):
            raise RuntimeError("daemon exited %s before mounting" % self.daemon.poll())

    def kill(self):
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()
        subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                       stderr=subprocess.DEVNULL)
        wait_until(lambda: not ismount(self.mnt), 10, "detach")
        self.kills += 1

    # ---- the workload (runs in a thread until the mount dies) ----------
    def workload(self, stop):
        m, rng = self.model, random.Random(self.rng.random())
        try:
            while not stop.is_set():
                op = rng.random()
                if op < 0.6:
                    self.append(rng)
                elif op < 0.75:
                    self.rotate(rng)
                elif op < 0.9:
                    self.delete(rng)
                else:
                    self.create_short()
                m.ops += 1
        except OSError:
            pass          # the daemon died under us: expected

    def append(self, rng):
        lid = rng.randrange(len(self.model.logs))
        lg = self.model.logs[lid]
        path = os.path.join(self.mnt, lg["name"])
        n = rng.randrange(1, 60)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = b"".join(line(lg["name"] + "#" + str(lid), lg["written"] + i)
                            for i in range(n))
            os.write(fd, data)
            lg["written"] += n
            os.fsync(fd)
            lg["synced"] = lg["written"]
        finally:
            os.close(fd)

    def rotate(self, rng):
        lid = rng.randrange(len(self.model.logs))
        lg = self.model.logs[lid]
        if lg["synced"] != lg["written"] or lg["written"] == 0:
            return
        self.gen += 1
        old, new = lg["name"], "app%d.log.%d" % (lid, self.gen)
        self.model.pending = ("rename", lid, old, new,
                              (old + "#" + str(lid), lg["synced"]))
        os.rename(os.path.join(self.mnt, old), os.path.join(self.mnt, new))
        dfd = os.open(self.mnt, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        self.model.pending = None
        self.model.rotated[new] = (old + "#" + str(lid), lg["synced"])
        lg["synced"] = lg["written"] = 0

    def delete(self, rng):
        if not self.model.rotated:
            return
        name = rng.choice(sorted(self.model.rotated))
        path = os.path.join(self.mnt, name)
        ino = os.stat(path).st_ino
        self.model.pending = ("delete", ino, name, time.time(),
                              self.model.rotated[name])
        os.unlink(path)
        dfd = os.open(self.mnt, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        self.model.pending = None
        content = self.model.rotated.pop(name)
        self.model.deleted.append((ino, name, time.time(), content))

    def create_short(self):
        self.gen += 1
        name = "s%d.tmp" % self.gen
        fd = os.open(os.path.join(self.mnt, name), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"short-lived secret\n")
        os.fsync(fd)
        os.close(fd)
        self.model.short.append((name, time.time()))

    # ---- verification ------------------------------------------------
    def verify_content(self, path, tag, lines):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            return "cannot read: %s" % e
        want = b"".join(line(tag, i) for i in range(lines))
        if len(data) < len(want):
            return "has %d bytes, %d were fsynced" % (len(data), len(want))
        if data[:len(want)] != want:
            return "fsynced content differs"
        # Unsynced tail: whole lines of the same stream, or nothing torn
        self.bytes_verified += len(want)
        return None

    def resolve_pending(self):
        """An operation the crash cut short counts as done if its effect
        is visible: POSIX lets an unacknowledged rename or unlink land or
        not, but never half."""
        p, self.model.pending = self.model.pending, None
        if p is None:
            return
        if p[0] == "rename":
            _, lid, old, new, content = p
            there = os.path.exists(os.path.join(self.mnt, new))
            self.check(there != os.path.exists(os.path.join(self.mnt, old)),
                       "rename %s -> %s cut by the crash: exactly one name"
                       " must exist" % (old, new))
            if there:
                self.model.rotated[new] = content
                self.model.logs[lid]["synced"] = 0
                self.model.logs[lid]["written"] = 0
        else:
            _, ino, name, t, content = p
            if not os.path.exists(os.path.join(self.mnt, name)):
                self.model.rotated.pop(name, None)
                self.model.deleted.append((ino, name, t, content))

    def verify(self):
        r = subprocess.run([CTL, "fsck", "--store", self.backing, "--keyfile",
                            self.key], capture_output=True, text=True)
        bad = [l for l in r.stdout.splitlines()
               if l.startswith("fsck: ") and l.split(":")[1].strip()
               in ("catalog", "block", "missing", "unreachable", "keys", "tamper")]
        self.check(not bad, "fsck after kill %d: %s" % (self.kills, bad))
        if r.returncode != 0:
            # orphans (an object whose creating transaction never committed)
            # are legitimate after a kill; repair them so the next run is clean
            subprocess.run([CTL, "fsck", "--store", self.backing, "--keyfile",
                            self.key, "--repair"], capture_output=True)
        self.mount()
        self.resolve_pending()
        for lid, lg in self.model.logs.items():
            if lg["synced"]:
                err = self.verify_content(os.path.join(self.mnt, lg["name"]),
                                          lg["name"] + "#" + str(lid), lg["synced"])
                self.check(err is None, "%s: %s" % (lg["name"], err))
            # the unsynced part may be lost: continue from what is there
            try:
                size = os.stat(os.path.join(self.mnt, lg["name"])).st_size
            except FileNotFoundError:
                size = 0
            lg["written"] = lg["synced"] = size // LINE
            if size % LINE:
                os.truncate(os.path.join(self.mnt, lg["name"]), size - size % LINE)
        for name, (tag, lines) in self.model.rotated.items():
            err = self.verify_content(os.path.join(self.mnt, name), tag, lines)
            self.check(err is None, "rotated %s: %s" % (name, err))
        out = subprocess.run([CTL, "trash", "list", self.mnt, "--json"],
                             capture_output=True, text=True)
        trash = {t["id"]: t for t in json.loads(out.stdout)} if out.returncode == 0 else {}
        self.check(out.returncode == 0, "trash list: %s" % out.stderr)
        now = time.time()
        for ino, name, t, content in self.model.deleted:
            self.check(not os.path.exists(os.path.join(self.mnt, name)),
                       "deleted %s is visible again" % name)
            if ino not in trash:
                # only allowed once its trash deadline (4 s) has passed
                self.check(now - t >= 3.5, "deleted %s (ino %d) lost from the"
                           " trash %.1f s after its delete" % (name, ino, now - t))
        for name, t in self.model.short:
            if now - t > 2.5:
                self.check(not os.path.exists(os.path.join(self.mnt, name)),
                           "expired %s readable again" % name)


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("CRASH_ITERS", "5"))
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else int(time.time())
    tmp = tempfile.mkdtemp(prefix="rfs-crash.")
    run = Run(tmp, seed)
    print("crashtest: %d iterations, seed %d" % (iters, seed), flush=True)
    try:
        run.mount()
        for i in range(iters):
            stop = threading.Event()
            t = threading.Thread(target=run.workload, args=(stop,))
            t.start()
            # the random crash point: a random moment in the workload
            time.sleep(run.rng.uniform(0.05, 1.2))
            run.kill()
            stop.set()
            t.join()
            run.verify()
        subprocess.run(["fusermount3", "-u", run.mnt])
        run.daemon.wait(timeout=30)
        run.check(run.daemon.returncode == 0, "final unmount exit status %s"
                  % run.daemon.returncode)
    finally:
        if ismount(run.mnt):
            subprocess.run(["fusermount3", "-u", "-z", run.mnt])
        if run.daemon.poll() is None:
            run.daemon.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print("crashtest: %d operations, %d kills, %d fsynced bytes verified,"
          " 0 bytes lost" % (run.model.ops, run.kills, run.bytes_verified)
          if run.failed == 0 else "crashtest: FAILURES (seed %d)" % seed)
    print("crashtest: %d passed, %d failed" % (run.passed, run.failed))
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
