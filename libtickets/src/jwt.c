/*
 * JSON Web Tokens over libjwt 1.10.
 *
 * libjwt 1.10 believes the token's own "alg" header and checks no claim,
 * so the key pins one algorithm, the header is read here before libjwt
 * sees the token, and the claims are checked here.  The claims are read
 * with cJSON from the very bytes the signature covers.
 */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "crypto.h"


/* a longer token is refused before any work is spent on it */
#define TK__JWT_MAX_LEN         8192
/* a key file is a secret or one PEM key: anything larger is a mistake */
#define TK__JWT_KEY_FILE_MAX    65536
#define TK__JWT_HS256_MIN       32
#define TK__JWT_RSA_MIN_BITS    2048
/* the signature of HS256 (SHA-256) and of ES256 (r || s on P-256) */
#define TK__JWT_HS256_SIG_LEN   32
#define TK__JWT_ES256_SIG_LEN   64

struct tk_jwt_key_s {
    jwt_alg_t       alg;
    const char     *alg_name;
    /* the HS256 secret, or the PEM public key */
    unsigned char  *verify;
    size_t          verify_len;
    /* the HS256 secret (the same buffer), the PEM private key, or NULL */
    unsigned char  *sign;
    size_t          sign_len;
    /* the one length of a signature: 32, 64, or the RSA modulus's */
    size_t          sig_len;
};

static int tk__key_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int tk__key_read(const char *path, unsigned char **data, size_t *len,
    char *err, size_t errlen);
static int tk__key_secret(tk_jwt_key_t *key, const unsigned char *data,
    size_t len, const char *path, char *err, size_t errlen);
static int tk__key_pem(tk_jwt_key_t *key, const unsigned char *data,
    size_t len, const char *path, char *err, size_t errlen);
static EVP_PKEY *tk__pem_parse(const unsigned char *data, size_t len,
    int *private);
static EVP_PKEY *tk__pem_read(const unsigned char *data, size_t len,
    int private);
static int tk__no_passphrase(char *buf, int size, int rwflag, void *u);
static int tk__pkey_fits(jwt_alg_t alg, EVP_PKEY *pkey);
static unsigned char *tk__pem_write(EVP_PKEY *pkey, int private,
    size_t *len);
static void tk__secret_free(unsigned char *p, size_t len);
static const char *tk__jwt_check_signed(const tk_jwt_key_t *key,
    const char *token, size_t len, cJSON **payload);
static int tk__jwt_split(const char *token, size_t len, size_t dots[2]);
static int tk__jwt_signature_canonical(const tk_jwt_key_t *key,
    const char *s, size_t len);
static cJSON *tk__jwt_segment(const char *s, size_t len);
static const char *tk__jwt_check_claims(const cJSON *payload,
    const char *iss, const char *aud, time_t now, tk_jwt_claims_t *claims);
static int tk__json_has_duplicates(const cJSON *obj);
static int tk__jwt_aud_matches(const cJSON *claim, const char *aud);
static int tk__json_string_is(const cJSON *item, const char *s);
static unsigned tk__jwt_perms(const cJSON *claim);
static time_t tk__jwt_time(double t);
static void tk__jwt_perms_json(unsigned perms, char *out, size_t size);


