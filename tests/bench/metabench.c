/*
 * metabench - metadata workloads without a fork per file.
 *
 * Files live in ROOT/dDDD/fNNNNNNN, file i in directory i % NDIRS.
 *
 *   metabench create  ROOT NDIRS FIRST COUNT SIZE  create (O_EXCL), write SIZE
 *                                                  bytes, close
 *   metabench stat    ROOT NDIRS FIRST COUNT       stat(2) each, in order
 *   metabench lookup  ROOT NDIRS NFILES COUNT SEED stat(2) COUNT distinct
 *                                                  random files among
 *                                                  0..NFILES-1 (COUNT <= NFILES)
 *   metabench unlink  ROOT NDIRS FIRST COUNT [rmdir]
 *   metabench tree    ROOT NDIRS SEED COUNT MAXSIZE
 *       a source-like tree for the tar/cp/rsync workload: file i in
 *       ROOT/dDDD/sS/ (directory i % NDIRS, subdirectory i / NDIRS % 8),
 *       0..MAXSIZE-1 bytes of text, sizes and contents fixed by SEED
 *   metabench statlat ROOT NDIRS FIRST COUNT INTERVAL_US MAX
 *       foreground latency probe: statx(AT_STATX_FORCE_SYNC), which makes
 *       FUSE ask the daemon (GETATTR) instead of answering from the
 *       attribute cache, on the COUNT files round-robin, one every
 *       INTERVAL_US, until MAX samples (0 = no limit) or SIGTERM/SIGINT.
 *       Prints n= p50_us= p99_us= max_us= errors=
 *
 * The timed commands print seconds=S ops=N opsps=R.  Directories are made
 * before the clock starts (create), or removed after it stops (unlink).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
path_of(char *buf, size_t len, const char *root, unsigned long ndirs,
    unsigned long i)
{
	snprintf(buf, len, "%s/d%03lu/f%07lu", root, i % ndirs, i);
}

static void
report(double secs, unsigned long ops)
{
	printf("seconds=%.6f ops=%lu opsps=%.1f\n", secs, ops,
	    (double)ops / secs);
}

static int
do_create(const char *root, unsigned long ndirs, unsigned long first,
    unsigned long count, size_t size)
{
	char path[4096];
	char *data = malloc(size + 1);
	double t0;

	if (data == NULL)
		return 2;
	for (size_t i = 0; i < size; i++)
		data[i] = (char)('a' + i % 26);
	if (mkdir(root, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "metabench: mkdir %s: %s\n", root,
		    strerror(errno));
		return 1;
	}
	for (unsigned long d = 0; d < ndirs; d++) {
		snprintf(path, sizeof(path), "%s/d%03lu", root, d);
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, "metabench: mkdir %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
	}
	t0 = now();
	for (unsigned long i = first; i < first + count; i++) {
		int fd;

		path_of(path, sizeof(path), root, ndirs, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			fprintf(stderr, "metabench: create %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
		if (size > 0 && write(fd, data, size) != (ssize_t)size) {
			fprintf(stderr, "metabench: write %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
		if (close(fd) != 0) {
			fprintf(stderr, "metabench: close %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
	}
	report(now() - t0, count);
	free(data);
	return 0;
}

/* Next value of a xorshift64 generator; X must not be 0. */
static uint64_t
xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * stat(2) COUNT files: FIRST.. in order, or, when NFILES > 0, COUNT
 * distinct files drawn at random among 0..NFILES-1.  Distinct matters: a
 * file drawn twice is answered by the kernel's dentry cache the second
 * time, and draws with replacement repeat a third of the files when COUNT
 * is close to NFILES but almost none when NFILES is large, which would
 * make a small directory look faster than it is.  The order is drawn
 * (partial Fisher-Yates) before the clock starts.
 */
static int
do_stat(const char *root, unsigned long ndirs, unsigned long first,
    unsigned long count, unsigned long nfiles, unsigned long seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	unsigned long *order = NULL;
	char path[4096];
	struct stat st;
	double t0;

	if (nfiles > 0) {
		if (count > nfiles ||
		    (order = malloc(nfiles * sizeof(*order))) == NULL) {
			fprintf(stderr, "metabench: COUNT > NFILES or no memory\n");
			return 2;
		}
		for (unsigned long i = 0; i < nfiles; i++)
			order[i] = i;
		for (unsigned long k = 0; k < count; k++) {
			unsigned long j = k + (unsigned long)(xorshift(&x) %
			    (nfiles - k)), t = order[k];

			order[k] = order[j];
			order[j] = t;
		}
	}
	t0 = now();
	for (unsigned long k = 0; k < count; k++) {
		path_of(path, sizeof(path), root, ndirs,
		    order != NULL ? order[k] : first + k);
		if (stat(path, &st) != 0) {
			fprintf(stderr, "metabench: stat %s: %s\n", path,
			    strerror(errno));
			free(order);
			return 1;
		}
	}
	report(now() - t0, count);
	free(order);
	return 0;
}

