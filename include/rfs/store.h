/*
 * store.h - a retentionfs store: the backing directory, its master key,
 * its catalog and its key store, opened together.
 *
 * Layout of a backing directory (docs/format.md is the reference):
 *
 *   retentionfs.store   text header: format version, KDF, key check
 *   catalog.db[-wal]    SQLite catalog (catalog.h)
 *   objects/XX/INO      one encrypted object per regular file (object.h)
 *   keys/               default key store: one wrapped key per
 *                       (class, period) window (keystore.h)
 *   reserve             1 MiB of allocated space kept for deletes
 *
 * The header is written last by rfs_store_create, so a directory holding
 * it is a complete store.
 */
#ifndef RFS_STORE_H
#define RFS_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "rfs/catalog.h"
#include "rfs/crypto.h"

#define RFS_STORE_HEADER "retentionfs.store"
#define RFS_STORE_FORMAT 1

struct rfs_store_opts {
	const char *keyfile;     /* 32 raw bytes, not group/other readable */
	const char *passfile;    /* or a passphrase (Argon2id) */
	const char *keystore;    /* NULL: BACKING/keys */
	int readonly;
};

struct rfs_store {
	char *backing;
	char *keys_path;         /* the key store, opened afresh for each use */
	int dirfd, objfd, keysfd;
	int lockfd;              /* flock on the header: one user at a time */
	int reservefd;           /* BACKING/reserve: space kept for deletes */
	pthread_mutex_t reserve_lock;   /* its release and refill */
	int readonly;
	struct rfs_key *master;
	struct rfs_key *k_name, *k_hash, *k_wrap, *k_audit;
	struct rfs_catalog *cat;
	struct rfs_ulog *ulog;   /* writes in flight (ulog.h) */
	void *keycache;          /* keystore.c */
};

/*
 * Makes BACKING a new store.  Creates the key file (O_EXCL, 0600) when
 * opts->keyfile does not exist.  Refuses a BACKING that holds anything.
 */
int rfs_store_create(const char *backing, const struct rfs_store_opts *o,
    char *err, size_t errlen);
/* Opens a store; on failure ERR holds one line naming the problem. */
int rfs_store_open(const char *backing, const struct rfs_store_opts *o,
    struct rfs_store **out, char *err, size_t errlen);
void rfs_store_close(struct rfs_store *s);

/*
 * A full disk must not stop an admin from freeing space through the
 * mount: moving a file to the trash, shredding it and cutting it short are
 * catalog writes.  The store keeps RFS_RESERVE bytes allocated in
 * BACKING/reserve, in two halves.  A delete that hits ENOSPC releases the
 * first half and tries once more; a delete only moves the file to the
 * trash and frees nothing, so that space can be taken again, and more
 * deletes then fail with ENOSPC.  What frees space (emptying the trash, a
 * sweep, a truncation) may release the second half too, so it always gets
 * through, and refills the reserve from what it freed; the sweeper
 * refills it too when there is room.
 */
#define RFS_RESERVE (2 << 20)
enum rfs_reserve_use {
	RFS_RESERVE_DELETE,          /* the first half */
	RFS_RESERVE_FREEING          /* all of it */
};
/* 0 if space was released (worth a retry), -ENOSPC if none was left. */
int rfs_store_release_reserve(struct rfs_store *s, enum rfs_reserve_use use);
/* Best effort: as much of the reserve as the free space allows, up to
 * RFS_RESERVE; what it already holds is never given up. */
void rfs_store_refill_reserve(struct rfs_store *s);

/* Reads a key file or passphrase file, refusing loose permissions. */
int rfs_read_secret_file(const char *path, unsigned char *buf, size_t max,
    size_t *len, char *err, size_t errlen);

#endif
