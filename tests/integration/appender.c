/*
 * appender.c - concurrent O_APPEND writers, then a check of the result.
 *
 *   appender FILE NPROC LINES LINELEN
 *
 * Truncates FILE, then forks NPROC writers.  Each opens FILE with
 * O_WRONLY|O_APPEND|O_CREAT and, once all are forked, writes LINES lines of
 * LINELEN bytes, one write(2) per line.  A line reads
 *
 *   "wWWWW sSSSSSSSS cCCCCCCCC " filler... "\n"
 *
 * where the filler is derived from (writer, sequence) and C is a checksum
 * of the filler, so a torn, shifted or overwritten line is caught.  The
 * parent then checks that the file holds exactly NPROC*LINES lines, each
 * intact, each (writer, sequence) exactly once, and each writer's lines in
 * the order it wrote them.  Exit 0 when all is well, 1 on a data error, 2 on
 * a usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define HDRLEN 27       /* "wWWWW sSSSSSSSS cCCCCCCCC " */
#define MAXERR 20

static long nproc, nlines, linelen;

static unsigned char filler(long w, long seq, long i)
{
	uint32_t x = (uint32_t)(w * 2654435761u) ^ (uint32_t)(seq * 40503u) ^
	    (uint32_t)(i * 2246822519u);

	x ^= x >> 15;
	x *= 0x2c1b3c6dU;
	x ^= x >> 12;
	return (unsigned char)('!' + x % 94);   /* printable, never '\n' */
}

static uint32_t checksum(const unsigned char *p, long n)
{
	uint32_t h = 2166136261u;

	for (long i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % 100000000u;
}

static void make_line(unsigned char *line, long w, long seq)
{
	char hdr[HDRLEN + 1];
	long nfill = linelen - HDRLEN - 1;

	for (long i = 0; i < nfill; i++)
		line[HDRLEN + i] = filler(w, seq, i);
	snprintf(hdr, sizeof(hdr), "w%04ld s%08ld c%08lu ", w, seq,
	    (unsigned long)checksum(line + HDRLEN, nfill));
	memcpy(line, hdr, HDRLEN);
	line[linelen - 1] = '\n';
}

static int writer(const char *path, long w, int gate)
{
	unsigned char *line = malloc((size_t)linelen);
	char c;
	int fd;

	if (!line)
		return 2;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0) {
		fprintf(stderr, "appender: writer %ld: open %s: %s\n", w,
		    path, strerror(errno));
		return 2;
	}
	/* Start together: the parent closes the gate once all are forked. */
	if (read(gate, &c, 1) < 0) {
		fprintf(stderr, "appender: writer %ld: gate: %s\n", w,
		    strerror(errno));
		return 2;
	}
	for (long seq = 0; seq < nlines; seq++) {
		ssize_t n;

		make_line(line, w, seq);
		do
			n = write(fd, line, (size_t)linelen);
		while (n < 0 && errno == EINTR);
		if (n != linelen) {
			fprintf(stderr, "appender: writer %ld line %ld: "
			    "write returned %zd (%s), expected %ld\n", w, seq,
			    n, n < 0 ? strerror(errno) : "short", linelen);
			return 1;
		}
	}
	if (close(fd) != 0) {
		fprintf(stderr, "appender: writer %ld: close: %s\n", w,
		    strerror(errno));
		return 1;
	}
	free(line);
	return 0;
}

static long number(const char *s, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min) {
		fprintf(stderr, "usage: appender FILE NPROC LINES LINELEN "
		    "(NPROC >= 1, LINES >= 1, LINELEN >= %d)\n", HDRLEN + 2);
		exit(2);
	}
	return v;
}

