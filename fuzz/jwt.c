/*
 * libFuzzer harness of JWT verification, tk_jwt_verify(), with fixed test
 * keys (made for this harness only; they guard nothing).
 *
 * Input: byte 0 picks the key (HS256, RS256, ES256) and the mode:
 *   - raw: the rest is the token;
 *   - signed: the rest is a header, a LF and a payload (no LF: the usual
 *     header and the rest as the payload); the harness encodes them, signs
 *     them with OpenSSL directly and then perhaps alters the token: the
 *     last character of the signature set to byte 1, padding, one
 *     character changed, or one more.
 * Invariant: a token that tk_jwt_verify() accepts verifies again here,
 * independently of libjwt and of the library: three canonical base64url
 * segments (decoding and encoding again gives the same text), the header's
 * alg the key's, a signature of exactly the algorithm's length that
 * OpenSSL verifies over the signing input, and the claims the library
 * said it checked (exp, sub, iss, aud).
 */

#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "fuzz.h"
#include "tickets.h"


#define NOW     1700000000L
#define ISS     "https://tickets.example"
#define AUD     "tickets-api"
#define LEEWAY  60
#define TOKEN_MAX  16384

static const char  hs_secret[] = "fuzz-only secret, 32 bytes long!!";

static const char  rsa_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQC+wc8ORLD8Uz16\n"
    "P2AoU5VS/fOOVnTzJklBS8yZjB4y00znqcT03Gsul2cEEspMReHWq8IS/j6qvYNo\n"
    "kuyuPNtrlG2dvYirh5MnEuzQWuDU2zruiVkTTp/5XEdJOL8/I/QVjHK8Yjxa2SPp\n"
    "j1qhCTe1KS5p+EqE8scwexl+5DsDDMs2x7E4E8OpCyoMeCeoL3AMbkZnrps9yZMx\n"
    "qHGPjSGz8agAqTqj16Yhgy5JexrBnfXvCm7eLJgFNx9tUVr+hzbdwrbRB2WDrmvb\n"
    "Zj91VrnMPUVQi96R4otUfVoIUQX4RGNQ6Cae5U8WLFZuYAGoXJ/cUENyQ78Z1ArR\n"
    "mLlS7oPBAgMBAAECggEALgVN8dBKrqVaaJrPlQsNNHeGAeoDzwGGnNUvqD+wrWxi\n"
    "2mUP2k8vII9wUABEhAA8CvFnIfPqpICSKnF/3k1aVmr5wxuN1Gwh6URck6vJIDE/\n"
    "13qVXd4TJDLKE/U31oDTCzvWFnLQws4uJtPp9n3lzbQAuZooSEjWG3EnZoCjaAmL\n"
    "rREvieBCyEAdvF75Dlvxeh/8KS64K+UK6CbsIPK6F+9Od2EH1QRrDXwlI/3WcIFs\n"
    "nS5atNE/N2LZUViGSqkkcy+5wfNyRWip04VJgTd2vEVU9vPHd++T4n7myN2nFP00\n"
    "r3LJ/G0b5PulVI9QUJcRayG2vRdlxo9yyYrtbnjgEQKBgQD6Q0hRnvjm3vis8Cv/\n"
    "ccUwpFNqtP6sgzB1tS1E9EtBkIFWW0Z9wHjG72um23iLrROjCYkbNoCsLzKBeLld\n"
    "BGQATPFTTKwyPsLKK3myK0IVdXwwkwLMee2St8D3ux+/3PUXkhDddLoXyOV/BuWO\n"
    "7vRgGt2ZEDQkVdDT8oYA3lHRnQKBgQDDIU4LiDRaYG0HzAakHm+PohxX2ZB7vqzC\n"
    "JfEO6e7YmUnXjYcmCI7QI62xXOVsgZ+AAwGUXl/eztgg04R8zNwZbqrvdptIHBZO\n"
    "1WOGXhfyHBu/jbXp5TJSnkcKmOVOKNdKokWbIziiJYCTCphGQ704e4grbjfoINE1\n"
    "yWXMXUJjdQKBgQCcj5DjdudRTzYUwl9T+7GXv4Vr4PTdqWicio5ab9XQm30+L/XG\n"
    "X61vDoKzLOOZxdneCe4a9xrCHPikpIiZ11BUG85xBStId5jWbyI/wu4hjJD3tlBu\n"
    "6Owl+AyhLhArsCgn6bnhQM/WZ1ijAgaER5rbsJLm2Ys1G/Z7UWJhkrNuxQKBgQC0\n"
    "jkLLRPM8lXEN/+o9PrR4MccMOxMIjf0JgVY3OJt77Qt420qtFMohKoJ0VcMszhyq\n"
    "tR1nDpSjdL5kUZSMbntTRSYCgrtY1DSIKcf382Uw8HV0oEot7ZjM/gw6cBPuaLge\n"
    "JV1HGiYzU4RPi0Qv8EpM03HCzjAJKSStIniBy+G8aQKBgQCnHqbivlYQ/8vqgYpE\n"
    "TbZwKIBZsdEDxbLgc6gHx2jepIADSxsLSeLS+awk5PYxUbIgMdQX+Eds6cN/Ucjp\n"
    "ChqC0417t07VtZaGQryJ+p1FNqNiE4Qjfu4+AdR8RjsA356qI5R4XZyB95VpuwpK\n"
    "xi0I8475tnR0gfgmfoZOc/Ar8A==\n"
    "-----END PRIVATE KEY-----\n"
    ;

