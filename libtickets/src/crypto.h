/*
 * Internal to libtickets: small cryptographic helpers over OpenSSL.
 * Each returns TK_OK or a negative TK_E* code unless it says otherwise.
 */

#ifndef TK_CRYPTO_H
#define TK_CRYPTO_H

#include <stddef.h>

#include "tickets.h"

/* the cost of new password hashes; verify reads the cost from the hash */
#define TK_PBKDF2_ITERATIONS      210000
#define TK_PBKDF2_MIN_ITERATIONS  1000
#define TK_PBKDF2_MAX_ITERATIONS  10000000

/* characters of the unpadded base64url form of n bytes, without the NUL */
#define TK__BASE64URL_LEN(n)      (((n) * 4 + 2) / 3)
/* bytes that decoding len characters may produce, at most */
#define TK__BASE64_DECODED_MAX(len)  ((len) / 4 * 3 + 2)

int tk__random_bytes(void *buf, size_t len);

/* out is the lower-case hex digest, NUL-terminated */
int tk__sha256_hex(const void *data, size_t len, char out[65]);
int tk__hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[32]);

/*
 * RFC 4648 section 5, without padding, as JWT uses it.  out needs
 * TK__BASE64URL_LEN(len) + 1 bytes; returns the length written.
 */
size_t tk__base64url_encode(const void *data, size_t len, char *out);
/*
 * out needs TK__BASE64_DECODED_MAX(len) bytes.  TK_EINVAL for a character
 * outside the alphabet, padding, an impossible length, or stray bits in
 * the last character (so that each byte string has one encoding).
 */
int tk__base64url_decode(const char *in, size_t len, unsigned char *out,
    size_t *outlen);

/* lower-case; out needs 2 * len + 1 bytes */
void tk__hex(const void *data, size_t len, char *out);

/* a random (version 4) UUID in its 36-character form */
int tk__uuid_v4(char out[37]);

/* tk_password_hash() with a chosen cost, for tests and tools */
int tk__password_hash_iter(const char *password, unsigned long iterations,
    char **encoded);
/*
 * Costs what tk_password_verify() costs for a default hash, and answers
 * nothing: the login path runs it for an unknown user so that an unknown
 * user and a wrong password take the same time.
 */
void tk__password_dummy_verify(const char *password);

#endif /* TK_CRYPTO_H */
