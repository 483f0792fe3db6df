/*
 * store.c - creating and opening a store (store.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "rfs/audit.h"
#include "rfs/clock.h"
#include "rfs/keystore.h"
#include "rfs/log.h"
#include "rfs/object.h"
#include "rfs/store.h"
#include "rfs/ulog.h"

#define KEYCHECK_MSG "retentionfs key check v1"

struct header {
	int format;
	int argon;                   /* 0: key file; 1: Argon2id passphrase */
	unsigned char salt[16];
	uint64_t opslimit;
	uint64_t memlimit;
	unsigned char check[RFS_MAC_BYTES];
};

int
rfs_read_secret_file(const char *path, unsigned char *buf, size_t max,
    size_t *len, char *err, size_t errlen)
{
	struct stat sb;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open key file %s: %s", path,
		    strerror(errno));
		return -errno;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "key file %s is not a regular file", path);
		rc = -EINVAL;
		goto out;
	}
	if (sb.st_mode & 077) {
		snprintf(err, errlen, "key file %s is accessible by group or"
		    " others (mode %04o); chmod 600 it", path,
		    (unsigned)(sb.st_mode & 07777));
		rc = -EPERM;
		goto out;
	}
	n = read(fd, buf, max);
	if (n < 0) {
		snprintf(err, errlen, "cannot read key file %s: %s", path,
		    strerror(errno));
		rc = -errno;
		goto out;
	}
	*len = (size_t)n;
out:
	close(fd);
	return rc;
}

static int
header_write(int dirfd, const struct header *h)
{
	char salt[33], check[RFS_MAC_BYTES * 2 + 1];
	FILE *f;
	int fd;

	rfs_hex(h->salt, sizeof(h->salt), salt);
	rfs_hex(h->check, sizeof(h->check), check);
	fd = openat(dirfd, RFS_STORE_HEADER ".tmp",
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return -ENOMEM;
	}
	fprintf(f, "retentionfs store\nformat %d\n", h->format);
	if (h->argon)
		fprintf(f, "kdf argon2id\nsalt %s\nopslimit %llu\n"
		    "memlimit %llu\n", salt, (unsigned long long)h->opslimit,
		    (unsigned long long)h->memlimit);
	else
		fprintf(f, "kdf none\n");
	fprintf(f, "keycheck %s\n", check);
	if (fflush(f) != 0 || fsync(fd) != 0) {
		fclose(f);
		return -errno;
	}
	fclose(f);
	if (renameat(dirfd, RFS_STORE_HEADER ".tmp", dirfd,
	    RFS_STORE_HEADER) != 0)
		return -errno;
	return fsync(dirfd) != 0 ? -errno : 0;
}

static int
header_read(int dirfd, struct header *h, char *err, size_t errlen)
{
	char line[256], val[200], key[32];
	int fd, seen_magic = 0, seen_check = 0;
	FILE *f;

	memset(h, 0, sizeof(*h));
	h->format = -1;
	fd = openat(dirfd, RFS_STORE_HEADER, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "not a retentionfs store (no %s)",
		    RFS_STORE_HEADER);
		return -ENOENT;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (!seen_magic) {
			if (strcmp(line, "retentionfs store\n") != 0)
				break;
			seen_magic = 1;
			continue;
		}
		if (sscanf(line, "%31s %199s", key, val) != 2)
			continue;
		if (strcmp(key, "format") == 0)
			h->format = atoi(val);
		else if (strcmp(key, "kdf") == 0)
			h->argon = strcmp(val, "argon2id") == 0;
		else if (strcmp(key, "salt") == 0)
			(void)rfs_unhex(val, h->salt, sizeof(h->salt));
		else if (strcmp(key, "opslimit") == 0)
			h->opslimit = strtoull(val, NULL, 10);
		else if (strcmp(key, "memlimit") == 0)
			h->memlimit = strtoull(val, NULL, 10);
		else if (strcmp(key, "keycheck") == 0)
			seen_check = rfs_unhex(val, h->check,
			    sizeof(h->check)) == 0;
	}
	fclose(f);
	if (!seen_magic || !seen_check) {
		snprintf(err, errlen, "store header %s is damaged",
		    RFS_STORE_HEADER);
		return -EUCLEAN;
	}
	if (h->format != RFS_STORE_FORMAT) {
		snprintf(err, errlen, "store has unknown format version %d"
		    " (this build reads %d)", h->format, RFS_STORE_FORMAT);
		return -EPROTO;
	}
	return 0;
}

static void
key_check(const struct rfs_key *master, unsigned char out[RFS_MAC_BYTES])
{
	struct rfs_key *k = rfs_key_derive(master, RFS_SUBKEY_CHECK);

	rfs_mac(k, KEYCHECK_MSG, strlen(KEYCHECK_MSG), out);
	rfs_key_free(k);
}

