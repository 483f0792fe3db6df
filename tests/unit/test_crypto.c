/*
 * test_crypto.c - content blocks, key wrapping, small secrets, keyed
 * hashes, the passphrase KDF and the hex helpers.  Besides round trips
 * these pin the on-disk formats (record layout and associated data, the
 * lookup hash input) by checking them against libsodium directly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rfs/crypto.h"

#include "harness.h"

static struct rfs_key *
fixed_key(unsigned char fill)
{
	struct rfs_key *k = rfs_key_new();

	if (k != NULL)
		memset(k->k, fill, sizeof(k->k));
	return k;
}

static void
pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + seed * 7u + (i >> 8));
}

TEST(init)
{
	CHECK_EQ(rfs_crypto_init(), 0);
	CHECK_EQ(rfs_crypto_init(), 0);
	CHECK_EQ(RFS_RECORD, RFS_BLOCK + 40);
	CHECK_EQ(RFS_WRAPPED_BYTES, 72);
}

TEST(key_new_random_free)
{
	struct rfs_key *z = rfs_key_new(), *a = rfs_key_random(),
	    *b = rfs_key_random();
	static const unsigned char zero[RFS_KEY_BYTES];

	CHECK(z != NULL && a != NULL && b != NULL);
	CHECK(memcmp(z->k, zero, sizeof(zero)) == 0);
	CHECK(memcmp(a->k, zero, sizeof(zero)) != 0);
	CHECK(memcmp(a->k, b->k, sizeof(a->k)) != 0);
	rfs_key_free(z);
	rfs_key_free(a);
	rfs_key_free(b);
	rfs_key_free(NULL);
}

TEST(key_derive)
{
	struct rfs_key *m = fixed_key(0x11), *m2 = fixed_key(0x12);
	struct rfs_key *d[6] = { NULL };
	struct rfs_key *again, *other;
	int ok = 1;

	CHECK(m != NULL && m2 != NULL);
	for (int i = 1; i <= 5; i++)
		d[i] = rfs_key_derive(m, (enum rfs_subkey)i);
	again = rfs_key_derive(m, RFS_SUBKEY_HASH);
	other = rfs_key_derive(m2, RFS_SUBKEY_HASH);
	for (int i = 1; i <= 5 && ok; i++) {
		if (d[i] == NULL || memcmp(d[i]->k, m->k, RFS_KEY_BYTES) == 0)
			ok = 0;
		for (int j = 1; j < i && ok; j++)
			if (memcmp(d[i]->k, d[j]->k, RFS_KEY_BYTES) == 0)
				ok = 0;
	}
	if (ok && (again == NULL || other == NULL ||
	    memcmp(again->k, d[RFS_SUBKEY_HASH]->k, RFS_KEY_BYTES) != 0 ||
	    memcmp(other->k, d[RFS_SUBKEY_HASH]->k, RFS_KEY_BYTES) == 0))
		ok = 0;
	/* Matches crypto_kdf with the documented context. */
	if (ok) {
		unsigned char ref[RFS_KEY_BYTES];

		crypto_kdf_derive_from_key(ref, sizeof(ref), RFS_SUBKEY_WRAP,
		    "rfs-v1..", m->k);
		ok = memcmp(ref, d[RFS_SUBKEY_WRAP]->k, sizeof(ref)) == 0;
	}
	for (int i = 1; i <= 5; i++)
		rfs_key_free(d[i]);
	rfs_key_free(again);
	rfs_key_free(other);
	rfs_key_free(m);
	rfs_key_free(m2);
	CHECK(ok);
}

TEST(block_round_trip)
{
	static const size_t lens[] = { 0, 1, 17, 4095, RFS_BLOCK };
	struct rfs_key *k = fixed_key(0x21);
	unsigned char plain[RFS_BLOCK], back[RFS_BLOCK], rec[RFS_RECORD];
	int ok = 1;

	CHECK(k != NULL);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];

		pattern(plain, sizeof(plain), (unsigned)i);
		memset(back, 0xee, sizeof(back));
		rfs_block_seal(k, 7, 3, plain, n, rec);
		if (rfs_block_open(k, 7, 3, rec, n + RFS_BLOCK_OVERHEAD,
		    back) != 0 || memcmp(back, plain, n) != 0)
			ok = 0;
	}
	rfs_key_free(k);
	CHECK(ok);
}

