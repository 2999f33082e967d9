/*
 * Identity: the principal of a token, password logins with throttling,
 * and the user accounts that ticketsctl manages.
 *
 * Throttling is per lower-cased user name, known or not, so that it tells
 * nothing about which names exist: each failure counts, the max-th locks
 * the name for the lockout and starts the count again, a success forgets
 * the failures.  A lock is checked before any password is, and an unknown
 * name costs the same hash as a known one.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "result.h"
#include "settings.h"


#define TK__LOGIN_MAX_FAILURES     5
#define TK__LOGIN_LOCKOUT_SECONDS  300
#define TK__USER_NAME_MAX          255

#define TK__LOGIN_FAILED  "invalid user name or password"

static int tk__principal_fill(tk_principal_t *p, const PGresult *r,
    int col, const char *perms, tk_result_t *res);
static unsigned tk__perms_parse(const char *list);
static int tk__login_failed(tk_conn_t *c, const char *username,
    const PGresult *r, tk_result_t *res);
static int tk__user_name_valid(const char *name);
static int tk__email_valid(const char *email);


/* the names of the role's permissions, comma-separated */
#define TK__ROLE_PERMS(role)                                                \
    "(SELECT string_agg(rp.permission, ',') FROM role_permissions rp"      \
    " WHERE rp.role = " role ")"

static const tk__stmt_t  tk__principal_by_id = {
    "tk_principal_by_id",
    "SELECT id, user_name, role FROM users WHERE id = $1 AND is_active",
    1
};

static const tk__stmt_t  tk__principal_by_name_stmt = {
    "tk_principal_by_name",
    "SELECT u.id, u.user_name, u.role, " TK__ROLE_PERMS("u.role")
    " FROM users u WHERE lower(u.user_name) = lower($1) AND u.is_active",
    1
};

/* Everything a login needs, in one round trip; always one row. */
static const tk__stmt_t  tk__login_lookup = {
    "tk_login_lookup",
    "SELECT CASE WHEN f.locked_until > now()"
    "       THEN ceil(extract(epoch FROM f.locked_until - now()))::integer"
    "       END,"
    "  f.user_name IS NOT NULL,"
    "  u.id, u.user_name, u.role, u.password_hash, "
    TK__ROLE_PERMS("u.role") ","
    "  (SELECT value FROM settings WHERE key = 'login_max_failures'),"
    "  (SELECT value FROM settings WHERE key = 'login_lockout_seconds')"
    " FROM (SELECT lower($1) AS name) n"
    " LEFT JOIN login_failures f ON f.user_name = n.name"
    " LEFT JOIN users u ON lower(u.user_name) = n.name AND u.is_active",
    1
};

/* $2 = max failures (at least 1), $3 = lockout seconds */
static const tk__stmt_t  tk__login_failure = {
    "tk_login_failure",
    "INSERT INTO login_failures AS f (user_name, failures, locked_until)"
    " VALUES (lower($1),"
    "   CASE WHEN $2::integer <= 1 THEN 0 ELSE 1 END,"
    "   CASE WHEN $2::integer <= 1"
    "        THEN now() + $3::integer * interval '1 second' END)"
    " ON CONFLICT (user_name) DO UPDATE SET"
    "   failures = CASE WHEN f.failures + 1 >= $2::integer THEN 0"
    "              ELSE f.failures + 1 END,"
    "   first_failed_on = CASE WHEN f.failures = 0 THEN now()"
    "                     ELSE f.first_failed_on END,"
    "   locked_until = CASE WHEN f.failures + 1 >= $2::integer"
    "                  THEN now() + $3::integer * interval '1 second'"
    "                  ELSE f.locked_until END",
    3
};

static const tk__stmt_t  tk__login_success = {
    "tk_login_success",
    "DELETE FROM login_failures WHERE user_name = lower($1)",
    1
};

static const tk__stmt_t  tk__user_insert = {
    "tk_user_insert",
    "INSERT INTO users (user_name, email, full_name, role, password_hash)"
    " VALUES ($1, $2, $3, $4, $5)"
    " RETURNING json_build_object('id', id)::text",
    5
};

/* a new password also lifts a lock on the name */
static const tk__stmt_t  tk__user_password = {
    "tk_user_password",
    "WITH u AS (UPDATE users SET password_hash = $2"
    "           WHERE lower(user_name) = lower($1)"
    "           RETURNING lower(user_name) AS name),"
    " f AS (DELETE FROM login_failures"
    "       WHERE user_name IN (SELECT name FROM u))"
    " SELECT count(*) FROM u",
    2
};


