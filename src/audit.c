/*
 * audit.c - chained audit records (audit.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rfs/audit.h"
#include "rfs/bytes.h"
#include "rfs/log.h"
#include "rfs/store.h"

static void
record_mac(const struct rfs_key *k, const struct rfs_audit_row *r,
    const unsigned char prev[RFS_MAC_BYTES], unsigned char out[RFS_MAC_BYTES])
{
	crypto_generichash_state st;
	unsigned char num[8 * 4];

	rfs_le64_put(num, (uint64_t)r->id);
	rfs_le64_put(num + 8, (uint64_t)r->time);
	rfs_le64_put(num + 16, r->ino);
	rfs_le64_put(num + 24, r->uid);
	crypto_generichash_init(&st, k->k, RFS_KEY_BYTES, RFS_MAC_BYTES);
	crypto_generichash_update(&st, prev, RFS_MAC_BYTES);
	crypto_generichash_update(&st, num, sizeof(num));
	crypto_generichash_update(&st, (const unsigned char *)r->op,
	    strlen(r->op) + 1);
	crypto_generichash_update(&st, (const unsigned char *)r->class,
	    strlen(r->class) + 1);
	if (r->detaillen > 0)
		crypto_generichash_update(&st, r->detail, r->detaillen);
	crypto_generichash_final(&st, out, RFS_MAC_BYTES);
}

/* 8 bytes of MAC(tag, id, mac): the head and the anchor check. */
static int64_t
short_mac(const struct rfs_key *k, const char *tag, int64_t id,
    const unsigned char mac[RFS_MAC_BYTES])
{
	unsigned char buf[8 + 8 + RFS_MAC_BYTES], h[RFS_MAC_BYTES];
	int64_t v;

	memset(buf, 0, 8);
	memcpy(buf, tag, strlen(tag) < 8 ? strlen(tag) : 8);
	rfs_le64_put(buf + 8, (uint64_t)id);
	memcpy(buf + 16, mac, RFS_MAC_BYTES);
	rfs_mac(k, buf, sizeof(buf), h);
	memcpy(&v, h, sizeof(v));
	return v;
}

/* The anchor: where the chain starts (id 0 and a zero MAC for a store
 * that never pruned).  -EBADMSG when its check fails. */
static int
anchor_get(struct rfs_catalog *cat, const struct rfs_key *k, int64_t *id,
    unsigned char mac[RFS_MAC_BYTES])
{
	int64_t v, check;

	memset(mac, 0, RFS_MAC_BYTES);
	*id = 0;
	if (rfs_cat_meta_get(cat, "audit_anchor_id", id) != 0)
		return 0;
	for (int i = 0; i < 4; i++) {
		char key[24];

		snprintf(key, sizeof(key), "audit_anchor_%d", i);
		if (rfs_cat_meta_get(cat, key, &v) != 0)
			return -EBADMSG;
		memcpy(mac + 8 * i, &v, 8);
	}
	if (rfs_cat_meta_get(cat, "audit_anchor_check", &check) != 0 ||
	    check != short_mac(k, "anchor", *id, mac))
		return -EBADMSG;
	return 0;
}

static int
anchor_set(struct rfs_catalog *cat, const struct rfs_key *k, int64_t id,
    const unsigned char mac[RFS_MAC_BYTES])
{
	int rc = 0;

	for (int i = 0; i < 4 && rc == 0; i++) {
		char key[24];
		int64_t v;

		snprintf(key, sizeof(key), "audit_anchor_%d", i);
		memcpy(&v, mac + 8 * i, 8);
		rc = rfs_cat_meta_set(cat, key, v);
	}
	if (rc == 0)
		rc = rfs_cat_meta_set(cat, "audit_anchor_id", id);
	if (rc == 0)
		rc = rfs_cat_meta_set(cat, "audit_anchor_check",
		    short_mac(k, "anchor", id, mac));
	return rc;
}

/* Whether the head fails to name record PREV_ID (mac PREV): a meta row
 * and a short MAC, a few microseconds an append. */
static int
head_broken(struct rfs_catalog *cat, const struct rfs_key *k,
    int64_t prev_id, const unsigned char prev[RFS_MAC_BYTES])
{
	int64_t head;

	return rfs_cat_meta_get(cat, "audit_head", &head) != 0 ||
	    head != short_mac(k, "head", prev_id, prev);
}

/* Appends R after record *PREV_ID (mac PREV) and moves the head to it;
 * *PREV_ID and PREV then name R. */
static int
chain_one(struct rfs_catalog *cat, const struct rfs_key *k,
    struct rfs_audit_row *r, int64_t *prev_id, unsigned char prev[RFS_MAC_BYTES])
{
	int rc;

	r->id = *prev_id + 1;
	record_mac(k, r, prev, r->mac);
	if ((rc = rfs_cat_audit_insert(cat, r)) != 0 ||
	    (rc = rfs_cat_meta_set(cat, "audit_head", short_mac(k, "head",
	    r->id, r->mac))) != 0)
		return rc;
	*prev_id = r->id;
	memcpy(prev, r->mac, RFS_MAC_BYTES);
	return 0;
}

