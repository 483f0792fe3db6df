/*
 * crypto.c - libsodium behind the small API of crypto.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rfs/bytes.h"
#include "rfs/crypto.h"

#define KDF_CONTEXT "rfs-v1.."

int
rfs_crypto_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

/*
 * Keys live in slabs of locked memory.  One sodium_malloc per key cost
 * about twenty system calls (mmap, mlock, three mprotects, and the same
 * back at free, each mprotect a TLB shootdown on every CPU): 14 % of the
 * daemon's time when creating small files, which needs two keys a file.
 * A slab is one sodium_malloc region (locked, excluded from core dumps,
 * guard pages and a canary around it) cut into key slots; a freed slot is
 * wiped and goes on a free list.  Slabs are kept until exit: their number
 * follows the most keys ever alive at once (an open file holds one).
 */
#define SLAB_KEYS 128

union key_slot {
	struct rfs_key key;
	union key_slot *next;
};

static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
static union key_slot *slab_free;

struct rfs_key *
rfs_key_new(void)
{
	union key_slot *s;

	pthread_mutex_lock(&slab_lock);
	if (slab_free == NULL) {
		union key_slot *slab = sodium_malloc(SLAB_KEYS * sizeof(*slab));

		for (size_t i = 0; slab != NULL && i < SLAB_KEYS; i++) {
			slab[i].next = slab_free;
			slab_free = &slab[i];
		}
	}
	s = slab_free;
	if (s != NULL)
		slab_free = s->next;
	pthread_mutex_unlock(&slab_lock);
	if (s != NULL)
		sodium_memzero(s, sizeof(*s));
	return s != NULL ? &s->key : NULL;
}

struct rfs_key *
rfs_key_random(void)
{
	struct rfs_key *k = rfs_key_new();

	if (k != NULL)
		randombytes_buf(k->k, sizeof(k->k));
	return k;
}

void
rfs_key_free(struct rfs_key *k)
{
	union key_slot *s = (union key_slot *)(void *)k;

	if (k == NULL)
		return;
	sodium_memzero(s, sizeof(*s));
	pthread_mutex_lock(&slab_lock);
	s->next = slab_free;
	slab_free = s;
	pthread_mutex_unlock(&slab_lock);
}

struct rfs_key *
rfs_key_derive(const struct rfs_key *master, enum rfs_subkey id)
{
	struct rfs_key *k = rfs_key_new();

	if (k == NULL)
		return NULL;
	crypto_kdf_derive_from_key(k->k, sizeof(k->k), (uint64_t)id,
	    KDF_CONTEXT, master->k);
	return k;
}

