/*
 * stress.c - a bounded-time, multi-threaded workload against a mounted
 * retentionfs (or any directory, with STRESS_RAW=1), then a full check.
 *
 *   stress DIR          (DIR must be empty; d00..dNN are made in it)
 *
 * Threads, all running at once for STRESS_SECONDS:
 *
 *   writers    append lines to dNN/log (O_APPEND, one write(2) per line,
 *              fsync or fdatasync every few lines).  A writer keeps its
 *              descriptor across a rotation (as an application does until
 *              it is told to reopen), so lines keep landing in the rotated
 *              file for a while.  A line reads
 *                  "W<writer> S<seq> L<len> <payload> C<checksum>\n"
 *              and is fully determined by (writer, seq), so any torn,
 *              shifted, duplicated or foreign byte is caught;
 *   readers    read whole files (the live log or a rotation) in chunks of
 *              random size and validate every complete line (a trailing
 *              part-line must be a prefix of a valid line), list the
 *              directories, read the class xattr, fstat (the size never
 *              shrinks), fchmod and futimens the live log;
 *   renamers   rotate: rename log -> log.GEN (renameat2 NOREPLACE or plain
 *              rename), create a new log, sometimes fsync the directory;
 *   deleters   unlink the oldest rotations beyond STRESS_KEEP once no
 *              writer holds them open; their lines count as gone;
 *   tmp        create files named *.tmp (class tmp, retention 1 s) with a
 *              few lines: each must read back intact before its deadline
 *              and be gone (stat: ENOENT) once the deadline has passed;
 *              some names are reused at once after expiry; some
 *              descriptors are held and used (written, read back,
 *              truncated) past the deadline: they must keep working, and
 *              the sweeper meets open expired files.
 *
 * A watchdog aborts the run (SIGABRT, message naming every stuck thread and
 * what it is doing) when an operation takes longer than STRESS_WATCHDOG
 * seconds or nothing progresses for that long.
 *
 * An ENOTCONN or ECONNABORTED (the daemon died) ends the run at once and
 * fails it without the final checks.
 *
 * Afterwards, with every descriptor closed: no *.tmp file is visible (polled
 * with a timeout); each directory holds exactly the log and the rotations
 * not deleted; every line in them is valid; every line a writer wrote and
 * saw acknowledged (write returned the full count) whose file was not
 * deleted is present exactly once, in the file it was written to.  The last
 * line printed is "stress: N passed, N failed"; exit 0 when nothing failed,
 * 1 otherwise, 2 on a usage or setup error.
 *
 * Environment (defaults): STRESS_SECONDS (10), STRESS_WRITERS (4),
 * STRESS_READERS (2), STRESS_RENAMERS (2), STRESS_DELETERS (1), STRESS_TMP
 * (2), STRESS_DIRS (4), STRESS_KEEP (6 rotations kept), STRESS_ROTATE_KB
 * (128), STRESS_FSYNC_EVERY (32 lines), STRESS_TMP_RATE (40 files/s per tmp
 * thread), STRESS_TMP_RETENTION (1 s), STRESS_TMP_CLASS (tmp),
 * STRESS_EXPIRY_MARGIN_MS (300: the kernel may cache an entry this long past
 * the deadline, the time the daemon's reply was in flight), STRESS_WATCHDOG
 * (20 s), STRESS_SEED (time), STRESS_MAX_LINES (2000000 per writer; a
 * writer stops writing there), STRESS_RAW (0; 1: no expiry or xattr checks,
 * for a plain directory).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MAXSUB 64
#define MAXWRITERS 64
#define MAXTMP 16
#define TMPBASE 900             /* writer ids of tmp threads' lines */
#define HDRLEN 23               /* "W000 S0000000000 L0000 " */
#define TRAILLEN 11             /* " C00000000\n" */
#define MAXLINE 5600
#define UNACKED UINT32_MAX
#define NSEC 1000000000LL
#define MSEC 1000000LL
#define PENDMAX 512
#define HELDMAX 3

/* ---------------------------------------------------------------- config */

static const char *root;
static int nsec_run, nwriters, nreaders, nrenamers, ndeleters, ntmp, nsub;
static int keep, fsync_every, tmp_rate, tmp_ret, raw, wd_secs;
static long rot_bytes, margin_ms, max_lines;
static const char *tmp_class;
static uint64_t seed;

static long
envnum(const char *name, long def, long lo, long hi)
{
	const char *s = getenv(name);
	char *e;
	long v;

	if (s == NULL || *s == '\0')
		return def;
	v = strtol(s, &e, 10);
	if (*e != '\0' || v < lo || v > hi) {
		fprintf(stderr, "stress: %s=%s: want an integer in [%ld, %ld]\n",
		    name, s, lo, hi);
		exit(2);
	}
	return v;
}

/* ---------------------------------------------------------------- time */

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

/* The daemon's clock is CLOCK_REALTIME: expiry checks use it too. */
static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static void
nap_ns(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / NSEC), (long)(ns % NSEC) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---------------------------------------------------------------- lines */

static uint32_t
mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

static size_t
line_len(unsigned w, uint32_t seq)
{
	uint32_t h = mix(w * 0x9E3779B1U ^ mix(seq + 0x85EBCA77U));

	if (h % 50 == 0)        /* some lines straddle 4 KiB blocks */
		return 4000 + h / 50 % 1500;
	return 40 + h / 50 % 300;
}

static uint32_t
fnv(const char *p, size_t n)
{
	uint32_t h = 2166136261U;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619U;
	return h;
}

/* The line (writer W, sequence SEQ) into BUF (MAXLINE bytes); its length. */
static size_t
make_line(char *buf, unsigned w, uint32_t seq)
{
	size_t len = line_len(w, seq), i, end = len - TRAILLEN;
	uint32_t h = mix(w * 0x27d4eb2dU ^ seq);
	char tail[TRAILLEN + 1];

	snprintf(buf, HDRLEN + 1, "W%03u S%010" PRIu32 " L%04zu ", w, seq, len);
	for (i = HDRLEN; i < end; i++)
		buf[i] = (char)('!' + mix(h ^ (uint32_t)i * 0x9E3779B9U) % 94);
	snprintf(tail, sizeof(tail), " C%08" PRIx32 "\n", fnv(buf, end));
	memcpy(buf + end, tail, TRAILLEN);
	return len;
}

