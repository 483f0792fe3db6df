/*
 * sweeper.c - the sweeper thread (sweeper.h).
 *
 * It sleeps in poll() on a self-pipe with the policy's interval as the
 * timeout; a byte 'r' on the pipe (SIGHUP) reloads the policy, any other
 * byte runs a sweep early.  The pipe is static so the signal handler can
 * reach it; there is one mount per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rfs/admin.h"
#include "rfs/audit.h"
#include "rfs/log.h"
#include "rfs/store.h"
#include "rfs/sweeper.h"

static int wake[2] = { -1, -1 };

struct rfs_sweeper {
	struct rfs_fs *fs;
	char *policy_path;
	pthread_t thread;
	int stopping;
};

void
rfs_sweeper_request_reload(void)
{
	if (wake[1] >= 0)
		(void)!write(wake[1], "r", 1);
}

void
rfs_sweeper_poke(void)
{
	if (wake[1] >= 0)
		(void)!write(wake[1], "s", 1);
}

static void
diag(void *ctx, const char *file, int line, int warn, const char *msg)
{
	rfs_log(warn ? LOG_WARNING : LOG_ERR, "%s:%d: %s", file, line, msg);
}

static void
reload(struct rfs_sweeper *sw)
{
	struct rfs_policy *p;
	struct rfs_store *st = rfs_fs_store(sw->fs);
	int64_t now;

	if (sw->policy_path == NULL) {
		rfs_info("SIGHUP: no policy file, built-in default kept");
		return;
	}
	p = rfs_policy_load(sw->policy_path, diag, NULL);
	if (p == NULL) {
		rfs_err("policy %s is invalid; the old policy stays in force",
		    sw->policy_path);
		return;
	}
	rfs_fs_set_policy(sw->fs, p);
	now = rfs_fs_now(sw->fs);
	rfs_fs_lock(sw->fs);
	(void)rfs_audit(st, now, "policy-load", 0, "", 0, NULL);
	rfs_fs_unlock(sw->fs);
	rfs_info("policy %s reloaded", sw->policy_path);
}

static void *
loop(void *arg)
{
	struct rfs_sweeper *sw = arg;
	struct pollfd p = { .fd = wake[0], .events = POLLIN };
	struct rfs_sweep_stats st;
	struct rfs_policy *pol;
	int timeout;

	/* A first sweep at start resumes whatever a crash interrupted. */
	(void)rfs_admin_sweep(sw->fs, 0, &st, NULL, NULL);
	for (;;) {
		char c[64];
		ssize_t n;
		int do_reload = 0;

		pol = rfs_fs_policy(sw->fs);
		timeout = pol->shred_interval > 86400 ? 86400000 :
		    (int)(pol->shred_interval * 1000);
		rfs_policy_unref(pol);
		if (poll(&p, 1, timeout) < 0 && errno != EINTR)
			break;
		if (p.revents & POLLIN) {
			n = read(wake[0], c, sizeof(c));
			for (ssize_t i = 0; i < n; i++) {
				if (c[i] == 'q')
					return NULL;
				if (c[i] == 'r')
					do_reload = 1;
			}
		}
		if (do_reload)
			reload(sw);
		(void)rfs_admin_sweep(sw->fs, 0, &st, NULL, NULL);
		rfs_store_refill_reserve(rfs_fs_store(sw->fs));
	}
	return NULL;
}

int
rfs_sweeper_start(struct rfs_fs *fs, const char *policy_path,
    struct rfs_sweeper **out)
{
	struct rfs_sweeper *sw = calloc(1, sizeof(*sw));

	*out = NULL;
	if (sw == NULL)
		return -ENOMEM;
	sw->fs = fs;
	if (policy_path != NULL)
		sw->policy_path = realpath(policy_path, NULL);
	if (wake[0] < 0 && pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(sw->policy_path);
		free(sw);
		return -errno;
	}
	if (pthread_create(&sw->thread, NULL, loop, sw) != 0) {
		free(sw->policy_path);
		free(sw);
		return -EAGAIN;
	}
	*out = sw;
	return 0;
}

void
rfs_sweeper_stop(struct rfs_sweeper *sw)
{
	if (sw == NULL)
		return;
	(void)!write(wake[1], "q", 1);
	pthread_join(sw->thread, NULL);
	free(sw->policy_path);
	free(sw);
}
