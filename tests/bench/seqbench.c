/*
 * seqbench - sequential write/read, and a log file generator.
 *
 *   seqbench write  FILE MIB BLOCK   write MIB MiB in BLOCK-byte writes, fsync
 *   seqbench read   FILE MIB BLOCK   read it back in BLOCK-byte reads, check
 *   seqbench genlog FILE MIB         realistic log text, then fsync
 *
 * Every 4 KiB of the data written by "write" starts with its file offset
 * (LE64) followed by incompressible bytes, so "read" checks placement of
 * every 4 KiB for the price of one comparison.  Timings are CLOCK_MONOTONIC
 * from open(2) to after close(2) (write: including the fsync).  Prints
 *   seconds=S bytes=B mbps=M
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
report(double secs, unsigned long long bytes)
{
	printf("seconds=%.6f bytes=%llu mbps=%.3f\n", secs, bytes,
	    (double)bytes / 1048576.0 / secs);
}

static int
do_write(const char *path, unsigned long long total, size_t block)
{
	unsigned char *buf = malloc(block);
	unsigned long long off = 0;
	double t0, t1;
	int fd;

	if (buf == NULL)
		return 2;
	for (size_t i = 0; i < block; i += 8) {
		uint64_t v = next();
		memcpy(buf + i, &v, 8);
	}
	t0 = now();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "seqbench: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (off < total) {
		size_t n = total - off < block ? (size_t)(total - off) : block;
		ssize_t w;

		for (size_t i = 0; i < n; i += CHUNK) {
			uint64_t o = off + i;
			memcpy(buf + i, &o, 8);
		}
		w = write(fd, buf, n);
		if (w != (ssize_t)n) {
			fprintf(stderr, "seqbench: write at %llu: %s\n", off,
			    w < 0 ? strerror(errno) : "short write");
			return 1;
		}
		off += n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fprintf(stderr, "seqbench: fsync/close: %s\n", strerror(errno));
		return 1;
	}
	t1 = now();
	report(t1 - t0, total);
	return 0;
}

static int
do_read(const char *path, unsigned long long total, size_t block)
{
	unsigned char *buf = malloc(block);
	unsigned long long off = 0, bad = 0;
	double t0, t1;
	int fd;

	if (buf == NULL)
		return 2;
	t0 = now();
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "seqbench: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, block);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "seqbench: read at %llu: %s\n", off,
			    strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		/* Reads of a regular file come back block-aligned here. */
		for (size_t i = 0; i + 8 <= (size_t)n; i += CHUNK) {
			uint64_t o;
			memcpy(&o, buf + i, 8);
			if (((off + i) % CHUNK) == 0 && o != off + i)
				bad++;
		}
		off += (unsigned long long)n;
	}
	close(fd);
	t1 = now();
	if (off != total || bad) {
		fprintf(stderr, "seqbench: verify FAIL: read %llu of %llu bytes,"
		    " %llu misplaced 4 KiB chunks\n", off, total, bad);
		return 1;
	}
	report(t1 - t0, total);
	return 0;
}

static int
do_genlog(const char *path, unsigned long long total)
{
	static const char *paths[] = { "/api/v1/items", "/api/v1/users",
	    "/healthz", "/api/v2/orders", "/static/app.js", "/login" };
	static const char *lvls[] = { "INFO", "INFO", "INFO", "WARN", "DEBUG",
	    "ERROR" };
	size_t cap = 1 << 16, used = 0;
	char *buf = malloc(cap + 512);
	unsigned long long done = 0;
	uint64_t ts = 1717243200000000ull;   /* 2024-06-01, microseconds */
	int fd;

	if (buf == NULL)
		return 2;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "seqbench: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (done < total) {
		uint64_t r = next(), r2 = next();
		time_t secs;
		struct tm tm;
		char tbuf[32];
		int n;

		ts += r % 5000;
		secs = (time_t)(ts / 1000000);
		gmtime_r(&secs, &tm);
		strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(buf + used, 512, "%s.%06uZ host-%02u app[%u]: %s "
		    "%s %s/%u status=%u bytes=%u dur_ms=%u.%03u req=%016" PRIx64
		    "\n", tbuf, (unsigned)(ts % 1000000), (unsigned)(r % 16),
		    1000 + (unsigned)(r >> 8) % 64, lvls[(r >> 16) % 6],
		    (r >> 20) & 1 ? "GET" : "POST", paths[(r >> 24) % 6],
		    (unsigned)(r2 % 100000), (r2 >> 20) % 13 ? 200u : 500u,
		    (unsigned)((r2 >> 24) % 65536), (unsigned)((r2 >> 40) % 900),
		    (unsigned)((r2 >> 50) % 1000), r ^ r2);
		if (done + used + (unsigned)n > total)
			n = (int)(total - done - used);
		used += (size_t)n;
		if (used >= cap || done + used >= total) {
			if (write(fd, buf, used) != (ssize_t)used) {
				fprintf(stderr, "seqbench: write: %s\n",
				    strerror(errno));
				return 1;
			}
			done += used;
			used = 0;
		}
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fprintf(stderr, "seqbench: fsync/close: %s\n", strerror(errno));
		return 1;
	}
	printf("bytes=%llu\n", done);
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long long total;
	size_t block;

	if (argc < 4) {
		fprintf(stderr, "usage: seqbench write|read FILE MIB BLOCK | "
		    "genlog FILE MIB\n");
		return 2;
	}
	total = strtoull(argv[3], NULL, 0) << 20;
	if (strcmp(argv[1], "genlog") == 0)
		return do_genlog(argv[2], total);
	if (argc < 5)
		return 2;
	block = strtoul(argv[4], NULL, 0);
	if (block < CHUNK || block % CHUNK || total == 0) {
		fprintf(stderr, "seqbench: BLOCK must be a multiple of %d\n",
		    CHUNK);
		return 2;
	}
	if (strcmp(argv[1], "write") == 0)
		return do_write(argv[2], total, block);
	if (strcmp(argv[1], "read") == 0)
		return do_read(argv[2], total, block);
	return 2;
}