static int
do_unlink(const char *root, unsigned long ndirs, unsigned long first,
    unsigned long count, int rmdirs)
{
	char path[4096];
	double t0 = now();

	for (unsigned long i = first; i < first + count; i++) {
		path_of(path, sizeof(path), root, ndirs, i);
		if (unlink(path) != 0) {
			fprintf(stderr, "metabench: unlink %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
	}
	report(now() - t0, count);
	for (unsigned long d = 0; rmdirs && d < ndirs; d++) {
		snprintf(path, sizeof(path), "%s/d%03lu", root, d);
		if (rmdir(path) != 0) {
			fprintf(stderr, "metabench: rmdir %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
	}
	return 0;
}

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int
do_statlat(const char *root, unsigned long ndirs, unsigned long first,
    unsigned long count, unsigned long interval_us, unsigned long max)
{
	struct sigaction sa;
	struct timespec next;
	size_t cap = 4096, n = 0;
	double *lat = malloc(cap * sizeof(*lat));
	unsigned long errors = 0, k = 0;
	char path[4096];

	if (lat == NULL || count == 0)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;      /* no SA_RESTART: wake the pacing sleep */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop && (max == 0 || n < max)) {
		struct statx stx;
		double t0, t1;

		path_of(path, sizeof(path), root, ndirs, first + k % count);
		k++;
		t0 = now();
		if (statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC, STATX_BASIC_STATS,
		    &stx) != 0)
			errors++;
		t1 = now();
		if (n == cap) {
			cap *= 2;
			lat = realloc(lat, cap * sizeof(*lat));
			if (lat == NULL)
				return 2;
		}
		lat[n++] = (t1 - t0) * 1e6;
		/* Pace to absolute deadlines: a slow call does not add up. */
		next.tv_nsec += (long)(interval_us * 1000);
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		if (interval_us > 0)
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
			    NULL);
	}
	if (n == 0) {
		printf("n=0 p50_us=0 p99_us=0 max_us=0 errors=%lu\n", errors);
		return 1;
	}
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("n=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f errors=%lu\n", n,
	    lat[(n - 1) / 2], lat[(size_t)((double)(n - 1) * 0.99)],
	    lat[n - 1], errors);
	return errors ? 1 : 0;
}

static int
mkdirs(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "metabench: mkdir %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
do_tree(const char *root, unsigned long ndirs, uint64_t seed,
    unsigned long count, size_t maxsize)
{
	/* Letters of C keywords: text that compresses like source. */
	static const char chars[] = "static int void return struct const "
	    "char unsigned long size_t if else for while break ";
	char path[4096], *data = malloc(maxsize + 1);
	uint64_t x = seed ? seed : 1;
	int rc = 1;

	if (data == NULL || maxsize == 0)
		goto out;
	for (size_t i = 0; i < maxsize; i++)
		data[i] = (i % 61 == 60) ? '\n' :
		    chars[xorshift(&x) % (sizeof(chars) - 1)];
	if (mkdirs(root) != 0)
		goto out;
	for (unsigned long d = 0; d < ndirs; d++) {
		snprintf(path, sizeof(path), "%s/d%03lu", root, d);
		if (mkdirs(path) != 0)
			goto out;
		for (int s = 0; s < 8; s++) {
			snprintf(path, sizeof(path), "%s/d%03lu/s%d", root, d,
			    s);
			if (mkdirs(path) != 0)
				goto out;
		}
	}
	for (unsigned long i = 0; i < count; i++) {
		size_t len = (size_t)(xorshift(&x) % maxsize);
		size_t at = (size_t)(xorshift(&x) % (maxsize - len + 1));
		FILE *f;

		snprintf(path, sizeof(path), "%s/d%03lu/s%lu/f%07lu.c", root,
		    i % ndirs, i / ndirs % 8, i);
		if ((f = fopen(path, "wx")) == NULL ||
		    fwrite(data + at, 1, len, f) != len || fclose(f) != 0) {
			fprintf(stderr, "metabench: %s: %s\n", path,
			    strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	free(data);
	return rc;
}

int
main(int argc, char **argv)
{
	unsigned long ndirs, a, b;
	const char *cmd, *root;

	if (argc < 6) {
		fprintf(stderr, "usage: metabench create|stat|lookup|unlink|"
		    "statlat|tree ROOT NDIRS ... (see source)\n");
		return 2;
	}
	cmd = argv[1];
	root = argv[2];
	ndirs = strtoul(argv[3], NULL, 0);
	a = strtoul(argv[4], NULL, 0);
	b = strtoul(argv[5], NULL, 0);
	if (ndirs == 0 || ndirs > 1000) {
		fprintf(stderr, "metabench: NDIRS must be 1..1000\n");
		return 2;
	}
	if (strcmp(cmd, "create") == 0 && argc >= 7)
		return do_create(root, ndirs, a, b, strtoul(argv[6], NULL, 0));
	if (strcmp(cmd, "stat") == 0)
		return do_stat(root, ndirs, a, b, 0, 0);
	if (strcmp(cmd, "lookup") == 0 && argc >= 7 && a > 0)
		return do_stat(root, ndirs, 0, b, a, strtoul(argv[6], NULL, 0));
	if (strcmp(cmd, "unlink") == 0)
		return do_unlink(root, ndirs, a, b,
		    argc >= 7 && strcmp(argv[6], "rmdir") == 0);
	if (strcmp(cmd, "tree") == 0 && argc >= 7)
		return do_tree(root, ndirs, a, b, strtoul(argv[6], NULL, 0));
	if (strcmp(cmd, "statlat") == 0 && argc >= 8)
		return do_statlat(root, ndirs, a, b, strtoul(argv[6], NULL, 0),
		    strtoul(argv[7], NULL, 0));
	fprintf(stderr, "metabench: bad command or arguments\n");
	return 2;
}
