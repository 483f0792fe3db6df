/*
 * catalog.h - the SQLite catalog: every inode, directory entry, xattr,
 * event and audit record of a store.
 *
 * Concurrency: one connection, used under the caller's catalog lock (the fs
 * layer's meta lock, or a tool's single thread).  Nothing here locks.
 * Durability: WAL mode, synchronous=NORMAL, secure_delete=ON.  A commit is
 * in the WAL file (safe against a daemon crash) when it returns; rfs_cat_sync
 * makes it safe against power loss (fdatasync of the WAL), which fsync and
 * fsyncdir call.  The schema is documented in docs/format.md.
 *
 * Group commit (the daemon; rfs_cat_set_batch): writes then go into one
 * open transaction, and rfs_cat_begin/commit/rollback become a savepoint
 * inside it, so an operation is still all or nothing.  The batch reaches
 * the WAL at rfs_cat_flush, which rfs_cat_sync and rfs_cat_checkpoint call
 * first.  A daemon crash loses the changes of the open batch, the way a
 * power loss loses what ext4 has not yet committed to its journal; what
 * must be on disk before a step outside the catalog (an object rewritten,
 * truncated or destroyed, a key destroyed) is flushed by the caller first.
 */
#ifndef RFS_CATALOG_H
#define RFS_CATALOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rfs/crypto.h"

#define RFS_ROOT_INO 1
#define RFS_CLASS_MAX 64

enum rfs_state {
	RFS_LIVE = 0,       /* reachable through the namespace */
	RFS_TRASH = 1,      /* last link removed; recoverable until purged */
	RFS_SHRED = 2,      /* due: key destroyed or about to be; never shown */
};

struct rfs_attr {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev;
	int64_t atime, mtime, ctime;    /* ns since the epoch */
	int64_t created;                /* trusted creation time, ns */
	char class[RFS_CLASS_MAX + 1];
	int64_t period;                 /* key window start (s) of created */
	unsigned char wkey[RFS_WRAPPED_BYTES];
	int has_key;                    /* 0 once crypto-shredded */
	int hold;
	int state;
	int64_t del_time;               /* trash: when, by whom, from where */
	uint32_t del_uid;
	uint64_t del_parent;
	/*
	 * What the catalog last committed about the object: its length and
	 * the nonce of its last record (every write draws a new one).  While
	 * WRITING is set the object may legitimately differ (a crash during
	 * a write session); when clear, any difference is tampering:
	 * truncation, appended bytes, or a roll-back to an older copy.
	 */
	uint64_t objlen;
	unsigned char tail[RFS_NONCE_BYTES];
	int has_tail;
	int writing;
};

/* A file whose object never held committed data: nothing can have been
 * truncated or rolled back, and its object may not exist yet. */
static inline int
rfs_attr_fresh(const struct rfs_attr *a)
{
	return a->objlen == 0 && !a->has_tail;
}

struct rfs_catalog;

/* Opens PATH; with CREATE makes a new catalog (fails if it exists). */
int rfs_cat_open(const char *path, int create, int readonly,
    struct rfs_catalog **out, char *err, size_t errlen);
void rfs_cat_close(struct rfs_catalog *c);
int rfs_cat_sync(struct rfs_catalog *c);
/* PRAGMA integrity_check plus our own invariants; 0 or -EUCLEAN. */
int rfs_cat_check(struct rfs_catalog *c, char *err, size_t errlen);
/* Checkpoints the WAL (TRUNCATE), so no old page survives in it. */
int rfs_cat_checkpoint(struct rfs_catalog *c);

/*
 * Group commit: from now on writes collect in one transaction until
 * rfs_cat_flush.  Before a batch opens MAY_OPEN (may be NULL) is asked;
 * when it says 0 the write commits on its own.  OPENED runs when a new
 * batch begins (the owner arranges its flush); NULL turns group commit
 * off again.  Both run under the caller's lock.
 *
 * Why MAY_OPEN: SQLite answers a COMMIT that fails for want of disk space
 * by rolling the whole transaction back, which for a batch would undo
 * operations already reported done.  The owner refuses batches while free
 * space is short, so on a filling disk each operation fails on its own.
 */
void rfs_cat_set_batch(struct rfs_catalog *c, int (*may_open)(void *),
    void (*opened)(void *), void *ctx);
