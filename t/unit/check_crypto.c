/*
 * Unit tests of libtickets' results, password hashes and JSON Web Tokens.
 *
 * The keys are made once by the openssl command in a temporary directory;
 * the tokens that tk_jwt_issue() cannot make (no exp, alg "none", ...) are
 * built here by hand and signed with HMAC.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "crypto.h"
#include "result.h"
#include "tickets.h"


#define NOW      1700000000L
#define ISS      "https://tickets.example"
#define AUD      "tickets-api"
/* 48 bytes */
#define SECRET   "0123456789abcdef0123456789abcdef0123456789abcdef"
#define HS_HEAD  "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* a password hash the demo data carries: "demo" with the default cost */
#define DEMO_HASH \
    "pbkdf2_sha256$210000$bmd4X3RpY2tldHMvZGVtbw==$" \
    "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE="

static char             dir[64];
static tk_jwt_claims_t  claims;


static const char *
path_of(const char *name)
{
    static char  path[128];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}


static char *
read_file(const char *name, size_t *len)
{
    char  *data;
    FILE  *f;

    f = fopen(path_of(name), "rb");
    ck_assert_ptr_nonnull(f);
    data = calloc(1, 65536);
    ck_assert_ptr_nonnull(data);
    *len = fread(data, 1, 65535, f);
    fclose(f);
    return data;
}


static tk_jwt_key_t *
load(const char *alg, const char *name)
{
    tk_jwt_key_t  *key;
    char           err[256];

    ck_assert_int_eq(tk_jwt_key_load(&key, alg, path_of(name), err,
                                     sizeof(err)), TK_OK);
    ck_assert_str_eq(err, "");
    return key;
}


/* the message of a refused key load */
static const char *
load_fails(const char *alg, const char *name)
{
    static char    err[256];
    tk_jwt_key_t  *key;

    key = (tk_jwt_key_t *) 1;
    ck_assert_int_eq(tk_jwt_key_load(&key, alg, path_of(name), err,
                                     sizeof(err)), TK_EINVAL);
    ck_assert_ptr_null(key);
    ck_assert_uint_gt(strlen(err), 0);
    return err;
}


/* header.payload, HMAC-SHA256 signed with secret, or unsigned if NULL */
static char *
craft(const char *header, const char *payload, const void *secret,
    size_t secretlen)
{
    unsigned char  mac[32];
    size_t         hl, pl, n;
    char          *t;

    hl = strlen(header);
    pl = strlen(payload);
    t = malloc(TK__BASE64URL_LEN(hl) + TK__BASE64URL_LEN(pl)
               + TK__BASE64URL_LEN(sizeof(mac)) + 3);
    ck_assert_ptr_nonnull(t);

    n = tk__base64url_encode(header, hl, t);
    t[n++] = '.';
    n += tk__base64url_encode(payload, pl, t + n);

    if (secret != NULL) {
        ck_assert_int_eq(tk__hmac_sha256(secret, secretlen, t, n, mac),
                         TK_OK);
        t[n++] = '.';
        tk__base64url_encode(mac, sizeof(mac), t + n);
    } else {
        t[n++] = '.';
        t[n] = '\0';
    }

    return t;
}