TEST(block_nonce_random)
{
	struct rfs_key *k = fixed_key(0x22);
	unsigned char plain[64] = { 0 }, r1[64 + 40], r2[64 + 40];

	CHECK(k != NULL);
	rfs_block_seal(k, 1, 0, plain, sizeof(plain), r1);
	rfs_block_seal(k, 1, 0, plain, sizeof(plain), r2);
	rfs_key_free(k);
	CHECK(memcmp(r1, r2, RFS_NONCE_BYTES) != 0);
	CHECK(memcmp(r1 + 24, r2 + 24, sizeof(r1) - 24) != 0);
}

/* A caller-drawn nonce is the record's: the same nonce seals the same
 * bytes, and the record opens. */
TEST(block_nonce_given)
{
	struct rfs_key *k = fixed_key(0x24);
	unsigned char plain[64], back[64], nonce[RFS_NONCE_BYTES];
	unsigned char r1[64 + 40], r2[64 + 40];

	CHECK(k != NULL);
	memset(plain, 'p', sizeof(plain));
	memset(nonce, 0x5a, sizeof(nonce));
	rfs_block_seal_nonce(k, 3, 2, nonce, plain, sizeof(plain), r1);
	rfs_block_seal_nonce(k, 3, 2, nonce, plain, sizeof(plain), r2);
	CHECK(memcmp(r1, nonce, sizeof(nonce)) == 0);
	CHECK(memcmp(r1, r2, sizeof(r1)) == 0);
	CHECK(rfs_block_open(k, 3, 2, r1, sizeof(r1), back) == 0);
	CHECK(memcmp(back, plain, sizeof(plain)) == 0);
	rfs_key_free(k);
}

/* The record format: nonce || XChaCha20-Poly1305(plain, AD) with
 * AD = "rfs1" || LE64(ino) || LE64(idx). */
TEST(block_format)
{
	struct rfs_key *k = fixed_key(0x23);
	unsigned char plain[100], back[100], rec[140], ad[20];
	uint64_t ino = 0x0102030405060708ULL, idx = 0x1112131415161718ULL;
	unsigned long long n = 0;
	int rc;

	CHECK(k != NULL);
	pattern(plain, sizeof(plain), 5);
	rfs_block_seal(k, ino, idx, plain, sizeof(plain), rec);
	memcpy(ad, "rfs1", 4);
	for (int i = 0; i < 8; i++) {
		ad[4 + i] = (unsigned char)(ino >> (8 * i));
		ad[12 + i] = (unsigned char)(idx >> (8 * i));
	}
	rc = crypto_aead_xchacha20poly1305_ietf_decrypt(back, &n, NULL,
	    rec + 24, sizeof(rec) - 24, ad, sizeof(ad), rec, k->k);
	rfs_key_free(k);
	CHECK_EQ(rc, 0);
	CHECK_EQ(n, sizeof(plain));
	CHECK(memcmp(back, plain, sizeof(plain)) == 0);
}

TEST(block_tamper_every_byte)
{
	struct rfs_key *k = fixed_key(0x24);
	unsigned char plain[100], back[RFS_BLOCK], rec[140];
	int bad = 0;

	CHECK(k != NULL);
	pattern(plain, sizeof(plain), 1);
	rfs_block_seal(k, 9, 4, plain, sizeof(plain), rec);
	for (size_t i = 0; i < sizeof(rec); i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			rec[i] ^= (unsigned char)(1u << bit);
			if (rfs_block_open(k, 9, 4, rec, sizeof(rec), back) !=
			    -EBADMSG)
				bad++;
			rec[i] ^= (unsigned char)(1u << bit);
		}
	}
	CHECK_EQ(rfs_block_open(k, 9, 4, rec, sizeof(rec), back), 0);
	rfs_key_free(k);
	CHECK_EQ(bad, 0);
}

