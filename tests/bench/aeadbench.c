/*
 * aeadbench - the measurement behind the AEAD choice (crypto.h): seals and
 * opens 4 KiB blocks with XChaCha20-Poly1305 and, when the CPU has AES-NI,
 * AES-256-GCM, and prints MB/s for each.
 *
 *   cc -O2 -o aeadbench tests/bench/aeadbench.c -lsodium && ./aeadbench
 */
#include <stdio.h>
#include <time.h>

#include <sodium.h>

#define BLOCK 4096
#define ROUNDS 200000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(void)
{
	static unsigned char plain[BLOCK], rec[BLOCK + 64], out[BLOCK];
	unsigned char key[32], nonce[24], ad[20] = "rfs1";
	unsigned long long clen;
	double t;

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(plain, sizeof(plain));

	t = now();
	for (int i = 0; i < ROUNDS; i++) {
		randombytes_buf(nonce, 24);
		crypto_aead_xchacha20poly1305_ietf_encrypt(rec, &clen, plain,
		    BLOCK, ad, sizeof(ad), NULL, nonce, key);
	}
	t = now() - t;
	printf("xchacha20poly1305 seal 4 KiB: %.0f MB/s\n",
	    (double)ROUNDS * BLOCK / t / 1e6);
	t = now();
	for (int i = 0; i < ROUNDS; i++)
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL,
		    rec, clen, ad, sizeof(ad), nonce, key) != 0)
			return 1;
	t = now() - t;
	printf("xchacha20poly1305 open 4 KiB: %.0f MB/s\n",
	    (double)ROUNDS * BLOCK / t / 1e6);

	if (!crypto_aead_aes256gcm_is_available()) {
		printf("aes256gcm: not available on this CPU\n");
		return 0;
	}
	t = now();
	for (int i = 0; i < ROUNDS; i++) {
		randombytes_buf(nonce, 12);
		crypto_aead_aes256gcm_encrypt(rec, &clen, plain, BLOCK, ad,
		    sizeof(ad), NULL, nonce, key);
	}
	t = now() - t;
	printf("aes256gcm seal 4 KiB: %.0f MB/s\n",
	    (double)ROUNDS * BLOCK / t / 1e6);
	t = now();
	for (int i = 0; i < ROUNDS; i++)
		if (crypto_aead_aes256gcm_decrypt(out, NULL, NULL, rec, clen,
		    ad, sizeof(ad), nonce, key) != 0)
			return 1;
	t = now() - t;
	printf("aes256gcm open 4 KiB: %.0f MB/s\n",
	    (double)ROUNDS * BLOCK / t / 1e6);
	return 0;
}