int
tk_jwt_key_load(tk_jwt_key_t **key, const char *alg, const char *path,
    char *err, size_t errlen)
{
    tk_jwt_key_t   *k;
    unsigned char  *data;
    size_t          len;
    jwt_alg_t       a;
    int             rc;

    *key = NULL;
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }

    if (alg == NULL) {
        return tk__key_fail(err, errlen, "no JWT algorithm given");
    }

    if (strcmp(alg, "HS256") == 0) {
        a = JWT_ALG_HS256;
    } else if (strcmp(alg, "RS256") == 0) {
        a = JWT_ALG_RS256;
    } else if (strcmp(alg, "ES256") == 0) {
        a = JWT_ALG_ES256;
    } else {
        return tk__key_fail(err, errlen, "unsupported JWT algorithm \"%s\": "
                            "use HS256, RS256 or ES256", alg);
    }

    rc = tk__key_read(path, &data, &len, err, errlen);
    if (rc != TK_OK) {
        return rc;
    }

    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        tk__secret_free(data, len);
        return TK_ENOMEM;
    }

    k->alg = a;
    k->alg_name = jwt_alg_str(a);

    if (a == JWT_ALG_HS256) {
        k->sig_len = TK__JWT_HS256_SIG_LEN;
        rc = tk__key_secret(k, data, len, path, err, errlen);
    } else {
        rc = tk__key_pem(k, data, len, path, err, errlen);
    }

    tk__secret_free(data, len);

    if (rc != TK_OK) {
        tk_jwt_key_free(k);
        return rc;
    }

    *key = k;
    return TK_OK;
}


void
tk_jwt_key_free(tk_jwt_key_t *key)
{
    if (key == NULL) {
        return;
    }

    if (key->sign != key->verify) {
        tk__secret_free(key->sign, key->sign_len);
    }

    tk__secret_free(key->verify, key->verify_len);
    free(key);
}


const char *
tk_jwt_key_alg(const tk_jwt_key_t *key)
{
    return key->alg_name;
}


static int
tk__key_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }

    return TK_EINVAL;
}


static int
tk__key_read(const char *path, unsigned char **data, size_t *len,
    char *err, size_t errlen)
{
    unsigned char  *buf;
    char            ebuf[128];
    FILE           *f;
    size_t          n;
    int             failed;

    *data = NULL;
    *len = 0;

    if (path == NULL) {
        return tk__key_fail(err, errlen, "no JWT key file given");
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        return tk__key_fail(err, errlen, "cannot open JWT key %s: %s", path,
                            strerror_r(errno, ebuf, sizeof(ebuf)));
    }

    /* one byte more than allowed tells a file that is too large */
    buf = malloc(TK__JWT_KEY_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return TK_ENOMEM;
    }

    n = fread(buf, 1, TK__JWT_KEY_FILE_MAX + 1, f);
    failed = ferror(f);
    fclose(f);

    if (failed) {
        tk__secret_free(buf, TK__JWT_KEY_FILE_MAX + 1);
        return tk__key_fail(err, errlen, "cannot read JWT key %s: %s", path,
                            strerror_r(errno, ebuf, sizeof(ebuf)));
    }

    if (n > TK__JWT_KEY_FILE_MAX) {
        tk__secret_free(buf, TK__JWT_KEY_FILE_MAX + 1);
        return tk__key_fail(err, errlen, "JWT key %s is larger than %d bytes",
                            path, TK__JWT_KEY_FILE_MAX);
    }

    *data = buf;
    *len = n;
    return TK_OK;
}


static int
tk__key_secret(tk_jwt_key_t *key, const unsigned char *data, size_t len,
    const char *path, char *err, size_t errlen)
{
    /* editors end a file with a newline that is no part of the secret */
    if (len > 0 && data[len - 1] == '\n') {
        len--;
        if (len > 0 && data[len - 1] == '\r') {
            len--;
        }
    }

    if (len == 0) {
        return tk__key_fail(err, errlen, "JWT secret %s is empty", path);
    }

    if (len < TK__JWT_HS256_MIN) {
        return tk__key_fail(err, errlen, "JWT secret %s is %zu bytes: HS256 "
                            "needs at least %d", path, len, TK__JWT_HS256_MIN);
    }

    key->verify = malloc(len);
    if (key->verify == NULL) {
        return TK_ENOMEM;
    }

    memcpy(key->verify, data, len);
    key->verify_len = len;
    key->sign = key->verify;
    key->sign_len = len;
    return TK_OK;
}


/*
 * The key is parsed here once, so that a bad file fails at load and not at
 * the first request, and written back in a canonical PEM form for libjwt.
 * A private key also gives the public key, so that one key can do both.
 */