static const char  ec_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgiZl5qEj2V+hVdiut\n"
    "3zevvZO06gVSCXi8BobEhgdf5QShRANCAARtmWZbaF6CVkpiV5Tc8huMxavW04qr\n"
    "/g0aQVfBwjDBsKmmYzFDdp4bwEAqeuE3p735OULz6gpFNgDHmcODDpwh\n"
    "-----END PRIVATE KEY-----\n"
    ;


typedef struct {
    const char    *alg;
    size_t         sig_len;
    tk_jwt_key_t  *key;
    EVP_PKEY      *pkey;          /* RS256 and ES256 */
} fuzz_key_t;

static fuzz_key_t  keys[3] = {
    { "HS256", 32, NULL, NULL },
    { "RS256", 256, NULL, NULL },
    { "ES256", 64, NULL, NULL },
};


static const char  b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static size_t
b64url_encode(const uint8_t *in, size_t len, char *out)
{
    size_t    i, n;
    uint32_t  v;

    for (i = 0, n = 0; i + 3 <= len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[n++] = b64url[v >> 18];
        out[n++] = b64url[v >> 12 & 63];
        out[n++] = b64url[v >> 6 & 63];
        out[n++] = b64url[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[n++] = b64url[v >> 18];
        out[n++] = b64url[v >> 12 & 63];
    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[n++] = b64url[v >> 18];
        out[n++] = b64url[v >> 12 & 63];
        out[n++] = b64url[v >> 6 & 63];
    }

    out[n] = '\0';
    return n;
}


/*
 * Lenient on purpose (unused bits ignored, as libjwt does): canonical()
 * then encodes again and compares, which is the independent check.
 */
static int
b64url_decode(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
    size_t       i, n;
    uint32_t     v;
    int          bits;
    const char  *p;

    if (len % 4 == 1) {
        return -1;
    }

    for (i = 0, n = 0, v = 0, bits = 0; i < len; i++) {
        p = in[i] != '\0' ? strchr(b64url, in[i]) : NULL;
        if (p == NULL) {
            return -1;
        }
        v = v << 6 | (uint32_t) (p - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t) (v >> bits);
        }
    }

    *outlen = n;
    return 0;
}


