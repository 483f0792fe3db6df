/*
 * objpool.c - spare object files, made ahead of need (objpool.h).
 *
 * A spare is an O_TMPFILE inode: allocated, empty, without a name.  linkat
 * gives it one.  The kernel lets a process name an open unnamed file in two
 * ways: linkat(fd, "", ..., AT_EMPTY_PATH), which needs CAP_DAC_READ_SEARCH,
 * and linkat of "/proc/self/fd/N" with AT_SYMLINK_FOLLOW, which needs /proc.
 * rfs_objpool_start finds which one works by naming its first spare
 * PROBE and removing the name again; that spare, once named, can never be
 * unnamed-and-linked again, so it is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rfs/log.h"
#include "rfs/objpool.h"

#define PROBE ".objpool-probe"
#define RETRY_SEC 1             /* after a spare could not be made */

enum link_way { LINK_EMPTY_PATH, LINK_PROC };

struct rfs_objpool {
	int dir;
	atomic_int way;         /* an enum link_way */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;      /* below RFS_OBJPOOL_LOW, or stop */
	int stop;
	int failing;            /* the last spare could not be made */
	unsigned n;
	int fd[RFS_OBJPOOL_HIGH];
};

static int
make_spare(int dir)
{
	return openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

static int
name_spare(int dir, int way, int fd, const char *path)
{
	char proc[64];

	if (way == LINK_EMPTY_PATH)
		return linkat(fd, "", dir, path, AT_EMPTY_PATH);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dir, path, AT_SYMLINK_FOLLOW);
}

/* Which way of naming a spare works here: 0, or -errno. */
static int
probe(struct rfs_objpool *p, int fd)
{
	static const enum link_way ways[] = { LINK_EMPTY_PATH, LINK_PROC };
	int rc = -EOPNOTSUPP;

	(void)unlinkat(p->dir, PROBE, 0);   /* a crash's leftover */
	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		if (name_spare(p->dir, ways[i], fd, PROBE) == 0) {
			atomic_store(&p->way, ways[i]);
			return unlinkat(p->dir, PROBE, 0) == 0 ? 0 : -errno;
		}
		rc = -errno;
	}
	return rc;
}

static void *
refill(void *arg)
{
	struct rfs_objpool *p = arg;
	struct timespec at;
	int err, fd;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (p->n >= RFS_OBJPOOL_LOW) {
			pthread_cond_wait(&p->cv, &p->lock);
			continue;
		}
		err = 0;
		while (!p->stop && p->n < RFS_OBJPOOL_HIGH) {
			pthread_mutex_unlock(&p->lock);
			fd = make_spare(p->dir);
			err = errno;
			pthread_mutex_lock(&p->lock);
			if (fd < 0)
				break;
			p->fd[p->n++] = fd;
			err = 0;
			if (p->failing)
				rfs_info("object pool: making spare files"
				    " again");
			p->failing = 0;
		}
		if (err == 0 || p->stop)
			continue;
		/* Out of inodes or descriptors: creates make their files
		 * themselves, and meet the error there, until a retry.  Said
		 * once for each run of failures. */
		if (!p->failing)
			rfs_warn("object pool: cannot make a spare file: %s;"
			    " retrying every %d s", strerror(err), RETRY_SEC);
		p->failing = 1;
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += RETRY_SEC;
		while (!p->stop &&
		    pthread_cond_timedwait(&p->cv, &p->lock, &at) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int
rfs_objpool_start(int dirfd, struct rfs_objpool **out)
{
	struct rfs_objpool *p;
	pthread_condattr_t ca;
	int fd, rc;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	p->dir = dirfd;
	if ((fd = make_spare(dirfd)) < 0) {
		rc = errno == EISDIR ? -EOPNOTSUPP : -errno;  /* old kernels */
		free(p);
		return rc;
	}
	rc = probe(p, fd);
	close(fd);
	if (rc != 0) {
		free(p);
		return rc;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&p->thread, NULL, refill, p)) != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -rc;
	}
	*out = p;
	return 0;
}

int
rfs_objpool_place(struct rfs_objpool *p, const char *path)
{
	int fd = -1, rc, way;

	pthread_mutex_lock(&p->lock);
	if (p->n > 0)
		fd = p->fd[--p->n];
	if (p->n < RFS_OBJPOOL_LOW)
		pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->lock);
	if (fd < 0)
		return -EAGAIN;
	way = atomic_load(&p->way);
	if (name_spare(p->dir, way, fd, path) == 0)
		return fd;
	rc = -errno;
	/* The capability can be dropped after the probe (or the kernel let
	 * the probe through as the file's opener): /proc may still do. */
	if (rc == -ENOENT && way == LINK_EMPTY_PATH &&
	    name_spare(p->dir, LINK_PROC, fd, path) == 0) {
		atomic_store(&p->way, LINK_PROC);
		return fd;
	}
	/* Still unnamed, so still a spare: back it goes. */
	pthread_mutex_lock(&p->lock);
	if (p->n < RFS_OBJPOOL_HIGH) {
		p->fd[p->n++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&p->lock);
	if (fd >= 0)
		close(fd);
	return rc;
}

unsigned
rfs_objpool_ready(struct rfs_objpool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
rfs_objpool_stop(struct rfs_objpool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	while (p->n > 0)
		close(p->fd[--p->n]);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