/* an HS256 token with SECRET of the claims given, as printf would */
static char *
craft_hs(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
craft_hs(const char *fmt, ...)
{
    va_list  ap;
    char     payload[1024];

    va_start(ap, fmt);
    vsnprintf(payload, sizeof(payload), fmt, ap);
    va_end(ap);

    return craft(HS_HEAD, payload, SECRET, strlen(SECRET));
}


/* NULL when accepted, else the reason */
static const char *
verify_at(const tk_jwt_key_t *key, const char *token, time_t now)
{
    const char  *why;
    int          rc;

    why = "unset";
    rc = tk_jwt_verify(key, token, strlen(token), ISS, AUD, now, &claims,
                       &why);
    if (rc == TK_OK) {
        ck_assert_ptr_null(why);
        return NULL;
    }

    ck_assert_int_eq(rc, TK_EAUTH);
    ck_assert_ptr_nonnull(why);
    ck_assert_str_eq(claims.sub, "");
    return why;
}


static void
refused(const tk_jwt_key_t *key, const char *token, time_t now,
    const char *reason)
{
    const char  *why;

    why = verify_at(key, token, now);
    ck_assert_msg(why != NULL, "token accepted, expected \"%s\"", reason);
    ck_assert_str_eq(why, reason);
}


static void
accepted(const tk_jwt_key_t *key, const char *token, time_t now)
{
    const char  *why;

    why = verify_at(key, token, now);
    ck_assert_msg(why == NULL, "token refused: %s", why);
}


static char *
issue(const tk_jwt_key_t *key, time_t now, long lifetime)
{
    tk_principal_t  p;
    char           *token;

    p = principal("42", "alice", TK_ROLE_TECHNICIAN,
                  TK_PERM_CREATE | TK_PERM_REPLY | TK_PERM_DELETE);

    ck_assert_int_eq(tk_jwt_issue(key, &p, ISS, AUD, lifetime, now, &token),
                     TK_OK);
    ck_assert_ptr_nonnull(token);
    return token;
}


/* the decoded length of the signature segment */
static size_t
signature_len(const char *token)
{
    unsigned char  sig[600];
    const char    *s;
    size_t         n;

    s = strrchr(token, '.') + 1;
    ck_assert_uint_le(strlen(s), 512);
    ck_assert_int_eq(tk__base64url_decode(s, strlen(s), sig, &n), TK_OK);
    return n;
}


/* Results, permissions and roles. */

START_TEST(test_strerror)
{
    static const int  codes[] = {
        TK_OK, TK_CREATED, TK_NO_CONTENT, TK_ENOMEM, TK_EINVAL, TK_ENOTFOUND,
        TK_EFORBIDDEN, TK_EAUTH, TK_ECONFLICT, TK_EPRECOND, TK_EUNAVAIL,
        TK_EINTERNAL, TK_ETHROTTLED
    };
    size_t  i, j, n;

    n = sizeof(codes) / sizeof(codes[0]);

    for (i = 0; i < n; i++) {
        ck_assert_uint_gt(strlen(tk_strerror(codes[i])), 0);
        ck_assert_str_ne(tk_strerror(codes[i]), "unknown error");
        for (j = 0; j < i; j++) {
            ck_assert_str_ne(tk_strerror(codes[i]), tk_strerror(codes[j]));
        }
    }

    ck_assert_str_eq(tk_strerror(-1000), "unknown error");
    ck_assert_str_eq(tk_strerror(TK_EAUTH), "authentication failed");
}
END_TEST


START_TEST(test_result)
{
    char         longer[1000];

    tk_result_init(&res);
    ck_assert_int_eq(res.code, TK_OK);
    ck_assert_ptr_null(res.body);

    res.body = strdup("{}");
    res.body_len = 2;
    res.errors = strdup("{\"title\":\"required\"}");
    res.id = 7;
    strcpy(res.etag, "\"abc\"");

    ck_assert_int_eq(tk__fail(&res, TK_ENOTFOUND, "no ticket %d", 7),
                     TK_ENOTFOUND);
    ck_assert_int_eq(res.code, TK_ENOTFOUND);
    ck_assert_str_eq(res.message, "no ticket 7");

    /* too long a message is cut, still terminated */
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    tk__fail(&res, TK_EINVAL, "%s", longer);
    ck_assert_uint_eq(strlen(res.message), sizeof(res.message) - 1);

    tk_result_clear(&res);
    ck_assert_ptr_null(res.body);
    ck_assert_ptr_null(res.errors);
    ck_assert_int_eq(res.code, TK_OK);
    ck_assert_int_eq(res.id, 0);
    ck_assert_str_eq(res.etag, "");
    ck_assert_str_eq(res.message, "");

    /* clearing twice is harmless */
    tk_result_clear(&res);
}
END_TEST


START_TEST(test_perms)
{
    static const char  *names[] = {
        "Tickets.Create", "Tickets.Update", "Tickets.Forward",
        "Tickets.Reply", "Tickets.Close", "Tickets.Resolve", "Tickets.Delete",
        "Tickets.Inbound"
    };
    unsigned  all, bit;
    size_t    i;

    all = 0;
    for (i = 0; i < 8; i++) {
        bit = tk_perm_parse(names[i], strlen(names[i]));
        ck_assert_uint_eq(bit, 1u << i);
        ck_assert_str_eq(tk_perm_name(bit), names[i]);
        all |= bit;
    }
    ck_assert_uint_eq(all, TK_PERM_ALL);

    ck_assert_uint_eq(tk_perm_parse("Tickets.Create", 14), TK_PERM_CREATE);
    ck_assert_uint_eq(tk_perm_parse("Tickets.Create", 7), 0);
    ck_assert_uint_eq(tk_perm_parse("Tickets.CreateX", 15), 0);
    ck_assert_uint_eq(tk_perm_parse("tickets.create", 14), 0);
    ck_assert_uint_eq(tk_perm_parse("", 0), 0);
    ck_assert_uint_eq(tk_perm_parse(NULL, 0), 0);

    ck_assert_ptr_null(tk_perm_name(0));
    ck_assert_ptr_null(tk_perm_name(TK_PERM_CREATE | TK_PERM_UPDATE));
    ck_assert_ptr_null(tk_perm_name(0x100));
}
END_TEST


START_TEST(test_roles)
{
    ck_assert_int_eq(tk_role_parse("Admin"), TK_ROLE_ADMIN);
    ck_assert_int_eq(tk_role_parse("technician"), TK_ROLE_TECHNICIAN);
    ck_assert_int_eq(tk_role_parse("MEMBER"), TK_ROLE_MEMBER);
    ck_assert_int_eq(tk_role_parse("Integration"), TK_ROLE_INTEGRATION);
    ck_assert_int_eq(tk_role_parse("Root"), -1);
    ck_assert_int_eq(tk_role_parse(""), -1);
    ck_assert_int_eq(tk_role_parse("Admin "), -1);
    ck_assert_int_eq(tk_role_parse(NULL), -1);

    ck_assert_str_eq(tk_role_name(TK_ROLE_ADMIN), "Admin");
    ck_assert_str_eq(tk_role_name(TK_ROLE_TECHNICIAN), "Technician");
    ck_assert_str_eq(tk_role_name(TK_ROLE_MEMBER), "Member");
    ck_assert_str_eq(tk_role_name(TK_ROLE_INTEGRATION), "Integration");
    ck_assert_ptr_null(tk_role_name(-1));
    ck_assert_ptr_null(tk_role_name(4));
}
END_TEST


/* Digests and encodings. */

START_TEST(test_sha256)
{
    char  hex[65];

    ck_assert_int_eq(tk__sha256_hex("abc", 3, hex), TK_OK);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");

    ck_assert_int_eq(tk__sha256_hex("", 0, hex), TK_OK);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                          "27ae41e4649b934ca495991b7852b855");
}
END_TEST


START_TEST(test_hmac)
{
    unsigned char  mac[32];
    char           hex[65];

    /* RFC 4231, test case 2 */
    ck_assert_int_eq(tk__hmac_sha256("Jefe", 4,
                                     "what do ya want for nothing?", 28, mac),
                     TK_OK);
    tk__hex(mac, sizeof(mac), hex);
    ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c7"
                          "5a003f089d2739839dec58b964ec3843");
}
END_TEST


START_TEST(test_base64url)
{
    static const char  *vectors[][2] = {
        { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" }
    };
    static const char  *bad[] = {
        "Zg==", "Zg=", "Z", "Zm9vY", "Zh", "Zm9", "Zm+v", "Zm/v", "Zm9v\n",
        "Zm 9", "Zm.v"
    };
    unsigned char       out[16];
    char                enc[16];
    size_t              i, n;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        n = tk__base64url_encode(vectors[i][0], strlen(vectors[i][0]), enc);
        ck_assert_str_eq(enc, vectors[i][1]);
        ck_assert_uint_eq(n, strlen(vectors[i][1]));
        ck_assert_uint_eq(TK__BASE64URL_LEN(strlen(vectors[i][0])), n);

        ck_assert_int_eq(tk__base64url_decode(enc, n, out, &n), TK_OK);
        ck_assert_uint_eq(n, strlen(vectors[i][0]));
        ck_assert_mem_eq(out, vectors[i][0], n);
    }

    /* the two characters where base64url differs from base64 */
    tk__base64url_encode("\xfb\xff", 2, enc);
    ck_assert_str_eq(enc, "-_8");
    ck_assert_int_eq(tk__base64url_decode("-_8", 3, out, &n), TK_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_mem_eq(out, "\xfb\xff", 2);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(tk__base64url_decode(bad[i], strlen(bad[i]), out, &n)
                      == TK_EINVAL, "\"%s\" decoded", bad[i]);
    }
}
END_TEST