static int
canonical(const char *seg, size_t len, uint8_t *out, size_t *outlen)
{
    char  again[TOKEN_MAX];

    return len < sizeof(again) && b64url_decode(seg, len, out, outlen) == 0
           && b64url_encode(out, *outlen, again) == len
           && memcmp(again, seg, len) == 0;
}


static EVP_PKEY *
pem_key(const char *pem)
{
    BIO       *bio;
    EVP_PKEY  *pkey;

    bio = BIO_new_mem_buf(pem, -1);
    FUZZ_CHECK(bio != NULL, "BIO");
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    FUZZ_CHECK(pkey != NULL, "the test key does not parse");
    return pkey;
}


static void
load_key(fuzz_key_t *k, const char *data, size_t len)
{
    char   path[] = "/tmp/tickets-fuzz-jwt-XXXXXX", err[256];
    int    fd;

    fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0, "mkstemp");
    FUZZ_CHECK(write(fd, data, len) == (ssize_t) len, "write");
    close(fd);

    FUZZ_CHECK(tk_jwt_key_load(&k->key, k->alg, path, err, sizeof(err))
               == TK_OK, "%s key: %s", k->alg, err);
    unlink(path);
}


int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    load_key(&keys[0], hs_secret, strlen(hs_secret));
    load_key(&keys[1], rsa_pem, strlen(rsa_pem));
    load_key(&keys[2], ec_pem, strlen(ec_pem));
    keys[1].pkey = pem_key(rsa_pem);
    keys[2].pkey = pem_key(ec_pem);
    return 0;
}


/* r || s as the DER ECDSA-Sig-Value OpenSSL verifies */
static int
es_verify(EVP_PKEY *pkey, const uint8_t *sig, const char *in, size_t len)
{
    int             ok, dlen;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    EVP_MD_CTX     *ctx;
    unsigned char  *der;

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    s = BN_bin2bn(sig + 32, 32, NULL);
    FUZZ_CHECK(es != NULL && r != NULL && s != NULL
               && ECDSA_SIG_set0(es, r, s) == 1, "ECDSA_SIG");

    der = NULL;
    dlen = i2d_ECDSA_SIG(es, &der);
    FUZZ_CHECK(dlen > 0, "i2d_ECDSA_SIG");

    ctx = EVP_MD_CTX_new();
    FUZZ_CHECK(ctx != NULL, "EVP_MD_CTX_new");
    ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1
         && EVP_DigestVerify(ctx, der, (size_t) dlen,
                             (const unsigned char *) in, len) == 1;

    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return ok;
}


static int
rs_verify(EVP_PKEY *pkey, const uint8_t *sig, size_t siglen, const char *in,
    size_t len)
{
    int          ok;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    FUZZ_CHECK(ctx != NULL, "EVP_MD_CTX_new");
    ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1
         && EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *) in,
                             len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}


