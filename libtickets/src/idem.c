/*
 * Idempotency-Key: the first answer of a request, kept 24 hours under the
 * principal and the key.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "crypto.h"
#include "db.h"
#include "idem.h"
#include "result.h"
#include "upload.h"
#include "valid.h"


/* Rows in progress (status 0) are never seen by another transaction. */
static const tk__stmt_t  tk__idem_find_stmt = {
    "tk_idem_find",
    "SELECT status, request_sha256, resource_id, body, etag"
    " FROM idempotency_keys"
    " WHERE principal_id = $1 AND key = $2 AND status <> 0"
    " AND created_on > now() - interval '24 hours'",
    2
};

/*
 * Takes the key, or an expired row of it.  A second request with the key
 * waits here on the first one's row until that one commits or rolls back.
 */
static const tk__stmt_t  tk__idem_claim_stmt = {
    "tk_idem_claim",
    "INSERT INTO idempotency_keys (principal_id, key, request_sha256, status)"
    " VALUES ($1, $2, $3, 0)"
    " ON CONFLICT (principal_id, key) DO UPDATE"
    " SET request_sha256 = EXCLUDED.request_sha256, status = 0,"
    " resource_id = NULL, body = NULL, etag = NULL, created_on = now()"
    " WHERE idempotency_keys.created_on <= now() - interval '24 hours'"
    " RETURNING 1",
    3
};

static const tk__stmt_t  tk__idem_store_stmt = {
    "tk_idem_store",
    "UPDATE idempotency_keys SET status = $3::int, resource_id = $4::bigint,"
    " body = $5, etag = $6"
    " WHERE principal_id = $1 AND key = $2",
    6
};


int
tk__idem_check_key(const char *key, tk_result_t *res)
{
    if (key != NULL
        && (key[0] == '\0' || strlen(key) > 255 || tk__utf8_count(key) < 0))
    {
        return tk__fail(res, TK_EINVAL, "Idempotency-Key must be 1 to 255 "
                        "bytes of UTF-8");
    }

    return TK_OK;
}


static int
tk__hash_put(EVP_MD_CTX *ctx, const char *s, size_t len)
{
    char  n[24];

    snprintf(n, sizeof(n), "%zu:", len);
    return EVP_DigestUpdate(ctx, n, strlen(n)) == 1
           && EVP_DigestUpdate(ctx, s, len) == 1;
}


static int
tk__name_order(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *) a, *(const char *const *) b);
}


/* The lower-cased name, then every value of it, then an empty piece. */
static int
tk__hash_field(EVP_MD_CTX *ctx, const tk_form_t *form, const char *name)
{
    const char  **vals;
    size_t        n, i;
    char         *lower;
    int           ok;

    lower = strdup(name);
    if (lower == NULL) {
        return 0;
    }
    for (i = 0; lower[i] != '\0'; i++) {
        if (lower[i] >= 'A' && lower[i] <= 'Z') {
            lower[i] |= 0x20;
        }
    }

    ok = tk__hash_put(ctx, lower, i);
    free(lower);

    n = tk_form_get_all(form, name, NULL, 0);
    vals = n > 0 ? malloc(n * sizeof(*vals)) : NULL;
    ok = ok && (n == 0 || vals != NULL);
    if (ok && n > 0) {
        tk_form_get_all(form, name, vals, n);
    }

    for (i = 0; ok && i < n; i++) {
        ok = tk__hash_put(ctx, vals[i], strlen(vals[i]));
    }

    free(vals);
    return ok && tk__hash_put(ctx, "", 0);
}


/*
 * What makes two requests the same: the scope, the named fields sorted by
 * lower-cased name with all their values, then the uploads in order by
 * name and SHA-256.  Each piece is length-prefixed so that no two
 * requests run together into one input.  form may be NULL (a write with
 * no body: the scope alone).
 */
int
tk__idem_hash(const char *scope, const tk_form_t *form,
    const char *const *names, char out[65])
{
    const tk_file_t  *f;
    const char      **order = NULL;
    EVP_MD_CTX       *ctx;
    unsigned char     md[32];
    unsigned int      mdlen;
    size_t            n, i;
    char              sha[65];
    int               ok;

    for (n = 0; names != NULL && names[n] != NULL; n++) { /* count */ }

    if (n > 0) {
        order = malloc(n * sizeof(*order));
        if (order == NULL) {
            return TK_ENOMEM;
        }
        memcpy(order, names, n * sizeof(*order));
        qsort(order, n, sizeof(*order), tk__name_order);
    }

    ctx = EVP_MD_CTX_new();
    ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1
         && tk__hash_put(ctx, scope ? scope : "", scope ? strlen(scope) : 0);

    for (i = 0; ok && i < n; i++) {
        ok = tk__hash_field(ctx, form, order[i]);
    }

    for (i = 0; ok && form != NULL && i < tk_form_nfiles(form); i++) {
        f = tk_form_file(form, i);
        if (tk__is_upload(f)) {
            ok = tk__sha256_hex(f->data, f->size, sha) == TK_OK
                 && tk__hash_put(ctx, f->filename, strlen(f->filename))
                 && tk__hash_put(ctx, sha, 64);
        }
    }

    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    EVP_MD_CTX_free(ctx);
    free(order);

    if (!ok) {
        return TK_EINTERNAL;
    }

    tk__hex(md, sizeof(md), out);
    return TK_OK;
}