START_TEST(test_hex_uuid)
{
    char  hex[9], a[37], b[37];
    int   i;

    tk__hex("\x00\x01\xab\xff", 4, hex);
    ck_assert_str_eq(hex, "0001abff");

    ck_assert_int_eq(tk__uuid_v4(a), TK_OK);
    ck_assert_int_eq(tk__uuid_v4(b), TK_OK);
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(strlen(a), 36);

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            ck_assert_int_eq(a[i], '-');
        } else {
            ck_assert_ptr_nonnull(strchr("0123456789abcdef", a[i]));
        }
    }

    ck_assert_int_eq(a[14], '4');
    ck_assert_ptr_nonnull(strchr("89ab", a[19]));
}
END_TEST


/* Passwords. */

START_TEST(test_password_round_trip)
{
    char  *h1, *h2;

    ck_assert_int_eq(tk__password_hash_iter("s3cret pass", 1000, &h1), TK_OK);
    ck_assert_int_eq(tk__password_hash_iter("s3cret pass", 1000, &h2), TK_OK);

    ck_assert_int_eq(strncmp(h1, "pbkdf2_sha256$1000$", 19), 0);
    /* 16 bytes of salt and 32 of key, in padded base64 */
    ck_assert_uint_eq(strlen(h1), 19 + 24 + 1 + 44);
    ck_assert_str_ne(h1, h2);

    ck_assert_int_eq(tk_password_verify("s3cret pass", h1), 1);
    ck_assert_int_eq(tk_password_verify("s3cret pass", h2), 1);
    ck_assert_int_eq(tk_password_verify("s3cret pasS", h1), 0);
    ck_assert_int_eq(tk_password_verify("s3cret pass ", h1), 0);
    ck_assert_int_eq(tk_password_verify("", h1), 0);

    free(h1);
    free(h2);

    ck_assert_int_eq(tk__password_hash_iter("", 1000, &h1), TK_OK);
    ck_assert_int_eq(tk_password_verify("", h1), 1);
    ck_assert_int_eq(tk_password_verify("x", h1), 0);
    free(h1);
}
END_TEST


START_TEST(test_password_default_cost)
{
    char  *h;

    ck_assert_int_eq(tk_password_hash("correct horse", &h), TK_OK);
    ck_assert_int_eq(strncmp(h, "pbkdf2_sha256$210000$", 21), 0);
    ck_assert_int_eq(tk_password_verify("correct horse", h), 1);
    free(h);

    /* made elsewhere (Python's hashlib) for the demo data */
    ck_assert_int_eq(tk_password_verify("demo", DEMO_HASH), 1);
    ck_assert_int_eq(tk_password_verify("Demo", DEMO_HASH), 0);

    tk__password_dummy_verify("demo");
    tk__password_dummy_verify(NULL);
}
END_TEST


START_TEST(test_password_tampered)
{
    char  *h, *t, *key, *salt;

    ck_assert_int_eq(tk__password_hash_iter("pw", 1000, &h), TK_OK);
    salt = strchr(h + 14, '$') + 1;
    key = strchr(salt, '$') + 1;

    t = strdup(h);
    t[key - h] = key[0] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(tk_password_verify("pw", t), 0);

    strcpy(t, h);
    t[salt - h] = salt[0] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(tk_password_verify("pw", t), 0);

    /* the cost is part of what is checked */
    strcpy(t, h);
    t[17] = '1';
    ck_assert_int_eq(strncmp(t, "pbkdf2_sha256$1001$", 19), 0);
    ck_assert_int_eq(tk_password_verify("pw", t), 0);

    /* a key cut short, or one character long */
    strcpy(t, h);
    t[strlen(t) - 4] = '\0';
    ck_assert_int_lt(tk_password_verify("pw", t), 0);

    free(t);
    ck_assert_int_ne(asprintf(&t, "%sA", h), -1);
    ck_assert_int_lt(tk_password_verify("pw", t), 0);
    free(t);

    ck_assert_int_ne(asprintf(&t, "%s$", h), -1);
    ck_assert_int_lt(tk_password_verify("pw", t), 0);
    free(t);

    ck_assert_int_lt(tk_password_verify(NULL, h), 0);
    free(h);
}
END_TEST


START_TEST(test_password_unsupported)
{
    static const char  *bad[] = {
        "",
        "demo",
        "pbkdf2_sha256",
        "pbkdf2_sha256$",
        "pbkdf2_sha256$1000",
        "pbkdf2_sha256$1000$bmd4X3RpY2tldHMvZGVtbw==",
        "pbkdf2_sha256$1000$bmd4X3RpY2tldHMvZGVtbw==$",
        "pbkdf2_sha256$1000$$Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "pbkdf2_sha1$1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "PBKDF2_SHA256$1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "pbkdf2_sha256$$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "pbkdf2_sha256$abc$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "pbkdf2_sha256$+1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "pbkdf2_sha256$-1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "pbkdf2_sha256$ 1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "pbkdf2_sha256$01000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "pbkdf2_sha256$99999999999999999999$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        /* base64url where base64 belongs, and padding left out */
        "pbkdf2_sha256$1000$bmd4X3RpY2tldHMvZGVtbw$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=",
        "pbkdf2_sha256$1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE",
        "pbkdf2_sha256$1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VP-=",
        "pbkdf2_sha256$1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=$x",
        /* a key of 33 bytes */
        "pbkdf2_sha256$1000$bmd4X3RpY2tldHMvZGVtbw==$"
            "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPEA",
    };
    size_t  i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(tk_password_verify("demo", bad[i]) < 0,
                      "\"%s\" not refused", bad[i]);
    }

    ck_assert_int_lt(tk_password_verify("demo", NULL), 0);
}
END_TEST


