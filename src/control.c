/*
 * control.c - the control channel server and its wire format (control.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "rfs/clock.h"
#include "rfs/admin.h"
#include "rfs/control.h"
#include "rfs/log.h"

struct rfs_control {
	struct rfs_fs *fs;
	int lfd;
	int stop[2];
	pthread_t thread;
	char path[108];
};

int
rfs_control_path(const char *mountpoint, char *buf, size_t len)
{
	unsigned char h[16];
	char hex[33];
	char *real = realpath(mountpoint, NULL);

	if (real == NULL)
		return -errno;
	crypto_generichash(h, sizeof(h), (const unsigned char *)real,
	    strlen(real), NULL, 0);
	free(real);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(buf, len, "%s/%s.sock", RFS_CONTROL_DIR, hex);
	return 0;
}

int
rfs_control_parse(char *buf, size_t len, int *argc, char **argv)
{
	size_t pos = 5;
	int n;

	if (len < 5 || len > RFS_CONTROL_MAX || memcmp(buf, "RFS1", 4) != 0)
		return -EINVAL;
	n = (unsigned char)buf[4];
	if (n < 1 || n > RFS_CONTROL_ARGS)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		char *end = memchr(buf + pos, '\0', len - pos);

		if (pos >= len || end == NULL)
			return -EINVAL;
		argv[i] = buf + pos;
		pos = (size_t)(end - buf) + 1;
	}
	if (pos != len)
		return -EINVAL;
	*argc = n;
	argv[n] = NULL;
	return 0;
}

ssize_t
rfs_control_build(int argc, char **argv, char *buf, size_t len)
{
	size_t pos = 5;

	if (argc < 1 || argc > RFS_CONTROL_ARGS || len < 5)
		return -E2BIG;
	memcpy(buf, "RFS1", 4);
	buf[4] = (char)argc;
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		if (pos + n > len || pos + n > RFS_CONTROL_MAX)
			return -E2BIG;
		memcpy(buf + pos, argv[i], n);
		pos += n;
	}
	return (ssize_t)pos;
}

/*
 * Root, or a member of $RFS_ADMIN_GROUP (primary group, or a supplementary
 * group of the peer process as /proc lists them).  Called from the accept
 * thread only, before a connection takes a client slot.
 */
static int
allowed(const struct ucred *cr)
{
	const char *name = getenv("RFS_ADMIN_GROUP");
	struct group g, *gp = NULL;
	char gbuf[4096], path[64], *line = NULL;
	size_t cap = 0;
	int ok = 0;
	FILE *f;

	if (cr->uid == 0)
		return 1;
	if (name == NULL || getgrnam_r(name, &g, gbuf, sizeof(gbuf), &gp) != 0 ||
	    gp == NULL)
		return 0;
	if (cr->gid == g.gr_gid)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)cr->pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	/* getline: a long "Groups:" line is read whole, not cut at a buffer. */
	while (!ok && getline(&line, &cap, f) > 0) {
		char *p = line + 7, *e;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (;;) {
			unsigned long v = strtoul(p, &e, 10);

			if (e == p)
				break;
			if ((gid_t)v == g.gr_gid) {
				ok = 1;
				break;
			}
			p = e;
		}
	}
	free(line);
	fclose(f);
	return ok;
}

/*
 * Progress goes to the client at once, as lines "\001DONE TOTAL\n"
 * before the reply; retentionctl draws them as a bar on a terminal.  (The
 * commands that report progress write their output after it, and the
 * reply's buffer is sent only when full or at the end.)
 */
static void
progress_out(void *ctx, uint64_t done, uint64_t total)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "\001%llu %llu\n",
	    (unsigned long long)done, (unsigned long long)total);

	(void)send(*(int *)ctx, line, (size_t)n, MSG_NOSIGNAL);
}

/*
 * The reply streams to the client through a stdio buffer, so the daemon
 * holds at most a buffer and a page of a listing (admin.c) however long
 * the reply: `audit` of 150,000 records, 12 MB of text, took the peak RSS
 * to 45 MiB when the whole reply was built in memory first.  A send that
 * fails (the client gone, or not reading for the 10 s SO_SNDTIMEO) drops
 * the rest of the reply at once rather than waiting again for each buffer.
 */
struct sock_out {
	int fd;
	int failed;
};