static int
tk__idem_code(int status)
{
    switch (status) {
    case 200:
        return TK_OK;
    case 201:
        return TK_CREATED;
    case 204:
        return TK_NO_CONTENT;
    default:
        return TK_EINTERNAL;
    }
}


int
tk__idem_lookup(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *sha, tk_result_t *res)
{
    const char  *v[2] = { p->user_id, key };
    const char  *stored, *body, *etag;
    PGresult    *r;
    size_t       len;
    int          code, status;

    r = tk__exec(c, &tk__idem_find_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }

    stored = tk__val(r, 0, 1);
    if (stored == NULL || strcmp(stored, sha) != 0) {
        PQclear(r);
        tk__fail(res, TK_EINVAL,
                 "Idempotency-Key reused with a different request");
        return 1;
    }

    status = atoi(tk__val(r, 0, 0) ? tk__val(r, 0, 0) : "0");
    code = tk__idem_code(status);
    if (code < 0) {
        PQclear(r);
        return tk__fail(res, TK_EINTERNAL, "Idempotency-Key with status %d",
                        status);
    }

    free(res->body);
    res->body = NULL;
    res->body_len = 0;

    body = tk__val(r, 0, 3);
    if (body != NULL) {
        len = (size_t) PQgetlength(r, 0, 3);
        res->body = malloc(len + 1);
        if (res->body == NULL) {
            PQclear(r);
            return tk__fail(res, TK_ENOMEM, "out of memory");
        }
        memcpy(res->body, body, len + 1);
        res->body_len = len;
    }

    etag = tk__val(r, 0, 4);
    snprintf(res->etag, sizeof(res->etag), "%s", etag ? etag : "");
    res->id = strtoll(tk__val(r, 0, 2) ? tk__val(r, 0, 2) : "0", NULL, 10);
    res->code = code;

    PQclear(r);
    return 1;
}


int
tk__idem_claim(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *sha, tk_result_t *res)
{
    const char  *v[3] = { p->user_id, key, sha };
    PGresult    *r;
    int          claimed, rc;

    r = tk__exec(c, &tk__idem_claim_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    claimed = PQntuples(r) == 1;
    PQclear(r);

    if (claimed) {
        return 0;
    }

    /* another request with the key committed while we waited */
    rc = tk__idem_lookup(c, p, key, sha, res);
    if (rc == 0) {
        return tk__fail(res, TK_ECONFLICT, "Idempotency-Key is in use by "
                        "another request");
    }

    return rc;
}


int
tk__idem_store(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const tk_result_t *answer, tk_result_t *res)
{
    const char  *v[6];
    PGresult    *r;
    char         status[8], id[24];

    switch (answer->code) {
    case TK_OK:
        snprintf(status, sizeof(status), "200");
        break;
    case TK_CREATED:
        snprintf(status, sizeof(status), "201");
        break;
    case TK_NO_CONTENT:
        snprintf(status, sizeof(status), "204");
        break;
    default:
        return tk__fail(res, TK_EINTERNAL, "Idempotency-Key cannot keep "
                        "answer %d", answer->code);
    }

    snprintf(id, sizeof(id), "%lld", (long long) answer->id);

    v[0] = p->user_id;
    v[1] = key;
    v[2] = status;
    v[3] = answer->id > 0 ? id : NULL;
    v[4] = answer->body;
    v[5] = answer->etag[0] != '\0' ? answer->etag : NULL;

    r = tk__exec(c, &tk__idem_store_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    PQclear(r);
    return TK_OK;
}


int
tk__write_replay(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *scope, const tk_form_t *form, const char *const *names,
    char sha[65], tk_result_t *res)
{
    int  rc;

    if (key == NULL) {
        return 0;
    }

    if (tk__idem_check_key(key, res) != TK_OK) {
        return res->code;
    }

    rc = tk__idem_hash(scope, form, names, sha);
    if (rc != TK_OK) {
        return tk__fail(res, rc, "request hash failed");
    }

    /* a retry is answered before validation: what it named may have
     * changed since */
    return tk__idem_lookup(c, p, key, sha, res);
}


int
tk__write_begin(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *sha, tk_result_t *res)
{
    int  rc;

    /* BEGIN goes with the write's first statement */
    if (tk__begin_deferred(c, res) != TK_OK) {
        return res->code;
    }

    if (key == NULL) {
        return 0;
    }

    /* < 0: an error; 1: the answer of a request that committed */
    rc = tk__idem_claim(c, p, key, sha, res);
    if (rc != 0) {
        tk__rollback(c);
    }

    return rc;
}


int
tk__write_commit(tk_conn_t *c, const tk_principal_t *p, const char *key,
    tk_result_t *res)
{
    /* the answer is read whole before res could take an error */
    if ((c->precommit != NULL
         && c->precommit(c, c->precommit_arg, res) != TK_OK)
        || (key != NULL && tk__idem_store(c, p, key, res, res) != TK_OK)
        || tk__commit(c, res) != TK_OK)
    {
        return tk__write_failed(c, res);
    }

    return res->code;
}


int
tk__write_failed(tk_conn_t *c, tk_result_t *res)
{
    tk__rollback(c);

    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    res->etag[0] = '\0';
    res->id = 0;
    res->outbox = 0;

    return res->code;
}