int
tk_principal_load(tk_conn_t *c, const char *user_id, unsigned token_perms,
    tk_principal_t *p, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1];
    int          rc;

    memset(p, 0, sizeof(*p));

    if (user_id == NULL || strlen(user_id) >= sizeof(p->user_id)) {
        return tk__fail(res, TK_EAUTH, "unknown or inactive user");
    }

    v[0] = user_id;

    r = tk__exec(c, &tk__principal_by_id, v, res);
    if (r == NULL) {
        /* bytes that are not text are no one's id */
        if (strncmp(tk__sqlstate(c), "22", 2) == 0) {
            return tk__fail(res, TK_EAUTH, "unknown or inactive user");
        }

        return res->code;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        return tk__fail(res, TK_EAUTH, "unknown or inactive user");
    }

    rc = tk__principal_fill(p, r, 0, NULL, res);
    PQclear(r);

    p->perms = token_perms;
    return rc;
}


int
tk_auth_login(tk_conn_t *c, const char *username, const char *password,
    tk_principal_t *p, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1], *hash;
    size_t       len;
    int          ok, rc;

    memset(p, 0, sizeof(*p));

    if (password == NULL) {
        password = "";
    }

    len = username != NULL ? strlen(username) : 0;

    /* no such user can exist: nothing to count */
    if (len == 0 || len > TK__USER_NAME_MAX) {
        tk__password_dummy_verify(password);
        return tk__fail(res, TK_EAUTH, TK__LOGIN_FAILED);
    }

    v[0] = username;

    r = tk__exec(c, &tk__login_lookup, v, res);
    if (r == NULL) {
        if (strncmp(tk__sqlstate(c), "22", 2) == 0) {
            tk__password_dummy_verify(password);
            return tk__fail(res, TK_EAUTH, TK__LOGIN_FAILED);
        }

        return res->code;
    }

    if (tk__val(r, 0, 0) != NULL) {
        res->retry_after = atoi(tk__val(r, 0, 0));
        if (res->retry_after < 1) {
            res->retry_after = 1;
        }

        PQclear(r);
        return tk__fail(res, TK_ETHROTTLED,
                        "too many failed logins: try again in %d seconds",
                        res->retry_after);
    }

    hash = tk__val(r, 0, 5);
    ok = hash != NULL ? tk_password_verify(password, hash) : -1;

    /* unknown, without a password, or a hash that did not parse */
    if (ok < 0) {
        tk__password_dummy_verify(password);
    }

    if (ok != 1) {
        rc = tk__login_failed(c, username, r, res);
        PQclear(r);
        return rc;
    }

    rc = tk__principal_fill(p, r, 2, tk__val(r, 0, 6), res);
    if (rc != TK_OK) {
        PQclear(r);
        return rc;
    }

    if (strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
        PQclear(r);

        r = tk__exec(c, &tk__login_success, v, res);
        if (r == NULL) {
            memset(p, 0, sizeof(*p));
            return res->code;
        }
    }

    PQclear(r);
    return TK_OK;
}


int
tk_principal_by_name(tk_conn_t *c, const char *username, tk_principal_t *p,
    tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1];
    int          rc;

    memset(p, 0, sizeof(*p));

    if (username == NULL) {
        return tk__fail(res, TK_EINVAL, "no user name given");
    }

    v[0] = username;

    r = tk__exec(c, &tk__principal_by_name_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "no active user named \"%.255s\"",
                        username);
    }

    rc = tk__principal_fill(p, r, 0, tk__val(r, 0, 3), res);
    PQclear(r);
    return rc;
}


int
tk_user_add(tk_conn_t *c, const char *username, const char *email,
    const char *full_name, const char *role, const char *password,
    tk_result_t *res)
{
    PGresult    *r;
    const char  *v[5];
    const char  *state;
    char        *hash;
    int          ro, rc;

    if (!tk__user_name_valid(username)) {
        return tk__fail(res, TK_EINVAL, "a user name is 1 to 255 characters "
                        "without spaces or control characters");
    }

    if (email != NULL && email[0] == '\0') {
        email = NULL;
    }

    if (email != NULL && !tk__email_valid(email)) {
        return tk__fail(res, TK_EINVAL, "invalid email address \"%.255s\"",
                        email);
    }

    ro = tk_role_parse(role);
    if (ro < 0) {
        return tk__fail(res, TK_EINVAL, "unknown role \"%.64s\": use Admin, "
                        "Technician, Member or Integration",
                        role != NULL ? role : "");
    }

    if (password != NULL && password[0] == '\0') {
        return tk__fail(res, TK_EINVAL, "the password is empty");
    }

    hash = NULL;

    if (password != NULL) {
        rc = tk_password_hash(password, &hash);
        if (rc != TK_OK) {
            return tk__fail(res, rc, "cannot hash the password");
        }
    }

    v[0] = username;
    v[1] = email;
    v[2] = full_name != NULL ? full_name : "";
    v[3] = tk_role_name(ro);
    v[4] = hash;

    r = tk__exec(c, &tk__user_insert, v, res);
    free(hash);

    if (r == NULL) {
        state = tk__sqlstate(c);

        if (strcmp(state, "23505") == 0) {
            return tk__fail(res, TK_ECONFLICT, "user name \"%s\" is taken",
                            username);
        }

        /* a CHECK of users, or bytes that are not text */
        if (strcmp(state, "23514") == 0 || strncmp(state, "22", 2) == 0) {
            return tk__fail(res, TK_EINVAL, "invalid user name, email or "
                            "full name (at most 255 characters)");
        }

        return res->code;
    }

    rc = tk__take_body(r, res);
    if (rc != TK_OK) {
        return rc;
    }

    res->code = TK_CREATED;
    return TK_CREATED;
}