/* Loads the master key described by O and H into a new locked key. */
static int
load_master(const struct rfs_store_opts *o, const struct header *h,
    struct rfs_key **out, char *err, size_t errlen)
{
	unsigned char *buf;
	struct rfs_key *k;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((o->keyfile == NULL) == (o->passfile == NULL)) {
		snprintf(err, errlen, "give exactly one of keyfile= or"
		    " passfile=");
		return -EINVAL;
	}
	if (o->passfile != NULL && !h->argon) {
		snprintf(err, errlen, "this store uses a key file, not a"
		    " passphrase");
		return -EINVAL;
	}
	if (o->keyfile != NULL && h->argon) {
		snprintf(err, errlen, "this store uses a passphrase"
		    " (passfile=), not a key file");
		return -EINVAL;
	}
	buf = sodium_malloc(1024);
	k = rfs_key_new();
	if (buf == NULL || k == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = rfs_read_secret_file(o->keyfile ? o->keyfile : o->passfile, buf,
	    1024, &len, err, errlen);
	if (rc != 0)
		goto out;
	if (o->keyfile != NULL) {
		if (len != RFS_KEY_BYTES) {
			snprintf(err, errlen, "key file %s must hold exactly"
			    " %d bytes, it holds %zu", o->keyfile,
			    RFS_KEY_BYTES, len);
			rc = -EINVAL;
			goto out;
		}
		memcpy(k->k, buf, RFS_KEY_BYTES);
	} else {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		if (len == 0 || len == 1024) {
			snprintf(err, errlen, "passphrase file %s must hold 1 to"
			    " 1023 bytes", o->passfile);
			rc = -EINVAL;
			goto out;
		}
		rc = rfs_key_from_passphrase(k, (const char *)buf, len,
		    h->salt, h->opslimit, (size_t)h->memlimit);
		if (rc != 0) {
			snprintf(err, errlen, "Argon2id failed (out of"
			    " memory?)");
			goto out;
		}
	}
	*out = k;
	k = NULL;
out:
	sodium_free(buf);
	rfs_key_free(k);
	return rc;
}

static int
dir_is_empty(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int empty = 1;

	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

static int
make_keyfile(const char *path, char *err, size_t errlen)
{
	unsigned char k[RFS_KEY_BYTES];
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errlen, "cannot create key file %s: %s", path,
		    strerror(errno));
		return -errno;
	}
	randombytes_buf(k, sizeof(k));
	if (write(fd, k, sizeof(k)) != (ssize_t)sizeof(k) || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write key file %s: %s", path,
		    strerror(errno));
		rc = -EIO;
		unlink(path);
	}
	sodium_memzero(k, sizeof(k));
	close(fd);
	return rc;
}

