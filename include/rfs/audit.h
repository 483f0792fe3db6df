/*
 * audit.h - the tamper-evident audit trail.
 *
 * Each record's MAC is keyed BLAKE2b (AUDIT subkey) over its fields and the
 * previous record's MAC, so editing or removing a record breaks the chain
 * after it.  The head (meta "audit_head": the last id and 8 bytes of a MAC
 * over it and the last MAC) catches removal of the newest records.  Pruning
 * by the audit retention keeps the chain verifiable: the MAC of the last
 * pruned record is kept as the anchor (meta "audit_anchor_*").
 * No plaintext names: the detail text is sealed with the NAME subkey.
 */
#ifndef RFS_AUDIT_H
#define RFS_AUDIT_H

#include <stdint.h>

struct rfs_store;

/* Appends a record; call inside the transaction of the operation. */
int rfs_audit(struct rfs_store *s, int64_t now, const char *op, uint64_t ino,
    const char *cls, uint32_t uid, const char *detail);
/* Verifies the whole chain; 0, or -EBADMSG with the bad id in *bad_id. */
int rfs_audit_verify(struct rfs_store *s, int64_t *bad_id, int64_t *count);
/* Drops records older than BEFORE, keeping the chain anchor. */
int rfs_audit_prune(struct rfs_store *s, int64_t before);
/* Opens a record's detail into a malloc'd string (or NULL). */
char *rfs_audit_detail(struct rfs_store *s, const unsigned char *blob,
    size_t len, int64_t id_unused);

#endif