START_TEST(test_password_iteration_bounds)
{
    char  *h;
    char   enc[128];

    h = (char *) 1;
    ck_assert_int_eq(tk__password_hash_iter("pw", 999, &h), TK_EINVAL);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(tk__password_hash_iter("pw", 10000001, &h), TK_EINVAL);
    ck_assert_int_eq(tk__password_hash_iter("pw", 0, &h), TK_EINVAL);
    ck_assert_int_eq(tk__password_hash_iter(NULL, 1000, &h), TK_EINVAL);

    /* the bounds are read from the string before any work is done */
    snprintf(enc, sizeof(enc), "pbkdf2_sha256$%s$bmd4X3RpY2tldHMvZGVtbw==$"
             "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=", "999");
    ck_assert_int_lt(tk_password_verify("demo", enc), 0);
    snprintf(enc, sizeof(enc), "pbkdf2_sha256$%s$bmd4X3RpY2tldHMvZGVtbw==$"
             "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=", "10000001");
    ck_assert_int_lt(tk_password_verify("demo", enc), 0);
    snprintf(enc, sizeof(enc), "pbkdf2_sha256$%s$bmd4X3RpY2tldHMvZGVtbw==$"
             "Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=", "1000");
    ck_assert_int_eq(tk_password_verify("demo", enc), 0);

    ck_assert_int_eq(tk__password_hash_iter("pw", TK_PBKDF2_MIN_ITERATIONS,
                                            &h), TK_OK);
    ck_assert_int_eq(tk_password_verify("pw", h), 1);
    free(h);
}
END_TEST


/* JSON Web Tokens: keys. */

START_TEST(test_key_load_errors)
{
    char           err[256];
    tk_jwt_key_t  *key;
    const char    *msg;

    msg = load_fails("HS256", "no-such-file");
    ck_assert_ptr_nonnull(strstr(msg, path_of("no-such-file")));
    ck_assert_ptr_nonnull(strstr(msg, "No such file"));

    ck_assert_ptr_nonnull(strstr(load_fails("HS256", "."), "Is a directory"));
    ck_assert_ptr_nonnull(strstr(load_fails("HS256", "empty"), "empty"));
    ck_assert_ptr_nonnull(strstr(load_fails("HS256", "nl-only"), "empty"));
    ck_assert_ptr_nonnull(strstr(load_fails("HS256", "short"), "31 bytes"));
    ck_assert_ptr_nonnull(strstr(load_fails("HS256", "short-nl"),
                                 "31 bytes"));
    ck_assert_ptr_nonnull(strstr(load_fails("HS256", "huge"), "larger"));

    ck_assert_ptr_nonnull(strstr(load_fails("RS256", "garbage.pem"), "PEM"));
    load_fails("RS256", "empty");
    load_fails("RS256", "hs.key");
    load_fails("ES256", "garbage.pem");
    /* encrypted: refused rather than asking for a passphrase */
    load_fails("RS256", "rsa-enc.pem");

    /* the key must suit the algorithm */
    ck_assert_ptr_nonnull(strstr(load_fails("RS256", "ec.pem"), "RSA"));
    load_fails("RS256", "ec.pub.pem");
    load_fails("RS256", "rsa1024.pem");
    ck_assert_ptr_nonnull(strstr(load_fails("ES256", "rsa.pem"), "P-256"));
    load_fails("ES256", "rsa.pub.pem");
    load_fails("ES256", "ec384.pem");

    ck_assert_ptr_nonnull(strstr(load_fails("HS512", "hs.key"), "HS512"));
    load_fails("none", "hs.key");
    load_fails("hs256", "hs.key");
    load_fails("", "hs.key");
    load_fails("RS384", "rsa.pem");

    /* without a place for the message */
    ck_assert_int_eq(tk_jwt_key_load(&key, "HS256", path_of("short"), NULL,
                                     0), TK_EINVAL);
    ck_assert_int_eq(tk_jwt_key_load(&key, NULL, path_of("hs.key"), err,
                                     sizeof(err)), TK_EINVAL);
    ck_assert_int_eq(tk_jwt_key_load(&key, "HS256", NULL, err,
                                     sizeof(err)), TK_EINVAL);

    /* a message longer than the buffer is cut, still terminated */
    ck_assert_int_eq(tk_jwt_key_load(&key, "HS256", path_of("short"), err,
                                     8), TK_EINVAL);
    ck_assert_uint_eq(strlen(err), 7);

    tk_jwt_key_free(NULL);
}
END_TEST


START_TEST(test_key_secret_newline)
{
    tk_jwt_key_t  *exact, *nl, *crlf, *two;
    char          *token;

    exact = load("HS256", "secret32");
    nl = load("HS256", "secret32-nl");
    crlf = load("HS256", "secret32-crlf");
    two = load("HS256", "secret32-nlnl");

    /* one trailing newline is not part of the secret, a second one is */
    token = issue(exact, NOW, 600);
    accepted(nl, token, NOW);
    accepted(crlf, token, NOW);
    refused(two, token, NOW, "bad signature");
    free(token);

    tk_jwt_key_free(exact);
    tk_jwt_key_free(nl);
    tk_jwt_key_free(crlf);
    tk_jwt_key_free(two);
}
END_TEST


/* JSON Web Tokens: round trips. */

START_TEST(test_jwt_hs256_round_trip)
{
    tk_principal_t   p;
    tk_jwt_key_t    *key;
    const char      *why;
    char            *token;

    key = load("HS256", "hs.key");
    token = issue(key, NOW, 3600);

    accepted(key, token, NOW);
    ck_assert_str_eq(claims.sub, "42");
    ck_assert_str_eq(claims.role, "Technician");
    ck_assert_uint_eq(claims.perms,
                      TK_PERM_CREATE | TK_PERM_REPLY | TK_PERM_DELETE);
    ck_assert_int_eq(claims.iat, NOW);
    ck_assert_int_eq(claims.nbf, NOW);
    ck_assert_int_eq(claims.exp, NOW + 3600);

    /* iss and aud are checked only when asked for */
    ck_assert_int_eq(tk_jwt_verify(key, token, strlen(token), NULL, NULL,
                                   NOW, &claims, &why), TK_OK);
    /* why may be NULL; len bounds the token */
    ck_assert_int_eq(tk_jwt_verify(key, token, strlen(token), ISS, AUD, NOW,
                                   &claims, NULL), TK_OK);
    ck_assert_int_eq(tk_jwt_verify(key, token, strlen(token) - 1, ISS, AUD,
                                   NOW, &claims, NULL), TK_EAUTH);
    free(token);

    /* without permissions, iss or aud */
    memset(&p, 0, sizeof(p));
    strcpy(p.user_id, "7");
    p.role = TK_ROLE_MEMBER;
    ck_assert_int_eq(tk_jwt_issue(key, &p, NULL, NULL, 60, NOW, &token),
                     TK_OK);
    ck_assert_int_eq(tk_jwt_verify(key, token, strlen(token), NULL, NULL,
                                   NOW, &claims, &why), TK_OK);
    ck_assert_str_eq(claims.sub, "7");
    ck_assert_str_eq(claims.role, "Member");
    ck_assert_uint_eq(claims.perms, 0);
    refused(key, token, NOW, "wrong issuer");
    free(token);

    tk_jwt_key_free(key);
}
END_TEST