int
rfs_key_from_passphrase(struct rfs_key *out, const char *pass, size_t len,
    const unsigned char salt[16], uint64_t opslimit, size_t memlimit)
{
	if (crypto_pwhash(out->k, sizeof(out->k), pass, len, salt, opslimit,
	    memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -ENOMEM;
	return 0;
}

static void
block_ad(uint64_t ino, uint64_t idx, unsigned char ad[20])
{
	memcpy(ad, "rfs1", 4);
	rfs_le64_put(ad + 4, ino);
	rfs_le64_put(ad + 12, idx);
}

void
rfs_block_seal(const struct rfs_key *fk, uint64_t ino, uint64_t idx,
    const unsigned char *plain, size_t len, unsigned char *record)
{
	unsigned char nonce[RFS_NONCE_BYTES];

	randombytes_buf(nonce, sizeof(nonce));
	rfs_block_seal_nonce(fk, ino, idx, nonce, plain, len, record);
}

void
rfs_block_seal_nonce(const struct rfs_key *fk, uint64_t ino, uint64_t idx,
    const unsigned char nonce[RFS_NONCE_BYTES], const unsigned char *plain,
    size_t len, unsigned char *record)
{
	unsigned char ad[20];

	block_ad(ino, idx, ad);
	memcpy(record, nonce, RFS_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(record + RFS_NONCE_BYTES,
	    NULL, plain, len, ad, sizeof(ad), NULL, record, fk->k);
}

int
rfs_block_open(const struct rfs_key *fk, uint64_t ino, uint64_t idx,
    const unsigned char *record, size_t reclen, unsigned char *plain)
{
	unsigned char ad[20];

	if (reclen < RFS_BLOCK_OVERHEAD)
		return -EBADMSG;
	block_ad(ino, idx, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL,
	    record + RFS_NONCE_BYTES, reclen - RFS_NONCE_BYTES, ad, sizeof(ad),
	    record, fk->k) != 0)
		return -EBADMSG;
	return 0;
}

void
rfs_key_wrap(const struct rfs_key *kek, const struct rfs_key *key,
    const void *ad, size_t adlen, unsigned char out[RFS_WRAPPED_BYTES])
{
	randombytes_buf(out, RFS_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + RFS_NONCE_BYTES, NULL,
	    key->k, RFS_KEY_BYTES, ad, adlen, NULL, out, kek->k);
}

int
rfs_key_unwrap(const struct rfs_key *kek, const unsigned char *in,
    size_t inlen, const void *ad, size_t adlen, struct rfs_key *out)
{
	if (inlen != RFS_WRAPPED_BYTES)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->k, NULL, NULL,
	    in + RFS_NONCE_BYTES, inlen - RFS_NONCE_BYTES, ad, adlen, in,
	    kek->k) != 0)
		return -EBADMSG;
	return 0;
}

int
rfs_seal(const struct rfs_key *k, const void *ad, size_t adlen,
    const void *plain, size_t len, unsigned char **out, size_t *outlen)
{
	size_t n = len + RFS_NONCE_BYTES + RFS_TAG_BYTES;
	unsigned char *buf = malloc(n);

	if (buf == NULL)
		return -ENOMEM;
	randombytes_buf(buf, RFS_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + RFS_NONCE_BYTES, NULL,
	    plain, len, ad, adlen, NULL, buf, k->k);
	*out = buf;
	*outlen = n;
	return 0;
}

int
rfs_open(const struct rfs_key *k, const void *ad, size_t adlen,
    const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	size_t n;

	if (inlen < RFS_NONCE_BYTES + RFS_TAG_BYTES)
		return -EBADMSG;
	n = inlen - RFS_NONCE_BYTES - RFS_TAG_BYTES;
	/* One spare byte so callers can NUL-terminate names in place. */
	buf = malloc(n + 1);
	if (buf == NULL)
		return -ENOMEM;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, NULL, NULL,
	    in + RFS_NONCE_BYTES, inlen - RFS_NONCE_BYTES, ad, adlen, in,
	    k->k) != 0) {
		free(buf);
		return -EBADMSG;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

void
rfs_name_hash(const struct rfs_key *k, uint64_t parent, const char *name,
    size_t len, unsigned char out[RFS_HASH_BYTES])
{
	crypto_generichash_state st;
	unsigned char p[8];

	rfs_le64_put(p, parent);
	crypto_generichash_init(&st, k->k, RFS_KEY_BYTES, RFS_HASH_BYTES);
	crypto_generichash_update(&st, p, sizeof(p));
	crypto_generichash_update(&st, (const unsigned char *)name, len);
	crypto_generichash_final(&st, out, RFS_HASH_BYTES);
}

void
rfs_mac(const struct rfs_key *k, const void *data, size_t len,
    unsigned char out[RFS_MAC_BYTES])
{
	crypto_generichash(out, RFS_MAC_BYTES, data, len, k->k, RFS_KEY_BYTES);
}

void
rfs_hex(const unsigned char *in, size_t len, char *out)
{
	sodium_bin2hex(out, len * 2 + 1, in, len);
}

int
rfs_unhex(const char *in, unsigned char *out, size_t len)
{
	size_t got;

	if (strlen(in) != len * 2 ||
	    sodium_hex2bin(out, len, in, len * 2, NULL, &got, NULL) != 0 ||
	    got != len)
		return -EINVAL;
	return 0;
}
