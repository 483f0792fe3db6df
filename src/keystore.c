/*
 * keystore.c - window keys on disk, with a small locked cache (keystore.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "rfs/keystore.h"
#include "rfs/log.h"
#include "rfs/store.h"

#define MAGIC "RFSK1"
#define MAGIC_LEN 5
#define CACHE_SLOTS 64

struct slot {
	char name[RFS_CLASS_MAX + 24];
	struct rfs_key *key;
	uint64_t used;
};

struct cache {
	pthread_mutex_t lock;
	struct slot slot[CACHE_SLOTS];
	uint64_t clock;
};

int
rfs_keystore_open(struct rfs_store *s)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	s->keycache = c;
	return 0;
}

void
rfs_keystore_close(struct rfs_store *s)
{
	struct cache *c = s->keycache;

	if (c == NULL)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++)
		rfs_key_free(c->slot[i].key);
	pthread_mutex_destroy(&c->lock);
	free(c);
	s->keycache = NULL;
}

static struct slot *
cache_find(struct cache *c, const char *name)
{
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (c->slot[i].key != NULL && strcmp(c->slot[i].name, name) == 0)
			return &c->slot[i];
	return NULL;
}

static void
cache_put(struct cache *c, const char *name, const struct rfs_key *k)
{
	struct slot *victim = &c->slot[0];

	for (int i = 0; i < CACHE_SLOTS; i++) {
		if (c->slot[i].key == NULL) {
			victim = &c->slot[i];
			break;
		}
		if (c->slot[i].used < victim->used)
			victim = &c->slot[i];
	}
	if (victim->key == NULL && (victim->key = rfs_key_new()) == NULL)
		return;
	memcpy(victim->key->k, k->k, RFS_KEY_BYTES);
	snprintf(victim->name, sizeof(victim->name), "%s", name);
	victim->used = ++c->clock;
}

/*
 * The key store directory, opened by path for each use: a key store that
 * is unmounted or moved away makes key operations fail (EIO to the
 * application) instead of silently using a stale directory, and one put
 * back at the same path works again.  Caller closes the fd.
 */
static int
keys_dir(struct rfs_store *s)
{
	int fd = open(s->keys_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		rfs_err("key store %s: %s", s->keys_path, strerror(errno));
	return fd;
}

static int
load(struct rfs_store *s, const char *name, struct rfs_key *out)
{
	unsigned char buf[MAGIC_LEN + RFS_WRAPPED_BYTES + 1];
	char file[RFS_CLASS_MAX + 32];
	ssize_t n;
	int fd, dfd;

	snprintf(file, sizeof(file), "%s.key", name);
	if ((dfd = keys_dir(s)) < 0)
		return -EIO;
	fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	close(dfd);
	if (fd < 0)
		return errno == ENOENT ? -ENOKEY : -errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != (ssize_t)(MAGIC_LEN + RFS_WRAPPED_BYTES) ||
	    memcmp(buf, MAGIC, MAGIC_LEN) != 0 ||
	    rfs_key_unwrap(s->k_wrap, buf + MAGIC_LEN, RFS_WRAPPED_BYTES, name,
	    strlen(name), out) != 0) {
		rfs_err("key store: key %s fails authentication", file);
		return -EBADMSG;
	}
	return 0;
}