static int
tk__key_pem(tk_jwt_key_t *key, const unsigned char *data, size_t len,
    const char *path, char *err, size_t errlen)
{
    EVP_PKEY  *pkey;
    int        private, rc;

    pkey = tk__pem_parse(data, len, &private);
    if (pkey == NULL) {
        return tk__key_fail(err, errlen, "JWT key %s holds no PEM public or "
                            "private key (encrypted keys are not supported)",
                            path);
    }

    if (!tk__pkey_fits(key->alg, pkey)) {
        EVP_PKEY_free(pkey);
        return tk__key_fail(err, errlen, "JWT key %s is not %s", path,
                            key->alg == JWT_ALG_RS256
                            ? "an RSA key of at least 2048 bits"
                            : "an EC key on the P-256 curve");
    }

    rc = TK_OK;

    key->sig_len = key->alg == JWT_ALG_ES256
                   ? TK__JWT_ES256_SIG_LEN : (size_t) EVP_PKEY_get_size(pkey);

    key->verify = tk__pem_write(pkey, 0, &key->verify_len);
    if (key->verify == NULL) {
        rc = TK_ENOMEM;

    } else if (private) {
        key->sign = tk__pem_write(pkey, 1, &key->sign_len);
        if (key->sign == NULL) {
            rc = TK_ENOMEM;
        }
    }

    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}


static EVP_PKEY *
tk__pem_parse(const unsigned char *data, size_t len, int *private)
{
    EVP_PKEY  *pkey;

    *private = 0;
    pkey = tk__pem_read(data, len, 0);

    if (pkey == NULL) {
        *private = 1;
        pkey = tk__pem_read(data, len, 1);
    }

    /* the failed attempts leave errors queued on this thread */
    ERR_clear_error();
    return pkey;
}


static EVP_PKEY *
tk__pem_read(const unsigned char *data, size_t len, int private)
{
    EVP_PKEY  *pkey;
    BIO       *in;

    in = BIO_new_mem_buf(data, (int) len);
    if (in == NULL) {
        return NULL;
    }

    if (private) {
        pkey = PEM_read_bio_PrivateKey(in, NULL, tk__no_passphrase, NULL);
    } else {
        pkey = PEM_read_bio_PUBKEY(in, NULL, tk__no_passphrase, NULL);
    }

    BIO_free(in);
    return pkey;
}


/* OpenSSL would otherwise ask for a passphrase on the terminal */
static int
tk__no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}


static int
tk__pkey_fits(jwt_alg_t alg, EVP_PKEY *pkey)
{
    char  group[64];

    if (alg == JWT_ALG_RS256) {
        return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA
               && EVP_PKEY_get_bits(pkey) >= TK__JWT_RSA_MIN_BITS;
    }

    return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC
           && EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1
           && OBJ_txt2nid(group) == NID_X9_62_prime256v1;
}


static unsigned char *
tk__pem_write(EVP_PKEY *pkey, int private, size_t *len)
{
    unsigned char  *pem;
    char           *data;
    BIO            *out;
    long            n;
    int             ok;

    out = BIO_new(BIO_s_mem());
    if (out == NULL) {
        return NULL;
    }

    if (private) {
        ok = PEM_write_bio_PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL);
    } else {
        ok = PEM_write_bio_PUBKEY(out, pkey);
    }

    pem = NULL;
    n = BIO_get_mem_data(out, &data);

    if (ok == 1 && n > 0) {
        pem = malloc((size_t) n);
        if (pem != NULL) {
            memcpy(pem, data, (size_t) n);
            *len = (size_t) n;
        }
    }

    /* a memory BIO clears its buffer when freed */
    BIO_free(out);
    return pem;
}


static void
tk__secret_free(unsigned char *p, size_t len)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, len);
        free(p);
    }
}