/* Commits the open batch, if any.  -errno if it failed; the batch then
 * stays open for the next try when SQLite kept it, else it is lost and
 * the error is logged. */
int rfs_cat_flush(struct rfs_catalog *c);
/* 1 while a transaction (a batch) is open. */
int rfs_cat_pending(struct rfs_catalog *c);
/* 1 if anything was written since the last successful rfs_cat_sync. */
int rfs_cat_unsynced(struct rfs_catalog *c);
int rfs_cat_begin(struct rfs_catalog *c);
int rfs_cat_commit(struct rfs_catalog *c);
void rfs_cat_rollback(struct rfs_catalog *c);

int rfs_cat_meta_get(struct rfs_catalog *c, const char *key, int64_t *v);
int rfs_cat_meta_set(struct rfs_catalog *c, const char *key, int64_t v);

/* Inodes.  insert assigns a->ino (never reused: AUTOINCREMENT). */
int rfs_cat_inode_insert(struct rfs_catalog *c, struct rfs_attr *a);
int rfs_cat_inode_get(struct rfs_catalog *c, uint64_t ino, struct rfs_attr *a);
int rfs_cat_inode_put(struct rfs_catalog *c, const struct rfs_attr *a);
int rfs_cat_inode_delete(struct rfs_catalog *c, uint64_t ino);
int rfs_cat_inode_set_link(struct rfs_catalog *c, uint64_t ino,
    const unsigned char *blob, size_t len);
int rfs_cat_inode_get_link(struct rfs_catalog *c, uint64_t ino,
    unsigned char **blob, size_t *len);
int rfs_cat_inode_set_delpath(struct rfs_catalog *c, uint64_t ino,
    const unsigned char *blob, size_t len);
int rfs_cat_inode_get_delpath(struct rfs_catalog *c, uint64_t ino,
    unsigned char **blob, size_t *len);
/* Calls FN for every inode in STATE (ordered by ino); FN returns non-zero
 * to stop.  Used by sweeps, trash listing and status. */
typedef int (*rfs_cat_inode_fn)(void *ctx, const struct rfs_attr *a);
int rfs_cat_inode_each(struct rfs_catalog *c, int state, uint64_t after,
    int limit, rfs_cat_inode_fn fn, void *ctx);

/* Directory entries, keyed by (parent, keyed hash of the name). */
struct rfs_dirent {
	int64_t id;                 /* stable readdir offset */
	uint64_t ino;
	unsigned char *name;        /* sealed name; owned by the iterator */
	size_t namelen;
};
int rfs_cat_dirent_lookup(struct rfs_catalog *c, uint64_t parent,
    const unsigned char hash[RFS_HASH_BYTES], uint64_t *ino);
int rfs_cat_dirent_insert(struct rfs_catalog *c, uint64_t parent,
    const unsigned char hash[RFS_HASH_BYTES], const unsigned char *name,
    size_t namelen, uint64_t ino);
/* Every entry naming INO (fsck's repairs; directories keep their nlink). */
int rfs_cat_dirent_delete_ino(struct rfs_catalog *c, uint64_t ino);
int rfs_cat_dirent_delete(struct rfs_catalog *c, uint64_t parent,
    const unsigned char hash[RFS_HASH_BYTES]);
/* Entries of PARENT with id > AFTER, ordered by id; FN returns non-zero to
 * stop (the entry it stopped on is not consumed). */
typedef int (*rfs_cat_dirent_fn)(void *ctx, const struct rfs_dirent *d);
int rfs_cat_dirent_each(struct rfs_catalog *c, uint64_t parent, int64_t after,
    rfs_cat_dirent_fn fn, void *ctx);
int rfs_cat_dirent_any(struct rfs_catalog *c, uint64_t parent);
/* FN for each directory holding an entry for INO (a file has one per
 * directory it is linked in); nonzero from FN stops. */
int rfs_cat_parents_each(struct rfs_catalog *c, uint64_t ino,
    int (*fn)(void *ctx, uint64_t parent), void *ctx);
/* FN for each trashed file deleted from directory DIR (its del_parent). */
int rfs_cat_trash_in_each(struct rfs_catalog *c, uint64_t dir,
    int (*fn)(void *ctx, uint64_t ino), void *ctx);