int
rfs_audit_append(struct rfs_catalog *cat, const struct rfs_key *kaudit,
    const struct rfs_key *kname, int64_t now, const char *op, uint64_t ino,
    const char *cls, uint32_t uid, const char *detail)
{
	struct rfs_audit_row r, last;
	unsigned char prev[RFS_MAC_BYTES];
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	int64_t prev_id;
	int rc;

	memset(&r, 0, sizeof(r));
	r.time = now;
	snprintf(r.op, sizeof(r.op), "%s", op);
	r.ino = ino;
	snprintf(r.class, sizeof(r.class), "%s", cls ? cls : "");
	r.uid = uid;
	if (detail != NULL && *detail != '\0') {
		rc = rfs_seal(kname, "audit", 5, detail, strlen(detail), &blob,
		    &bloblen);
		if (rc != 0)
			return rc;
		r.detail = blob;
		r.detaillen = bloblen;
	}
	if (rfs_cat_audit_last(cat, &last) == 0) {
		memcpy(prev, last.mac, RFS_MAC_BYTES);
		prev_id = last.id;
	} else if (anchor_get(cat, kaudit, &prev_id, prev) != 0) {
		/* A damaged anchor must not be papered over by new records. */
		rfs_err("audit: the chain anchor fails its check");
		free(blob);
		return -EBADMSG;
	}
	/*
	 * The head names the newest record this store wrote.  If it does not
	 * name the last one found, the newest records were removed (or the
	 * head edited) behind our back: chaining on as if nothing happened
	 * would make the trail verify again.  The cut is recorded first, as
	 * a record of its own in the chain, which `audit --verify` reports
	 * for good (removing it as well is found again at the next append).
	 */
	if (head_broken(cat, kaudit, prev_id, prev)) {
		struct rfs_audit_row cut;

		rfs_err("audit: the trail was cut after record %" PRId64
		    " (its newest records were removed)", prev_id);
		memset(&cut, 0, sizeof(cut));
		cut.time = now;
		snprintf(cut.op, sizeof(cut.op), "%s", RFS_AUDIT_CUT);
		if ((rc = chain_one(cat, kaudit, &cut, &prev_id, prev)) != 0) {
			free(blob);
			return rc;
		}
	}
	rc = chain_one(cat, kaudit, &r, &prev_id, prev);
	free(blob);
	return rc;
}

int
rfs_audit_init(struct rfs_catalog *cat, const struct rfs_key *kaudit)
{
	unsigned char zero[RFS_MAC_BYTES] = { 0 };

	return rfs_cat_meta_set(cat, "audit_head", short_mac(kaudit, "head", 0,
	    zero));
}

int
rfs_audit(struct rfs_store *s, int64_t now, const char *op, uint64_t ino,
    const char *cls, uint32_t uid, const char *detail)
{
	if (s->readonly)
		return 0;
	return rfs_audit_append(s->cat, s->k_audit, s->k_name, now, op, ino,
	    cls, uid, detail);
}

struct verify {
	const struct rfs_key *k;
	unsigned char prev[RFS_MAC_BYTES];
	int64_t bad, count, last_id, cut;
};

static int
verify_one(void *ctx, const struct rfs_audit_row *r)
{
	struct verify *v = ctx;
	unsigned char mac[RFS_MAC_BYTES];

	record_mac(v->k, r, v->prev, mac);
	if (r->id != v->last_id + 1 ||
	    sodium_memcmp(mac, r->mac, RFS_MAC_BYTES) != 0) {
		v->bad = v->last_id + 1;
		return 1;
	}
	memcpy(v->prev, mac, RFS_MAC_BYTES);
	v->count++;
	v->last_id = r->id;
	if (v->cut == 0 && strcmp(r->op, RFS_AUDIT_CUT) == 0)
		v->cut = r->id;
	return 0;
}

int
rfs_audit_verify(struct rfs_store *s, int64_t *bad_id, int64_t *count)
{
	struct verify v = { .k = s->k_audit };
	int64_t head;
	int rc;

	*count = 0;
	*bad_id = 1;
	if (anchor_get(s->cat, s->k_audit, &v.last_id, v.prev) != 0)
		return -EBADMSG;
	rc = rfs_cat_audit_each(s->cat, INT64_MIN, INT64_MIN, 0, verify_one,
	    &v);
	*count = v.count;
	if (rc != 0)
		return rc;
	*bad_id = v.bad;
	if (v.bad != 0)
		return -EBADMSG;
	/* Every store has a head (init writes the first record), so a
	 * missing head, or one that is not the last record's, means the
	 * newest records were removed. */
	if (rfs_cat_meta_get(s->cat, "audit_head", &head) != 0 ||
	    head != short_mac(s->k_audit, "head", v.last_id, v.prev)) {
		*bad_id = v.last_id + 1;
		return -EBADMSG;
	}
	/* Records were removed before the one that says so. */
	if (v.cut != 0) {
		*bad_id = v.cut;
		return -EBADMSG;
	}
	return 0;
}

struct prune {
	int64_t before, id;
	unsigned char mac[RFS_MAC_BYTES];
};

static int
prune_scan(void *ctx, const struct rfs_audit_row *r)
{
	struct prune *p = ctx;

	if (r->time >= p->before)
		return 1;        /* ids are in time order: stop at the first */
	memcpy(p->mac, r->mac, RFS_MAC_BYTES);
	p->id = r->id;
	return 0;
}

int
rfs_audit_prune(struct rfs_store *s, int64_t before)
{
	struct prune p = { .before = before };
	int rc;

	rc = rfs_cat_audit_each(s->cat, INT64_MIN, INT64_MIN, 0, prune_scan,
	    &p);
	if (rc != 0 || p.id == 0)
		return rc;
	if ((rc = anchor_set(s->cat, s->k_audit, p.id, p.mac)) != 0)
		return rc;
	return rfs_cat_audit_prune(s->cat, p.id);
}

char *
rfs_audit_detail(struct rfs_store *s, const unsigned char *blob, size_t len)
{
	unsigned char *out = NULL;
	size_t outlen;

	if (blob == NULL || len == 0)
		return NULL;
	if (rfs_open(s->k_name, "audit", 5, blob, len, &out, &outlen) != 0)
		return strdup("(undecryptable)");
	return (char *)out;
}
