/*
 * Random bytes, digests, encodings and password hashes, over OpenSSL.
 *
 * A password hash is "pbkdf2_sha256$<iterations>$<salt>$<key>": PBKDF2 with
 * HMAC-SHA256, a 16-byte random salt and a 32-byte key, both in standard
 * base64 with padding (RFC 4648 section 4), so that other tools can make
 * and check them.
 */

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "crypto.h"


#define TK__PBKDF2_PREFIX    "pbkdf2_sha256$"
#define TK__PBKDF2_SALT_LEN  16
#define TK__PBKDF2_KEY_LEN   32
/* salts that verify accepts, from hashes made elsewhere */
#define TK__PBKDF2_SALT_MAX  64
/* characters of the padded base64 form of n bytes, without the NUL */
#define TK__BASE64_LEN(n)    (((n) + 2) / 3 * 4)
/* what decoding the longest salt or key field that parses may produce */
#define TK__SALT_BUF_LEN \
    TK__BASE64_DECODED_MAX(TK__BASE64_LEN(TK__PBKDF2_SALT_MAX))
#define TK__KEY_BUF_LEN \
    TK__BASE64_DECODED_MAX(TK__BASE64_LEN(TK__PBKDF2_KEY_LEN))

static size_t tk__base64_encode_with(const char *alphabet, int pad,
    const void *data, size_t len, char *out);
static int tk__base64_value(int c, int url);
static int tk__base64_decode_with(int url, const char *in, size_t len,
    unsigned char *out, size_t *outlen);
static int tk__pbkdf2(const char *password, const unsigned char *salt,
    size_t saltlen, unsigned long iterations,
    unsigned char key[TK__PBKDF2_KEY_LEN]);
static int tk__password_parse(const char *encoded, unsigned long *iterations,
    unsigned char *salt, size_t *saltlen,
    unsigned char key[TK__PBKDF2_KEY_LEN]);
static int tk__parse_iterations(const char *s, size_t len,
    unsigned long *iterations);

static const char  tk__base64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char  tk__base64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


int
tk__random_bytes(void *buf, size_t len)
{
    if (len > INT_MAX || RAND_bytes(buf, (int) len) != 1) {
        return TK_EINTERNAL;
    }

    return TK_OK;
}


int
tk__sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char  md[32];

    if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1) {
        return TK_EINTERNAL;
    }

    tk__hex(md, sizeof(md), out);
    return TK_OK;
}


int
tk__hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[32])
{
    if (keylen > INT_MAX
        || HMAC(EVP_sha256(), key, (int) keylen, data, len, out, NULL)
           == NULL)
    {
        return TK_EINTERNAL;
    }

    return TK_OK;
}


void
tk__hex(const void *data, size_t len, char *out)
{
    static const char     digits[] = "0123456789abcdef";
    const unsigned char  *p = data;
    size_t                i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }

    out[2 * len] = '\0';
}


int
tk__uuid_v4(char out[37])
{
    unsigned char  b[16];
    char           hex[33];
    int            rc;

    rc = tk__random_bytes(b, sizeof(b));
    if (rc != TK_OK) {
        return rc;
    }

    b[6] = (b[6] & 0x0f) | 0x40;        /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80;        /* the RFC 4122 variant */

    tk__hex(b, sizeof(b), hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s",
             hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return TK_OK;
}


size_t
tk__base64url_encode(const void *data, size_t len, char *out)
{
    return tk__base64_encode_with(tk__base64_url, 0, data, len, out);
}


int
tk__base64url_decode(const char *in, size_t len, unsigned char *out,
    size_t *outlen)
{
    return tk__base64_decode_with(1, in, len, out, outlen);
}


static size_t
tk__base64_encode_with(const char *alphabet, int pad, const void *data,
    size_t len, char *out)
{
    const unsigned char  *p = data;
    uint32_t              v;
    size_t                i, n;

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
        out[n++] = alphabet[v >> 18 & 63];
        out[n++] = alphabet[v >> 12 & 63];
        out[n++] = alphabet[v >> 6 & 63];
        out[n++] = alphabet[v & 63];
    }

    if (i < len) {
        v = (uint32_t) p[i] << 16;
        if (i + 1 < len) {
            v |= (uint32_t) p[i + 1] << 8;
        }

        out[n++] = alphabet[v >> 18 & 63];
        out[n++] = alphabet[v >> 12 & 63];

        if (i + 1 < len) {
            out[n++] = alphabet[v >> 6 & 63];
        } else if (pad) {
            out[n++] = '=';
        }

        if (pad) {
            out[n++] = '=';
        }
    }

    out[n] = '\0';
    return n;
}


static int
tk__base64_value(int c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}


/* url: the unpadded base64url form; otherwise the padded standard form */
static int
tk__base64_decode_with(int url, const char *in, size_t len,
    unsigned char *out, size_t *outlen)
{
    uint32_t  v;
    size_t    i, n;
    int       d, bits;

    if (!url) {
        if (len % 4 != 0) {
            return TK_EINVAL;
        }
        if (len > 0 && in[len - 1] == '=') {
            len--;
        }
        if (len > 0 && in[len - 1] == '=') {
            len--;
        }
    }

    if (len % 4 == 1) {
        return TK_EINVAL;
    }

    v = 0;
    n = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        d = tk__base64_value((unsigned char) in[i], url);
        if (d < 0) {
            return TK_EINVAL;
        }

        v = v << 6 | (uint32_t) d;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (v >> bits);
        }
    }

    if (v & ((1u << bits) - 1)) {
        return TK_EINVAL;
    }

    *outlen = n;
    return TK_OK;
}


int
tk_password_hash(const char *password, char **encoded)
{
    return tk__password_hash_iter(password, TK_PBKDF2_ITERATIONS, encoded);
}


