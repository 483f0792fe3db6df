/*
 * appendbench - concurrent O_APPEND log writers, and a verifier.
 *
 *   appendbench write  FILE NPROC LINE BYTES [FSYNC_EVERY]
 *   appendbench verify FILE NPROC LINE BYTES
 *
 * write forks NPROC writers.  Each opens FILE with
 * O_WRONLY|O_APPEND|O_CREAT, waits at a barrier, then writes its share of
 * BYTES as lines of exactly LINE bytes, one write(2) per line, with an
 * fsync(2) after every FSYNC_EVERY lines (and a last one) when it is > 0.
 * The clock (CLOCK_MONOTONIC) starts when the barrier opens and stops when
 * the last writer has closed the file and exited.  Prints
 *   seconds=S bytes=B lines=N mbps=M
 *
 * verify reads FILE back and checks that every line is intact (format and
 * checksum) and that each (writer, sequence) line is present exactly once.
 * Prints "verify=ok lines=N" or "verify=FAIL ..." (exit 1).
 *
 * A line: "W%02u S%08lu " + filler derived from (writer, seq) + " C%08x\n",
 * the checksum being FNV-1a over everything before " C".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFIX_LEN 14   /* "W%02u S%08lu " */
#define SUFFIX_LEN 11   /* " C%08x\n" */
#define MIN_LINE (PREFIX_LEN + SUFFIX_LEN + 1)
#define MAX_LINE 65536
#define MAX_PROCS 99

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t
fnv1a(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

static void
make_line(char *buf, size_t len, unsigned w, unsigned long seq)
{
	static const char alpha[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	uint64_t x = ((uint64_t)w << 40) ^ (seq * 0x9E3779B97F4A7C15ull) ^ 1;
	size_t body = len - SUFFIX_LEN;
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "W%02u S%08lu ", w, seq);
	memcpy(buf, tmp, PREFIX_LEN);
	for (size_t i = PREFIX_LEN; i < body; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = alpha[x % (sizeof(alpha) - 1)];
	}
	snprintf(tmp, sizeof(tmp), " C%08x\n", fnv1a(buf, body));
	memcpy(buf + body, tmp, SUFFIX_LEN);
}

static int
writer(const char *path, unsigned w, size_t len, unsigned long nlines,
    unsigned long fsync_every, int ready_fd, int go_fd)
{
	char *buf = malloc(len);
	char c;
	int fd;

	if (buf == NULL)
		return 2;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0) {
		fprintf(stderr, "appendbench: writer %u: open %s: %s\n", w,
		    path, strerror(errno));
		return 2;
	}
	if (write(ready_fd, "r", 1) != 1)
		return 2;
	close(ready_fd);
	/* Barrier: the parent closes the write end to release everyone. */
	while (read(go_fd, &c, 1) < 0 && errno == EINTR)
		;
	close(go_fd);
	for (unsigned long s = 0; s < nlines; s++) {
		ssize_t n;

		make_line(buf, len, w, s);
		n = write(fd, buf, len);
		if (n != (ssize_t)len) {
			fprintf(stderr, "appendbench: writer %u line %lu: %s\n",
			    w, s, n < 0 ? strerror(errno) : "short write");
			return 1;
		}
		if (fsync_every > 0 && (s + 1) % fsync_every == 0 &&
		    fsync(fd) != 0) {
			fprintf(stderr, "appendbench: writer %u: fsync: %s\n",
			    w, strerror(errno));
			return 1;
		}
	}
	if (fsync_every > 0 && nlines % fsync_every != 0 && fsync(fd) != 0) {
		fprintf(stderr, "appendbench: writer %u: fsync: %s\n", w,
		    strerror(errno));
		return 1;
	}
	if (close(fd) != 0) {
		fprintf(stderr, "appendbench: writer %u: close: %s\n", w,
		    strerror(errno));
		return 1;
	}
	free(buf);
	return 0;
}