START_TEST(test_jwt_issue_errors)
{
    tk_principal_t   p;
    tk_jwt_key_t    *key, *pub;
    char            *token;

    key = load("HS256", "hs.key");
    pub = load("RS256", "rsa.pub.pem");

    memset(&p, 0, sizeof(p));
    strcpy(p.user_id, "1");
    p.role = TK_ROLE_ADMIN;
    p.perms = TK_PERM_ALL;

    token = (char *) 1;
    ck_assert_int_eq(tk_jwt_issue(pub, &p, ISS, AUD, 60, NOW, &token),
                     TK_EINVAL);
    ck_assert_ptr_null(token);
    ck_assert_int_eq(tk_jwt_issue(key, &p, ISS, AUD, 0, NOW, &token),
                     TK_EINVAL);
    p.role = 9;
    ck_assert_int_eq(tk_jwt_issue(key, &p, ISS, AUD, 60, NOW, &token),
                     TK_EINVAL);
    p.role = TK_ROLE_ADMIN;
    p.user_id[0] = '\0';
    ck_assert_int_eq(tk_jwt_issue(key, &p, ISS, AUD, 60, NOW, &token),
                     TK_EINVAL);

    strcpy(p.user_id, "1");
    ck_assert_int_eq(tk_jwt_issue(key, &p, ISS, AUD, 60, NOW, &token),
                     TK_OK);
    accepted(key, token, NOW);
    ck_assert_uint_eq(claims.perms, TK_PERM_ALL);
    free(token);

    tk_jwt_key_free(key);
    tk_jwt_key_free(pub);
}
END_TEST


static void
pem_round_trip(const char *alg, const char *priv, const char *pub,
    size_t siglen)
{
    tk_jwt_key_t  *sign, *verify;
    char          *token, *p;

    sign = load(alg, priv);
    verify = load(alg, pub);

    token = issue(sign, NOW, 900);
    ck_assert_uint_eq(signature_len(token), siglen);

    accepted(verify, token, NOW);
    ck_assert_str_eq(claims.sub, "42");
    ck_assert_int_eq(claims.exp, NOW + 900);
    ck_assert_uint_eq(claims.perms,
                      TK_PERM_CREATE | TK_PERM_REPLY | TK_PERM_DELETE);

    /* a private key verifies too */
    accepted(sign, token, NOW);

    p = token + strlen(token) - 5;
    *p = *p == 'A' ? 'B' : 'A';
    refused(verify, token, NOW, "bad signature");
    free(token);

    tk_jwt_key_free(sign);
    tk_jwt_key_free(verify);
}


START_TEST(test_jwt_rs256_round_trip)
{
    pem_round_trip("RS256", "rsa.pem", "rsa.pub.pem", 256);
}
END_TEST


START_TEST(test_jwt_es256_round_trip)
{
    /* JOSE's R || S, not DER */
    pem_round_trip("ES256", "ec.pem", "ec.pub.pem", 64);
}
END_TEST


/* JSON Web Tokens: what is refused. */

START_TEST(test_jwt_alg_none)
{
    tk_jwt_key_t  *hs, *rs;
    char          *token;

    hs = load("HS256", "hs.key");
    rs = load("RS256", "rsa.pub.pem");

    token = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}",
                  "{\"sub\":\"1\",\"exp\":1700003600,\"iss\":\"" ISS "\","
                  "\"aud\":\"" AUD "\"}", NULL, 0);
    refused(hs, token, NOW, "algorithm not allowed");
    refused(rs, token, NOW, "algorithm not allowed");
    free(token);

    /* nor with a signature, nor without alg, nor in another case */
    token = craft("{\"alg\":\"none\"}", "{\"sub\":\"1\",\"exp\":1700003600}",
                  SECRET, strlen(SECRET));
    refused(hs, token, NOW, "algorithm not allowed");
    free(token);

    token = craft("{\"typ\":\"JWT\"}", "{\"sub\":\"1\",\"exp\":1700003600}",
                  SECRET, strlen(SECRET));
    refused(hs, token, NOW, "algorithm not allowed");
    free(token);

    token = craft("{\"alg\":\"hs256\"}", "{\"sub\":\"1\",\"exp\":1700003600}",
                  SECRET, strlen(SECRET));
    refused(hs, token, NOW, "algorithm not allowed");
    free(token);

    token = craft("{\"ALG\":\"HS256\"}", "{\"sub\":\"1\",\"exp\":1700003600}",
                  SECRET, strlen(SECRET));
    refused(hs, token, NOW, "algorithm not allowed");
    free(token);

    tk_jwt_key_free(hs);
    tk_jwt_key_free(rs);
}
END_TEST


START_TEST(test_jwt_key_confusion)
{
    tk_jwt_key_t  *rs;
    char          *pem, *token;
    size_t         len;

    rs = load("RS256", "rsa.pub.pem");
    pem = read_file("rsa.pub.pem", &len);

    /* HS256 keyed with the public key's PEM bytes, which anyone has */
    token = craft(HS_HEAD, "{\"sub\":\"1\",\"exp\":1700003600,\"iss\":\""
                  ISS "\",\"aud\":\"" AUD "\"}", pem, len);
    refused(rs, token, NOW, "algorithm not allowed");
    free(token);

    /* two alg members: cJSON keeps the first, libjwt's parser the last,
     * and with the first one libjwt would check this HMAC and accept it;
     * a 32-byte signature is no RS256 one, so libjwt never sees it */
    token = craft("{\"alg\":\"RS256\",\"alg\":\"HS256\"}",
                  "{\"sub\":\"1\",\"exp\":1700003600,\"iss\":\"" ISS "\","
                  "\"aud\":\"" AUD "\"}", pem, len);
    refused(rs, token, NOW, "bad signature");
    free(token);

    token = craft("{\"alg\":\"HS256\",\"alg\":\"RS256\"}",
                  "{\"sub\":\"1\",\"exp\":1700003600,\"iss\":\"" ISS "\","
                  "\"aud\":\"" AUD "\"}", pem, len);
    refused(rs, token, NOW, "algorithm not allowed");
    free(token);

    free(pem);
    tk_jwt_key_free(rs);
}
END_TEST