int
tk_jwt_verify(const tk_jwt_key_t *key, const char *token, size_t len,
    const char *iss, const char *aud, time_t now, tk_jwt_claims_t *claims,
    const char **why)
{
    const char  *reason;
    cJSON       *payload;

    memset(claims, 0, sizeof(*claims));
    payload = NULL;

    reason = tk__jwt_check_signed(key, token, len, &payload);
    if (reason == NULL) {
        reason = tk__jwt_check_claims(payload, iss, aud, now, claims);
    }

    cJSON_Delete(payload);

    if (why != NULL) {
        *why = reason;
    }

    if (reason != NULL) {
        memset(claims, 0, sizeof(*claims));
        return TK_EAUTH;
    }

    return TK_OK;
}


/*
 * The signature, with the algorithm pinned: the header is checked before
 * libjwt would trust it (so "none", or an HS256 token keyed with the bytes
 * of an RSA public key, never reaches it), and libjwt's own reading of the
 * header is checked after, in case its JSON parser reads the header
 * differently (of two "alg" members cJSON keeps the first, libjwt's
 * jansson the last).  On success *payload is the parsed claims.
 */
static const char *
tk__jwt_check_signed(const tk_jwt_key_t *key, const char *token, size_t len,
    cJSON **payload)
{
    jwt_alg_t     decoded;
    cJSON        *header;
    jwt_t        *jwt;
    size_t        dots[2];
    char          buf[TK__JWT_MAX_LEN + 1];
    int           pinned, rc;

    if (token == NULL || len > TK__JWT_MAX_LEN
        || tk__jwt_split(token, len, dots) != TK_OK)
    {
        return "malformed token";
    }

    header = tk__jwt_segment(token, dots[0]);
    if (header == NULL) {
        return "malformed token";
    }

    pinned = tk__json_string_is(
                 cJSON_GetObjectItemCaseSensitive(header, "alg"),
                 key->alg_name);
    cJSON_Delete(header);

    if (!pinned) {
        return "algorithm not allowed";
    }

    if (!tk__jwt_signature_canonical(key, token + dots[1] + 1,
                                     len - dots[1] - 1))
    {
        return "bad signature";
    }

    memcpy(buf, token, len);
    buf[len] = '\0';

    jwt = NULL;
    rc = jwt_decode(&jwt, buf, key->verify, (int) key->verify_len);
    decoded = rc == 0 ? jwt_get_alg(jwt) : JWT_ALG_INVAL;
    if (jwt != NULL) {
        jwt_free(jwt);
    }

    if (rc != 0) {
        return "bad signature";
    }

    if (decoded != key->alg) {
        return "algorithm not allowed";
    }

    *payload = tk__jwt_segment(token + dots[0] + 1, dots[1] - dots[0] - 1);
    if (*payload == NULL) {
        return "malformed token";
    }

    return NULL;
}


/* header.payload.signature, each in the base64url alphabet */
static int
tk__jwt_split(const char *token, size_t len, size_t dots[2])
{
    size_t  i, n;
    char    c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = token[i];

        if (c == '.') {
            if (n == 2) {
                return TK_EINVAL;
            }
            dots[n++] = i;

        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                     || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return TK_EINVAL;
        }
    }

    if (n != 2 || dots[0] == 0 || dots[1] == dots[0] + 1) {
        return TK_EINVAL;
    }

    return TK_OK;
}


/*
 * libjwt decodes the signature leniently: it ignores the unused low bits of
 * the last character, so that one signature has several spellings and a
 * token is not one string (revocation lists, rate limits and logs keyed on
 * it could be evaded).  Only the one canonical spelling passes here: the
 * base64url alphabet, no padding, unused bits zero (tk__base64url_decode),
 * and exactly the length of the algorithm's signature.  The header and the
 * payload go through the same strict decoder in tk__jwt_segment().
 */