static int
aud_ok(const cJSON *aud)
{
    const cJSON  *item;

    if (cJSON_IsString(aud)) {
        return strcmp(aud->valuestring, AUD) == 0;
    }

    cJSON_ArrayForEach(item, aud) {
        if (cJSON_IsString(item) && strcmp(item->valuestring, AUD) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the independent check of a token the library accepted */
static void
reverify(const fuzz_key_t *k, const char *tok, size_t len,
    const tk_jwt_claims_t *claims)
{
    uint8_t        seg[TOKEN_MAX], mac[32];
    size_t         n, d1, d2;
    unsigned int   maclen;
    const char    *dot1, *dot2;
    cJSON         *json;
    const cJSON   *item;

    dot1 = memchr(tok, '.', len);
    FUZZ_CHECK(dot1 != NULL, "no first dot");
    d1 = (size_t) (dot1 - tok);
    dot2 = memchr(dot1 + 1, '.', len - d1 - 1);
    FUZZ_CHECK(dot2 != NULL, "no second dot");
    d2 = (size_t) (dot2 - tok);
    FUZZ_CHECK(memchr(dot2 + 1, '.', len - d2 - 1) == NULL, "a third dot");

    /* the header */
    FUZZ_CHECK(canonical(tok, d1, seg, &n), "header not canonical");
    FUZZ_CHECK(memchr(seg, '\0', n) == NULL, "NUL in the header");
    seg[n] = '\0';
    json = cJSON_Parse((const char *) seg);
    item = cJSON_GetObjectItemCaseSensitive(json, "alg");
    FUZZ_CHECK(cJSON_IsString(item) && strcmp(item->valuestring, k->alg) == 0,
               "header alg is not %s", k->alg);
    cJSON_Delete(json);

    /* the signature over header.payload */
    FUZZ_CHECK(canonical(dot2 + 1, len - d2 - 1, seg, &n),
               "%s signature not canonical", k->alg);
    FUZZ_CHECK(n == k->sig_len, "%s signature of %zu bytes", k->alg, n);

    if (k->pkey == NULL) {
        FUZZ_CHECK(HMAC(EVP_sha256(), hs_secret, (int) strlen(hs_secret),
                        (const unsigned char *) tok, d2, mac, &maclen)
                   != NULL && maclen == 32, "HMAC");
        FUZZ_CHECK(CRYPTO_memcmp(mac, seg, 32) == 0, "HS256 MAC differs");
    } else if (k->sig_len == 64) {
        FUZZ_CHECK(es_verify(k->pkey, seg, tok, d2), "ES256 does not verify");
    } else {
        FUZZ_CHECK(rs_verify(k->pkey, seg, n, tok, d2),
                   "RS256 does not verify");
    }

    /* the payload and the claims checked */
    FUZZ_CHECK(canonical(dot1 + 1, d2 - d1 - 1, seg, &n),
               "payload not canonical");
    FUZZ_CHECK(memchr(seg, '\0', n) == NULL, "NUL in the payload");
    seg[n] = '\0';
    json = cJSON_Parse((const char *) seg);
    FUZZ_CHECK(cJSON_IsObject(json), "payload not an object");

    item = cJSON_GetObjectItemCaseSensitive(json, "exp");
    FUZZ_CHECK(cJSON_IsNumber(item) && item->valuedouble + LEEWAY >= NOW,
               "expired or no exp");
    item = cJSON_GetObjectItemCaseSensitive(json, "nbf");
    FUZZ_CHECK(item == NULL
               || (cJSON_IsNumber(item) && item->valuedouble <= NOW + LEEWAY),
               "not yet valid");
    item = cJSON_GetObjectItemCaseSensitive(json, "sub");
    FUZZ_CHECK(cJSON_IsString(item) && item->valuestring[0] != '\0'
               && strcmp(item->valuestring, claims->sub) == 0, "sub");
    item = cJSON_GetObjectItemCaseSensitive(json, "iss");
    FUZZ_CHECK(cJSON_IsString(item) && strcmp(item->valuestring, ISS) == 0,
               "iss");
    FUZZ_CHECK(aud_ok(cJSON_GetObjectItemCaseSensitive(json, "aud")), "aud");
    cJSON_Delete(json);
}


/* header.payload signed here; NULL when it does not fit */
static char *
sign(const fuzz_key_t *k, const uint8_t *data, size_t size)
{
    char            *tok, hdr[64];
    const uint8_t   *lf, *h, *p;
    size_t           hlen, plen, n, siglen;
    unsigned int     maclen;
    uint8_t          sig[512];
    const unsigned char *q;
    EVP_MD_CTX      *ctx;
    ECDSA_SIG       *es;
    const BIGNUM    *r, *s;

    lf = memchr(data, '\n', size);
    if (lf != NULL) {
        h = data;
        hlen = (size_t) (lf - data);
        p = lf + 1;
        plen = size - hlen - 1;
    } else {
        hlen = (size_t) snprintf(hdr, sizeof(hdr),
                                 "{\"alg\":\"%s\",\"typ\":\"JWT\"}", k->alg);
        h = (const uint8_t *) hdr;
        p = data;
        plen = size;
    }

    if (hlen > 4096 || plen > 4096) {
        return NULL;
    }

    tok = malloc(TOKEN_MAX);
    FUZZ_CHECK(tok != NULL, "malloc");
    n = b64url_encode(h, hlen, tok);
    tok[n++] = '.';
    n += b64url_encode(p, plen, tok + n);

    if (k->pkey == NULL) {
        FUZZ_CHECK(HMAC(EVP_sha256(), hs_secret, (int) strlen(hs_secret),
                        (const unsigned char *) tok, n, sig, &maclen)
                   != NULL, "HMAC");
        siglen = maclen;

    } else {
        ctx = EVP_MD_CTX_new();
        siglen = sizeof(sig);
        FUZZ_CHECK(ctx != NULL
                   && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
                                         k->pkey) == 1
                   && EVP_DigestSign(ctx, sig, &siglen,
                                     (const unsigned char *) tok, n) == 1,
                   "sign");
        EVP_MD_CTX_free(ctx);

        if (k->sig_len == 64) {
            /* DER to r || s */
            q = sig;
            es = d2i_ECDSA_SIG(NULL, &q, (long) siglen);
            FUZZ_CHECK(es != NULL, "d2i_ECDSA_SIG");
            ECDSA_SIG_get0(es, &r, &s);
            FUZZ_CHECK(BN_bn2binpad(r, sig, 32) == 32
                       && BN_bn2binpad(s, sig + 32, 32) == 32, "r || s");
            ECDSA_SIG_free(es);
            siglen = 64;
        }
    }

    tok[n++] = '.';
    b64url_encode(sig, siglen, tok + n);
    return tok;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rc;
    char             *tok, *copy;
    size_t            len, pos;
    uint64_t          seed;
    const char       *why, *sig;
    const fuzz_key_t *k;
    tk_jwt_claims_t   claims;

    if (size < 2) {
        return 0;
    }

    k = &keys[(data[0] & 3) % 3];

    if (!(data[0] & 4)) {
        tok = malloc(size);
        FUZZ_CHECK(tok != NULL, "malloc");
        memcpy(tok, data + 1, size - 1);
        tok[size - 1] = '\0';
        len = size - 1;

    } else {
        tok = sign(k, data + 2, size - 2);
        if (tok == NULL) {
            return 0;
        }

        len = strlen(tok);
        sig = strrchr(tok, '.') + 1;
        seed = fuzz_seed(data, size);

        switch (data[0] >> 3 & 7) {
        case 1:     /* the last character of the signature */
            tok[len - 1] = (char) data[1];
            break;
        case 2:
            tok[len++] = '=';
            tok[len] = '\0';
            break;
        case 3:     /* any one character */
            pos = fuzz_rand(&seed) % len;
            tok[pos] = b64url[data[1] & 63];
            break;
        case 4:
            tok[len++] = b64url[data[1] & 63];
            tok[len] = '\0';
            break;
        case 5:     /* the signature cut short */
            len = (size_t) (sig - tok) + (data[1] % (strlen(sig) + 1));
            tok[len] = '\0';
            break;
        default:
            break;
        }
    }

    /* a copy of the exact length: ASan sees a read past it */
    copy = malloc(len ? len : 1);
    FUZZ_CHECK(copy != NULL, "malloc");
    memcpy(copy, tok, len);

    why = NULL;
    rc = tk_jwt_verify(k->key, copy, len, ISS, AUD, NOW, &claims, &why);

    if (rc == TK_OK) {
        FUZZ_CHECK(why == NULL, "accepted with a reason");
        reverify(k, tok, len, &claims);
    } else {
        FUZZ_CHECK(rc == TK_EAUTH && why != NULL && claims.sub[0] == '\0',
                   "refused with %d", rc);
    }

    free(copy);
    free(tok);
    return 0;
}