START_TEST(test_jwt_wrong_alg)
{
    tk_jwt_key_t  *hs, *rs_priv, *rs_pub, *es;
    char          *token;

    hs = load("HS256", "hs.key");
    rs_priv = load("RS256", "rsa.pem");
    rs_pub = load("RS256", "rsa.pub.pem");
    es = load("ES256", "ec.pem");

    token = issue(rs_priv, NOW, 600);
    refused(hs, token, NOW, "algorithm not allowed");
    refused(es, token, NOW, "algorithm not allowed");
    free(token);

    token = issue(es, NOW, 600);
    refused(rs_pub, token, NOW, "algorithm not allowed");
    free(token);

    token = issue(hs, NOW, 600);
    refused(rs_pub, token, NOW, "algorithm not allowed");
    free(token);

    tk_jwt_key_free(hs);
    tk_jwt_key_free(rs_priv);
    tk_jwt_key_free(rs_pub);
    tk_jwt_key_free(es);
}
END_TEST


START_TEST(test_jwt_bad_signature)
{
    tk_jwt_key_t  *hs, *other;
    char          *token, *dot, c;

    hs = load("HS256", "hs.key");
    other = load("HS256", "secret32");

    token = issue(hs, NOW, 600);
    refused(other, token, NOW, "bad signature");

    /* a character of the signature, then of the payload */
    dot = strrchr(token, '.');
    c = dot[5];
    dot[5] = c == 'A' ? 'B' : 'A';
    refused(hs, token, NOW, "bad signature");
    dot[5] = c;
    accepted(hs, token, NOW);

    dot = strchr(token, '.');
    dot[10] = dot[10] == 'A' ? 'B' : 'A';
    ck_assert_ptr_nonnull(verify_at(hs, token, NOW));

    /* no signature at all */
    strrchr(token, '.')[1] = '\0';
    ck_assert_ptr_nonnull(verify_at(hs, token, NOW));
    free(token);

    tk_jwt_key_free(hs);
    tk_jwt_key_free(other);
}
END_TEST


/*
 * One token, one spelling: every other last character of a segment is
 * refused, though libjwt would ignore the unused low bits of the last
 * character of the signature (a fuzzing finding).
 */
static void
one_spelling(const tk_jwt_key_t *key)
{
    static const char  b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char               *token, *alt, *last;
    size_t              i, len, seg;
    size_t              ends[3];
    char                c;

    token = issue(key, NOW, 600);
    accepted(key, token, NOW);
    len = strlen(token);

    ends[0] = strchr(token, '.') - token - 1;
    ends[1] = strrchr(token, '.') - token - 1;
    ends[2] = len - 1;

    for (seg = 0; seg < 3; seg++) {
        last = token + ends[seg];
        c = *last;

        for (i = 0; i < 64; i++) {
            if (b64url[i] == c) {
                continue;
            }
            *last = b64url[i];
            ck_assert_msg(verify_at(key, token, NOW) != NULL,
                          "%s: segment %zu accepted with last char %c for %c",
                          tk_jwt_key_alg(key), seg, b64url[i], c);
        }

        *last = c;
    }

    accepted(key, token, NOW);

    /* padding, a character more, a character less */
    alt = malloc(len + 3);
    ck_assert_ptr_nonnull(alt);
    snprintf(alt, len + 3, "%s=", token);
    refused(key, alt, NOW, "malformed token");
    snprintf(alt, len + 3, "%sA", token);
    refused(key, alt, NOW, "bad signature");
    snprintf(alt, len + 3, "%sAA", token);
    refused(key, alt, NOW, "bad signature");
    snprintf(alt, len, "%s", token);
    refused(key, alt, NOW, "bad signature");

    free(alt);
    free(token);
}


START_TEST(test_jwt_one_spelling)
{
    tk_jwt_key_t  *key;

    key = load("HS256", "hs.key");
    one_spelling(key);
    tk_jwt_key_free(key);

    key = load("RS256", "rsa.pem");
    one_spelling(key);
    tk_jwt_key_free(key);

    key = load("ES256", "ec.pem");
    one_spelling(key);
    tk_jwt_key_free(key);
}
END_TEST


START_TEST(test_jwt_expiry)
{
    tk_jwt_key_t  *key;
    char          *token;

    key = load("HS256", "hs.key");
    token = issue(key, NOW, 600);

    accepted(key, token, NOW + 600);
    accepted(key, token, NOW + 600 + TK_JWT_LEEWAY);
    refused(key, token, NOW + 600 + TK_JWT_LEEWAY + 1, "token expired");
    refused(key, token, NOW + 86400, "token expired");
    free(token);

    token = craft_hs("{\"sub\":\"1\",\"iss\":\"%s\",\"aud\":\"%s\"}",
                     ISS, AUD);
    refused(key, token, NOW, "missing expiry");
    free(token);

    token = craft_hs("{\"sub\":\"1\",\"exp\":\"%ld\",\"iss\":\"%s\","
                     "\"aud\":\"%s\"}", NOW + 600, ISS, AUD);
    refused(key, token, NOW, "missing expiry");
    free(token);

    token = craft_hs("{\"sub\":\"1\",\"exp\":null,\"iss\":\"%s\","
                     "\"aud\":\"%s\"}", ISS, AUD);
    refused(key, token, NOW, "missing expiry");
    free(token);

    /* a far-off expiry does not overflow */
    token = craft_hs("{\"sub\":\"1\",\"exp\":1e300,\"iss\":\"%s\","
                     "\"aud\":\"%s\"}", ISS, AUD);
    accepted(key, token, NOW);
    ck_assert_int_gt(claims.exp, NOW);
    free(token);

    tk_jwt_key_free(key);
}
END_TEST


START_TEST(test_jwt_not_before)
{
    tk_jwt_key_t  *key;
    char          *token;

    key = load("HS256", "hs.key");

    /* issued with nbf = NOW */
    token = issue(key, NOW, 600);
    accepted(key, token, NOW - TK_JWT_LEEWAY);
    refused(key, token, NOW - TK_JWT_LEEWAY - 1, "token not yet valid");
    refused(key, token, NOW - 3600, "token not yet valid");
    free(token);

    token = craft_hs("{\"sub\":\"1\",\"exp\":%ld,\"nbf\":\"soon\","
                     "\"iss\":\"%s\",\"aud\":\"%s\"}", NOW + 600, ISS, AUD);
    refused(key, token, NOW, "malformed token");
    free(token);

    tk_jwt_key_free(key);
}
END_TEST