static int
digits(const char *p, int n, uint32_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Parses a header (at least HDRLEN bytes); 0 or -1. */
static int
parse_hdr(const char *p, unsigned *w, uint32_t *seq, uint32_t *len)
{
	uint32_t wv;

	if (p[0] != 'W' || p[4] != ' ' || p[5] != 'S' || p[16] != ' ' ||
	    p[17] != 'L' || p[22] != ' ' || digits(p + 1, 3, &wv) != 0 ||
	    digits(p + 6, 10, seq) != 0 || digits(p + 18, 4, len) != 0)
		return -1;
	if (!((wv < (unsigned)nwriters) ||
	    (wv >= TMPBASE && wv < TMPBASE + (unsigned)ntmp)))
		return -1;
	*w = wv;
	return 0;
}

/* Index of writer id W in per-file order arrays. */
static int
widx(unsigned w)
{
	return w < TMPBASE ? (int)w : nwriters + (int)(w - TMPBASE);
}

/*
 * Checks one line P[0..N) (N includes the '\n', or not when PARTIAL: a
 * trailing part-line that must be a prefix of a valid line).  Returns 0,
 * or -1 with WHY filled.
 */
static int
check_line(const char *p, size_t n, int partial, unsigned *w, uint32_t *seq,
    char *why, size_t whylen)
{
	char exp[MAXLINE];
	uint32_t len;
	size_t elen, i;

	if (n < HDRLEN) {
		if (partial) {
			/* Too short to parse: at least no newline or NUL. */
			for (i = 0; i < n; i++)
				if (p[i] == '\0') {
					snprintf(why, whylen, "NUL byte in a"
					    " trailing part-line");
					return -1;
				}
			return 0;
		}
		snprintf(why, whylen, "line of %zu bytes is too short", n);
		return -1;
	}
	if (parse_hdr(p, w, seq, &len) != 0) {
		snprintf(why, whylen, "unparsable header \"%.*s\"", HDRLEN, p);
		return -1;
	}
	elen = make_line(exp, *w, *seq);
	if (len != elen) {
		snprintf(why, whylen, "W%u S%" PRIu32 ": length field %" PRIu32
		    ", expected %zu", *w, *seq, len, elen);
		return -1;
	}
	if (partial ? n >= elen : n != elen) {
		snprintf(why, whylen, "W%u S%" PRIu32 ": %zu bytes up to the"
		    " newline, expected %zu (torn or merged line)", *w, *seq,
		    n, elen);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (p[i] != exp[i])
			break;
	if (i < n) {
		snprintf(why, whylen, "W%u S%" PRIu32 ": byte %zu is 0x%02x,"
		    " expected 0x%02x%s", *w, *seq, i, (unsigned char)p[i],
		    (unsigned char)exp[i], i >= elen - TRAILLEN ?
		    " (checksum)" : "");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- results */

enum {
	F_WRITE, F_SYNC, F_OPEN, F_ROTATE, F_DELETE, F_READ, F_READLINE,
	F_LIST, F_XATTR, F_TMP_IO, F_TMP_EARLY, F_TMP_LATE, F_TMP_HELD,
	F_TMP_REUSE, F_TMP_LEFT, F_FILES, F_GARBAGE, F_MISSING, F_DUP,
	F_MISPLACED, NF
};

static const char *const fname[NF] = {
	[F_WRITE] = "writes: every write(2) returned its full count",
	[F_SYNC] = "writers: every fsync, fdatasync and close succeeded",
	[F_OPEN] = "writers: the live log always opened",
	[F_ROTATE] = "renamers: every rotation (rename, create) succeeded",
	[F_DELETE] = "deleters: every unlink of a rotation succeeded",
	[F_READ] = "readers: opens and reads behaved (ENOENT only for"
	    " deleted rotations)",
	[F_READLINE] = "readers: every line read during the run was valid",
	[F_LIST] = "readers: listings and stats showed only expected names",
	[F_XATTR] = "class xattrs: log is default, *.tmp is the short class",
	[F_TMP_IO] = "tmp: create, write and read back before the deadline",
	[F_TMP_EARLY] = "tmp: no file vanished before its deadline",
	[F_TMP_LATE] = "tmp: every file hidden once its deadline passed",
	[F_TMP_HELD] = "tmp: descriptors held past the deadline kept working",
	[F_TMP_REUSE] = "tmp: an expired name could be reused at once",
	[F_TMP_LEFT] = "final: no *.tmp file visible after the run",
	[F_FILES] = "final: each directory holds exactly the log and the"
	    " rotations not deleted",
	[F_GARBAGE] = "final: no torn or garbage line in any file",
	[F_MISSING] = "final: no acknowledged line missing",
	[F_DUP] = "final: no line present twice",
	[F_MISPLACED] = "final: every line is in the file it was written to",
};

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t fcount[NF];
static int fskip[NF];
static char fmsg[NF][6][320];
static int stop_flag;
static int daemon_gone;         /* the mount lost its daemon (ENOTCONN) */

/* Records a failure.  Called right after the failing call: an errno of
 * ENOTCONN or ECONNABORTED means the daemon is gone, which ends the run. */
static void __attribute__((format(printf, 2, 3)))
failf(int cat, const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	if (e == ENOTCONN || e == ECONNABORTED) {
		__atomic_store_n(&daemon_gone, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_lock(&fail_mu);
	if (fcount[cat] < 6) {
		va_start(ap, fmt);
		vsnprintf(fmsg[cat][fcount[cat]], sizeof(fmsg[cat][0]), fmt, ap);
		va_end(ap);
	}
	fcount[cat]++;
	pthread_mutex_unlock(&fail_mu);
}

enum {
	C_LINES, C_BYTES, C_FSYNC, C_REOPEN, C_ROT, C_DIRSYNC, C_DEL,
	C_READS, C_READLINES, C_LISTS, C_TMP, C_TMP_EXPIRED, C_TMP_LATECHK,
	C_TMP_HELD, C_TMP_REUSED, C_XATTR, C_SETATTR, C_TRUNC, NC
};
static uint64_t counter[NC];

static void
count(int c, uint64_t n)
{
	__atomic_add_fetch(&counter[c], n, __ATOMIC_RELAXED);
}

static int
stopping(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE);
}

/* ---------------------------------------------------------------- threads */

struct thr {
	pthread_t tid;
	char name[24];
	int id;
	uint64_t rng;
	int64_t busy_since;         /* mono ns; 0 = not inside an operation */
	const char *op;
	int sub;
	uint32_t gen;
	uint64_t progress;
};

static struct thr *thrs;
static int nthrs;

static uint64_t
rnd(struct thr *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

static void
op_begin(struct thr *t, const char *op, int sub, uint32_t gen)
{
	__atomic_store_n(&t->op, op, __ATOMIC_RELAXED);
	__atomic_store_n(&t->sub, sub, __ATOMIC_RELAXED);
	__atomic_store_n(&t->gen, gen, __ATOMIC_RELAXED);
	__atomic_store_n(&t->busy_since, mono_ns(), __ATOMIC_RELEASE);
}

static void
op_end(struct thr *t)
{
	__atomic_store_n(&t->busy_since, 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&t->progress, 1, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- model */

enum { G_FREE, G_LIVE, G_ROT, G_DEL };

struct gen {
	uint8_t state;
	int refs;                   /* writer descriptors open on it */
};

struct sub {
	pthread_mutex_t mu;         /* everything below but bytes */
	char dir[PATH_MAX];
	uint32_t cur;               /* generation of "log" */
	struct gen *g;
	size_t cap;
	uint32_t oldest;            /* no G_ROT below this */
	uint32_t nrot;
	uint64_t bytes;             /* atomic: acknowledged since rotation */
	int64_t last_rot;           /* atomic */
};

static struct sub subs[MAXSUB];

/* Acknowledged lines of a writer: loc[seq] = sub << 24 | gen, or UNACKED. */
struct wlog {
	uint32_t *loc;
	uint32_t n, cap;
};
static struct wlog wlogs[MAXWRITERS];

static pthread_mutex_t cv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rot_cv, del_cv;

static void
wake(pthread_cond_t *cv)
{
	pthread_mutex_lock(&cv_mu);
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(&cv_mu);
}

/* Waits for CV at most MS milliseconds (a poll with a timeout). */
static void
wait_cv(pthread_cond_t *cv, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&cv_mu);
	if (!stopping())
		pthread_cond_timedwait(cv, &cv_mu, &ts);
	pthread_mutex_unlock(&cv_mu);
}

static void
gen_reserve(struct sub *s, uint32_t gen)
{
	if (gen < s->cap)
		return;
	size_t ncap = s->cap ? s->cap * 2 : 64;

	while (ncap <= gen)
		ncap *= 2;
	s->g = realloc(s->g, ncap * sizeof(*s->g));
	if (s->g == NULL) {
		perror("stress: realloc");
		exit(2);
	}
	memset(s->g + s->cap, 0, (ncap - s->cap) * sizeof(*s->g));
	s->cap = ncap;
}

static void
path_of(char *buf, size_t len, int s, uint32_t gen, int live)
{
	if (live)
		snprintf(buf, len, "%s/log", subs[s].dir);
	else
		snprintf(buf, len, "%s/log.%" PRIu32, subs[s].dir, gen);
}

/* ---------------------------------------------------------------- writers */

struct wfd {
	int fd;
	uint32_t gen;
};

static void
wclose(struct thr *t, int s, struct wfd *f)
{
	if (f->fd < 0)
		return;
	op_begin(t, "close (writer)", s, f->gen);
	if (close(f->fd) != 0)
		failf(F_SYNC, "%s: close of d%02d gen %" PRIu32 ": %s",
		    t->name, s, f->gen, strerror(errno));
	op_end(t);
	pthread_mutex_lock(&subs[s].mu);
	subs[s].g[f->gen].refs--;
	pthread_mutex_unlock(&subs[s].mu);
	f->fd = -1;
	wake(&del_cv);
}

/* Makes F a descriptor on the current log of S; -1 on failure. */
static int
wopen(struct thr *t, int s, struct wfd *f)
{
	struct sub *sb = &subs[s];
	struct wfd old = *f;
	char path[PATH_MAX];
	int fd;

	pthread_mutex_lock(&sb->mu);
	if (f->fd >= 0 && f->gen == sb->cur) {
		pthread_mutex_unlock(&sb->mu);
		return 0;
	}
	path_of(path, sizeof(path), s, sb->cur, 1);
	op_begin(t, "open log (writer)", s, sb->cur);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	op_end(t);
	if (fd < 0) {
		failf(F_OPEN, "%s: open %s: %s", t->name, path,
		    strerror(errno));
		pthread_mutex_unlock(&sb->mu);
		return -1;
	}
	f->fd = fd;
	f->gen = sb->cur;
	sb->g[f->gen].refs++;
	pthread_mutex_unlock(&sb->mu);
	count(C_REOPEN, 1);
	wclose(t, s, &old);
	return 0;
}

static void *
writer(void *arg)
{
	struct thr *t = arg;
	struct wlog *wl = &wlogs[t->id];
	struct wfd fds[MAXSUB];
	char line[MAXLINE];
	int s = 0, burst = 0, since_sync = 0;

	for (int i = 0; i < nsub; i++)
		fds[i].fd = -1;
	while (!stopping() && wl->n < (uint32_t)max_lines) {
		uint32_t seq = wl->n;
		size_t len;
		ssize_t n;

		if (burst-- <= 0) {        /* stay on one file for a while */
			s = (int)(rnd(t) % (uint64_t)nsub);
			burst = (int)(rnd(t) % 48);
		}
		if (wopen(t, s, &fds[s]) != 0) {
			nap_ns(10 * MSEC);    /* already failed; do not spin */
			continue;
		}
		if (wl->n == wl->cap) {
			wl->cap = wl->cap ? wl->cap * 2 : 4096;
			wl->loc = realloc(wl->loc, wl->cap * sizeof(*wl->loc));
			if (wl->loc == NULL) {
				perror("stress: realloc");
				exit(2);
			}
		}
		len = make_line(line, (unsigned)t->id, seq);
		op_begin(t, "write", s, fds[s].gen);
		n = write(fds[s].fd, line, len);
		op_end(t);
		if (n == (ssize_t)len) {
			wl->loc[seq] = (uint32_t)s << 24 | fds[s].gen;
			__atomic_add_fetch(&subs[s].bytes, len,
			    __ATOMIC_RELAXED);
			count(C_LINES, 1);
			count(C_BYTES, len);
		} else {
			wl->loc[seq] = UNACKED;
			failf(F_WRITE, "%s: write of %zu bytes to d%02d gen %"
			    PRIu32 ": %s", t->name, len, s, fds[s].gen,
			    n < 0 ? strerror(errno) : "short write");
		}
		wl->n = seq + 1;
		if (__atomic_load_n(&subs[s].bytes, __ATOMIC_RELAXED) >=
		    (uint64_t)rot_bytes)
			wake(&rot_cv);
		if (++since_sync >= fsync_every) {
			int ds = (int)(rnd(t) % 3 == 0);

			since_sync = 0;
			op_begin(t, ds ? "fdatasync" : "fsync", s, fds[s].gen);
			if ((ds ? fdatasync(fds[s].fd) : fsync(fds[s].fd)) != 0)
				failf(F_SYNC, "%s: %s d%02d gen %" PRIu32 ": %s",
				    t->name, ds ? "fdatasync" : "fsync", s,
				    fds[s].gen, strerror(errno));
			op_end(t);
			count(C_FSYNC, 1);
		}
	}
	for (int i = 0; i < nsub; i++) {
		if (fds[i].fd < 0)
			continue;
		op_begin(t, "final fsync", i, fds[i].gen);
		if (fsync(fds[i].fd) != 0)
			failf(F_SYNC, "%s: final fsync d%02d: %s", t->name, i,
			    strerror(errno));
		op_end(t);
		wclose(t, i, &fds[i]);
	}
	return NULL;
}

/* ---------------------------------------------------------------- renamers */

static int
rotation_due(struct sub *sb, int64_t now)
{
	uint64_t b = __atomic_load_n(&sb->bytes, __ATOMIC_RELAXED);

	return b >= (uint64_t)rot_bytes || (b > 0 && now -
	    __atomic_load_n(&sb->last_rot, __ATOMIC_RELAXED) >= 250 * MSEC);
}

static void
rotate(struct thr *t, int s)
{
	struct sub *sb = &subs[s];
	char from[PATH_MAX], to[PATH_MAX];
	uint32_t g;
	int fd, rc, noreplace = (int)(rnd(t) % 2);

	pthread_mutex_lock(&sb->mu);
	if (!rotation_due(sb, mono_ns())) {
		pthread_mutex_unlock(&sb->mu);
		return;
	}
	g = sb->cur;
	path_of(from, sizeof(from), s, g, 1);
	path_of(to, sizeof(to), s, g, 0);
	op_begin(t, noreplace ? "renameat2 NOREPLACE log" : "rename log", s, g);
	rc = noreplace ? renameat2(AT_FDCWD, from, AT_FDCWD, to,
	    RENAME_NOREPLACE) : rename(from, to);
	op_end(t);
	if (rc != 0) {
		failf(F_ROTATE, "%s: rename %s -> %s: %s", t->name, from, to,
		    strerror(errno));
		pthread_mutex_unlock(&sb->mu);
		__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
		return;
	}
	op_begin(t, "create log", s, g + 1);
	fd = open(from, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	op_end(t);
	if (fd < 0) {
		failf(F_ROTATE, "%s: create %s: %s", t->name, from,
		    strerror(errno));
		pthread_mutex_unlock(&sb->mu);
		__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
		return;
	}
	op_begin(t, "close new log", s, g + 1);
	if (close(fd) != 0)
		failf(F_ROTATE, "%s: close new %s: %s", t->name, from,
		    strerror(errno));
	op_end(t);
	if (rnd(t) % 4 == 0) {
		op_begin(t, "fsync directory", s, g);
		fd = open(sb->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) != 0)
			failf(F_ROTATE, "%s: fsync directory %s: %s", t->name,
			    sb->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		op_end(t);
		count(C_DIRSYNC, 1);
	}
	gen_reserve(sb, g + 1);
	sb->g[g].state = G_ROT;
	sb->g[g + 1].state = G_LIVE;
	sb->cur = g + 1;
	sb->nrot++;
	__atomic_store_n(&sb->bytes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sb->last_rot, mono_ns(), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sb->mu);
	count(C_ROT, 1);
	wake(&del_cv);
}

static void *
renamer(void *arg)
{
	struct thr *t = arg;

	while (!stopping()) {
		int start = (int)(rnd(t) % (uint64_t)nsub);

		wait_cv(&rot_cv, 20);
		for (int k = 0; k < nsub && !stopping(); k++) {
			int s = (start + k) % nsub;

			if (rotation_due(&subs[s], mono_ns()))
				rotate(t, s);
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- deleters */

static void
delete_some(struct thr *t, int s)
{
	struct sub *sb = &subs[s];
	char path[PATH_MAX];
	uint32_t g;

	pthread_mutex_lock(&sb->mu);
	while (sb->nrot > (uint32_t)keep && !stopping()) {
		while (sb->oldest < sb->cur && sb->g[sb->oldest].state != G_ROT)
			sb->oldest++;
		g = sb->oldest;
		if (g >= sb->cur || sb->g[g].refs > 0)
			break;           /* a writer still appends to it */
		sb->g[g].state = G_DEL;
		sb->nrot--;
		pthread_mutex_unlock(&sb->mu);
		path_of(path, sizeof(path), s, g, 0);
		op_begin(t, "unlink rotation", s, g);
		if (unlink(path) != 0)
			failf(F_DELETE, "%s: unlink %s: %s", t->name, path,
			    strerror(errno));
		op_end(t);
		count(C_DEL, 1);
		pthread_mutex_lock(&sb->mu);
	}
	pthread_mutex_unlock(&sb->mu);
}

static void *
deleter(void *arg)
{
	struct thr *t = arg;

	while (!stopping()) {
		wait_cv(&del_cv, 20);
		for (int s = 0; s < nsub && !stopping(); s++)
			delete_some(t, s);
	}
	return NULL;
}

/* ---------------------------------------------------------------- readers */

/* Reads FD to EOF in chunks of random size into *BUF; the length or -1. */
static ssize_t
read_all(struct thr *t, int fd, char **buf, size_t *cap)
{
	size_t len = 0;

	for (;;) {
		size_t want = (size_t)(rnd(t) % 4 == 0 ? 1 + rnd(t) % 200 :
		    1 + rnd(t) % 65536);
		ssize_t n;

		if (len + want > *cap) {
			*cap = (len + want) * 2;
			if ((*buf = realloc(*buf, *cap)) == NULL) {
				perror("stress: realloc");
				exit(2);
			}
		}
		n = read(fd, *buf + len, want);
		if (n < 0)
			return -1;
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
	}
}

/*
 * Validates BUF[0..LEN) line by line.  Per writer, sequence numbers must
 * rise (each writer's lines land in order).  PARTIAL_OK allows a trailing
 * part-line (a write in progress).  Calls ON_LINE for each valid line.
 * Failures go to category CAT, prefixed with WHAT.  Returns the number of
 * bad lines.
 */
static uint64_t
validate(const char *buf, size_t len, int partial_ok, int cat,
    const char *what, void (*on_line)(void *, unsigned, uint32_t), void *ctx)
{
	int64_t last[MAXWRITERS + MAXTMP];
	size_t off = 0;
	uint64_t bad = 0, nlines = 0;
	char why[200];

	for (int i = 0; i < MAXWRITERS + MAXTMP; i++)
		last[i] = -1;
	while (off < len) {
		const char *p = buf + off, *nl = memchr(p, '\n', len - off);
		size_t n = nl ? (size_t)(nl - p) + 1 : len - off;
		unsigned w;
		uint32_t seq;

		if (nl == NULL && !partial_ok) {
			failf(cat, "%s: offset %zu: %zu bytes without a final"
			    " newline", what, off, n);
			bad++;
			break;
		}
		if (check_line(p, n, nl == NULL, &w, &seq, why,
		    sizeof(why)) != 0) {
			failf(cat, "%s: offset %zu: %s", what, off, why);
			bad++;
		} else if (nl != NULL) {
			nlines++;
			if ((int64_t)seq <= last[widx(w)]) {
				failf(cat, "%s: offset %zu: W%u S%" PRIu32
				    " after S%" PRId64 " (out of order or"
				    " duplicated)", what, off, w, seq,
				    last[widx(w)]);
				bad++;
			}
			last[widx(w)] = seq;
			if (on_line != NULL)
				on_line(ctx, w, seq);
		}
		off += n;
	}
	if (cat == F_READLINE)
		count(C_READLINES, nlines);
	return bad;
}

static int
tmp_name(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".tmp") == 0;
}

/* Lists S: only ".", "..", "log", "log.N" and *.tmp may appear. */
static void
list_dir(struct thr *t, int s)
{
	struct sub *sb = &subs[s];
	struct dirent *de;
	DIR *d;

	op_begin(t, "opendir", s, 0);
	d = opendir(sb->dir);
	op_end(t);
	if (d == NULL) {
		failf(F_LIST, "%s: opendir %s: %s", t->name, sb->dir,
		    strerror(errno));
		return;
	}
	for (;;) {
		uint32_t g;
		char *e;

		op_begin(t, "readdir", s, 0);
		errno = 0;
		de = readdir(d);
		op_end(t);
		if (de == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "log") == 0 || tmp_name(de->d_name))
			continue;
		if (strncmp(de->d_name, "log.", 4) == 0) {
			g = (uint32_t)strtoul(de->d_name + 4, &e, 10);
			if (*e == '\0' && e != de->d_name + 4) {
				pthread_mutex_lock(&sb->mu);
				int ok = g < sb->cur &&
				    sb->g[g].state != G_FREE;
				pthread_mutex_unlock(&sb->mu);
				if (ok)
					continue;
			}
		}
		failf(F_LIST, "%s: %s lists unexpected \"%s\"", t->name,
		    sb->dir, de->d_name);
	}
	if (errno != 0)
		failf(F_LIST, "%s: readdir %s: %s", t->name, sb->dir,
		    strerror(errno));
	closedir(d);
	count(C_LISTS, 1);
}

static void
check_class(struct thr *t, int fd, const char *path, const char *want)
{
	char v[64];
	ssize_t n;

	if (raw)
		return;
	op_begin(t, "fgetxattr user.retention.class", -1, 0);
	n = fgetxattr(fd, "user.retention.class", v, sizeof(v) - 1);
	op_end(t);
	if (n < 0) {
		failf(F_XATTR, "%s: fgetxattr %s: %s", t->name, path,
		    strerror(errno));
		return;
	}
	v[n] = '\0';
	if (strcmp(v, want) != 0)
		failf(F_XATTR, "%s: %s has class \"%s\", expected \"%s\"",
		    t->name, path, v, want);
	count(C_XATTR, 1);
}

static void *
reader(void *arg)
{
	struct thr *t = arg;
	char *buf = NULL, path[PATH_MAX], what[PATH_MAX + 64];
	size_t cap = 0;

	while (!stopping()) {
		int s = (int)(rnd(t) % (uint64_t)nsub), fd, live = 1;
		struct sub *sb = &subs[s];
		uint32_t g;
		ssize_t n;

		if (rnd(t) % 16 == 0) {
			list_dir(t, s);
			continue;
		}
		pthread_mutex_lock(&sb->mu);
		g = sb->cur;
		if (sb->nrot > 0 && rnd(t) % 2) {
			/* A random generation that is (or was) a rotation. */
			uint32_t span = sb->cur - sb->oldest;

			g = sb->oldest + (uint32_t)(rnd(t) % span);
			live = 0;
		}
		path_of(path, sizeof(path), s, g, live);
		if (live) {
			/* Under the lock: "log" always exists then. */
			op_begin(t, "open log (reader)", s, g);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			op_end(t);
			pthread_mutex_unlock(&sb->mu);
		} else {
			pthread_mutex_unlock(&sb->mu);
			op_begin(t, "open rotation (reader)", s, g);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			op_end(t);
		}
		if (fd < 0) {
			int e = errno, deleted = 0;

			if (!live) {
				pthread_mutex_lock(&sb->mu);
				deleted = sb->g[g].state == G_DEL;
				pthread_mutex_unlock(&sb->mu);
			}
			if (!(e == ENOENT && deleted))
				failf(F_READ, "%s: open %s: %s", t->name, path,
				    strerror(e));
			continue;
		}
		if (live && rnd(t) % 8 == 0)
			check_class(t, fd, path, "default");
		op_begin(t, "read", s, g);
		n = read_all(t, fd, &buf, &cap);
		op_end(t);
		if (n >= 0 && rnd(t) % 4 == 0) {
			struct stat st;

			/* The size only grows while the file is in use. */
			op_begin(t, "fstat", s, g);
			if (fstat(fd, &st) != 0 || st.st_size < n)
				failf(F_READ, "%s: fstat %s: %s (read %zd)",
				    t->name, path, errno ? strerror(errno) :
				    "size shrank", n);
			op_end(t);
		}
		if (n >= 0 && live && rnd(t) % 8 == 0) {
			/* Attribute changes (setattr) under the workload. */
			op_begin(t, "fchmod, futimens", s, g);
			if (fchmod(fd, rnd(t) % 2 ? 0644 : 0664) != 0 ||
			    futimens(fd, NULL) != 0)
				failf(F_READ, "%s: fchmod/futimens %s: %s",
				    t->name, path, strerror(errno));
			op_end(t);
			count(C_SETATTR, 1);
		}
		if (n < 0) {
			failf(F_READ, "%s: read %s: %s", t->name, path,
			    strerror(errno));
		} else {
			snprintf(what, sizeof(what), "%s: %s (%zd bytes)",
			    t->name, path, n);
			validate(buf, (size_t)n, 1, F_READLINE, what, NULL,
			    NULL);
			count(C_READS, 1);
		}
		op_begin(t, "close (reader)", s, g);
		close(fd);
		op_end(t);
	}
	free(buf);
	return NULL;
}

/* ---------------------------------------------------------------- tmp */

struct held {
	int fd;
	char path[PATH_MAX];
	int64_t t1;                 /* wall clock after the create returned */
	char *data;
	size_t len, cap;
	uint32_t nextseq;
};

struct pend {
	char path[PATH_MAX];
	int64_t t1;
	int reused;
};

struct tmpst {
	struct thr *t;
	unsigned w;                 /* writer id in the lines */
	uint32_t seq;
	uint64_t n;
	struct held held[HELDMAX];
	int nheld;
	struct pend *pend;          /* ring */
	int phead, pcount;
	char *buf;
	size_t cap;
};

static int64_t
ret_ns(void)
{
	return (int64_t)tmp_ret * NSEC;
}

/* Appends a fresh line to DATA; writes it to FD.  0 or -1 (errno). */
static int
tmp_write_line(struct tmpst *ts, int fd, char **data, size_t *len,
    size_t *cap)
{
	char line[MAXLINE];
	size_t n = make_line(line, ts->w, ts->seq++);
	ssize_t w;

	if (*len + n > *cap) {
		*cap = (*len + n) * 2;
		if ((*data = realloc(*data, *cap)) == NULL) {
			perror("stress: realloc");
			exit(2);
		}
	}
	memcpy(*data + *len, line, n);
	op_begin(ts->t, "write tmp", -1, 0);
	w = write(fd, line, n);
	op_end(ts->t);
	if (w != (ssize_t)n) {
		if (w >= 0)
			errno = EIO;
		return -1;
	}
	*len += n;
	return 0;
}

/* Reads FD from offset 0 and compares with WANT. */
static int
tmp_read_back(struct tmpst *ts, int fd, const char *want, size_t wantlen,
    char *why, size_t whylen)
{
	ssize_t n;

	op_begin(ts->t, "read tmp", -1, 0);
	if (lseek(fd, 0, SEEK_SET) != 0) {
		op_end(ts->t);
		snprintf(why, whylen, "lseek: %s", strerror(errno));
		return -1;
	}
	n = read_all(ts->t, fd, &ts->buf, &ts->cap);
	op_end(ts->t);
	if (n < 0) {
		snprintf(why, whylen, "read: %s", strerror(errno));
		return -1;
	}
	if ((size_t)n != wantlen || memcmp(ts->buf, want, wantlen) != 0) {
		snprintf(why, whylen, "read back %zd bytes, wrote %zu%s", n,
		    wantlen, (size_t)n == wantlen ? " (contents differ)" : "");
		return -1;
	}
	return 0;
}

static void
pend_push(struct tmpst *ts, const char *path, int64_t t1, int reused)
{
	struct pend *p;

	if (raw || ts->pcount == PENDMAX)
		return;
	p = &ts->pend[(ts->phead + ts->pcount) % PENDMAX];
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->t1 = t1;
	p->reused = reused;
	ts->pcount++;
}

/*
 * Creates PATH (O_EXCL), writes a few lines, checks the class, then either
 * keeps the descriptor (held) or closes it and reads the file back by name.
 */
static void
tmp_create(struct tmpst *ts, const char *path, int reuse)
{
	struct thr *t = ts->t;
	char *data = NULL, why[200];
	size_t len = 0, cap = 0;
	int64_t t0, t1;
	int fd, nl = 1 + (int)(rnd(t) % 3);

	t0 = wall_ns();
	op_begin(t, reuse ? "create tmp (reused name)" : "create tmp", -1, 0);
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
	op_end(t);
	t1 = wall_ns();
	if (fd < 0) {
		failf(reuse ? F_TMP_REUSE : F_TMP_IO, "%s: create %s: %s",
		    t->name, path, strerror(errno));
		return;
	}
	count(C_TMP, 1);
	if (reuse)
		count(C_TMP_REUSED, 1);
	if (!raw && rnd(t) % 4 == 0 && wall_ns() < t0 + ret_ns() / 2)
		check_class(t, fd, path, tmp_class);
	for (int i = 0; i < nl; i++)
		if (tmp_write_line(ts, fd, &data, &len, &cap) != 0) {
			failf(F_TMP_IO, "%s: write %s: %s", t->name, path,
			    strerror(errno));
			break;
		}
	if (!raw && ts->nheld < HELDMAX && rnd(t) % 6 == 0) {
		struct held *h = &ts->held[ts->nheld++];

		h->fd = fd;
		snprintf(h->path, sizeof(h->path), "%s", path);
		h->t1 = t1;
		h->data = data;
		h->len = len;
		h->cap = cap;
		count(C_TMP_HELD, 1);
		pend_push(ts, path, t1, 0);
		return;
	}
	op_begin(t, "close tmp", -1, 0);
	if (close(fd) != 0)
		failf(F_TMP_IO, "%s: close %s: %s", t->name, path,
		    strerror(errno));
	op_end(t);
	op_begin(t, "reopen tmp", -1, 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	op_end(t);
	if (fd < 0) {
		int e = errno;
		int64_t now = wall_ns();

		/* The daemon said "gone" at or before NOW; its deadline is at
		 * least t0 + retention.  Before that it is a failure. */
		if (raw || e != ENOENT || now < t0 + ret_ns())
			failf(e == ENOENT ? F_TMP_EARLY : F_TMP_IO,
			    "%s: reopen %s %.3f s after create: %s", t->name,
			    path, (double)(now - t0) / NSEC, strerror(e));
		else
			count(C_TMP_EXPIRED, 1);
	} else {
		if (tmp_read_back(ts, fd, data, len, why, sizeof(why)) != 0)
			failf(F_TMP_IO, "%s: %s: %s", t->name, path, why);
		close(fd);
	}
	free(data);
	pend_push(ts, path, t1, 0);
}

/* Held descriptors: keep using them; close them well past the deadline. */
static void
tmp_service_held(struct tmpst *ts)
{
	char why[200];

	for (int i = 0; i < ts->nheld; i++) {
		struct held *h = &ts->held[i];
		int64_t age = wall_ns() - h->t1;

		if (rnd(ts->t) % 8 == 0) {
			/* Truncation of an open (maybe expired) file. */
			op_begin(ts->t, "ftruncate held tmp", -1, 0);
			if (ftruncate(h->fd, 0) != 0 ||
			    lseek(h->fd, 0, SEEK_SET) != 0)
				failf(F_TMP_HELD, "%s: truncate held %s %.3f s"
				    " after create: %s", ts->t->name, h->path,
				    (double)age / NSEC, strerror(errno));
			else
				h->len = 0;
			op_end(ts->t);
			count(C_TRUNC, 1);
		}
		if (tmp_write_line(ts, h->fd, &h->data, &h->len, &h->cap) != 0)
			failf(F_TMP_HELD, "%s: write to held %s %.3f s after"
			    " create: %s", ts->t->name, h->path,
			    (double)age / NSEC, strerror(errno));
		else if (tmp_read_back(ts, h->fd, h->data, h->len, why,
		    sizeof(why)) != 0)
			failf(F_TMP_HELD, "%s: held %s %.3f s after create: %s",
			    ts->t->name, h->path, (double)age / NSEC, why);
		if (age > ret_ns() * 3 / 2 + 200 * MSEC || stopping()) {
			if (rnd(ts->t) % 2 == 0) {
				op_begin(ts->t, "fsync held tmp", -1, 0);
				if (fsync(h->fd) != 0)
					failf(F_TMP_HELD, "%s: fsync held %s:"
					    " %s", ts->t->name, h->path,
					    strerror(errno));
				op_end(ts->t);
			}
			op_begin(ts->t, "close held tmp", -1, 0);
			if (close(h->fd) != 0)
				failf(F_TMP_HELD, "%s: close held %s: %s",
				    ts->t->name, h->path, strerror(errno));
			op_end(ts->t);
			free(h->data);
			*h = ts->held[--ts->nheld];
			i--;
		}
	}
}

/* Files past deadline + margin must be gone; some names are reused. */
static void
tmp_check_pending(struct tmpst *ts)
{
	struct stat sb;

	while (ts->pcount > 0) {
		struct pend *p = &ts->pend[ts->phead];
		int64_t now = wall_ns(), late;
		char path[PATH_MAX];
		int rc, e;

		if (now < p->t1 + ret_ns() + margin_ms * MSEC)
			break;
		late = now - (p->t1 + ret_ns());
		op_begin(ts->t, "stat expired tmp", -1, 0);
		rc = stat(p->path, &sb);
		e = errno;
		op_end(ts->t);
		snprintf(path, sizeof(path), "%s", p->path);
		ts->phead = (ts->phead + 1) % PENDMAX;
		ts->pcount--;
		count(C_TMP_LATECHK, 1);
		if (rc == 0) {
			failf(F_TMP_LATE, "%s: %s still visible %.3f s after its"
			    " deadline", ts->t->name, path,
			    (double)late / NSEC);
			continue;
		}
		if (e != ENOENT) {
			failf(F_TMP_LATE, "%s: stat %s: %s", ts->t->name, path,
			    strerror(e));
			continue;
		}
		if (rnd(ts->t) % 4 == 0 && !stopping())
			tmp_create(ts, path, 1);
	}
}

static void *
tmpworker(void *arg)
{
	struct thr *t = arg;
	struct tmpst ts = { .t = t };
	int64_t start = mono_ns(), next;
	char path[PATH_MAX];

	ts.w = TMPBASE + (unsigned)(t->id);
	ts.pend = calloc(PENDMAX, sizeof(*ts.pend));
	if (ts.pend == NULL) {
		perror("stress: calloc");
		exit(2);
	}
	while (!stopping()) {
		int s = (int)(rnd(t) % (uint64_t)nsub);

		tmp_service_held(&ts);
		tmp_check_pending(&ts);
		snprintf(path, sizeof(path), "%s/t%02d-%06" PRIu64 ".tmp",
		    subs[s].dir, t->id, ts.n++);
		tmp_create(&ts, path, 0);
		/* Pace creation at tmp_rate files per second: the sweeper
		 * shreds every one of them. */
		next = start + (int64_t)ts.n * NSEC / tmp_rate;
		while (!stopping() && mono_ns() < next)
			nap_ns(next - mono_ns() > 20 * MSEC ? 20 * MSEC :
			    next - mono_ns());
	}
	tmp_service_held(&ts);      /* stopping: closes every held fd */
	free(ts.pend);
	free(ts.buf);
	return NULL;
}

/* ---------------------------------------------------------------- watchdog */

static int wd_stop;

static void
wd_report(const char *why)
{
	int64_t now = mono_ns();

	fprintf(stdout, "stress: WATCHDOG: %s; aborting\n", why);
	for (int i = 0; i < nthrs; i++) {
		int64_t bs = __atomic_load_n(&thrs[i].busy_since,
		    __ATOMIC_ACQUIRE);
		const char *op = __atomic_load_n(&thrs[i].op,
		    __ATOMIC_RELAXED);

		fprintf(stdout, "stress:   %-12s %s", thrs[i].name,
		    bs ? "in " : "idle, last ");
		fprintf(stdout, "%s (d%02d gen %" PRIu32 ")", op ? op : "-",
		    __atomic_load_n(&thrs[i].sub, __ATOMIC_RELAXED),
		    __atomic_load_n(&thrs[i].gen, __ATOMIC_RELAXED));
		if (bs)
			fprintf(stdout, " for %.1f s", (double)(now - bs) / NSEC);
		fprintf(stdout, ", %" PRIu64 " ops done\n",
		    __atomic_load_n(&thrs[i].progress, __ATOMIC_RELAXED));
	}
	fprintf(stdout, "stress: 0 passed, 1 failed\n");
	fflush(stdout);
	fflush(stderr);
	abort();
}

static void *
watchdog(void *arg)
{
	int64_t last_change = mono_ns(), limit = (int64_t)wd_secs * NSEC;
	uint64_t last_total = 0;
	char why[128];

	while (!__atomic_load_n(&wd_stop, __ATOMIC_ACQUIRE)) {
		int64_t now;
		uint64_t total = 0;

		nap_ns(200 * MSEC);
		now = mono_ns();
		for (int i = 0; i < nthrs; i++) {
			int64_t bs = __atomic_load_n(&thrs[i].busy_since,
			    __ATOMIC_ACQUIRE);

			total += __atomic_load_n(&thrs[i].progress,
			    __ATOMIC_RELAXED);
			if (bs != 0 && now - bs > limit) {
				snprintf(why, sizeof(why), "%s has been in one"
				    " operation for over %d s (deadlock?)",
				    thrs[i].name, wd_secs);
				wd_report(why);
			}
		}
		if (total != last_total) {
			last_total = total;
			last_change = now;
		} else if (now - last_change > limit) {
			snprintf(why, sizeof(why), "no progress for %d s",
			    wd_secs);
			wd_report(why);
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- final */

struct fctx {
	int s;
	uint32_t gen;
	const char *path;
	uint8_t **seen;
};

static void
final_line(void *arg, unsigned w, uint32_t seq)
{
	struct fctx *f = arg;
	uint32_t loc;

	if (w >= TMPBASE) {
		failf(F_MISPLACED, "%s: line W%u S%" PRIu32 " of a tmp file",
		    f->path, w, seq);
		return;
	}
	if (seq >= wlogs[w].n) {
		failf(F_MISPLACED, "%s: W%u S%" PRIu32 " was never written"
		    " (writer stopped at %" PRIu32 ")", f->path, w, seq,
		    wlogs[w].n);
		return;
	}
	loc = wlogs[w].loc[seq];
	if (loc != UNACKED && loc != ((uint32_t)f->s << 24 | f->gen))
		failf(F_MISPLACED, "%s: W%u S%" PRIu32 " was written to d%02u"
		    " gen %u", f->path, w, seq, loc >> 24, loc & 0xffffff);
	if (f->seen[w][seq] < 255)
		f->seen[w][seq]++;
}

/* Polls until no *.tmp is listed in any directory, TIMEOUT_NS at most. */
static void
final_tmp(struct thr *t)
{
	int64_t end = mono_ns() + ret_ns() + 15 * NSEC;
	char left[PATH_MAX + 32] = "";
	int n;

	for (;;) {
		n = 0;
		for (int s = 0; s < nsub; s++) {
			DIR *d;
			struct dirent *de;

			op_begin(t, "final listing (tmp)", s, 0);
			d = opendir(subs[s].dir);
			while (d != NULL && (de = readdir(d)) != NULL)
				if (tmp_name(de->d_name) && n++ == 0)
					snprintf(left, sizeof(left), "%s/%s",
					    subs[s].dir, de->d_name);
			if (d != NULL)
				closedir(d);
			op_end(t);
		}
		if (n == 0 || mono_ns() > end)
			break;
		nap_ns(50 * MSEC);
	}
	if (n > 0)
		failf(F_TMP_LEFT, "%d *.tmp files still listed %.0f s after the"
		    " run, e.g. %s", n, (double)(ret_ns() + 15 * NSEC) / NSEC,
		    left);
}

static void
final_check(struct thr *t)
{
	uint8_t *seen[MAXWRITERS];
	char path[PATH_MAX], *buf = NULL;
	size_t cap = 0;
	uint64_t present = 0, gone = 0, unacked = 0, files = 0, fbytes = 0;

	for (int w = 0; w < nwriters; w++) {
		seen[w] = calloc(wlogs[w].n + 1, 1);
		if (seen[w] == NULL) {
			perror("stress: calloc");
			exit(2);
		}
	}
	for (int s = 0; s < nsub; s++) {
		struct sub *sb = &subs[s];
		uint8_t *listed = calloc(sb->cur + 1, 1);
		struct dirent *de;
		DIR *d;

		op_begin(t, "final listing", s, 0);
		d = opendir(sb->dir);
		op_end(t);
		if (d == NULL || listed == NULL) {
			failf(F_FILES, "opendir %s: %s", sb->dir,
			    strerror(errno));
			free(listed);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			uint32_t g;
			char *e;

			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0 ||
			    tmp_name(de->d_name))
				continue;
			if (strcmp(de->d_name, "log") == 0) {
				listed[sb->cur]++;
				continue;
			}
			if (strncmp(de->d_name, "log.", 4) == 0) {
				g = (uint32_t)strtoul(de->d_name + 4, &e, 10);
				if (*e == '\0' && e != de->d_name + 4 &&
				    g < sb->cur) {
					if (sb->g[g].state == G_ROT) {
						listed[g]++;
						continue;
					}
					failf(F_FILES, "%s/%s: listed, but it"
					    " was deleted", sb->dir,
					    de->d_name);
					continue;
				}
			}
			failf(F_FILES, "%s: unexpected entry \"%s\"", sb->dir,
			    de->d_name);
		}
		closedir(d);
		for (uint32_t g = 0; g <= sb->cur; g++) {
			struct fctx f = { .s = s, .gen = g, .path = path,
			    .seen = seen };
			int live = g == sb->cur, fd;
			ssize_t n;

			if (!live && sb->g[g].state != G_ROT)
				continue;
			path_of(path, sizeof(path), s, g, live);
			if (listed[g] != 1)
				failf(F_FILES, "%s: listed %d times, expected"
				    " once", path, listed[g]);
			op_begin(t, "final read", s, g);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			n = fd < 0 ? -1 : read_all(t, fd, &buf, &cap);
			op_end(t);
			if (n < 0) {
				failf(F_FILES, "%s: %s", path, strerror(errno));
				if (fd >= 0)
					close(fd);
				continue;
			}
			close(fd);
			files++;
			fbytes += (uint64_t)n;
			validate(buf, (size_t)n, 0, F_GARBAGE, path,
			    final_line, &f);
		}
		free(listed);
	}
	for (int w = 0; w < nwriters; w++) {
		for (uint32_t seq = 0; seq < wlogs[w].n; seq++) {
			uint32_t loc = wlogs[w].loc[seq];
			int s, st;
			uint32_t g;

			if (loc == UNACKED) {
				unacked++;
				continue;
			}
			s = (int)(loc >> 24);
			g = loc & 0xffffff;
			st = g == subs[s].cur ? G_LIVE : subs[s].g[g].state;
			if (st == G_DEL) {
				gone++;
				continue;
			}
			if (seen[w][seq] == 1) {
				present++;
				continue;
			}
			path_of(path, sizeof(path), s, g, st == G_LIVE);
			failf(seen[w][seq] == 0 ? F_MISSING : F_DUP,
			    "W%d S%" PRIu32 " (written to %s): found %d times",
			    w, seq, path, seen[w][seq]);
		}
		free(seen[w]);
	}
	free(buf);
	printf("stress: final: %" PRIu64 " files (%" PRIu64 " bytes) read;"
	    " %" PRIu64 " acknowledged lines present, %" PRIu64 " gone with"
	    " deleted rotations, %" PRIu64 " unacknowledged\n", files, fbytes,
	    present, gone, unacked);
}

/* ---------------------------------------------------------------- main */

static struct thr *
add_thr(const char *kind, int id)
{
	struct thr *t = &thrs[nthrs++];

	snprintf(t->name, sizeof(t->name), "%s%d", kind, id);
	t->id = id;
	t->rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)nthrs * 7919 + 1;
	return t;
}

static void
start(struct thr *t, void *(*fn)(void *))
{
	int rc = pthread_create(&t->tid, NULL, fn, t);

	if (rc != 0) {
		fprintf(stderr, "stress: pthread_create: %s\n", strerror(rc));
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	pthread_condattr_t ca;
	pthread_t wd;
	struct thr *mainthr;
	int64_t t_start, t_end;
	int passed = 0, failed = 0, i;

	if (argc != 2) {
		fprintf(stderr, "usage: stress DIR   (see the comment at the"
		    " top of tests/stress/stress.c)\n");
		return 2;
	}
	root = argv[1];
	nsec_run = (int)envnum("STRESS_SECONDS", 10, 1, 86400);
	nwriters = (int)envnum("STRESS_WRITERS", 4, 1, MAXWRITERS);
	nreaders = (int)envnum("STRESS_READERS", 2, 0, 64);
	nrenamers = (int)envnum("STRESS_RENAMERS", 2, 0, 64);
	ndeleters = (int)envnum("STRESS_DELETERS", 1, 0, 64);
	ntmp = (int)envnum("STRESS_TMP", 2, 0, MAXTMP);
	nsub = (int)envnum("STRESS_DIRS", 4, 1, MAXSUB);
	keep = (int)envnum("STRESS_KEEP", 6, 0, 1000);
	rot_bytes = envnum("STRESS_ROTATE_KB", 128, 1, 1 << 20) * 1024;
	fsync_every = (int)envnum("STRESS_FSYNC_EVERY", 32, 1, 1 << 20);
	tmp_rate = (int)envnum("STRESS_TMP_RATE", 40, 1, 100000);
	tmp_ret = (int)envnum("STRESS_TMP_RETENTION", 1, 1, 3600);
	margin_ms = envnum("STRESS_EXPIRY_MARGIN_MS", 300, 0, 600000);
	wd_secs = (int)envnum("STRESS_WATCHDOG", 20, 1, 3600);
	max_lines = envnum("STRESS_MAX_LINES", 2000000, 1, 16000000);
	raw = (int)envnum("STRESS_RAW", 0, 0, 1);
	seed = (uint64_t)envnum("STRESS_SEED", (long)(time(NULL) % 1000000),
	    0, LONG_MAX);
	tmp_class = getenv("STRESS_TMP_CLASS") ? getenv("STRESS_TMP_CLASS") :
	    "tmp";
	setvbuf(stdout, NULL, _IOLBF, 0);

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rot_cv, &ca);
	pthread_cond_init(&del_cv, &ca);

	for (i = 0; i < nsub; i++) {
		struct sub *sb = &subs[i];
		char path[PATH_MAX];
		int fd;

		pthread_mutex_init(&sb->mu, NULL);
		snprintf(sb->dir, sizeof(sb->dir), "%s/d%02d", root, i);
		if (mkdir(sb->dir, 0755) != 0) {
			fprintf(stderr, "stress: mkdir %s: %s\n", sb->dir,
			    strerror(errno));
			return 2;
		}
		path_of(path, sizeof(path), i, 0, 1);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd) != 0) {
			fprintf(stderr, "stress: create %s: %s\n", path,
			    strerror(errno));
			return 2;
		}
		gen_reserve(sb, 1);
		sb->g[0].state = G_LIVE;
		sb->last_rot = mono_ns();
	}

	printf("stress: %s for %d s: %d writers, %d readers, %d renamers, %d"
	    " deleters, %d tmp threads, %d directories, seed %" PRIu64 "%s\n",
	    root, nsec_run, nwriters, nreaders, nrenamers, ndeleters, ntmp,
	    nsub, seed, raw ? " (raw: no expiry checks)" : "");
	nthrs = 0;
	thrs = calloc((size_t)(nwriters + nreaders + nrenamers + ndeleters +
	    ntmp + 1), sizeof(*thrs));
	if (thrs == NULL)
		return 2;
	mainthr = add_thr("main", 0);
	for (i = 0; i < nwriters; i++)
		add_thr("writer", i);
	for (i = 0; i < nreaders; i++)
		add_thr("reader", i);
	for (i = 0; i < nrenamers; i++)
		add_thr("renamer", i);
	for (i = 0; i < ndeleters; i++)
		add_thr("deleter", i);
	for (i = 0; i < ntmp; i++)
		add_thr("tmp", i);
	if (pthread_create(&wd, NULL, watchdog, NULL) != 0)
		return 2;
	t_start = mono_ns();
	for (i = 1; i < nthrs; i++) {
		const char *n = thrs[i].name;

		start(&thrs[i], n[0] == 'w' ? writer : n[0] == 'd' ? deleter :
		    n[0] == 't' ? tmpworker : n[2] == 'a' ? reader : renamer);
	}
	t_end = t_start + (int64_t)nsec_run * NSEC;
	while (!stopping() && mono_ns() < t_end)
		nap_ns(t_end - mono_ns() > 100 * MSEC ? 100 * MSEC :
		    t_end - mono_ns());
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
	wake(&rot_cv);
	wake(&del_cv);
	for (i = 1; i < nthrs; i++) {
		op_begin(mainthr, "joining threads", -1, 0);
		pthread_join(thrs[i].tid, NULL);
		op_end(mainthr);
	}
	printf("stress: ran %.1f s: %" PRIu64 " lines (%" PRIu64 " bytes)"
	    " written, %" PRIu64 " fsyncs, %" PRIu64 " reopens, %" PRIu64
	    " rotations (%" PRIu64 " directory fsyncs), %" PRIu64
	    " rotations deleted\n", (double)(mono_ns() - t_start) / NSEC,
	    counter[C_LINES], counter[C_BYTES], counter[C_FSYNC],
	    counter[C_REOPEN], counter[C_ROT], counter[C_DIRSYNC],
	    counter[C_DEL]);
	printf("stress: readers: %" PRIu64 " whole-file reads, %" PRIu64
	    " lines validated, %" PRIu64 " listings, %" PRIu64
	    " class xattrs, %" PRIu64 " chmod+utimens\n", counter[C_READS],
	    counter[C_READLINES], counter[C_LISTS], counter[C_XATTR],
	    counter[C_SETATTR]);
	printf("stress: tmp: %" PRIu64 " files created (%" PRIu64 " names"
	    " reused), %" PRIu64 " held past the deadline (%" PRIu64
	    " truncations), %" PRIu64 " checked hidden after it, %" PRIu64
	    " already gone at read-back\n", counter[C_TMP],
	    counter[C_TMP_REUSED], counter[C_TMP_HELD], counter[C_TRUNC],
	    counter[C_TMP_LATECHK], counter[C_TMP_EXPIRED]);

	if (raw) {
		fskip[F_TMP_EARLY] = fskip[F_TMP_LATE] = fskip[F_TMP_HELD] = 1;
		fskip[F_TMP_REUSE] = fskip[F_TMP_LEFT] = fskip[F_XATTR] = 1;
	}
	if (ntmp == 0)
		for (i = F_XATTR + 1; i <= F_TMP_LEFT; i++)
			fskip[i] = 1;
	if (__atomic_load_n(&daemon_gone, __ATOMIC_ACQUIRE)) {
		/* Nothing left to verify: say so once, not per line. */
		for (i = F_TMP_LEFT; i < NF; i++)
			fskip[i] = 1;
		printf("FAIL the mount stayed connected: ENOTCONN or"
		    " ECONNABORTED, the daemon went away during the run\n");
		failed++;
	} else {
		if (!raw && ntmp > 0)
			final_tmp(mainthr);
		final_check(mainthr);
	}
	__atomic_store_n(&wd_stop, 1, __ATOMIC_RELEASE);
	pthread_join(wd, NULL);

	for (i = 0; i < NF; i++) {
		if (fskip[i])
			continue;
		if (fcount[i] == 0) {
			printf("ok   %s\n", fname[i]);
			passed++;
			continue;
		}
		printf("FAIL %s: %" PRIu64 " times\n", fname[i], fcount[i]);
		for (uint64_t k = 0; k < fcount[i] && k < 6; k++)
			printf("     | %s\n", fmsg[i][k]);
		failed++;
	}
	printf("ok   no deadlock: every thread finished, no operation took"
	    " over %d s\n", wd_secs);
	passed++;
	printf("stress: %d passed, %d failed\n", passed, failed);
	for (i = 0; i < nwriters; i++)
		free(wlogs[i].loc);
	for (i = 0; i < nsub; i++)
		free(subs[i].g);
	free(thrs);
	return failed ? 1 : 0;
}