int
rfs_store_create(const char *backing, const struct rfs_store_opts *o,
    char *err, size_t errlen)
{
	struct rfs_store_opts oo = *o;
	struct rfs_catalog *cat = NULL;
	struct rfs_key *master = NULL;
	struct header h;
	struct rfs_attr root;
	struct timespec now;
	char path[4096], sub[16];
	int rc, dirfd = -1;

	if ((rc = rfs_crypto_init()) != 0)
		return rc;
	if (mkdir(backing, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", backing,
		    strerror(errno));
		return -errno;
	}
	rc = dir_is_empty(backing);
	if (rc <= 0) {
		snprintf(err, errlen, "%s %s; a store must start in an empty"
		    " directory", backing, rc == 0 ? "is not empty" :
		    "cannot be read");
		return rc == 0 ? -ENOTEMPTY : rc;
	}
	memset(&h, 0, sizeof(h));
	h.format = RFS_STORE_FORMAT;
	if (oo.keyfile != NULL) {
		if ((rc = make_keyfile(oo.keyfile, err, errlen)) != 0)
			return rc;
	} else if (oo.passfile != NULL) {
		h.argon = 1;
		randombytes_buf(h.salt, sizeof(h.salt));
		h.opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		h.memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	}
	if ((rc = load_master(&oo, &h, &master, err, errlen)) != 0)
		return rc;
	key_check(master, h.check);

	dirfd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = -errno;
		goto out;
	}
	if (mkdirat(dirfd, "objects", 0700) != 0 ||
	    (o->keystore == NULL && mkdirat(dirfd, "keys", 0700) != 0)) {
		rc = -errno;
		snprintf(err, errlen, "cannot create store directories in %s:"
		    " %s", backing, strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < RFS_OBJ_SHARDS; i++) {
		char shard[8];

		rfs_obj_shard(i, shard, sizeof(shard));
		snprintf(sub, sizeof(sub), "objects/%s", shard);
		if (mkdirat(dirfd, sub, 0700) != 0) {
			rc = -errno;
			goto out;
		}
	}
	snprintf(path, sizeof(path), "%s/catalog.db", backing);
	if ((rc = rfs_cat_open(path, 1, 0, &cat, err, errlen)) != 0)
		goto out;
	clock_gettime(CLOCK_REALTIME, &now);
	memset(&root, 0, sizeof(root));
	root.ino = RFS_ROOT_INO;
	root.mode = S_IFDIR | 0755;
	root.uid = getuid();
	root.gid = getgid();
	root.nlink = 2;
	root.atime = root.mtime = root.ctime = root.created =
	    (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	snprintf(root.class, sizeof(root.class), "default");
	if ((rc = rfs_cat_inode_insert(cat, &root)) != 0 ||
	    (rc = rfs_cat_meta_set(cat, "clock_hwm", root.created)) != 0) {
		snprintf(err, errlen, "cannot initialise the catalog");
		goto out;
	}
	{
		/* From now on the audit chain always has a head. */
		struct rfs_key *ka = rfs_key_derive(master, RFS_SUBKEY_AUDIT);

		rc = ka ? rfs_audit_init(cat, ka) : -ENOMEM;
		rfs_key_free(ka);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start the audit trail");
			goto out;
		}
	}
	rfs_cat_close(cat);
	cat = NULL;
	if ((rc = header_write(dirfd, &h)) != 0)
		snprintf(err, errlen, "cannot write the store header: %s",
		    strerror(-rc));
out:
	rfs_cat_close(cat);
	rfs_key_free(master);
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

void
rfs_store_close(struct rfs_store *s)
{
	if (s == NULL)
		return;
	rfs_keystore_close(s);
	rfs_ulog_close(s->ulog);
	rfs_cat_close(s->cat);
	rfs_key_free(s->master);
	rfs_key_free(s->k_name);
	rfs_key_free(s->k_hash);
	rfs_key_free(s->k_wrap);
	rfs_key_free(s->k_audit);
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->objfd >= 0)
		close(s->objfd);
	if (s->keysfd >= 0)
		close(s->keysfd);
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->reservefd >= 0)
		close(s->reservefd);
	pthread_mutex_destroy(&s->reserve_lock);
	free(s->backing);
	free(s->keys_path);
	free(s);
}

/*
 * The store's lock.  `umount` returns when the kernel lets go of the
 * mount, a moment before its daemon has closed the store, so `umount &&
 * mount` would find it in use.  So the lock is tried for LOCK_WAIT_MS:
 * a holder on its way out lets go within it, a live mount does not (and
 * a second mount or tool then fails, after that wait).
 */
#define LOCK_WAIT_MS 3000