START_TEST(test_jwt_issuer_audience)
{
    tk_jwt_key_t  *key;
    char          *token;

    key = load("HS256", "hs.key");

#define CLAIMS(iss_aud) \
    "{\"sub\":\"1\",\"exp\":%ld," iss_aud "}", NOW + 600

    token = craft_hs(CLAIMS("\"iss\":\"https://evil.example\","
                            "\"aud\":\"" AUD "\""));
    refused(key, token, NOW, "wrong issuer");
    free(token);

    token = craft_hs(CLAIMS("\"aud\":\"" AUD "\""));
    refused(key, token, NOW, "wrong issuer");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":[\"" ISS "\"],\"aud\":\"" AUD "\""));
    refused(key, token, NOW, "wrong issuer");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":\"" ISS "/\",\"aud\":\"" AUD "\""));
    refused(key, token, NOW, "wrong issuer");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":\"" ISS "\",\"aud\":\"other-api\""));
    refused(key, token, NOW, "wrong audience");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":\"" ISS "\""));
    refused(key, token, NOW, "wrong audience");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":\"" ISS "\",\"aud\":42"));
    refused(key, token, NOW, "wrong audience");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":\"" ISS "\",\"aud\":[\"a\",\"b\"]"));
    refused(key, token, NOW, "wrong audience");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":\"" ISS "\","
                            "\"aud\":{\"a\":\"" AUD "\"}"));
    refused(key, token, NOW, "wrong audience");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":\"" ISS "\",\"aud\":[]"));
    refused(key, token, NOW, "wrong audience");
    free(token);

    token = craft_hs(CLAIMS("\"iss\":\"" ISS "\","
                            "\"aud\":[\"other-api\",1,\"" AUD "\"]"));
    accepted(key, token, NOW);
    free(token);

#undef CLAIMS

    tk_jwt_key_free(key);
}
END_TEST


START_TEST(test_jwt_subject)
{
    tk_jwt_key_t  *key;
    char          *token, sub[200];

    key = load("HS256", "hs.key");

#define CLAIMS(s) \
    "{" s "\"exp\":%ld,\"iss\":\"%s\",\"aud\":\"%s\"}", NOW + 600, ISS, AUD

    token = craft_hs(CLAIMS(""));
    refused(key, token, NOW, "missing subject");
    free(token);

    token = craft_hs(CLAIMS("\"sub\":\"\","));
    refused(key, token, NOW, "missing subject");
    free(token);

    token = craft_hs(CLAIMS("\"sub\":42,"));
    refused(key, token, NOW, "missing subject");
    free(token);

    token = craft_hs(CLAIMS("\"Sub\":\"1\","));
    refused(key, token, NOW, "missing subject");
    free(token);

    /* 127 characters fit claims.sub, 128 do not */
    memset(sub, 'u', 127);
    sub[127] = '\0';
    token = craft_hs("{\"sub\":\"%s\",\"exp\":%ld,\"iss\":\"%s\","
                     "\"aud\":\"%s\"}", sub, NOW + 600, ISS, AUD);
    accepted(key, token, NOW);
    ck_assert_str_eq(claims.sub, sub);
    free(token);

    strcat(sub, "u");
    token = craft_hs("{\"sub\":\"%s\",\"exp\":%ld,\"iss\":\"%s\","
                     "\"aud\":\"%s\"}", sub, NOW + 600, ISS, AUD);
    ck_assert_ptr_nonnull(verify_at(key, token, NOW));
    free(token);

    /* two sub members, one the issuer may not have meant */
    token = craft_hs(CLAIMS("\"sub\":\"1\",\"sub\":\"2\","));
    refused(key, token, NOW, "malformed token");
    free(token);

#undef CLAIMS

    tk_jwt_key_free(key);
}
END_TEST


START_TEST(test_jwt_permissions)
{
    tk_jwt_key_t  *key;
    char          *token;

    key = load("HS256", "hs.key");

#define CLAIMS(s) \
    "{\"sub\":\"1\",\"exp\":%ld,\"iss\":\"%s\",\"aud\":\"%s\"" s "}", \
    NOW + 600, ISS, AUD

    token = craft_hs(CLAIMS(",\"role\":\"Admin\",\"permissions\":"
                            "[\"Tickets.Create\",\"Tickets.Bogus\","
                            "\"tickets.reply\",5,null,\"Tickets.Delete\"]"));
    accepted(key, token, NOW);
    ck_assert_uint_eq(claims.perms, TK_PERM_CREATE | TK_PERM_DELETE);
    ck_assert_str_eq(claims.role, "Admin");
    free(token);

    token = craft_hs(CLAIMS(",\"permissions\":\"Tickets.Close\""));
    accepted(key, token, NOW);
    ck_assert_uint_eq(claims.perms, TK_PERM_CLOSE);
    ck_assert_str_eq(claims.role, "");
    free(token);

    token = craft_hs(CLAIMS(",\"permissions\":{\"a\":\"Tickets.Close\"},"
                            "\"role\":7"));
    accepted(key, token, NOW);
    ck_assert_uint_eq(claims.perms, 0);
    ck_assert_str_eq(claims.role, "");
    free(token);

    token = craft_hs(CLAIMS(""));
    accepted(key, token, NOW);
    ck_assert_uint_eq(claims.perms, 0);
    ck_assert_int_eq(claims.iat, 0);
    ck_assert_int_eq(claims.nbf, 0);
    free(token);

#undef CLAIMS

    tk_jwt_key_free(key);
}
END_TEST


