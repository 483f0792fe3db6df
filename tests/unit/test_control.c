/*
 * test_control.c - the control channel wire format (build and parse) and
 * the socket path of a mount point.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rfs/control.h"

#include "harness.h"

static char buf[RFS_CONTROL_MAX + 64];

/* A writable word (argv is char **; string literals are const here). */
#define W(s) ((char []){ s })

/* Builds ARGV, parses it back, and compares. */
static int
round_trip(int argc, char **argv)
{
	char *out[RFS_CONTROL_ARGS + 1];
	ssize_t n;
	int oc = -1;

	n = rfs_control_build(argc, argv, buf, sizeof(buf));
	if (n < 5)
		return -1;
	if (memcmp(buf, "RFS1", 4) != 0 || (unsigned char)buf[4] != argc)
		return -2;
	if (rfs_control_parse(buf, (size_t)n, &oc, out) != 0)
		return -3;
	if (oc != argc || out[argc] != NULL)
		return -4;
	for (int i = 0; i < argc; i++)
		if (strcmp(out[i], argv[i]) != 0 || out[i] < buf ||
		    out[i] >= buf + n)
			return -5;
	return 0;
}

static int
parse(const void *data, size_t len)
{
	char *argv[RFS_CONTROL_ARGS + 1];
	char *copy = malloc(len ? len : 1);
	int argc = -7, rc;

	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, data, len);
	rc = rfs_control_parse(copy, len, &argc, argv);
	free(copy);
	return rc;
}

TEST(round_trips)
{
	char *one[] = { W("status") };
	char *two[] = { W("hold"), W("/mnt/x/a file") };
	char *empty[] = { W(""), W(""), W("") };
	char *utf8[] = { W("event"), W("set"), W("/m/r\xc3\xa9sum\xc3\xa9"),
	    W("--reason"), W("line\nbreak\ttab") };
	char *many[RFS_CONTROL_ARGS];
	char words[RFS_CONTROL_ARGS][8];

	CHECK_EQ(round_trip(1, one), 0);
	CHECK_EQ(round_trip(2, two), 0);
	CHECK_EQ(round_trip(3, empty), 0);
	CHECK_EQ(round_trip(5, utf8), 0);
	for (int i = 0; i < RFS_CONTROL_ARGS; i++) {
		snprintf(words[i], sizeof(words[i]), "w%d", i);
		many[i] = words[i];
	}
	CHECK_EQ(round_trip(RFS_CONTROL_ARGS, many), 0);
}

TEST(build_layout)
{
	char *argv[] = { W("ab"), W(""), W("c") };
	static const char want[] = "RFS1\003ab\0\0c";   /* + final NUL */

	CHECK_EQ(rfs_control_build(3, argv, buf, sizeof(buf)), sizeof(want));
	CHECK(memcmp(buf, want, sizeof(want)) == 0);
}

TEST(build_limits)
{
	char *argv[RFS_CONTROL_ARGS + 1];
	char small[16];
	char *big;

	char x[] = "x", digits[] = "0123456789";

	for (int i = 0; i <= RFS_CONTROL_ARGS; i++)
		argv[i] = x;
	CHECK_EQ(rfs_control_build(0, argv, buf, sizeof(buf)), -E2BIG);
	CHECK_EQ(rfs_control_build(-1, argv, buf, sizeof(buf)), -E2BIG);
	CHECK_EQ(rfs_control_build(RFS_CONTROL_ARGS + 1, argv, buf,
	    sizeof(buf)), -E2BIG);
	CHECK_EQ(rfs_control_build(1, argv, buf, 4), -E2BIG);
	/* Exactly fits, one byte short. */
	argv[0] = digits;
	CHECK_EQ(rfs_control_build(1, argv, small, 16), 16);
	CHECK_EQ(rfs_control_build(1, argv, small, 15), -E2BIG);
	/* The 64 KiB ceiling holds even with a larger buffer. */
	big = malloc(RFS_CONTROL_MAX);
	CHECK(big != NULL);
	memset(big, 'a', RFS_CONTROL_MAX - 1);
	big[RFS_CONTROL_MAX - 1] = '\0';
	argv[0] = big;
	CHECK_EQ(rfs_control_build(1, argv, buf, sizeof(buf)), -E2BIG);
	big[RFS_CONTROL_MAX - 6] = '\0';       /* 5 + 65530 + 1 = 64 KiB */
	CHECK_EQ(rfs_control_build(1, argv, buf, sizeof(buf)), RFS_CONTROL_MAX);
	CHECK_EQ(round_trip(1, argv), 0);
	big[RFS_CONTROL_MAX - 6] = 'a';
	big[RFS_CONTROL_MAX - 5] = '\0';
	CHECK_EQ(rfs_control_build(1, argv, buf, sizeof(buf)), -E2BIG);
	free(big);
}