TEST(block_tamper_full_record)
{
	struct rfs_key *k = fixed_key(0x25);
	unsigned char plain[RFS_BLOCK], back[RFS_BLOCK], rec[RFS_RECORD];
	int bad = 0;

	CHECK(k != NULL);
	pattern(plain, sizeof(plain), 2);
	rfs_block_seal(k, 9, 0, plain, sizeof(plain), rec);
	for (size_t i = 0; i < sizeof(rec); i += 13) {
		rec[i] ^= 0x80;
		if (rfs_block_open(k, 9, 0, rec, sizeof(rec), back) != -EBADMSG)
			bad++;
		rec[i] ^= 0x80;
	}
	rec[sizeof(rec) - 1] ^= 1;
	if (rfs_block_open(k, 9, 0, rec, sizeof(rec), back) != -EBADMSG)
		bad++;
	rec[sizeof(rec) - 1] ^= 1;
	CHECK_EQ(rfs_block_open(k, 9, 0, rec, sizeof(rec), back), 0);
	rfs_key_free(k);
	CHECK_EQ(bad, 0);
}

TEST(block_wrong_context)
{
	struct rfs_key *k = fixed_key(0x26), *k2 = fixed_key(0x27);
	unsigned char plain[300], back[RFS_BLOCK], rec[340];

	CHECK(k != NULL && k2 != NULL);
	pattern(plain, sizeof(plain), 3);
	rfs_block_seal(k, 42, 5, plain, sizeof(plain), rec);
	CHECK_EQ(rfs_block_open(k, 42, 5, rec, sizeof(rec), back), 0);
	CHECK_EQ(rfs_block_open(k, 43, 5, rec, sizeof(rec), back), -EBADMSG);
	CHECK_EQ(rfs_block_open(k, 42, 4, rec, sizeof(rec), back), -EBADMSG);
	CHECK_EQ(rfs_block_open(k, 42, 6, rec, sizeof(rec), back), -EBADMSG);
	CHECK_EQ(rfs_block_open(k, 42 | (1ULL << 40), 5, rec, sizeof(rec),
	    back), -EBADMSG);
	CHECK_EQ(rfs_block_open(k2, 42, 5, rec, sizeof(rec), back), -EBADMSG);
	/* Truncated or extended records. */
	CHECK_EQ(rfs_block_open(k, 42, 5, rec, sizeof(rec) - 1, back),
	    -EBADMSG);
	CHECK_EQ(rfs_block_open(k, 42, 5, rec, RFS_BLOCK_OVERHEAD, back),
	    -EBADMSG);
	CHECK_EQ(rfs_block_open(k, 42, 5, rec, RFS_BLOCK_OVERHEAD - 1, back),
	    -EBADMSG);
	CHECK_EQ(rfs_block_open(k, 42, 5, rec, 0, back), -EBADMSG);
	rfs_key_free(k);
	rfs_key_free(k2);
}

TEST(key_wrap_round_trip)
{
	struct rfs_key *kek = fixed_key(0x31), *key = rfs_key_random(),
	    *out = rfs_key_new();
	unsigned char w[RFS_WRAPPED_BYTES], w2[RFS_WRAPPED_BYTES];

	CHECK(kek != NULL && key != NULL && out != NULL);
	rfs_key_wrap(kek, key, "default@100", 11, w);
	rfs_key_wrap(kek, key, "default@100", 11, w2);
	CHECK(memcmp(w, w2, sizeof(w)) != 0);
	CHECK(memmem(w, sizeof(w), key->k, RFS_KEY_BYTES) == NULL);
	CHECK_EQ(rfs_key_unwrap(kek, w, sizeof(w), "default@100", 11, out), 0);
	CHECK(memcmp(out->k, key->k, RFS_KEY_BYTES) == 0);
	CHECK_EQ(rfs_key_unwrap(kek, w2, sizeof(w2), "default@100", 11, out),
	    0);
	CHECK(memcmp(out->k, key->k, RFS_KEY_BYTES) == 0);
	/* Empty associated data works too. */
	rfs_key_wrap(kek, key, NULL, 0, w);
	CHECK_EQ(rfs_key_unwrap(kek, w, sizeof(w), NULL, 0, out), 0);
	CHECK(memcmp(out->k, key->k, RFS_KEY_BYTES) == 0);
	rfs_key_free(kek);
	rfs_key_free(key);
	rfs_key_free(out);
}