/* Any one entry naming INO: (parent, sealed name). */
int rfs_cat_dirent_of(struct rfs_catalog *c, uint64_t ino, uint64_t *parent,
    unsigned char **name, size_t *namelen);

/* Extended attributes, keyed by (ino, keyed hash of the name). */
int rfs_cat_xattr_get(struct rfs_catalog *c, uint64_t ino,
    const unsigned char hash[RFS_HASH_BYTES], unsigned char **val,
    size_t *len);
int rfs_cat_xattr_set(struct rfs_catalog *c, uint64_t ino,
    const unsigned char hash[RFS_HASH_BYTES], const unsigned char *name,
    size_t namelen, const unsigned char *val, size_t len);
int rfs_cat_xattr_remove(struct rfs_catalog *c, uint64_t ino,
    const unsigned char hash[RFS_HASH_BYTES]);
int rfs_cat_xattr_delete_all(struct rfs_catalog *c, uint64_t ino);
typedef int (*rfs_cat_blob_fn)(void *ctx, const unsigned char *b, size_t len);
int rfs_cat_xattr_names(struct rfs_catalog *c, uint64_t ino,
    rfs_cat_blob_fn fn, void *ctx);

/* Aggregates for statfs and status. */
int rfs_cat_counts(struct rfs_catalog *c, uint64_t *files, uint64_t *bytes);

/* Events (issue: deadlines from events). */
struct rfs_event {
	int64_t id;
	uint64_t ino;
	int64_t at;          /* ns */
	int64_t set_time;
	uint32_t set_uid;
	unsigned char *reason; size_t reasonlen;   /* sealed */
};
int rfs_cat_event_insert(struct rfs_catalog *c, struct rfs_event *e);
int rfs_cat_event_delete(struct rfs_catalog *c, int64_t id);
typedef int (*rfs_cat_event_fn)(void *ctx, const struct rfs_event *e);
int rfs_cat_event_each(struct rfs_catalog *c, rfs_cat_event_fn fn, void *ctx);

/* Audit trail rows; the chain MAC is computed by audit.c. */
struct rfs_audit_row {
	int64_t id, time;
	char op[24];
	uint64_t ino;
	char class[RFS_CLASS_MAX + 1];
	uint32_t uid;
	unsigned char *detail; size_t detaillen;   /* sealed, may be empty */
	unsigned char mac[RFS_MAC_BYTES];
};
/* Inserts R with id R->id (or the next id when 0); sets R->id. */
int rfs_cat_audit_insert(struct rfs_catalog *c, struct rfs_audit_row *r);
int rfs_cat_audit_last(struct rfs_catalog *c, struct rfs_audit_row *r);
typedef int (*rfs_cat_audit_fn)(void *ctx, const struct rfs_audit_row *r);
/* Records of time >= SINCE and id > AFTER, at most LIMIT (0: all), in
 * id order. */
int rfs_cat_audit_each(struct rfs_catalog *c, int64_t since, int64_t after,
    int limit, rfs_cat_audit_fn fn, void *ctx);
/* Deletes every record with id <= LAST_ID. */
int rfs_cat_audit_prune(struct rfs_catalog *c, int64_t last_id);

/*
 * Key windows: (class, window start) -> the latest creation time a file
 * wrapped by that window key can have (the window's end; fs_create.c).  The key
 * may be destroyed once last_created + backup_retention(class) has passed
 * and no held file still needs it.
 */
int rfs_cat_keywin_touch(struct rfs_catalog *c, const char *cls,
    int64_t start, int64_t created);
typedef int (*rfs_cat_keywin_fn)(void *ctx, const char *cls, int64_t start,
    int64_t last_created);
int rfs_cat_keywin_each(struct rfs_catalog *c, rfs_cat_keywin_fn fn,
    void *ctx);
int rfs_cat_keywin_delete(struct rfs_catalog *c, const char *cls,
    int64_t start);
int rfs_cat_keywin_held(struct rfs_catalog *c, const char *cls,
    int64_t start);
/* 1 if the catalog records window (CLS, START), 0 if not. */
int rfs_cat_keywin_known(struct rfs_catalog *c, const char *cls,
    int64_t start);

#endif