static int
lock_store(int fd, int shared)
{
	struct timespec pause = { 0, 20 * 1000000L };
	int64_t until = rfs_clock_mono() + (int64_t)LOCK_WAIT_MS * 1000000;

	while (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK || rfs_clock_mono() >= until)
			return -1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

int
rfs_store_open(const char *backing, const struct rfs_store_opts *o,
    struct rfs_store **out, char *err, size_t errlen)
{
	unsigned char check[RFS_MAC_BYTES];
	struct rfs_store *s;
	struct header h;
	char path[4096];
	int rc;

	*out = NULL;
	if ((rc = rfs_crypto_init()) != 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->dirfd = s->objfd = s->keysfd = s->lockfd = s->reservefd = -1;
	pthread_mutex_init(&s->reserve_lock, NULL);
	s->readonly = o->readonly;
	s->backing = realpath(backing, NULL);
	if (s->backing == NULL) {
		snprintf(err, errlen, "store %s: %s", backing, strerror(errno));
		rc = -errno;
		goto fail;
	}
	s->dirfd = open(s->backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		snprintf(err, errlen, "store %s: %s", backing, strerror(errno));
		rc = -errno;
		goto fail;
	}
	if ((rc = header_read(s->dirfd, &h, err, errlen)) != 0)
		goto fail;
	{
		struct statvfs sv;

		if (!o->readonly && fstatvfs(s->dirfd, &sv) == 0 &&
		    (sv.f_flag & ST_RDONLY)) {
			snprintf(err, errlen, "store %s is on a read-only"
			    " filesystem; mount it with -o ro", backing);
			rc = -EROFS;
			goto fail;
		}
	}
	/* A store has one writer: a second mount, or an offline tool next to
	 * a live mount, would see a catalog and objects changing under it. */
	s->lockfd = openat(s->dirfd, RFS_STORE_HEADER, O_RDONLY | O_CLOEXEC);
	if (s->lockfd < 0 || lock_store(s->lockfd, o->readonly) != 0) {
		snprintf(err, errlen, "store %s is in use by a mount or another"
		    " tool (for a live mount use its MOUNTPOINT)", backing);
		rc = -EBUSY;
		goto fail;
	}
	if ((rc = load_master(o, &h, &s->master, err, errlen)) != 0)
		goto fail;
	key_check(s->master, check);
	if (sodium_memcmp(check, h.check, sizeof(check)) != 0) {
		snprintf(err, errlen, "wrong key for store %s", backing);
		rc = -EKEYREJECTED;
		goto fail;
	}
	s->k_name = rfs_key_derive(s->master, RFS_SUBKEY_NAME);
	s->k_hash = rfs_key_derive(s->master, RFS_SUBKEY_HASH);
	s->k_wrap = rfs_key_derive(s->master, RFS_SUBKEY_WRAP);
	s->k_audit = rfs_key_derive(s->master, RFS_SUBKEY_AUDIT);
	if (!s->k_name || !s->k_hash || !s->k_wrap || !s->k_audit) {
		rc = -ENOMEM;
		goto fail;
	}
	s->objfd = openat(s->dirfd, "objects", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (s->objfd < 0) {
		snprintf(err, errlen, "store %s has no objects directory",
		    backing);
		rc = -ENOENT;
		goto fail;
	}
	if (o->keystore != NULL)
		s->keysfd = open(o->keystore, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
	else
		s->keysfd = openat(s->dirfd, "keys", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
	if (s->keysfd < 0) {
		snprintf(err, errlen, "key store %s: %s", o->keystore ?
		    o->keystore : "keys", strerror(errno));
		rc = -errno;
		goto fail;
	}
	if (o->keystore != NULL)
		s->keys_path = realpath(o->keystore, NULL);
	else if (asprintf(&s->keys_path, "%s/keys", s->backing) < 0)
		s->keys_path = NULL;
	if (s->keys_path == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/catalog.db", s->backing);
	if ((rc = rfs_cat_open(path, 0, o->readonly, &s->cat, err,
	    errlen)) != 0)
		goto fail;
	if ((rc = rfs_keystore_open(s)) != 0) {
		snprintf(err, errlen, "cannot set up the key store");
		goto fail;
	}
	/* Before anything opens an object: undo the writes a kill cut
	 * short (rfs/ulog.h). */
	if ((rc = rfs_ulog_open(s->dirfd, o->readonly, &s->ulog)) != 0) {
		snprintf(err, errlen, "store %s: undo log: %s", backing,
		    strerror(-rc));
		goto fail;
	}
	{
		unsigned n;

		if ((rc = rfs_ulog_replay(s->ulog, s->objfd, &n)) != 0) {
			snprintf(err, errlen, "store %s: cannot undo a write a"
			    " crash cut short: %s", backing, strerror(-rc));
			goto fail;
		}
	}
	if (!s->readonly) {
		s->reservefd = openat(s->dirfd, "reserve", O_RDWR | O_CREAT |
		    O_CLOEXEC, 0600);
		rfs_store_refill_reserve(s);
	}
	*out = s;
	return 0;
fail:
	rfs_store_close(s);
	return rc;
}

int
rfs_store_release_reserve(struct rfs_store *s, enum rfs_reserve_use use)
{
	off_t keep = use == RFS_RESERVE_DELETE ? RFS_RESERVE / 2 : 0;
	struct stat sb;
	int rc = -ENOSPC;

	pthread_mutex_lock(&s->reserve_lock);
	if (s->reservefd >= 0 && fstat(s->reservefd, &sb) == 0 &&
	    sb.st_size > keep && sb.st_blocks > 0 &&
	    ftruncate(s->reservefd, keep) == 0) {
		rfs_warn("backing directory full: released %lld KiB of the"
		    " reserve so %s can go on", (long long)(sb.st_size - keep)
		    >> 10, keep ? "deletes" : "freeing space");
		rc = 0;
	}
	pthread_mutex_unlock(&s->reserve_lock);
	return rc;
}

void
rfs_store_refill_reserve(struct rfs_store *s)
{
	struct statvfs sv;
	struct stat sb;
	off_t want;

	pthread_mutex_lock(&s->reserve_lock);
	if (s->reservefd < 0 || fstat(s->reservefd, &sb) != 0 ||
	    (off_t)sb.st_blocks * 512 >= RFS_RESERVE ||
	    fstatvfs(s->reservefd, &sv) != 0)
		goto out;
	/* What it holds and as much as is free, in whole pages (counted in
	 * allocated blocks: a hole holds nothing); posix_fallocate may leave
	 * part of a failed allocation behind: cut back to the old length. */
	want = (off_t)sb.st_blocks * 512 +
	    (off_t)((sv.f_bavail * sv.f_frsize) & ~4095ULL);
	if (want > RFS_RESERVE)
		want = RFS_RESERVE;
	if (want > (off_t)sb.st_blocks * 512 &&
	    posix_fallocate(s->reservefd, 0, want) != 0)
		(void)ftruncate(s->reservefd, sb.st_size);
out:
	pthread_mutex_unlock(&s->reserve_lock);
}