TEST(key_wrap_rejects)
{
	struct rfs_key *kek = fixed_key(0x32), *kek2 = fixed_key(0x33),
	    *key = rfs_key_random(), *out = rfs_key_new();
	unsigned char w[RFS_WRAPPED_BYTES + 1];
	int bad = 0;

	CHECK(kek != NULL && kek2 != NULL && key != NULL && out != NULL);
	rfs_key_wrap(kek, key, "a@1", 3, w);
	CHECK_EQ(rfs_key_unwrap(kek, w, RFS_WRAPPED_BYTES, "a@2", 3, out),
	    -EBADMSG);
	CHECK_EQ(rfs_key_unwrap(kek, w, RFS_WRAPPED_BYTES, "a@1", 2, out),
	    -EBADMSG);
	CHECK_EQ(rfs_key_unwrap(kek, w, RFS_WRAPPED_BYTES, NULL, 0, out),
	    -EBADMSG);
	CHECK_EQ(rfs_key_unwrap(kek2, w, RFS_WRAPPED_BYTES, "a@1", 3, out),
	    -EBADMSG);
	CHECK_EQ(rfs_key_unwrap(kek, w, RFS_WRAPPED_BYTES - 1, "a@1", 3, out),
	    -EBADMSG);
	w[RFS_WRAPPED_BYTES] = 0;
	CHECK_EQ(rfs_key_unwrap(kek, w, RFS_WRAPPED_BYTES + 1, "a@1", 3, out),
	    -EBADMSG);
	for (size_t i = 0; i < RFS_WRAPPED_BYTES; i++) {
		w[i] ^= 0x04;
		if (rfs_key_unwrap(kek, w, RFS_WRAPPED_BYTES, "a@1", 3, out) !=
		    -EBADMSG)
			bad++;
		w[i] ^= 0x04;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(rfs_key_unwrap(kek, w, RFS_WRAPPED_BYTES, "a@1", 3, out), 0);
	CHECK(memcmp(out->k, key->k, RFS_KEY_BYTES) == 0);
	rfs_key_free(kek);
	rfs_key_free(kek2);
	rfs_key_free(key);
	rfs_key_free(out);
}

TEST(seal_open_round_trip)
{
	struct rfs_key *k = fixed_key(0x41);
	unsigned char *ct = NULL, *pt = NULL;
	size_t ctlen = 0, ptlen = 0;
	const char *name = "r\xc3\xa9sum\xc3\xa9.txt";

	CHECK(k != NULL);
	CHECK_EQ(rfs_seal(k, "name", 4, name, strlen(name), &ct, &ctlen), 0);
	CHECK_EQ(ctlen, strlen(name) + RFS_NONCE_BYTES + RFS_TAG_BYTES);
	CHECK(memmem(ct, ctlen, "sum", 3) == NULL);
	CHECK_EQ(rfs_open(k, "name", 4, ct, ctlen, &pt, &ptlen), 0);
	CHECK_EQ(ptlen, strlen(name));
	CHECK(memcmp(pt, name, ptlen) == 0);
	CHECK_EQ(pt[ptlen], '\0');          /* NUL-terminated in place */
	CHECK_STR((char *)pt, name);
	free(pt);
	free(ct);

	/* Empty plaintext. */
	CHECK_EQ(rfs_seal(k, NULL, 0, "", 0, &ct, &ctlen), 0);
	CHECK_EQ(ctlen, RFS_NONCE_BYTES + RFS_TAG_BYTES);
	CHECK_EQ(rfs_open(k, NULL, 0, ct, ctlen, &pt, &ptlen), 0);
	CHECK_EQ(ptlen, 0);
	CHECK_EQ(pt[0], '\0');
	free(pt);
	free(ct);
	rfs_key_free(k);
}

TEST(seal_open_rejects)
{
	struct rfs_key *k = fixed_key(0x42), *k2 = fixed_key(0x43);
	unsigned char *ct = NULL, *pt = (unsigned char *)"untouched";
	size_t ctlen = 0, ptlen = 12345;
	int bad = 0;

	CHECK(k != NULL && k2 != NULL);
	CHECK_EQ(rfs_seal(k, "ad-1", 4, "secret", 6, &ct, &ctlen), 0);
	CHECK_EQ(rfs_open(k, "ad-2", 4, ct, ctlen, &pt, &ptlen), -EBADMSG);
	CHECK_EQ(rfs_open(k, "ad-1", 3, ct, ctlen, &pt, &ptlen), -EBADMSG);
	CHECK_EQ(rfs_open(k2, "ad-1", 4, ct, ctlen, &pt, &ptlen), -EBADMSG);
	CHECK_EQ(rfs_open(k, "ad-1", 4, ct, ctlen - 1, &pt, &ptlen),
	    -EBADMSG);
	CHECK_EQ(rfs_open(k, "ad-1", 4, ct, RFS_NONCE_BYTES + RFS_TAG_BYTES - 1,
	    &pt, &ptlen), -EBADMSG);
	CHECK_EQ(rfs_open(k, "ad-1", 4, ct, 0, &pt, &ptlen), -EBADMSG);
	for (size_t i = 0; i < ctlen; i++) {
		ct[i] ^= 0x10;
		if (rfs_open(k, "ad-1", 4, ct, ctlen, &pt, &ptlen) != -EBADMSG)
			bad++;
		ct[i] ^= 0x10;
	}
	/* Outputs untouched on failure. */
	CHECK_STR((const char *)pt, "untouched");
	CHECK_EQ(ptlen, 12345);
	free(ct);
	rfs_key_free(k);
	rfs_key_free(k2);
	CHECK_EQ(bad, 0);
}

TEST(name_hash)
{
	struct rfs_key *k = fixed_key(0x51), *k2 = fixed_key(0x52);
	unsigned char a[RFS_HASH_BYTES], b[RFS_HASH_BYTES], ref[RFS_HASH_BYTES];
	unsigned char in[8 + 5];
	uint64_t parent = 0x8877665544332211ULL;

	CHECK(k != NULL && k2 != NULL);
	rfs_name_hash(k, 1, "hello", 5, a);
	rfs_name_hash(k, 1, "hello", 5, b);
	CHECK(memcmp(a, b, sizeof(a)) == 0);               /* deterministic */
	rfs_name_hash(k2, 1, "hello", 5, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);               /* keyed */
	rfs_name_hash(k, 2, "hello", 5, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);               /* parent bound */
	rfs_name_hash(k, 1, "hellp", 5, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	rfs_name_hash(k, 1, "hello!", 5, b);               /* LEN counts */
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	rfs_name_hash(k, 1, "hell", 4, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	rfs_name_hash(k, 1, "", 0, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	/* Format: BLAKE2b-128 keyed, over LE64(parent) || name. */
	rfs_name_hash(k, parent, "hello", 5, a);
	for (int i = 0; i < 8; i++)
		in[i] = (unsigned char)(parent >> (8 * i));
	memcpy(in + 8, "hello", 5);
	crypto_generichash(ref, sizeof(ref), in, sizeof(in), k->k,
	    RFS_KEY_BYTES);
	CHECK(memcmp(a, ref, sizeof(a)) == 0);
	rfs_key_free(k);
	rfs_key_free(k2);
}

TEST(mac)
{
	struct rfs_key *k = fixed_key(0x61), *k2 = fixed_key(0x62);
	unsigned char a[RFS_MAC_BYTES], b[RFS_MAC_BYTES];

	CHECK(k != NULL && k2 != NULL);
	rfs_mac(k, "abc", 3, a);
	rfs_mac(k, "abc", 3, b);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	rfs_mac(k2, "abc", 3, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	rfs_mac(k, "abd", 3, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	rfs_mac(k, "", 0, b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	rfs_key_free(k);
	rfs_key_free(k2);
}

TEST(passphrase_kdf)
{
	struct rfs_key *a = rfs_key_new(), *b = rfs_key_new(),
	    *c = rfs_key_new(), *d = rfs_key_new();
	unsigned char salt[16], salt2[16];
	uint64_t ops = crypto_pwhash_OPSLIMIT_MIN;
	size_t mem = crypto_pwhash_MEMLIMIT_MIN;

	CHECK(a != NULL && b != NULL && c != NULL && d != NULL);
	memset(salt, 0x5a, sizeof(salt));
	memset(salt2, 0x5b, sizeof(salt2));
	CHECK_EQ(rfs_key_from_passphrase(a, "correct horse", 13, salt, ops,
	    mem), 0);
	CHECK_EQ(rfs_key_from_passphrase(b, "correct horse", 13, salt, ops,
	    mem), 0);
	CHECK(memcmp(a->k, b->k, RFS_KEY_BYTES) == 0);
	CHECK_EQ(rfs_key_from_passphrase(c, "correct horse", 13, salt2, ops,
	    mem), 0);
	CHECK(memcmp(a->k, c->k, RFS_KEY_BYTES) != 0);
	CHECK_EQ(rfs_key_from_passphrase(d, "correct horsf", 13, salt, ops,
	    mem), 0);
	CHECK(memcmp(a->k, d->k, RFS_KEY_BYTES) != 0);
	/* Only LEN bytes of the passphrase count. */
	CHECK_EQ(rfs_key_from_passphrase(d, "correct horse battery", 13, salt,
	    ops, mem), 0);
	CHECK(memcmp(a->k, d->k, RFS_KEY_BYTES) == 0);
	/* Limits are part of the derivation. */
	CHECK_EQ(rfs_key_from_passphrase(d, "correct horse", 13, salt, ops + 1,
	    mem), 0);
	CHECK(memcmp(a->k, d->k, RFS_KEY_BYTES) != 0);
	/* Limits below libsodium's minimum fail cleanly. */
	CHECK_EQ(rfs_key_from_passphrase(d, "x", 1, salt, 0, mem), -ENOMEM);
	rfs_key_free(a);
	rfs_key_free(b);
	rfs_key_free(c);
	rfs_key_free(d);
}

TEST(hex)
{
	unsigned char in[5] = { 0x00, 0x01, 0xab, 0xcd, 0xff }, out[5];
	char hex[11];

	rfs_hex(in, sizeof(in), hex);
	CHECK_STR(hex, "0001abcdff");
	memset(out, 0, sizeof(out));
	CHECK_EQ(rfs_unhex(hex, out, sizeof(out)), 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	CHECK_EQ(rfs_unhex("0001ABCDFF", out, sizeof(out)), 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	CHECK_EQ(rfs_unhex("0001abcdf", out, sizeof(out)), -EINVAL);
	CHECK_EQ(rfs_unhex("0001abcdff00", out, sizeof(out)), -EINVAL);
	CHECK_EQ(rfs_unhex("0001abcdfg", out, sizeof(out)), -EINVAL);
	CHECK_EQ(rfs_unhex("0001 bcdff", out, sizeof(out)), -EINVAL);
	CHECK_EQ(rfs_unhex("", out, sizeof(out)), -EINVAL);
	CHECK_EQ(rfs_unhex("", out, 0), 0);
	rfs_hex(in, 0, hex);
	CHECK_STR(hex, "");
}

int
main(void)
{
	if (rfs_crypto_init() != 0)
		return 1;
	RUN_TESTS("crypto",
	    CASE(init),
	    CASE(key_new_random_free),
	    CASE(key_derive),
	    CASE(block_round_trip),
	    CASE(block_nonce_random),
	    CASE(block_nonce_given),
	    CASE(block_format),
	    CASE(block_tamper_every_byte),
	    CASE(block_tamper_full_record),
	    CASE(block_wrong_context),
	    CASE(key_wrap_round_trip),
	    CASE(key_wrap_rejects),
	    CASE(seal_open_round_trip),
	    CASE(seal_open_rejects),
	    CASE(name_hash),
	    CASE(mac),
	    CASE(passphrase_kdf),
	    CASE(hex));
}