START_TEST(test_jwt_malformed)
{
    static const char  *bad[] = {
        "", "abc", "a.b", "a.b.c.d", "..", "..c", ".b.c", "a..c",
        "!!!.e30.c", "e30.e30.c=", "e30 .e30.c", "e30.e30.c\n"
    };
    tk_jwt_key_t       *key;
    char               *token, *huge, *p;
    size_t              i;

    key = load("HS256", "hs.key");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        refused(key, bad[i], NOW, "malformed token");
    }

    /* a NUL inside the length given */
    ck_assert_int_eq(tk_jwt_verify(key, "e30\0.e30.c", 10, NULL, NULL, NOW,
                                   &claims, NULL), TK_EAUTH);
    ck_assert_int_eq(tk_jwt_verify(key, NULL, 0, NULL, NULL, NOW, &claims,
                                   NULL), TK_EAUTH);

    token = craft("not json", "{\"sub\":\"1\",\"exp\":1700003600}", SECRET,
                  strlen(SECRET));
    refused(key, token, NOW, "malformed token");
    free(token);

    token = craft("[\"HS256\"]", "{\"sub\":\"1\",\"exp\":1700003600}",
                  SECRET, strlen(SECRET));
    refused(key, token, NOW, "malformed token");
    free(token);

    token = craft(HS_HEAD " {}", "{\"sub\":\"1\",\"exp\":1700003600}",
                  SECRET, strlen(SECRET));
    refused(key, token, NOW, "malformed token");
    free(token);

    /* a payload that is not an object, though signed */
    token = craft(HS_HEAD, "[1]", SECRET, strlen(SECRET));
    ck_assert_ptr_nonnull(verify_at(key, token, NOW));
    free(token);

    /* a signed token, padded past 8 KiB with an extra claim */
    huge = malloc(9000);
    ck_assert_ptr_nonnull(huge);
    p = huge + sprintf(huge, "{\"sub\":\"1\",\"exp\":%ld,\"iss\":\"%s\","
                       "\"aud\":\"%s\",\"pad\":\"", NOW + 600, ISS, AUD);
    memset(p, 'x', 7000);
    strcpy(p + 7000, "\"}");
    token = craft(HS_HEAD, huge, SECRET, strlen(SECRET));
    ck_assert_uint_gt(strlen(token), 8192);
    refused(key, token, NOW, "malformed token");
    free(token);

    /* and one that fits */
    strcpy(p + 5000, "\"}");
    token = craft(HS_HEAD, huge, SECRET, strlen(SECRET));
    ck_assert_uint_lt(strlen(token), 8192);
    accepted(key, token, NOW);
    free(token);
    free(huge);

    tk_jwt_key_free(key);
}
END_TEST


/* The keys, made once before the tests fork. */

static int
make_keys(void)
{
    static const char  *cmds[] = {
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
            " -out rsa.pem",
        "openssl pkey -in rsa.pem -pubout -out rsa.pub.pem",
        "openssl pkey -in rsa.pem -aes256 -passout pass:secret"
            " -out rsa-enc.pem",
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024"
            " -out rsa1024.pem",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
            " -out ec.pem",
        "openssl pkey -in ec.pem -pubout -out ec.pub.pem",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384"
            " -out ec384.pem",
    };
    static const struct { const char *name, *data; } files[] = {
        { "hs.key", SECRET "\n" },
        { "empty", "" },
        { "nl-only", "\n" },
        { "short", "0123456789abcdef0123456789abcde" },
        { "short-nl", "0123456789abcdef0123456789abcde\n" },
        { "secret32", "0123456789abcdef0123456789ABCDEF" },
        { "secret32-nl", "0123456789abcdef0123456789ABCDEF\n" },
        { "secret32-crlf", "0123456789abcdef0123456789ABCDEF\r\n" },
        { "secret32-nlnl", "0123456789abcdef0123456789ABCDEF\n\n" },
        { "garbage.pem", "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n"
                         "-----END PUBLIC KEY-----\n" },
    };
    char    cmd[512];
    char   *big;
    size_t  i;
    FILE   *f;

    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        snprintf(cmd, sizeof(cmd), "cd '%s' && %s 2>/dev/null", dir,
                 cmds[i]);
        if (system(cmd) != 0) {
            fprintf(stderr, "failed: %s\n", cmd);
            return -1;
        }
    }

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        f = fopen(path_of(files[i].name), "wb");
        if (f == NULL) {
            return -1;
        }
        fputs(files[i].data, f);
        fclose(f);
    }

    big = malloc(70000);
    if (big == NULL) {
        return -1;
    }
    memset(big, 'k', 70000);
    f = fopen(path_of("huge"), "wb");
    if (f == NULL) {
        free(big);
        return -1;
    }
    fwrite(big, 1, 70000, f);
    fclose(f);
    free(big);

    return 0;
}


static Suite *
crypto_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("crypto");

    tc = add_tcase(s, "result", NULL, NULL, 0);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_result);
    tcase_add_test(tc, test_perms);
    tcase_add_test(tc, test_roles);

    tc = add_tcase(s, "encoding", NULL, NULL, 0);
    tcase_add_test(tc, test_sha256);
    tcase_add_test(tc, test_hmac);
    tcase_add_test(tc, test_base64url);
    tcase_add_test(tc, test_hex_uuid);

    /* the default cost is slow under valgrind */
    tc = add_tcase(s, "password", NULL, NULL, 120);
    tcase_add_test(tc, test_password_round_trip);
    tcase_add_test(tc, test_password_default_cost);
    tcase_add_test(tc, test_password_tampered);
    tcase_add_test(tc, test_password_unsupported);
    tcase_add_test(tc, test_password_iteration_bounds);

    tc = add_tcase(s, "jwt", NULL, NULL, 60);
    tcase_add_test(tc, test_key_load_errors);
    tcase_add_test(tc, test_key_secret_newline);
    tcase_add_test(tc, test_jwt_hs256_round_trip);
    tcase_add_test(tc, test_jwt_issue_errors);
    tcase_add_test(tc, test_jwt_rs256_round_trip);
    tcase_add_test(tc, test_jwt_es256_round_trip);
    tcase_add_test(tc, test_jwt_alg_none);
    tcase_add_test(tc, test_jwt_key_confusion);
    tcase_add_test(tc, test_jwt_wrong_alg);
    tcase_add_test(tc, test_jwt_bad_signature);
    tcase_add_test(tc, test_jwt_one_spelling);
    tcase_add_test(tc, test_jwt_expiry);
    tcase_add_test(tc, test_jwt_not_before);
    tcase_add_test(tc, test_jwt_issuer_audience);
    tcase_add_test(tc, test_jwt_subject);
    tcase_add_test(tc, test_jwt_permissions);
    tcase_add_test(tc, test_jwt_malformed);

    return s;
}


int
main(void)
{
    int  failed;

    if (make_tmpdir(dir, sizeof(dir)) == NULL) {
        return 1;
    }

    failed = make_keys() != 0 ? 1 : run_suite(crypto_suite());
    remove_tmpdir(dir);

    return failed == 0 ? 0 : 1;
}