static int
make(struct rfs_store *s, const char *name, struct rfs_key *out)
{
	unsigned char buf[MAGIC_LEN + RFS_WRAPPED_BYTES];
	char file[RFS_CLASS_MAX + 32], tmp[RFS_CLASS_MAX + 40];
	struct rfs_key *k;
	int fd, dfd, rc = 0;

	if ((dfd = keys_dir(s)) < 0)
		return -EIO;
	if ((k = rfs_key_random()) == NULL) {
		close(dfd);
		return -ENOMEM;
	}
	memcpy(buf, MAGIC, MAGIC_LEN);
	rfs_key_wrap(s->k_wrap, k, name, strlen(name), buf + MAGIC_LEN);
	snprintf(file, sizeof(file), "%s.key", name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	/* Write, fsync, rename, fsync the directory: a window key must be
	 * durable before any file key wrapped by it is. */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	if (rc == 0 && renameat(dfd, tmp, dfd, file) != 0)
		rc = -errno;
	if (rc == 0 && fsync(dfd) != 0)
		rc = -errno;
	if (rc == 0)
		memcpy(out->k, k->k, RFS_KEY_BYTES);
	else
		unlinkat(dfd, tmp, 0);
out:
	close(dfd);
	rfs_key_free(k);
	return rc;
}

int
rfs_keystore_get(struct rfs_store *s, const char *cls, int64_t period,
    int create, struct rfs_key *out)
{
	struct cache *c = s->keycache;
	char name[RFS_CLASS_MAX + 24];
	struct slot *sl;
	int rc;

	snprintf(name, sizeof(name), "%s@%" PRId64, cls, period);
	pthread_mutex_lock(&c->lock);
	if ((sl = cache_find(c, name)) != NULL) {
		memcpy(out->k, sl->key->k, RFS_KEY_BYTES);
		sl->used = ++c->clock;
		rc = 0;
		goto out;
	}
	rc = load(s, name, out);
	/*
	 * A window the catalog already knows must have its key: if the key
	 * is missing the key store is damaged or not the right one, and a
	 * second key for the window would orphan every file of it.
	 */
	if (rc == -ENOKEY && create && !s->readonly &&
	    rfs_cat_keywin_known(s->cat, cls, period) == 1) {
		rfs_err("key store: window key %s is missing; not making a new"
		    " one (is the right key store mounted?)", name);
		rc = -EIO;
	} else if (rc == -ENOKEY && create && !s->readonly)
		rc = make(s, name, out);
	if (rc == 0)
		cache_put(c, name, out);
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Overwrites, fsyncs and unlinks key file FILE in directory DFD. */
static int
shred_file(int dfd, const char *file)
{
	unsigned char junk[MAGIC_LEN + RFS_WRAPPED_BYTES];
	int fd, rc = 0;

	fd = openat(dfd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		randombytes_buf(junk, sizeof(junk));
		if (pwrite(fd, junk, sizeof(junk), 0) != (ssize_t)sizeof(junk)
		    || fsync(fd) != 0)
			rc = -EIO;
		close(fd);
	}
	if (unlinkat(dfd, file, 0) != 0 && errno != ENOENT)
		rc = -errno;
	if (rc == 0)
		(void)fsync(dfd);
	return rc;
}

int
rfs_keystore_destroy(struct rfs_store *s, const char *cls, int64_t period)
{
	struct cache *c = s->keycache;
	char name[RFS_CLASS_MAX + 24], file[RFS_CLASS_MAX + 32];
	struct slot *sl;
	int dfd, rc;

	snprintf(name, sizeof(name), "%s@%" PRId64, cls, period);
	snprintf(file, sizeof(file), "%s.key", name);
	pthread_mutex_lock(&c->lock);
	if ((sl = cache_find(c, name)) != NULL) {
		rfs_key_free(sl->key);
		sl->key = NULL;
	}
	if ((dfd = keys_dir(s)) < 0) {
		pthread_mutex_unlock(&c->lock);
		return -EIO;
	}
	rc = shred_file(dfd, file);
	close(dfd);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/*
 * Calls FN(CTX, DFD, NAME) for every file NAME of the key store that looks
 * like CLASS@START followed by SUFFIX, until FN returns non-zero.
 */
static int
scan(struct rfs_store *s, const char *suffix,
    int (*fn)(void *ctx, int dfd, const char *name), void *ctx)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if ((fd = keys_dir(s)) < 0)
		return -EIO;
	if ((d = fdopendir(fd)) == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		const char *dot = strrchr(de->d_name, '.');

		if (dot == NULL || strcmp(dot, suffix) != 0 ||
		    strchr(de->d_name, '@') == NULL)
			continue;
		if ((rc = fn(ctx, dirfd(d), de->d_name)) != 0)
			break;
	}
	closedir(d);
	return rc;
}

static int
shred_tmp(void *ctx, int dfd, const char *name)
{
	int rc = shred_file(dfd, name);

	if (rc == 0)
		(*(int *)ctx)++;
	return rc;
}

/*
 * A key is written to CLASS@START.tmp, then renamed: a crash in between
 * leaves the .tmp, a key no file was ever given.  With the store locked
 * by this process no make() is under way, so every .tmp is such a
 * leftover.  Returns how many were destroyed, or a negative errno.
 */
int
rfs_keystore_tidy(struct rfs_store *s)
{
	int n = 0, rc = scan(s, ".tmp", shred_tmp, &n);

	return rc != 0 ? rc : n;
}

struct each {
	rfs_keystore_fn fn;
	void *ctx;
};

static int
each_key(void *ctx, int dfd, const char *name)
{
	struct each *e = ctx;
	const char *at = strrchr(name, '@');
	char cls[RFS_CLASS_MAX + 1];

	if ((size_t)(at - name) > RFS_CLASS_MAX)
		return 0;
	memcpy(cls, name, (size_t)(at - name));
	cls[at - name] = '\0';
	return e->fn(e->ctx, cls, strtoll(at + 1, NULL, 10));
}

int
rfs_keystore_each(struct rfs_store *s, rfs_keystore_fn fn, void *ctx)
{
	struct each e = { fn, ctx };

	return scan(s, ".key", each_key, &e);
}