TEST(parse_rejects_malformed)
{
	static const char ok[] = "RFS1\002ab\0c";     /* + final NUL */

	CHECK_EQ(parse(ok, sizeof(ok)), 0);
	/* Too short, bad magic. */
	CHECK_EQ(parse("", 0), -EINVAL);
	CHECK_EQ(parse("RFS1", 4), -EINVAL);
	CHECK_EQ(parse("RFS1\001", 5), -EINVAL);
	CHECK_EQ(parse("RFS2\001a", 7), -EINVAL);
	CHECK_EQ(parse("rfs1\001a", 7), -EINVAL);
	CHECK_EQ(parse("XRFS1\001a", 8), -EINVAL);
	/* argc 0, and above 32. */
	CHECK_EQ(parse("RFS1\000", 5), -EINVAL);
	CHECK_EQ(parse("RFS1\000a", 7), -EINVAL);
	{
		char m[5 + 2 * 33];

		memcpy(m, "RFS1", 4);
		for (int i = 0; i < 33; i++) {
			m[5 + 2 * i] = 'x';
			m[6 + 2 * i] = '\0';
		}
		m[4] = 33;
		CHECK_EQ(parse(m, sizeof(m)), -EINVAL);
		m[4] = (char)255;
		CHECK_EQ(parse(m, sizeof(m)), -EINVAL);
		m[4] = 32;                      /* one word too many */
		CHECK_EQ(parse(m, sizeof(m)), -EINVAL);
		CHECK_EQ(parse(m, sizeof(m) - 2), 0);
	}
	/* Missing final NUL; fewer words than argc. */
	CHECK_EQ(parse(ok, sizeof(ok) - 1), -EINVAL);
	CHECK_EQ(parse("RFS1\001abc", 8), -EINVAL);
	CHECK_EQ(parse("RFS1\003ab\0c", 10), -EINVAL);
	CHECK_EQ(parse("RFS1\002ab", 8), -EINVAL);
	/* Trailing bytes after the last word. */
	CHECK_EQ(parse("RFS1\001a\0b", 8), -EINVAL);
	CHECK_EQ(parse("RFS1\001a\0\0", 8), -EINVAL);
	CHECK_EQ(parse("RFS1\002ab\0c\0\0", 11), -EINVAL);
}

TEST(parse_size_ceiling)
{
	char *m = malloc(RFS_CONTROL_MAX + 1), *argv[RFS_CONTROL_ARGS + 1];
	int argc = 0;

	CHECK(m != NULL);
	memcpy(m, "RFS1\001", 5);
	memset(m + 5, 'a', RFS_CONTROL_MAX - 5);
	m[RFS_CONTROL_MAX - 1] = '\0';
	CHECK_EQ(rfs_control_parse(m, RFS_CONTROL_MAX, &argc, argv), 0);
	CHECK_EQ(argc, 1);
	CHECK_EQ(strlen(argv[0]), RFS_CONTROL_MAX - 6);
	m[RFS_CONTROL_MAX - 1] = 'a';
	m[RFS_CONTROL_MAX] = '\0';
	CHECK_EQ(rfs_control_parse(m, RFS_CONTROL_MAX + 1, &argc, argv),
	    -EINVAL);
	free(m);
}

TEST(parse_every_prefix)
{
	char *argv[] = { W("policy"), W("reload"), W("--now") };
	char *out[RFS_CONTROL_ARGS + 1];
	char copy[64];
	ssize_t n;
	int argc, bad = 0;

	n = rfs_control_build(3, argv, buf, sizeof(buf));
	CHECK(n > 0 && n < (ssize_t)sizeof(copy));
	for (ssize_t len = 0; len < n; len++) {
		memcpy(copy, buf, (size_t)len);
		if (rfs_control_parse(copy, (size_t)len, &argc, out) != -EINVAL)
			bad++;
	}
	CHECK_EQ(bad, 0);
	memcpy(copy, buf, (size_t)n);
	CHECK_EQ(rfs_control_parse(copy, (size_t)n, &argc, out), 0);
	CHECK_EQ(argc, 3);
}

TEST(socket_path)
{
	char a[128], b[128], c[128], dir[64], sub[96];

	snprintf(dir, sizeof(dir), "/tmp/rfs-test-control.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/mnt", dir);
	CHECK_EQ(mkdir(sub, 0700), 0);
	CHECK_EQ(rfs_control_path(sub, a, sizeof(a)), 0);
	CHECK(strncmp(a, RFS_CONTROL_DIR "/", strlen(RFS_CONTROL_DIR) + 1)
	    == 0);
	CHECK_EQ(strlen(a), strlen(RFS_CONTROL_DIR) + 1 + 32 + 5);
	CHECK_STR(a + strlen(a) - 5, ".sock");
	for (size_t i = strlen(RFS_CONTROL_DIR) + 1; i < strlen(a) - 5; i++)
		CHECK(strchr("0123456789abcdef", a[i]) != NULL);
	/* The canonical path counts, not its spelling. */
	snprintf(sub, sizeof(sub), "%s/./mnt/", dir);
	CHECK_EQ(rfs_control_path(sub, b, sizeof(b)), 0);
	CHECK_STR(b, a);
	snprintf(sub, sizeof(sub), "%s/mnt/../mnt", dir);
	CHECK_EQ(rfs_control_path(sub, b, sizeof(b)), 0);
	CHECK_STR(b, a);
	/* Another mount point, another socket. */
	CHECK_EQ(rfs_control_path(dir, c, sizeof(c)), 0);
	CHECK(strcmp(c, a) != 0);
	snprintf(sub, sizeof(sub), "%s/mnt", dir);
	rmdir(sub);
	CHECK_EQ(rfs_control_path(sub, b, sizeof(b)), -ENOENT);
	rmdir(dir);
}

int
main(void)
{
	RUN_TESTS("control",
	    CASE(round_trips),
	    CASE(build_layout),
	    CASE(build_limits),
	    CASE(parse_rejects_malformed),
	    CASE(parse_size_ceiling),
	    CASE(parse_every_prefix),
	    CASE(socket_path));
}
