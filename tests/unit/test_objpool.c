/*
 * test_objpool.c - spare object files made ahead of need.
 *
 * The pool's thread runs beside the tests, so every check on how many
 * spares are ready waits for a condition, bounded by WAIT_MS, and never
 * assumes how far the thread has got.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rfs/objpool.h"

#include "harness.h"

#define WAIT_MS 10000

static char tmpdir[64];
static int dirfd_ = -1;

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)type;
	(void)f;
	return remove(path);
}

static int
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rfs-test-objpool.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return dirfd_ < 0 ? -1 : 0;
}

static void
teardown(void)
{
	if (dirfd_ >= 0)
		close(dirfd_);
	dirfd_ = -1;
	(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Names in the pool's directory (the spares have none). */
static int
names(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Waits until P has at least (EXACT: exactly) N spares ready. */
static int
wait_ready(struct rfs_objpool *p, unsigned n, int exact)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < WAIT_MS; i++) {
		unsigned r = rfs_objpool_ready(p);

		if (exact ? r == n : r >= n)
			return 0;
		nanosleep(&ms, NULL);
	}
	return -1;
}

static ssize_t
read_name(const char *name, char *buf, size_t len)
{
	int fd = openat(dirfd_, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	close(fd);
	return n;
}

TEST(fills_names_and_refills)
{
	struct rfs_objpool *p = NULL;
	int base, fds[RFS_OBJPOOL_HIGH];
	unsigned take = RFS_OBJPOOL_HIGH - RFS_OBJPOOL_LOW + 1;
	char name[32], buf[16];
	struct stat sb;

	CHECK_EQ(setup(), 0);
	base = open_fds();
	CHECK_EQ(rfs_objpool_start(dirfd_, &p), 0);
	CHECK(p != NULL);
	CHECK_EQ(wait_ready(p, RFS_OBJPOOL_HIGH, 1), 0);
	/* Open, but nameless: the directory shows nothing (not even the
	 * probe of the way to name them). */
	CHECK_EQ(open_fds(), base + RFS_OBJPOOL_HIGH);
	CHECK_EQ(names(), 0);
	/* Taking the pool below its low mark has it refilled. */
	for (unsigned i = 0; i < take; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		fds[i] = rfs_objpool_place(p, name);
		CHECK(fds[i] >= 0);
		CHECK_EQ(fstat(fds[i], &sb), 0);
		CHECK_EQ(sb.st_size, 0);
		CHECK_EQ(sb.st_nlink, 1);
		CHECK_EQ(sb.st_mode & 07777, 0600);
	}
	CHECK_EQ(names(), (int)take);
	CHECK_EQ(wait_ready(p, RFS_OBJPOOL_HIGH, 1), 0);
	/* A placed descriptor writes the named file. */
	CHECK_EQ(write(fds[0], "hello", 5), 5);
	CHECK_EQ(read_name("f0", buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	/* A name in use: EEXIST, and the file keeps its contents. */
	CHECK_EQ(rfs_objpool_place(p, "f0"), -EEXIST);
	CHECK_EQ(read_name("f0", buf, sizeof(buf)), 5);
	/* ... and the spare was kept, not leaked: stop closes all. */
	for (unsigned i = 0; i < take; i++)
		close(fds[i]);
	rfs_objpool_stop(p);
	rfs_objpool_stop(NULL);
	CHECK_EQ(open_fds(), base);
	CHECK_EQ(names(), (int)take);
	teardown();
}

/*
 * Out of descriptors, the thread cannot make spares: the pool runs dry
 * and says EAGAIN (the caller then makes the file itself, and meets the
 * error there), and refills once descriptors are back.
 */
TEST(runs_dry_and_recovers)
{
	struct rfs_objpool *p = NULL;
	struct rlimit rl;
	int fds[RFS_OBJPOOL_HIGH + 1], *fill, n = 0, nfill = 0, rc = 0;
	char name[32];

	CHECK_EQ(setup(), 0);
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	fill = calloc((size_t)rl.rlim_cur, sizeof(*fill));
	CHECK(fill != NULL);
	CHECK_EQ(rfs_objpool_start(dirfd_, &p), 0);
	CHECK_EQ(wait_ready(p, RFS_OBJPOOL_HIGH, 1), 0);
	/* No descriptor left (valgrind keeps setrlimit from lowering the
	 * limit, so the limit is reached instead). */
	while ((rlim_t)nfill < rl.rlim_cur &&
	    (rc = open("/dev/null", O_RDONLY)) >= 0)
		fill[nfill++] = rc;
	rc = errno == EMFILE ? 0 : -errno;
	while (rc == 0 && n <= RFS_OBJPOOL_HIGH) {
		snprintf(name, sizeof(name), "g%d", n);
		if ((rc = rfs_objpool_place(p, name)) < 0)
			break;
		fds[n++] = rc;
		rc = 0;
	}
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	free(fill);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	if (rc != -EAGAIN || n != RFS_OBJPOOL_HIGH)
		rfs_objpool_stop(p);
	CHECK_EQ(rc, -EAGAIN);
	CHECK_EQ(n, RFS_OBJPOOL_HIGH);
	CHECK_EQ(names(), RFS_OBJPOOL_HIGH);
	/* The thread retries after its pause and fills up again. */
	rc = wait_ready(p, RFS_OBJPOOL_HIGH, 1);
	rfs_objpool_stop(p);
	CHECK_EQ(rc, 0);
	teardown();
}

/* A directory whose file system cannot make unnamed files: no pool. */
TEST(refused_without_tmpfile)
{
	struct rfs_objpool *p = (struct rfs_objpool *)1;
	int fd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(rfs_objpool_start(fd, &p) < 0);
	CHECK(p == NULL);
	close(fd);
}

/*
 * Without CAP_DAC_READ_SEARCH, linkat(AT_EMPTY_PATH) of a file opened
 * under other credentials is refused, and the pool must name its spares
 * through /proc/self/fd instead.  Run in a child that starts a pool, then
 * drops the capability from its effective set (new credentials).
 */
static int
child_without_dac_read_search(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct rfs_objpool *p = NULL;
	int fd, t;

	fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || (t = openat(fd, ".", O_TMPFILE | O_RDWR, 0600)) < 0)
		return 10;
	if (rfs_objpool_start(fd, &p) != 0 ||
	    wait_ready(p, RFS_OBJPOOL_HIGH, 1) != 0)
		return 11;
	if (syscall(SYS_capget, &h, d) != 0)
		return 12;
	d[CAP_DAC_READ_SEARCH / 32].effective &=
	    ~(1U << (CAP_DAC_READ_SEARCH % 32));
	if (syscall(SYS_capset, &h, d) != 0)
		return 13;
	if (linkat(t, "", fd, "x", AT_EMPTY_PATH) == 0)
		return 14;      /* AT_EMPTY_PATH still works: nothing tested */
	close(t);
	if ((t = rfs_objpool_place(p, "named")) < 0)
		return 15;
	close(t);
	rfs_objpool_stop(p);
	return 0;
}

TEST(names_through_proc_without_capability)
{
	struct stat sb;
	int status;
	pid_t pid;

	CHECK_EQ(setup(), 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(child_without_dac_read_search());
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	CHECK_EQ(fstatat(dirfd_, "named", &sb, 0), 0);
	CHECK_EQ(names(), 1);
	teardown();
}

int
main(void)
{
	RUN_TESTS("objpool",
	    CASE(fills_names_and_refills),
	    CASE(runs_dry_and_recovers),
	    CASE(refused_without_tmpfile),
	    CASE(names_through_proc_without_capability));
}