static int
tk__jwt_signature_canonical(const tk_jwt_key_t *key, const char *s,
    size_t len)
{
    unsigned char  sig[TK__BASE64_DECODED_MAX(TK__JWT_MAX_LEN)];
    size_t         n;

    return len == TK__BASE64URL_LEN(key->sig_len)
           && len <= TK__JWT_MAX_LEN
           && tk__base64url_decode(s, len, sig, &n) == TK_OK
           && n == key->sig_len;
}


/* a base64url segment that must hold one JSON object and nothing else */
static cJSON *
tk__jwt_segment(const char *s, size_t len)
{
    unsigned char  *json;
    cJSON          *obj;
    size_t          n;

    json = malloc(TK__BASE64_DECODED_MAX(len) + 1);
    if (json == NULL) {
        return NULL;
    }

    obj = NULL;

    if (tk__base64url_decode(s, len, json, &n) == TK_OK
        && memchr(json, '\0', n) == NULL)
    {
        json[n] = '\0';
        obj = cJSON_ParseWithOpts((const char *) json, NULL, 1);

        if (obj != NULL && !cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            obj = NULL;
        }
    }

    free(json);
    return obj;
}


static const char *
tk__jwt_check_claims(const cJSON *payload, const char *iss, const char *aud,
    time_t now, tk_jwt_claims_t *claims)
{
    const cJSON  *exp, *nbf, *iat, *sub, *role;

    /* RFC 7519 section 4: a parser that does not keep the last of two
     * members of one name (cJSON keeps the first) must refuse them */
    if (tk__json_has_duplicates(payload)) {
        return "malformed token";
    }

    exp = cJSON_GetObjectItemCaseSensitive(payload, "exp");
    if (!cJSON_IsNumber(exp)) {
        return "missing expiry";
    }

    if ((double) now > exp->valuedouble + TK_JWT_LEEWAY) {
        return "token expired";
    }

    nbf = cJSON_GetObjectItemCaseSensitive(payload, "nbf");
    if (nbf != NULL) {
        if (!cJSON_IsNumber(nbf)) {
            return "malformed token";
        }
        if ((double) now + TK_JWT_LEEWAY < nbf->valuedouble) {
            return "token not yet valid";
        }
        claims->nbf = tk__jwt_time(nbf->valuedouble);
    }

    if (iss != NULL
        && !tk__json_string_is(
               cJSON_GetObjectItemCaseSensitive(payload, "iss"), iss))
    {
        return "wrong issuer";
    }

    if (aud != NULL
        && !tk__jwt_aud_matches(
               cJSON_GetObjectItemCaseSensitive(payload, "aud"), aud))
    {
        return "wrong audience";
    }

    sub = cJSON_GetObjectItemCaseSensitive(payload, "sub");
    if (!cJSON_IsString(sub) || sub->valuestring[0] == '\0') {
        return "missing subject";
    }

    if (strlen(sub->valuestring) >= sizeof(claims->sub)) {
        return "subject too long";
    }

    strcpy(claims->sub, sub->valuestring);

    /* role, permissions and iat are informative: a value of the wrong
     * type only grants nothing */
    role = cJSON_GetObjectItemCaseSensitive(payload, "role");
    if (cJSON_IsString(role)
        && strlen(role->valuestring) < sizeof(claims->role))
    {
        strcpy(claims->role, role->valuestring);
    }

    claims->perms = tk__jwt_perms(
        cJSON_GetObjectItemCaseSensitive(payload, "permissions"));

    iat = cJSON_GetObjectItemCaseSensitive(payload, "iat");
    if (cJSON_IsNumber(iat)) {
        claims->iat = tk__jwt_time(iat->valuedouble);
    }

    claims->exp = tk__jwt_time(exp->valuedouble);
    return NULL;
}


