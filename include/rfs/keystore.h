/*
 * keystore.h - the (class, period) keys that wrap per-file keys.
 *
 * One file per window, KEYSTORE/CLASS@PERIOD.key, holding "RFSK1" and the
 * window key wrapped by the store's WRAP subkey (associated data
 * "CLASS@PERIOD", so a key file cannot be renamed to serve another window).
 * PERIOD is floor(created / key period).  The key store may live outside the
 * backing directory (-o keystore=PATH) so that backups of the backing
 * directory do not carry it: destroying a window key then makes those
 * files unreadable in every backup too.
 */
#ifndef RFS_KEYSTORE_H
#define RFS_KEYSTORE_H

#include <stdint.h>

#include "rfs/crypto.h"

struct rfs_store;

int rfs_keystore_open(struct rfs_store *s);
void rfs_keystore_close(struct rfs_store *s);
/*
 * Copies the window key into OUT.  With CREATE a missing key is made;
 * without, a missing key is -ENOKEY (destroyed or never made).
 */
int rfs_keystore_get(struct rfs_store *s, const char *cls, int64_t period,
    int create, struct rfs_key *out);
/* Overwrites, fsyncs and unlinks the key file; forgets any cached copy. */
int rfs_keystore_destroy(struct rfs_store *s, const char *cls, int64_t period);
/* Destroys what a crash while making a key left (CLASS@START.tmp files);
 * returns how many.  Only with the store locked for writing. */
int rfs_keystore_tidy(struct rfs_store *s);
/* Calls FN for every key present. */
typedef int (*rfs_keystore_fn)(void *ctx, const char *cls, int64_t period);
int rfs_keystore_each(struct rfs_store *s, rfs_keystore_fn fn, void *ctx);

#endif