static int
do_write(const char *path, unsigned nproc, size_t len, unsigned long long bytes,
    unsigned long fsync_every)
{
	unsigned long nlines = (unsigned long)(bytes / len / nproc);
	int ready[2], go[2], failed = 0;
	pid_t pids[MAX_PROCS];
	double t0, t1;
	char c;

	if (pipe(ready) != 0 || pipe(go) != 0) {
		perror("appendbench: pipe");
		return 2;
	}
	for (unsigned w = 0; w < nproc; w++) {
		pids[w] = fork();
		if (pids[w] < 0) {
			perror("appendbench: fork");
			return 2;
		}
		if (pids[w] == 0) {
			/* Do not outlive an interrupted run. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(ready[0]);
			close(go[1]);
			_exit(writer(path, w, len, nlines, fsync_every,
			    ready[1], go[0]));
		}
	}
	close(ready[1]);
	close(go[0]);
	for (unsigned w = 0; w < nproc; w++) {
		ssize_t n;

		while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (n != 1) {
			fprintf(stderr, "appendbench: a writer died before "
			    "the barrier\n");
			failed = 1;
			break;
		}
	}
	t0 = now();
	close(go[1]);
	for (unsigned w = 0; w < nproc; w++) {
		int st;

		if (waitpid(pids[w], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			failed = 1;
	}
	t1 = now();
	if (failed)
		return 1;
	{
		unsigned long long total =
		    (unsigned long long)nlines * nproc * len;
		printf("seconds=%.6f bytes=%llu lines=%llu mbps=%.3f\n",
		    t1 - t0, total, (unsigned long long)nlines * nproc,
		    (double)total / 1048576.0 / (t1 - t0));
	}
	return 0;
}

/* "W%02u S%08lu " without sscanf (which strlen()s the whole buffer). */
static int
parse_prefix(const char *p, unsigned *w, unsigned long *s)
{
	unsigned long v = 0;

	if (p[0] != 'W' || p[3] != ' ' || p[4] != 'S' || p[13] != ' ')
		return 0;
	for (int i = 1; i < 3; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	*w = (unsigned)v;
	v = 0;
	for (int i = 5; i < 13; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	*s = v;
	return 1;
}

static int
do_verify(const char *path, unsigned nproc, size_t len,
    unsigned long long bytes)
{
	unsigned long nlines = (unsigned long)(bytes / len / nproc);
	unsigned long long expect = (unsigned long long)nlines * nproc * len;
	unsigned long long bad = 0, dup = 0, missing = 0, good = 0;
	unsigned char *seen;
	char *data, *ref;
	struct stat st;
	size_t off = 0, got = 0;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "appendbench: %s: %s\n", path, strerror(errno));
		return 2;
	}
	data = malloc((size_t)st.st_size + 1);
	ref = malloc(len);
	seen = calloc((size_t)nproc * nlines + 1, 1);
	if (data == NULL || ref == NULL || seen == NULL)
		return 2;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "appendbench: read: %s\n",
			    strerror(errno));
			return 2;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	while (off < got) {
		char *nl = memchr(data + off, '\n', got - off);
		size_t l = nl ? (size_t)(nl - (data + off)) + 1 : got - off;
		unsigned w;
		unsigned long s;

		if (l == len && parse_prefix(data + off, &w, &s) &&
		    w < nproc && s < nlines) {
			make_line(ref, len, w, s);
			if (memcmp(ref, data + off, len) == 0) {
				if (seen[(size_t)w * nlines + s]++)
					dup++;
				else
					good++;
			} else {
				bad++;
			}
		} else {
			bad++;
		}
		off += l;
	}
	for (size_t i = 0; i < (size_t)nproc * nlines; i++)
		if (!seen[i])
			missing++;
	if (bad || dup || missing || (unsigned long long)got != expect) {
		printf("verify=FAIL size=%llu expected=%llu good=%llu bad=%llu "
		    "dup=%llu missing=%llu\n", (unsigned long long)got, expect,
		    good, bad, dup, missing);
		return 1;
	}
	printf("verify=ok lines=%llu\n", good);
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long nproc, len;
	unsigned long long bytes;

	if (argc < 6 || (strcmp(argv[1], "write") && strcmp(argv[1], "verify"))) {
		fprintf(stderr, "usage: appendbench write|verify FILE NPROC "
		    "LINE BYTES [FSYNC_EVERY]\n");
		return 2;
	}
	nproc = strtoul(argv[3], NULL, 0);
	len = strtoul(argv[4], NULL, 0);
	bytes = strtoull(argv[5], NULL, 0);
	if (nproc < 1 || nproc > MAX_PROCS || len < MIN_LINE || len > MAX_LINE
	    || bytes < (unsigned long long)len * nproc) {
		fprintf(stderr, "appendbench: bad NPROC (1..%d), LINE (%d..%d) "
		    "or BYTES\n", MAX_PROCS, MIN_LINE, MAX_LINE);
		return 2;
	}
	if (strcmp(argv[1], "write") == 0)
		return do_write(argv[2], (unsigned)nproc, len, bytes,
		    argc > 6 ? strtoul(argv[6], NULL, 0) : 0);
	return do_verify(argv[2], (unsigned)nproc, len, bytes);
}