static int errors;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;

	if (errors++ >= MAXERR)
		return;
	fputs("appender: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int verify(const char *path)
{
	long total = nproc * nlines, nfill = linelen - HDRLEN - 1;
	unsigned char *data, *expect = malloc((size_t)linelen);
	unsigned char *seen = calloc((size_t)total, 1);
	long *next = calloc((size_t)nproc, sizeof(long));
	struct stat st;
	size_t off = 0;
	long lineno = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "appender: %s: %s\n", path, strerror(errno));
		return 2;
	}
	if (!expect || !seen || !next)
		return 2;
	if (st.st_size != (off_t)(total * linelen))
		report("file size is %lld, expected %ld (%ld lines)",
		    (long long)st.st_size, total * linelen, total);
	data = malloc((size_t)st.st_size + 1);
	if (!data)
		return 2;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, data + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "appender: read %s at %zu: %s\n", path,
			    off, n < 0 ? strerror(errno) : "unexpected EOF");
			return 1;
		}
		off += (size_t)n;
	}
	close(fd);

	for (off = 0; off < (size_t)st.st_size; lineno++) {
		unsigned char *p = data + off;
		unsigned char *nl = memchr(p, '\n', (size_t)st.st_size - off);
		long len = nl ? (long)(nl - p) + 1 : (long)st.st_size -
		    (long)off;
		unsigned long sum;
		long w, seq;
		char tail;

		off += (size_t)len;
		if (len != linelen ||
		    sscanf((const char *)p, "w%4ld s%8ld c%8lu%c", &w, &seq,
		    &sum, &tail) != 4 || tail != ' ' || w < 0 ||
		    w >= nproc || seq < 0 || seq >= nlines) {
			report("line %ld at offset %ld (length %ld) is torn "
			    "or malformed", lineno, (long)(off - (size_t)len),
			    len);
			continue;
		}
		make_line(expect, w, seq);
		if (memcmp(p, expect, (size_t)linelen) != 0 ||
		    sum != checksum(p + HDRLEN, nfill)) {
			report("line %ld: writer %ld seq %ld has corrupt "
			    "content", lineno, w, seq);
			continue;
		}
		if (seen[w * nlines + seq]++) {
			report("line %ld: writer %ld seq %ld is duplicated",
			    lineno, w, seq);
			continue;
		}
		if (seq != next[w])
			report("line %ld: writer %ld seq %ld out of order",
			    lineno, w, seq);
		next[w] = seq + 1;
	}
	for (long w = 0; w < nproc; w++)
		for (long seq = 0; seq < nlines; seq++)
			if (!seen[w * nlines + seq])
				report("writer %ld seq %ld is missing", w,
				    seq);
	if (errors > MAXERR)
		fprintf(stderr, "appender: ... %d errors in all\n", errors);
	free(data);
	free(expect);
	free(seen);
	free(next);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	int gate[2], fd, status, bad = 0;
	const char *path;

	if (argc != 5)
		number("", 0);
	path = argv[1];
	nproc = number(argv[2], 1);
	nlines = number(argv[3], 1);
	linelen = number(argv[4], HDRLEN + 2);
	if (nproc > 9999 || nlines > 99999999) {
		fprintf(stderr, "appender: NPROC <= 9999, LINES <= 99999999\n");
		return 2;
	}

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "appender: %s: %s\n", path, strerror(errno));
		return 2;
	}
	close(fd);
	if (pipe(gate) != 0)
		return 2;
	for (long w = 0; w < nproc; w++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("appender: fork");
			return 2;
		}
		if (pid == 0) {
			close(gate[1]);
			_exit(writer(path, w, gate[0]));
		}
	}
	close(gate[0]);
	close(gate[1]);         /* opens the gate: every read gets EOF */
	for (long w = 0; w < nproc; w++) {
		if (wait(&status) < 0) {
			perror("appender: wait");
			return 2;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	}
	if (bad) {
		fprintf(stderr, "appender: %d writer(s) failed\n", bad);
		return 1;
	}
	if (verify(path) != 0) {
		fprintf(stderr, "appender: %s: FAILED (%ld writers x %ld lines "
		    "x %ld bytes)\n", path, nproc, nlines, linelen);
		return 1;
	}
	printf("appender: %s: %ld writers x %ld lines x %ld bytes ok\n", path,
	    nproc, nlines, linelen);
	return 0;
}