static int
tk__json_has_duplicates(const cJSON *obj)
{
    const cJSON  *a, *b;

    for (a = obj->child; a != NULL; a = a->next) {
        for (b = a->next; b != NULL; b = b->next) {
            if (strcmp(a->string, b->string) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


static int
tk__jwt_aud_matches(const cJSON *claim, const char *aud)
{
    const cJSON  *item;

    if (cJSON_IsString(claim)) {
        return tk__json_string_is(claim, aud);
    }

    if (!cJSON_IsArray(claim)) {
        return 0;
    }

    cJSON_ArrayForEach(item, claim) {
        if (tk__json_string_is(item, aud)) {
            return 1;
        }
    }

    return 0;
}


static int
tk__json_string_is(const cJSON *item, const char *s)
{
    return cJSON_IsString(item) && strcmp(item->valuestring, s) == 0;
}


static unsigned
tk__jwt_perms(const cJSON *claim)
{
    const cJSON  *item;
    unsigned      perms;

    if (cJSON_IsString(claim)) {
        return tk_perm_parse(claim->valuestring, strlen(claim->valuestring));
    }

    if (!cJSON_IsArray(claim)) {
        return 0;
    }

    perms = 0;

    cJSON_ArrayForEach(item, claim) {
        if (cJSON_IsString(item)) {
            perms |= tk_perm_parse(item->valuestring,
                                   strlen(item->valuestring));
        }
    }

    return perms;
}


/* JSON numbers are doubles: keep a far-off time from overflowing time_t */
static time_t
tk__jwt_time(double t)
{
    if (t > 1e15) {
        return (time_t) 1e15;
    }

    if (t < -1e15) {
        return (time_t) -1e15;
    }

    return (time_t) t;
}


int
tk_jwt_issue(const tk_jwt_key_t *key, const tk_principal_t *p,
    const char *iss, const char *aud, long lifetime, time_t now,
    char **token)
{
    const char  *role;
    jwt_t       *jwt;
    char         jti[37], perms[256];
    int          rc, failed;

    *token = NULL;

    role = tk_role_name(p->role);
    if (key->sign == NULL || role == NULL || p->user_id[0] == '\0'
        || lifetime <= 0 || now > LONG_MAX - lifetime)
    {
        return TK_EINVAL;
    }

    rc = tk__uuid_v4(jti);
    if (rc != TK_OK) {
        return rc;
    }

    tk__jwt_perms_json(p->perms, perms, sizeof(perms));

    if (jwt_new(&jwt) != 0) {
        return TK_ENOMEM;
    }

    failed = jwt_set_alg(jwt, key->alg, key->sign, (int) key->sign_len)
             || jwt_add_grant(jwt, "sub", p->user_id)
             || jwt_add_grant(jwt, "unique_name", p->user_name)
             || jwt_add_grant(jwt, "role", role)
             || jwt_add_grants_json(jwt, perms)
             || jwt_add_grant_int(jwt, "iat", (long) now)
             || jwt_add_grant_int(jwt, "nbf", (long) now)
             || jwt_add_grant_int(jwt, "exp", (long) now + lifetime)
             || (iss != NULL && jwt_add_grant(jwt, "iss", iss))
             || (aud != NULL && jwt_add_grant(jwt, "aud", aud))
             || jwt_add_grant(jwt, "jti", jti);

    if (!failed) {
        *token = jwt_encode_str(jwt);
        failed = *token == NULL;
    }

    /* libjwt reports errno values; only running out of memory is expected */
    rc = !failed ? TK_OK : errno == ENOMEM ? TK_ENOMEM : TK_EINTERNAL;

    jwt_free(jwt);
    return rc;
}


/* {"permissions":[...]}: the names are constants that need no escaping */
static void
tk__jwt_perms_json(unsigned perms, char *out, size_t size)
{
    const char  *sep;
    unsigned     bit;
    size_t       n;

    n = (size_t) snprintf(out, size, "{\"permissions\":[");
    sep = "";

    for (bit = 1; bit & TK_PERM_ALL; bit <<= 1) {
        if (perms & bit) {
            n += (size_t) snprintf(out + n, size - n, "%s\"%s\"", sep,
                                   tk_perm_name(bit));
            sep = ",";
        }
    }

    snprintf(out + n, size - n, "]}");
}
