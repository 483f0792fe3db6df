/*
 * crypto.h - every cryptographic operation of retentionfs, on libsodium.
 *
 * Key hierarchy (docs/format.md has the byte layouts):
 *
 *   master key (32 B; key file, or Argon2id of a passphrase)
 *     +-- subkeys derived with crypto_kdf (context "rfs-v1.."):
 *     |     NAME  encrypts file names, symlink targets, xattrs, audit text
 *     |     HASH  keyed BLAKE2b of (parent, name) for directory lookups
 *     |     WRAP  wraps the (class, period) keys in the key store
 *     |     AUDIT chains the audit trail (keyed BLAKE2b)
 *     |     CHECK proves a master key right without touching any data
 *     +-- (class, period) keys, random, in the key store, wrapped by WRAP
 *           +-- per-file keys, random, in the catalog, wrapped by the
 *               (class, period) key of the file's creation time
 *                 +-- content blocks
 *
 * Destroying a per-file key crypto-shreds one file; destroying a (class,
 * period) key makes every file of that window unreadable in every copy of
 * the store that lacks the key store (backups).
 *
 * AEAD: XChaCha20-Poly1305-IETF everywhere, chosen by measurement and by
 * what a store must survive.  tests/bench/aeadbench.c on the target machine
 * (2 cores with AES-NI/VAES): XChaCha20-Poly1305 seals 4 KiB blocks at
 * 1.5 GB/s and opens them at 1.7 GB/s per core; AES-256-GCM at 2.2 and
 * 2.1 GB/s.  GCM is ~40% faster per byte, but (1) at retentionfs's
 * throughput (docs/performance.md) sealing is not the bottleneck, (2)
 * libsodium offers AES-256-GCM only on CPUs with AES-NI, so a store (or a
 * backup restored elsewhere) would be unreadable on a machine without it,
 * and (3) every block write draws a fresh random nonce with no counter to
 * keep across crashes: 192-bit nonces make that safe for any number of
 * writes, 96-bit GCM nonces only up to about 2^32 writes per key.
 *
 * All key material lives in sodium_malloc'd (mlocked, guarded) memory and
 * is wiped when freed.
 */
#ifndef RFS_CRYPTO_H
#define RFS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define RFS_KEY_BYTES    32
#define RFS_NONCE_BYTES  24
#define RFS_TAG_BYTES    16
#define RFS_HASH_BYTES   16         /* directory lookup hash */
#define RFS_MAC_BYTES    32         /* audit chain */
/* Plaintext bytes per content block, and its size on disk. */
#define RFS_BLOCK        4096
#define RFS_BLOCK_OVERHEAD (RFS_NONCE_BYTES + RFS_TAG_BYTES)
#define RFS_RECORD       (RFS_BLOCK + RFS_BLOCK_OVERHEAD)
/* A wrapped key: nonce || key ciphertext || tag. */
#define RFS_WRAPPED_BYTES (RFS_NONCE_BYTES + RFS_KEY_BYTES + RFS_TAG_BYTES)

enum rfs_subkey {
	RFS_SUBKEY_NAME = 1,
	RFS_SUBKEY_HASH = 2,
	RFS_SUBKEY_WRAP = 3,
	RFS_SUBKEY_AUDIT = 4,
	RFS_SUBKEY_CHECK = 5,
};

/* A key in locked memory.  Free with rfs_key_free (wipes). */
struct rfs_key {
	unsigned char k[RFS_KEY_BYTES];
};

int rfs_crypto_init(void);
struct rfs_key *rfs_key_new(void);            /* zeroed */
struct rfs_key *rfs_key_random(void);
void rfs_key_free(struct rfs_key *key);
/* Derives subkey ID of MASTER. */
struct rfs_key *rfs_key_derive(const struct rfs_key *master, enum rfs_subkey id);
/* Argon2id (crypto_pwhash) of PASS with SALT (16 B). */
int rfs_key_from_passphrase(struct rfs_key *out, const char *pass, size_t len,
    const unsigned char salt[16], uint64_t opslimit, size_t memlimit);

/*
 * Content block I/O.  A record is nonce || ciphertext || tag, with
 * associated data "rfs1" || ino (LE64) || block index (LE64), so a block
 * cannot be edited, moved within a file or swapped between files.
 * rfs_block_open returns 0, or -EBADMSG when authentication fails.
 */
void rfs_block_seal(const struct rfs_key *fk, uint64_t ino, uint64_t idx,
    const unsigned char *plain, size_t len, unsigned char *record);
/* The same under NONCE, which the caller drew at random (a write of many
 * blocks draws all its nonces at once: one system call, not one a block). */
void rfs_block_seal_nonce(const struct rfs_key *fk, uint64_t ino,
    uint64_t idx, const unsigned char nonce[RFS_NONCE_BYTES],
    const unsigned char *plain, size_t len, unsigned char *record);
int rfs_block_open(const struct rfs_key *fk, uint64_t ino, uint64_t idx,
    const unsigned char *record, size_t reclen, unsigned char *plain);

/* Wraps KEY under KEK with associated data AD (binds the key to its owner). */
void rfs_key_wrap(const struct rfs_key *kek, const struct rfs_key *key,
    const void *ad, size_t adlen, unsigned char out[RFS_WRAPPED_BYTES]);
int rfs_key_unwrap(const struct rfs_key *kek, const unsigned char *in,
    size_t inlen, const void *ad, size_t adlen, struct rfs_key *out);

/*
 * Small secrets (names, link targets, xattrs): nonce || ct || tag, in a
 * malloc'd buffer.  AD binds the value to where it is stored.
 */
int rfs_seal(const struct rfs_key *k, const void *ad, size_t adlen,
    const void *plain, size_t len, unsigned char **out, size_t *outlen);
int rfs_open(const struct rfs_key *k, const void *ad, size_t adlen,
    const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen);

/* Keyed hash for lookups: H(k, parent || name). */
void rfs_name_hash(const struct rfs_key *k, uint64_t parent, const char *name,
    size_t len, unsigned char out[RFS_HASH_BYTES]);
/* Keyed hash of arbitrary data (audit chain, key check), out 32 B. */
void rfs_mac(const struct rfs_key *k, const void *data, size_t len,
    unsigned char out[RFS_MAC_BYTES]);

/* Hex helpers. */
void rfs_hex(const unsigned char *in, size_t len, char *out);
int rfs_unhex(const char *in, unsigned char *out, size_t len);

#endif
