/*
 * audit.c - chained audit records (audit.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rfs/audit.h"
#include "rfs/log.h"
#include "rfs/store.h"

static void
record_mac(struct rfs_store *s, const struct rfs_audit_row *r,
    const unsigned char prev[RFS_MAC_BYTES], unsigned char out[RFS_MAC_BYTES])
{
	crypto_generichash_state st;
	unsigned char num[8 * 3];
	uint64_t v[3] = { (uint64_t)r->time, r->ino, r->uid };

	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 8; j++)
			num[i * 8 + j] = (unsigned char)(v[i] >> (8 * j));
	crypto_generichash_init(&st, s->k_audit->k, RFS_KEY_BYTES,
	    RFS_MAC_BYTES);
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

static int64_t
head_of(struct rfs_store *s, int64_t id, const unsigned char mac[RFS_MAC_BYTES])
{
	unsigned char buf[8 + RFS_MAC_BYTES], h[RFS_MAC_BYTES];
	int64_t v = 0;

	for (int j = 0; j < 8; j++)
		buf[j] = (unsigned char)((uint64_t)id >> (8 * j));
	memcpy(buf + 8, mac, RFS_MAC_BYTES);
	rfs_mac(s->k_audit, buf, sizeof(buf), h);
	memcpy(&v, h, sizeof(v));
	return v;
}

static void
anchor_get(struct rfs_store *s, unsigned char mac[RFS_MAC_BYTES])
{
	int64_t v;

	memset(mac, 0, RFS_MAC_BYTES);
	for (int i = 0; i < 4; i++) {
		char key[24];

		snprintf(key, sizeof(key), "audit_anchor_%d", i);
		if (rfs_cat_meta_get(s->cat, key, &v) == 0)
			memcpy(mac + 8 * i, &v, 8);
	}
}

static int
anchor_set(struct rfs_store *s, const unsigned char mac[RFS_MAC_BYTES])
{
	int rc = 0;

	for (int i = 0; i < 4 && rc == 0; i++) {
		char key[24];
		int64_t v;

		snprintf(key, sizeof(key), "audit_anchor_%d", i);
		memcpy(&v, mac + 8 * i, 8);
		rc = rfs_cat_meta_set(s->cat, key, v);
	}
	return rc;
}

int
rfs_audit(struct rfs_store *s, int64_t now, const char *op, uint64_t ino,
    const char *cls, uint32_t uid, const char *detail)
{
	struct rfs_audit_row r, last;
	unsigned char prev[RFS_MAC_BYTES];
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	int rc;

	if (s->readonly)
		return 0;
	memset(&r, 0, sizeof(r));
	r.time = now;
	snprintf(r.op, sizeof(r.op), "%s", op);
	r.ino = ino;
	snprintf(r.class, sizeof(r.class), "%s", cls ? cls : "");
	r.uid = uid;
	if (detail != NULL && *detail != '\0') {
		rc = rfs_seal(s->k_name, "audit", 5, detail, strlen(detail),
		    &blob, &bloblen);
		if (rc != 0)
			return rc;
		r.detail = blob;
		r.detaillen = bloblen;
	}
	if (rfs_cat_audit_last(s->cat, &last) == 0)
		memcpy(prev, last.mac, RFS_MAC_BYTES);
	else
		anchor_get(s, prev);
	record_mac(s, &r, prev, r.mac);
	rc = rfs_cat_audit_insert(s->cat, &r);
	if (rc == 0)
		rc = rfs_cat_meta_set(s->cat, "audit_head",
		    head_of(s, r.id, r.mac));
	free(blob);
	return rc;
}

struct verify {
	struct rfs_store *s;
	unsigned char prev[RFS_MAC_BYTES];
	int64_t bad, count, last_id;
};

static int
verify_one(void *ctx, const struct rfs_audit_row *r)
{
	struct verify *v = ctx;
	unsigned char mac[RFS_MAC_BYTES];

	record_mac(v->s, r, v->prev, mac);
	if (sodium_memcmp(mac, r->mac, RFS_MAC_BYTES) != 0) {
		v->bad = r->id;
		return 1;
	}
	memcpy(v->prev, mac, RFS_MAC_BYTES);
	v->count++;
	v->last_id = r->id;
	return 0;
}

int
rfs_audit_verify(struct rfs_store *s, int64_t *bad_id, int64_t *count)
{
	struct verify v = { .s = s };
	int64_t head = 0;
	int rc;

	anchor_get(s, v.prev);
	rc = rfs_cat_audit_each(s->cat, INT64_MIN, verify_one, &v);
	*count = v.count;
	*bad_id = v.bad;
	if (rc != 0)
		return rc;
	if (v.bad != 0)
		return -EBADMSG;
	if (rfs_cat_meta_get(s->cat, "audit_head", &head) == 0 &&
	    v.count > 0 && head != head_of(s, v.last_id, v.prev)) {
		*bad_id = v.last_id + 1;   /* newest records were removed */
		return -EBADMSG;
	}
	if (v.count == 0 && head != 0) {
		int64_t h2;

		/* Everything removed: only legitimate after a full prune. */
		if (rfs_cat_meta_get(s->cat, "audit_pruned_head", &h2) != 0 ||
		    h2 != head) {
			*bad_id = 1;
			return -EBADMSG;
		}
	}
	return 0;
}

struct prune {
	int64_t before;
	unsigned char mac[RFS_MAC_BYTES];
	int any;
};

static int
prune_scan(void *ctx, const struct rfs_audit_row *r)
{
	struct prune *p = ctx;

	if (r->time >= p->before)
		return 1;
	memcpy(p->mac, r->mac, RFS_MAC_BYTES);
	p->any = 1;
	return 0;
}

int
rfs_audit_prune(struct rfs_store *s, int64_t before)
{
	struct prune p = { .before = before };
	int64_t head;
	int rc;

	rc = rfs_cat_audit_each(s->cat, INT64_MIN, prune_scan, &p);
	if (rc != 0 || !p.any)
		return rc;
	if ((rc = anchor_set(s, p.mac)) != 0)
		return rc;
	if (rfs_cat_meta_get(s->cat, "audit_head", &head) == 0)
		(void)rfs_cat_meta_set(s->cat, "audit_pruned_head", head);
	return rfs_cat_audit_prune(s->cat, before);
}

char *
rfs_audit_detail(struct rfs_store *s, const unsigned char *blob, size_t len,
    int64_t id_unused)
{
	unsigned char *out = NULL;
	size_t outlen;

	if (blob == NULL || len == 0)
		return NULL;
	if (rfs_open(s->k_name, "audit", 5, blob, len, &out, &outlen) != 0)
		return strdup("(undecryptable)");
	return (char *)out;
}