int
tk__password_hash_iter(const char *password, unsigned long iterations,
    char **encoded)
{
    unsigned char  salt[TK__PBKDF2_SALT_LEN], key[TK__PBKDF2_KEY_LEN];
    char           salt64[TK__BASE64_LEN(TK__PBKDF2_SALT_LEN) + 1];
    char           key64[TK__BASE64_LEN(TK__PBKDF2_KEY_LEN) + 1];
    char          *s;
    int            rc, n;

    *encoded = NULL;

    if (password == NULL
        || iterations < TK_PBKDF2_MIN_ITERATIONS
        || iterations > TK_PBKDF2_MAX_ITERATIONS)
    {
        return TK_EINVAL;
    }

    rc = tk__random_bytes(salt, sizeof(salt));
    if (rc != TK_OK) {
        return rc;
    }

    rc = tk__pbkdf2(password, salt, sizeof(salt), iterations, key);
    if (rc != TK_OK) {
        return rc;
    }

    tk__base64_encode_with(tk__base64_std, 1, salt, sizeof(salt), salt64);
    tk__base64_encode_with(tk__base64_std, 1, key, sizeof(key), key64);
    OPENSSL_cleanse(key, sizeof(key));

    n = asprintf(&s, TK__PBKDF2_PREFIX "%lu$%s$%s", iterations, salt64,
                 key64);
    if (n < 0) {
        return TK_ENOMEM;
    }

    *encoded = s;
    return TK_OK;
}


int
tk_password_verify(const char *password, const char *encoded)
{
    unsigned char  salt[TK__SALT_BUF_LEN];
    unsigned char  want[TK__PBKDF2_KEY_LEN], got[TK__PBKDF2_KEY_LEN];
    unsigned long  iterations;
    size_t         saltlen;
    int            rc;

    if (password == NULL || encoded == NULL) {
        return TK_EINVAL;
    }

    rc = tk__password_parse(encoded, &iterations, salt, &saltlen, want);
    if (rc != TK_OK) {
        return rc;
    }

    rc = tk__pbkdf2(password, salt, saltlen, iterations, got);
    if (rc != TK_OK) {
        return rc;
    }

    rc = CRYPTO_memcmp(want, got, sizeof(got)) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return rc;
}


void
tk__password_dummy_verify(const char *password)
{
    static const unsigned char  salt[TK__PBKDF2_SALT_LEN];
    unsigned char               key[TK__PBKDF2_KEY_LEN];

    if (password == NULL) {
        password = "";
    }

    if (tk__pbkdf2(password, salt, sizeof(salt), TK_PBKDF2_ITERATIONS, key)
        == TK_OK)
    {
        OPENSSL_cleanse(key, sizeof(key));
    }
}


static int
tk__pbkdf2(const char *password, const unsigned char *salt, size_t saltlen,
    unsigned long iterations, unsigned char key[TK__PBKDF2_KEY_LEN])
{
    size_t  len;

    len = strlen(password);
    if (len > INT_MAX) {
        return TK_EINVAL;
    }

    if (PKCS5_PBKDF2_HMAC(password, (int) len, salt, (int) saltlen,
                          (int) iterations, EVP_sha256(),
                          TK__PBKDF2_KEY_LEN, key) != 1)
    {
        return TK_EINTERNAL;
    }

    return TK_OK;
}


/* salt needs TK__SALT_BUF_LEN bytes */
static int
tk__password_parse(const char *encoded, unsigned long *iterations,
    unsigned char *salt, size_t *saltlen,
    unsigned char key[TK__PBKDF2_KEY_LEN])
{
    unsigned char  buf[TK__KEY_BUF_LEN];
    const char    *p, *salt64, *key64;
    size_t         keylen;

    if (strncmp(encoded, TK__PBKDF2_PREFIX, sizeof(TK__PBKDF2_PREFIX) - 1)
        != 0)
    {
        return TK_EINVAL;
    }

    p = encoded + sizeof(TK__PBKDF2_PREFIX) - 1;
    salt64 = strchr(p, '$');
    if (salt64 == NULL
        || tk__parse_iterations(p, (size_t) (salt64 - p), iterations)
           != TK_OK)
    {
        return TK_EINVAL;
    }

    salt64++;
    key64 = strchr(salt64, '$');
    if (key64 == NULL
        || key64 == salt64
        || (size_t) (key64 - salt64) > TK__BASE64_LEN(TK__PBKDF2_SALT_MAX)
        || tk__base64_decode_with(0, salt64, (size_t) (key64 - salt64),
                                  salt, saltlen) != TK_OK)
    {
        return TK_EINVAL;
    }

    key64++;
    if (strlen(key64) != TK__BASE64_LEN(TK__PBKDF2_KEY_LEN)
        || tk__base64_decode_with(0, key64, strlen(key64), buf, &keylen)
           != TK_OK
        || keylen != TK__PBKDF2_KEY_LEN)
    {
        return TK_EINVAL;
    }

    memcpy(key, buf, TK__PBKDF2_KEY_LEN);
    return TK_OK;
}


/* plain decimal digits, no sign and no leading zero, within the bounds */
static int
tk__parse_iterations(const char *s, size_t len, unsigned long *iterations)
{
    unsigned long  n;
    size_t         i;

    if (len == 0 || len > 8 || s[0] == '0') {
        return TK_EINVAL;
    }

    n = 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return TK_EINVAL;
        }
        n = n * 10 + (unsigned long) (s[i] - '0');
    }

    if (n < TK_PBKDF2_MIN_ITERATIONS || n > TK_PBKDF2_MAX_ITERATIONS) {
        return TK_EINVAL;
    }

    *iterations = n;
    return TK_OK;
}