int
tk_user_set_password(tk_conn_t *c, const char *username,
    const char *password, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[2];
    char        *hash;
    int          rc, n;

    if (username == NULL) {
        return tk__fail(res, TK_EINVAL, "no user name given");
    }

    if (password == NULL || password[0] == '\0') {
        return tk__fail(res, TK_EINVAL, "the password is empty");
    }

    rc = tk_password_hash(password, &hash);
    if (rc != TK_OK) {
        return tk__fail(res, rc, "cannot hash the password");
    }

    v[0] = username;
    v[1] = hash;

    r = tk__exec(c, &tk__user_password, v, res);
    free(hash);

    if (r == NULL) {
        return res->code;
    }

    n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);

    if (n == 0) {
        return tk__fail(res, TK_ENOTFOUND, "no user named \"%.255s\"",
                        username);
    }

    return TK_OK;
}


/*
 * Fills p from the id, user name and role in columns col, col + 1 and
 * col + 2 of row 0, and the permissions from a comma-separated list.
 */
static int
tk__principal_fill(tk_principal_t *p, const PGresult *r, int col,
    const char *perms, tk_result_t *res)
{
    const char  *role;

    role = tk__val(r, 0, col + 2);

    p->role = tk_role_parse(role);
    if (p->role < 0) {
        return tk__fail(res, TK_EINTERNAL, "user has an unknown role \"%s\"",
                        role != NULL ? role : "");
    }

    snprintf(p->user_id, sizeof(p->user_id), "%s", tk__val(r, 0, col));
    snprintf(p->user_name, sizeof(p->user_name), "%s",
             tk__val(r, 0, col + 1));
    p->perms = tk__perms_parse(perms);

    return TK_OK;
}


static unsigned
tk__perms_parse(const char *list)
{
    const char  *end;
    unsigned     perms;

    perms = 0;

    while (list != NULL && *list != '\0') {
        end = strchr(list, ',');
        if (end == NULL) {
            end = list + strlen(list);
        }

        perms |= tk_perm_parse(list, (size_t) (end - list));
        list = *end != '\0' ? end + 1 : end;
    }

    return perms;
}


/* Counts a failure against the name: r is the row of tk__login_lookup. */
static int
tk__login_failed(tk_conn_t *c, const char *username, const PGresult *r,
    tk_result_t *res)
{
    PGresult    *f;
    const char  *v[3];
    char         max[24], lockout[24];
    long         n;

    if (tk__setting_parse_int(tk__val(r, 0, 7), &n) != TK_OK) {
        n = TK__LOGIN_MAX_FAILURES;
    }

    /* 0 turns throttling off */
    if (n > 0) {
        snprintf(max, sizeof(max), "%ld", n);

        if (tk__setting_parse_int(tk__val(r, 0, 8), &n) != TK_OK) {
            n = TK__LOGIN_LOCKOUT_SECONDS;
        }

        snprintf(lockout, sizeof(lockout), "%ld", n);

        v[0] = username;
        v[1] = max;
        v[2] = lockout;

        f = tk__exec(c, &tk__login_failure, v, res);
        if (f == NULL) {
            return res->code;
        }

        PQclear(f);
    }

    return tk__fail(res, TK_EAUTH, TK__LOGIN_FAILED);
}


static int
tk__user_name_valid(const char *name)
{
    const unsigned char  *s;

    if (name == NULL || name[0] == '\0' || strlen(name) > TK__USER_NAME_MAX)
    {
        return 0;
    }

    for (s = (const unsigned char *) name; *s != '\0'; s++) {
        if (*s <= ' ' || *s == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* what users.email allows: one @ with something on either side, no space */
static int
tk__email_valid(const char *email)
{
    const unsigned char  *s;
    const char           *at;

    at = strchr(email, '@');

    if (at == NULL || at == email || at[1] == '\0'
        || strchr(at + 1, '@') != NULL || strlen(email) > 254)
    {
        return 0;
    }

    for (s = (const unsigned char *) email; *s != '\0'; s++) {
        if (*s <= ' ' || *s == 0x7f) {
            return 0;
        }
    }

    return 1;
}