static ssize_t
sock_write(void *cookie, const char *buf, size_t len)
{
	struct sock_out *so = cookie;
	size_t off = 0;
	ssize_t n;

	while (!so->failed && off < len) {
		n = send(so->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			so->failed = 1;
		else
			off += (size_t)n;
	}
	/* Everything is "written": stdio would otherwise keep the rest and
	 * offer it again at the next flush. */
	return (ssize_t)len;
}

#define REPLY_BUFFER (64 * 1024)

/*
 * Serves one connection from a peer with credentials CR; OK says whether
 * the peer may administer the mount (decided before it took a slot).
 */
static void
serve(struct rfs_control *c, int fd, const struct ucred *cr, int ok)
{
	static const cookie_io_functions_t sock_io = { .write = sock_write };
	char *buf = malloc(RFS_CONTROL_MAX);
	char *argv[RFS_CONTROL_ARGS + 1];
	struct sock_out so = { .fd = fd };
	size_t len = 0;
	int argc, code = 1;
	FILE *out;
	ssize_t n;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (buf == NULL)
		return;
	out = fopencookie(&so, "w", sock_io);
	if (out == NULL)
		goto done;
	setvbuf(out, NULL, _IOFBF, REPLY_BUFFER);
	/* Read the whole request first, even from a peer that will be
	 * refused: replying and closing early would reset its connection.
	 * The client half-closes after its request; 10 s in all to send it
	 * (1 s for a refused peer), however it trickles. */
	int64_t deadline = rfs_clock_mono() / 1000000 + (ok ? 10000 : 1000);

	while (len < RFS_CONTROL_MAX) {
		int64_t left = deadline - rfs_clock_mono() / 1000000;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = read(fd, buf + len, RFS_CONTROL_MAX - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (!ok) {
		fprintf(out, "retentionctl: permission denied: only root%s may"
		    " administer this mount\n", getenv("RFS_ADMIN_GROUP") ?
		    " and the admin group" : "");
		code = 1;
		goto reply;
	}
	if (rfs_control_parse(buf, len, &argc, argv) != 0) {
		fprintf(out, "retentionctl: malformed request\n");
		code = 2;
		goto reply;
	}
	code = rfs_admin_run(c->fs, cr->uid, argc, argv, out, progress_out, &fd);
reply:
	fprintf(out, "\nRFS-EXIT %d\n", code);
	fclose(out);
done:
	free(buf);
}

/*
 * Each client is served by its own thread, so a slow or stuck client
 * (one that trickles its request, or never reads its reply) cannot hold
 * up the others; a reply that cannot be sent within 10 s is dropped.
 * Admins get MAX_CLIENTS slots at once.  Anyone may connect (the socket is
 * 0666), so peers that will be refused are told so from slots of their
 * own, MAX_REFUSED at most, and beyond that closed at once: a local user
 * holding connections open cannot lock the admins out.
 */
#define MAX_CLIENTS 8
#define MAX_REFUSED 4

static int nclients, nrefused;
static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;

struct client {
	struct rfs_control *c;
	int fd, ok;
	struct ucred cr;
};

static void
slot_put(int ok)
{
	pthread_mutex_lock(&clients_lock);
	if (ok)
		nclients--;
	else
		nrefused--;
	pthread_mutex_unlock(&clients_lock);
}

static void *
client_main(void *arg)
{
	struct client *cl = arg;
	struct timeval tv = { .tv_sec = 10 };

	(void)setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	serve(cl->c, cl->fd, &cl->cr, cl->ok);
	close(cl->fd);
	slot_put(cl->ok);
	free(cl);
	return NULL;
}

static void
dispatch(struct rfs_control *c, int fd)
{
	struct client *cl = NULL;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	pthread_attr_t attr;
	pthread_t t;
	int ok, busy;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0) {
		close(fd);
		return;
	}
	ok = allowed(&cr);
	pthread_mutex_lock(&clients_lock);
	busy = ok ? nclients >= MAX_CLIENTS : nrefused >= MAX_REFUSED;
	if (!busy && ok)
		nclients++;
	else if (!busy)
		nrefused++;
	pthread_mutex_unlock(&clients_lock);
	if (!busy && (cl = malloc(sizeof(*cl))) == NULL)
		slot_put(ok);
	if (cl == NULL) {
		static const char msg[] = "retentionctl: the daemon is busy with"
		    " other admin requests; try again\n\nRFS-EXIT 1\n";

		if (ok)
			(void)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL |
			    MSG_DONTWAIT);
		close(fd);
		return;
	}
	cl->c = c;
	cl->fd = fd;
	cl->ok = ok;
	cl->cr = cr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, client_main, cl) != 0) {
		close(fd);
		free(cl);
		slot_put(ok);
	}
	pthread_attr_destroy(&attr);
}

static void *
loop(void *arg)
{
	struct rfs_control *c = arg;
	struct pollfd p[2] = {
		{ .fd = c->lfd, .events = POLLIN },
		{ .fd = c->stop[0], .events = POLLIN },
	};

	for (;;) {
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		dispatch(c, fd);
	}
	return NULL;
}

int
rfs_control_start(struct rfs_fs *fs, const char *mountpoint,
    struct rfs_control **out)
{
	struct rfs_control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->fs = fs;
	c->lfd = -1;
	c->stop[0] = c->stop[1] = -1;
	if ((rc = rfs_control_path(mountpoint, c->path, sizeof(c->path))) != 0)
		goto fail;
	(void)mkdir(RFS_CONTROL_DIR, 0755);
	unlink(c->path);
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
	if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0
	    || chmod(c->path, 0666) != 0 || listen(c->lfd, 16) != 0 ||
	    pipe2(c->stop, O_CLOEXEC) != 0) {
		rc = -errno;
		rfs_err("control channel %s: %s", c->path, strerror(errno));
		goto fail;
	}
	if ((rc = -pthread_create(&c->thread, NULL, loop, c)) != 0)
		goto fail;
	*out = c;
	return 0;
fail:
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->stop[0] >= 0) {
		close(c->stop[0]);
		close(c->stop[1]);
	}
	free(c);
	return rc;
}

void
rfs_control_stop(struct rfs_control *c)
{
	if (c == NULL)
		return;
	if (write(c->stop[1], "x", 1) < 0)
		rfs_warn("control channel: cannot signal stop");
	pthread_join(c->thread, NULL);
	/* Clients in flight use the filesystem: let them finish (each is
	 * bounded by its 10 s timeouts) before it goes away. */
	for (int i = 0; i < 2500; i++) {
		int n;

		pthread_mutex_lock(&clients_lock);
		n = nclients;
		pthread_mutex_unlock(&clients_lock);
		if (n == 0)
			break;
		usleep(10000);
	}
	close(c->lfd);
	close(c->stop[0]);
	close(c->stop[1]);
	unlink(c->path);
	free(c);
}
