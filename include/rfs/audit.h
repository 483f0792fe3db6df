/*
 * audit.h - the tamper-evident audit trail.
 *
 * Record ids are contiguous.  Each record's MAC is keyed BLAKE2b (AUDIT
 * subkey) over its id, fields and the previous record's MAC, so editing,
 * removing or reordering a record breaks the chain after it.  The catalog
 * is writable by whoever holds the backing directory, so every value the
 * check relies on is itself MAC'd:
 *   meta audit_head    8 bytes of MAC(last id, last MAC): catches removal
 *                      of the newest records (init writes the head of
 *                      the empty chain, so a head is always required);
 *   meta audit_anchor_{0..3}, audit_anchor_id, audit_anchor_check
 *                      the MAC and id of the last pruned record, and a MAC
 *                      over both: the chain restarts there after a prune
 *                      by the audit retention, and an unauthorised "prune"
 *                      cannot forge it.
 * The head alone would catch a removal only until the next append chains
 * on: so every append checks the head first, and if the newest records
 * are gone it first appends an RFS_AUDIT_CUT record, which
 * `--verify` reports from then on.
 * No plaintext names: the detail text is sealed with the NAME subkey.
 */
#ifndef RFS_AUDIT_H
#define RFS_AUDIT_H

#include <stdint.h>

#include "rfs/catalog.h"
#include "rfs/crypto.h"

struct rfs_store;

/* The op of the record that says records before it were removed. */
#define RFS_AUDIT_CUT "audit-cut"

/* Appends a record; call inside the transaction of the operation. */
int rfs_audit(struct rfs_store *s, int64_t now, const char *op, uint64_t ino,
    const char *cls, uint32_t uid, const char *detail);
/* Starts the chain of a new catalog: the head of the empty chain. */
int rfs_audit_init(struct rfs_catalog *cat, const struct rfs_key *kaudit);
/* rfs_audit on a bare catalog. */
int rfs_audit_append(struct rfs_catalog *cat, const struct rfs_key *kaudit,
    const struct rfs_key *kname, int64_t now, const char *op, uint64_t ino,
    const char *cls, uint32_t uid, const char *detail);
/* Verifies the whole chain; 0, or -EBADMSG with the bad id in *bad_id. */
int rfs_audit_verify(struct rfs_store *s, int64_t *bad_id, int64_t *count);
/* Drops records older than BEFORE (in id order), keeping the anchor. */
int rfs_audit_prune(struct rfs_store *s, int64_t before);
/* Opens a record's detail into a malloc'd string (or NULL). */
char *rfs_audit_detail(struct rfs_store *s, const unsigned char *blob,
    size_t len);

#endif
