/*
 * Unit tests of migrations, data files, logins and their throttling,
 * principals, users and settings, against the PostgreSQL database of
 * TICKETS_TEST_DB (migrated, demo data loaded).
 *
 * The users this program makes are named tkcheck<pid>_...; they and every
 * setting are put back as they were when it ends.  Migrations of its own
 * use numbers 990 and up and are removed again.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "settings.h"


#define LOGIN_MSG  "invalid user name or password"

/* runs expr with a cleared res and checks its code */
#define CK_RC(want, expr)                                                   \
    do {                                                                    \
        int  rc_;                                                           \
        tk_result_clear(&res);                                              \
        rc_ = (expr);                                                       \
        ck_assert_msg(rc_ == (want), "%s: %d, want %d (%s)", #expr, rc_,   \
                      (int) (want), res.message);                           \
    } while (0)

static char  tmpdir[64];


/* The first value of a query with up to 2 parameters, or "" (static). */
static const char *
sql(const char *q, const char *p1, const char *p2)
{
    static char   out[512];
    const char   *v[2];
    PGresult     *r;

    v[0] = p1;
    v[1] = p2;

    /* without parameters, several statements may run at once */
    r = p1 == NULL ? PQexec(pg, q)
                   : PQexecParams(pg, q, p2 ? 2 : 1, NULL, v, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK
                  || PQresultStatus(r) == PGRES_COMMAND_OK,
                  "%s: %s", q, PQresultErrorMessage(r));

    out[0] = '\0';
    if (PQntuples(r) > 0 && PQnfields(r) > 0) {
        snprintf(out, sizeof(out), "%s", PQgetvalue(r, 0, 0));
    }

    PQclear(r);
    return out;
}


/* A user name of this run (static: the last 32 stay valid). */
static const char *
uname(const char *what)
{
    static char  names[32][64];
    static int   next;
    char        *s;

    s = names[next++ % 32];
    snprintf(s, 64, "tkcheck%d_%s", (int) getpid(), what);
    return s;
}


static void
user_make(const char *name, const char *role, const char *password)
{
    CK_RC(TK_CREATED, tk_user_add(conn, name, NULL, "Check User", role,
                                  password, &res));
}


static void
file_write(const char *path, const char *text)
{
    FILE  *f;

    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}


static const char *
tmp_path(const char *name)
{
    static char  path[128];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return path;
}


static void
tmp_setup(void)
{
    db_setup();
    ck_assert_ptr_nonnull(make_tmpdir(tmpdir, sizeof(tmpdir)));
}


static void
tmp_teardown(void)
{
    remove_tmpdir(tmpdir);
    db_teardown();
}


/* Migrations ------------------------------------------------------------ */

START_TEST(test_migrate_idempotent)
{
    const char  *root;
    char         dir[512], err[512];
    int          applied;

    root = getenv("TICKETS_TEST_ROOT");
    snprintf(dir, sizeof(dir), "%s/sql", root ? root : ".");

    ck_assert_msg(tk_migrate(conn, dir, &applied, err, sizeof(err)) == TK_OK,
                  "%s", err);
    ck_assert_int_eq(applied, 0);
    ck_assert_msg(tk_migrate(conn, dir, &applied, err, sizeof(err)) == TK_OK,
                  "%s", err);
    ck_assert_int_eq(applied, 0);
}
END_TEST


START_TEST(test_migrate_new_files)
{
    char  err[512];
    int   applied;

    file_write(tmp_path("990_one.sql"),
               "CREATE TABLE tkcheck_m1 (a int);\n"
               "INSERT INTO tkcheck_m1 VALUES (1);\n");
    file_write(tmp_path("991_two.sql"),
               "-- a comment, a dollar quote; and a second statement\n"
               "CREATE FUNCTION tkcheck_f() RETURNS int LANGUAGE sql\n"
               "    AS $$ SELECT 1; $$;\n"
               "INSERT INTO tkcheck_m1 VALUES (tkcheck_f() + 1);\n");
    /* not migrations: ignored */
    file_write(tmp_path("99_short.sql"), "SELECT nonsense;");
    file_write(tmp_path("992.sql"), "SELECT nonsense;");
    file_write(tmp_path("993_x.txt"), "SELECT nonsense;");

    ck_assert_msg(tk_migrate(conn, tmpdir, &applied, err, sizeof(err))
                  == TK_OK, "%s", err);
    ck_assert_int_eq(applied, 2);
    ck_assert_str_eq(sql("SELECT string_agg(a::text, ',' ORDER BY a)"
                         " FROM tkcheck_m1", NULL, NULL), "1,2");
    ck_assert_str_eq(sql("SELECT count(*) FROM schema_migrations"
                         " WHERE version IN ('990', '991')", NULL, NULL),
                     "2");

    /* the second time, and a second connection, apply nothing */
    ck_assert_msg(tk_migrate(conn, tmpdir, &applied, err, sizeof(err))
                  == TK_OK, "%s", err);
    ck_assert_int_eq(applied, 0);

    sql("DROP TABLE tkcheck_m1; DROP FUNCTION tkcheck_f();"
        " DELETE FROM schema_migrations WHERE version IN ('990', '991')",
        NULL, NULL);
}
END_TEST


START_TEST(test_migrate_failure)
{
    char  err[512];
    int   applied;

    file_write(tmp_path("990_good.sql"), "CREATE TABLE tkcheck_g (a int);\n");
    file_write(tmp_path("991_bad.sql"),
               "CREATE TABLE tkcheck_b (a int);\n"
               "SELECT 1;\n"
               "SELEC oops;\n");

    CK_RC(TK_EINTERNAL, tk_migrate(conn, tmpdir, &applied, err,
                                   sizeof(err)));
    /* the good one before it stays applied; the bad one left nothing */
    ck_assert_int_eq(applied, 1);
    ck_assert_msg(strstr(err, "991_bad.sql, line 3") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "syntax error") != NULL, "%s", err);
    ck_assert_str_eq(sql("SELECT to_regclass('tkcheck_b') IS NULL",
                         NULL, NULL), "t");
    ck_assert_str_eq(sql("SELECT count(*) FROM schema_migrations"
                         " WHERE version = '991'", NULL, NULL), "0");

    /* the connection is usable afterwards */
    CK_RC(TK_OK, tk_principal_load(conn, ADMIN, 0, &(tk_principal_t){0},
                                   &res));

    sql("DROP TABLE tkcheck_g;"
        " DELETE FROM schema_migrations WHERE version = '990'", NULL, NULL);
}
END_TEST


START_TEST(test_migrate_bad_dirs)
{
    char  err[512];
    int   applied;

    ck_assert_int_eq(tk_migrate(conn, "/nonexistent/sql", &applied, err,
                                sizeof(err)), TK_ENOTFOUND);
    ck_assert_msg(strstr(err, "/nonexistent/sql") != NULL, "%s", err);

    file_write(tmp_path("990_a.sql"), "SELECT 1;");
    file_write(tmp_path("990_b.sql"), "SELECT 1;");
    ck_assert_int_eq(tk_migrate(conn, tmpdir, &applied, err, sizeof(err)),
                     TK_EINVAL);
    ck_assert_msg(strstr(err, "same number") != NULL, "%s", err);
    ck_assert_int_eq(applied, 0);
}
END_TEST


START_TEST(test_migrate_own_commit)
{
    char  err[512];
    int   applied;

    file_write(tmp_path("990_commit.sql"),
               "CREATE TABLE tkcheck_c (a int);\nCOMMIT;\n");

    ck_assert_int_eq(tk_migrate(conn, tmpdir, &applied, err, sizeof(err)),
                     TK_EINVAL);
    ck_assert_msg(strstr(err, "COMMIT") != NULL, "%s", err);

    /* it committed its record with it: it does not run twice */
    ck_assert_msg(tk_migrate(conn, tmpdir, &applied, err, sizeof(err))
                  == TK_OK, "%s", err);
    ck_assert_int_eq(applied, 0);

    sql("DROP TABLE tkcheck_c;"
        " DELETE FROM schema_migrations WHERE version = '990'", NULL, NULL);
}
END_TEST


START_TEST(test_load_once)
{
    char         err[512], name[64];
    const char  *path;
    int          loaded;

    sql("CREATE TABLE tkcheck_load (a int)", NULL, NULL);
    snprintf(name, sizeof(name), "tkcheck%d_data.sql", (int) getpid());
    path = tmp_path(name);

    file_write(path, "INSERT INTO tkcheck_load VALUES (1);\n"
                     "INSERT INTO nonexistent VALUES (2);\n");
    ck_assert_int_eq(tk_load_once(conn, path, &loaded, err, sizeof(err)),
                     TK_EINTERNAL);
    ck_assert_int_eq(loaded, 0);
    ck_assert_msg(strstr(err, name) != NULL
                  && strstr(err, "nonexistent") != NULL, "%s", err);

    file_write(path, "INSERT INTO tkcheck_load VALUES (1);\n"
                     "INSERT INTO tkcheck_load VALUES (2);\n");
    ck_assert_msg(tk_load_once(conn, path, &loaded, err, sizeof(err))
                  == TK_OK, "%s", err);
    ck_assert_int_eq(loaded, 1);
    ck_assert_msg(tk_load_once(conn, path, &loaded, err, sizeof(err))
                  == TK_OK, "%s", err);
    ck_assert_int_eq(loaded, 0);

    ck_assert_str_eq(sql("SELECT count(*) FROM tkcheck_load", NULL, NULL),
                     "2");
    ck_assert_str_eq(sql("SELECT count(*) FROM loaded_files WHERE name = $1",
                         name, NULL), "1");

    ck_assert_int_eq(tk_load_once(conn, tmp_path("missing.sql"), &loaded,
                                  err, sizeof(err)), TK_ENOTFOUND);

    sql("DROP TABLE tkcheck_load", NULL, NULL);
    sql("DELETE FROM loaded_files WHERE name = $1", name, NULL);
}
END_TEST


/* Logins ---------------------------------------------------------------- */

START_TEST(test_login_success)
{
    tk_principal_t  p;
    char            upper[64];
    const char     *name;
    size_t          i;

    name = uname("member");
    user_make(name, "member", "Secret-1");

    CK_RC(TK_OK, tk_auth_login(conn, name, "Secret-1", &p, &res));
    ck_assert_str_eq(p.user_name, name);
    ck_assert_int_eq(p.role, TK_ROLE_MEMBER);
    ck_assert_uint_eq(p.perms, TK_PERM_CREATE);
    ck_assert_str_eq(p.user_id, sql("SELECT id FROM users WHERE user_name"
                                    " = $1", name, NULL));

    /* the name in any case; the principal carries the stored name */
    for (i = 0; name[i] != '\0'; i++) {
        upper[i] = (char) (name[i] >= 'a' && name[i] <= 'z'
                           ? name[i] - 'a' + 'A' : name[i]);
    }
    upper[i] = '\0';

    CK_RC(TK_OK, tk_auth_login(conn, upper, "Secret-1", &p, &res));
    ck_assert_str_eq(p.user_name, name);

    name = uname("admin");
    user_make(name, "Admin", "Secret-2");
    CK_RC(TK_OK, tk_auth_login(conn, name, "Secret-2", &p, &res));
    ck_assert_int_eq(p.role, TK_ROLE_ADMIN);
    /* Tickets.Inbound is the relays' (Integration), not an Admin's */
    ck_assert_uint_eq(p.perms, TK_PERM_ALL & ~TK_PERM_INBOUND);

    name = uname("tech");
    user_make(name, "Technician", "Secret-3");
    CK_RC(TK_OK, tk_auth_login(conn, name, "Secret-3", &p, &res));
    ck_assert_int_eq(p.role, TK_ROLE_TECHNICIAN);
    ck_assert_uint_eq(p.perms,
                      TK_PERM_ALL & ~(TK_PERM_DELETE | TK_PERM_INBOUND));

    name = uname("integ");
    user_make(name, "Integration", "Secret-4");
    CK_RC(TK_OK, tk_auth_login(conn, name, "Secret-4", &p, &res));
    ck_assert_int_eq(p.role, TK_ROLE_INTEGRATION);
    /* the relays' permission only (docs/email.md) */
    ck_assert_uint_eq(p.perms, TK_PERM_INBOUND);
}
END_TEST


START_TEST(test_login_failures_look_alike)
{
    tk_principal_t  p;
    const char     *name, *nopass, *inactive;
    char            wrong[512], unknown[512];

    name = uname("alike");
    nopass = uname("nopass");
    inactive = uname("inactive");
    user_make(name, "Member", "Right-1");
    user_make(nopass, "Member", NULL);
    user_make(inactive, "Member", "Right-1");
    sql("UPDATE users SET is_active = false WHERE user_name = $1", inactive,
        NULL);

    CK_RC(TK_EAUTH, tk_auth_login(conn, name, "Wrong-1", &p, &res));
    snprintf(wrong, sizeof(wrong), "%s", res.message);
    ck_assert_str_eq(wrong, LOGIN_MSG);
    ck_assert_str_eq(p.user_id, "");

    CK_RC(TK_EAUTH, tk_auth_login(conn, uname("ghost"), "Right-1", &p,
                                  &res));
    snprintf(unknown, sizeof(unknown), "%s", res.message);
    ck_assert_str_eq(unknown, wrong);

    CK_RC(TK_EAUTH, tk_auth_login(conn, inactive, "Right-1", &p, &res));
    ck_assert_str_eq(res.message, LOGIN_MSG);
    CK_RC(TK_EAUTH, tk_auth_login(conn, nopass, "", &p, &res));
    ck_assert_str_eq(res.message, LOGIN_MSG);
    CK_RC(TK_EAUTH, tk_auth_login(conn, name, "", &p, &res));
    CK_RC(TK_EAUTH, tk_auth_login(conn, name, NULL, &p, &res));
    CK_RC(TK_EAUTH, tk_auth_login(conn, "", "Right-1", &p, &res));
    CK_RC(TK_EAUTH, tk_auth_login(conn, NULL, "Right-1", &p, &res));
    /* bytes that are not UTF-8 are no one's name */
    CK_RC(TK_EAUTH, tk_auth_login(conn, "\xff\xfe", "Right-1", &p, &res));
    ck_assert_str_eq(res.message, LOGIN_MSG);

    /* failures are counted by lower-cased name, known or not */
    ck_assert_str_eq(sql("SELECT failures FROM login_failures"
                         " WHERE user_name = lower($1)", name, NULL), "3");
    ck_assert_str_eq(sql("SELECT count(*) FROM login_failures"
                         " WHERE user_name = lower($1)", uname("ghost"),
                         NULL), "1");

    /* a success forgets them */
    CK_RC(TK_OK, tk_auth_login(conn, name, "Right-1", &p, &res));
    ck_assert_str_eq(sql("SELECT count(*) FROM login_failures"
                         " WHERE user_name = lower($1)", name, NULL), "0");
}
END_TEST


START_TEST(test_login_throttled)
{
    tk_principal_t  p;
    const char     *name, *ghost;
    int             i;

    CK_RC(TK_OK, tk_setting_set(conn, "login_max_failures", "3", &res));
    CK_RC(TK_OK, tk_setting_set(conn, "login_lockout_seconds", "300", &res));

    name = uname("throttle");
    ghost = uname("throttleghost");
    user_make(name, "Member", "Right-2");

    /* a success in between starts the count again */
    CK_RC(TK_EAUTH, tk_auth_login(conn, name, "Wrong", &p, &res));
    CK_RC(TK_EAUTH, tk_auth_login(conn, name, "Wrong", &p, &res));
    CK_RC(TK_OK, tk_auth_login(conn, name, "Right-2", &p, &res));

    for (i = 0; i < 3; i++) {
        CK_RC(TK_EAUTH, tk_auth_login(conn, name, "Wrong", &p, &res));
        CK_RC(TK_EAUTH, tk_auth_login(conn, ghost, "Wrong", &p, &res));
    }

    /* locked: even the right password, in any case, and unknown names */
    CK_RC(TK_ETHROTTLED, tk_auth_login(conn, name, "Right-2", &p, &res));
    ck_assert_int_gt(res.retry_after, 200);
    ck_assert_int_le(res.retry_after, 300);
    ck_assert_str_eq(p.user_id, "");
    res.retry_after = 0;
    CK_RC(TK_ETHROTTLED, tk_auth_login(conn, ghost, "Wrong", &p, &res));
    ck_assert_int_gt(res.retry_after, 0);

    /* other names are not */
    CK_RC(TK_EAUTH, tk_auth_login(conn, uname("bystander"), "x", &p, &res));

    /* when the lockout is over, the right password works */
    sql("UPDATE login_failures SET locked_until = now() - interval '1s'"
        " WHERE user_name = lower($1)", name, NULL);
    CK_RC(TK_OK, tk_auth_login(conn, name, "Right-2", &p, &res));
    ck_assert_str_eq(p.user_name, name);

    /* a new password lifts a lock */
    for (i = 0; i < 3; i++) {
        CK_RC(TK_EAUTH, tk_auth_login(conn, name, "Wrong", &p, &res));
    }
    CK_RC(TK_ETHROTTLED, tk_auth_login(conn, name, "Right-2", &p, &res));
    CK_RC(TK_OK, tk_user_set_password(conn, name, "Right-3", &res));
    CK_RC(TK_OK, tk_auth_login(conn, name, "Right-3", &p, &res));

    /* max 1: the first failure locks; max 0: no throttling at all */
    CK_RC(TK_OK, tk_setting_set(conn, "login_max_failures", "1", &res));
    CK_RC(TK_EAUTH, tk_auth_login(conn, name, "Wrong", &p, &res));
    CK_RC(TK_ETHROTTLED, tk_auth_login(conn, name, "Right-3", &p, &res));

    CK_RC(TK_OK, tk_setting_set(conn, "login_max_failures", "0", &res));
    ghost = uname("unthrottled");
    for (i = 0; i < 6; i++) {
        CK_RC(TK_EAUTH, tk_auth_login(conn, ghost, "Wrong", &p, &res));
    }
    ck_assert_str_eq(sql("SELECT count(*) FROM login_failures"
                         " WHERE user_name = lower($1)", ghost, NULL), "0");
}
END_TEST


/* Principals and users -------------------------------------------------- */

START_TEST(test_principal_load)
{
    tk_principal_t  p;
    const char     *name;
    char            id[64], longid[200];

    CK_RC(TK_OK, tk_principal_load(conn, ADMIN, TK_PERM_REPLY, &p, &res));
    ck_assert_str_eq(p.user_id, ADMIN);
    ck_assert_str_eq(p.user_name, "admin");
    ck_assert_int_eq(p.role, TK_ROLE_ADMIN);
    /* the token's permissions, not the role's */
    ck_assert_uint_eq(p.perms, TK_PERM_REPLY);

    name = uname("gone");
    user_make(name, "Technician", NULL);
    snprintf(id, sizeof(id), "%s",
             sql("SELECT id FROM users WHERE user_name = $1", name, NULL));

    CK_RC(TK_OK, tk_principal_load(conn, id, 0, &p, &res));
    ck_assert_int_eq(p.role, TK_ROLE_TECHNICIAN);

    sql("UPDATE users SET is_active = false WHERE id = $1", id, NULL);
    CK_RC(TK_EAUTH, tk_principal_load(conn, id, TK_PERM_ALL, &p, &res));
    ck_assert_str_eq(res.message, "unknown or inactive user");
    ck_assert_uint_eq(p.perms, 0);

    CK_RC(TK_EAUTH, tk_principal_load(conn, "no-such-id", 0, &p, &res));
    ck_assert_str_eq(res.message, "unknown or inactive user");

    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    CK_RC(TK_EAUTH, tk_principal_load(conn, longid, 0, &p, &res));
    CK_RC(TK_EAUTH, tk_principal_load(conn, NULL, 0, &p, &res));
    CK_RC(TK_EAUTH, tk_principal_load(conn, "\xc3", 0, &p, &res));
}
END_TEST


START_TEST(test_principal_by_name)
{
    tk_principal_t  p;
    const char     *name;

    CK_RC(TK_OK, tk_principal_by_name(conn, "ADMIN", &p, &res));
    ck_assert_str_eq(p.user_id, ADMIN);
    ck_assert_str_eq(p.user_name, "admin");
    ck_assert_uint_eq(p.perms, TK_PERM_ALL & ~TK_PERM_INBOUND);

    CK_RC(TK_OK, tk_principal_by_name(conn, "member1", &p, &res));
    ck_assert_int_eq(p.role, TK_ROLE_MEMBER);
    ck_assert_uint_eq(p.perms, TK_PERM_CREATE);

    CK_RC(TK_ENOTFOUND, tk_principal_by_name(conn, uname("nobody"), &p,
                                             &res));

    name = uname("byname");
    user_make(name, "Member", NULL);
    sql("UPDATE users SET is_active = false WHERE user_name = $1", name,
        NULL);
    CK_RC(TK_ENOTFOUND, tk_principal_by_name(conn, name, &p, &res));
}
END_TEST


START_TEST(test_user_add)
{
    const char  *name;
    char         upper[64], id[64];

    name = uname("added");

    CK_RC(TK_CREATED, tk_user_add(conn, name, "Added@Example.com",
                                  "Added User", "technician", "Pw-1", &res));
    ck_assert_ptr_nonnull(res.body);
    snprintf(id, sizeof(id), "%s",
             sql("SELECT id FROM users WHERE user_name = $1", name, NULL));
    ck_assert_str_eq(sql("SELECT ($1::json)->>'id'", res.body, NULL), id);
    ck_assert_str_eq(sql("SELECT role || '|' || email || '|' || full_name"
                         " || '|' || is_active FROM users WHERE id = $1",
                         id, NULL),
                     "Technician|Added@Example.com|Added User|true");
    ck_assert_str_eq(sql("SELECT left(password_hash, 14) FROM users"
                         " WHERE id = $1", id, NULL), "pbkdf2_sha256$");

    /* user names are unique in any case */
    snprintf(upper, sizeof(upper), "%s", name);
    upper[0] = 'T';
    CK_RC(TK_ECONFLICT, tk_user_add(conn, upper, NULL, NULL, "Member", NULL,
                                    &res));
    ck_assert_msg(strstr(res.message, "taken") != NULL, "%s", res.message);

    CK_RC(TK_EINVAL, tk_user_add(conn, uname("r"), NULL, NULL, "Boss", NULL,
                                 &res));
    CK_RC(TK_EINVAL, tk_user_add(conn, uname("r"), NULL, NULL, NULL, NULL,
                                 &res));
    CK_RC(TK_EINVAL, tk_user_add(conn, uname("e"), "nope", NULL, "Member",
                                 NULL, &res));
    CK_RC(TK_EINVAL, tk_user_add(conn, uname("e"), "a@b@c", NULL, "Member",
                                 NULL, &res));
    CK_RC(TK_EINVAL, tk_user_add(conn, uname("e"), "a b@c", NULL, "Member",
                                 NULL, &res));
    CK_RC(TK_EINVAL, tk_user_add(conn, uname("e"), "@c", NULL, "Member",
                                 NULL, &res));
    CK_RC(TK_EINVAL, tk_user_add(conn, "", NULL, NULL, "Member", NULL,
                                 &res));
    CK_RC(TK_EINVAL, tk_user_add(conn, "two words", NULL, NULL, "Member",
                                 NULL, &res));
    CK_RC(TK_EINVAL, tk_user_add(conn, uname("p"), NULL, NULL, "Member", "",
                                 &res));
    ck_assert_str_eq(sql("SELECT count(*) FROM users WHERE user_name"
                         " IN ($1, $2)", uname("r"), uname("e")), "0");

    /* no email, no password: both NULL */
    name = uname("bare");
    CK_RC(TK_CREATED, tk_user_add(conn, name, "", NULL, "Integration", NULL,
                                  &res));
    ck_assert_str_eq(sql("SELECT (email IS NULL AND password_hash IS NULL"
                         " AND full_name = '')::text FROM users"
                         " WHERE user_name = $1", name, NULL), "true");
}
END_TEST


START_TEST(test_user_set_password)
{
    tk_principal_t  p;
    const char     *name;

    name = uname("pw");
    user_make(name, "Member", "Old-pw");

    CK_RC(TK_OK, tk_user_set_password(conn, name, "New-pw", &res));
    CK_RC(TK_OK, tk_auth_login(conn, name, "New-pw", &p, &res));
    CK_RC(TK_EAUTH, tk_auth_login(conn, name, "Old-pw", &p, &res));

    CK_RC(TK_ENOTFOUND, tk_user_set_password(conn, uname("nobody"), "x",
                                             &res));
    CK_RC(TK_EINVAL, tk_user_set_password(conn, name, "", &res));
    CK_RC(TK_EINVAL, tk_user_set_password(conn, name, NULL, &res));
    CK_RC(TK_OK, tk_auth_login(conn, name, "New-pw", &p, &res));
}
END_TEST


/* Settings -------------------------------------------------------------- */

/* sets key to in and expects code and then the stored value out */
static void
set_ok(const char *key, const char *in, const char *out)
{
    char  *v;

    CK_RC(TK_OK, tk_setting_set(conn, key, in, &res));
    CK_RC(TK_OK, tk_setting_get(conn, key, &v, &res));

    if (out == NULL) {
        ck_assert_msg(v == NULL, "%s = \"%s\": \"%s\", want NULL", key, in,
                      v);
    } else {
        ck_assert_msg(v != NULL && strcmp(v, out) == 0,
                      "%s = \"%s\": \"%s\", want \"%s\"", key, in,
                      v ? v : "(null)", out);
    }

    free(v);
}


static void
set_bad(const char *key, const char *in, const char *expects)
{
    char  *before, *after;

    CK_RC(TK_OK, tk_setting_get(conn, key, &before, &res));
    CK_RC(TK_EINVAL, tk_setting_set(conn, key, in, &res));
    ck_assert_msg(strstr(res.message, expects) != NULL,
                  "%s = \"%s\": message \"%s\" lacks \"%s\"", key, in,
                  res.message, expects);
    CK_RC(TK_OK, tk_setting_get(conn, key, &after, &res));
    ck_assert_msg((before == NULL && after == NULL)
                  || (before && after && strcmp(before, after) == 0),
                  "%s changed by a bad value", key);
    free(before);
    free(after);
}


START_TEST(test_setting_get)
{
    char  *v;

    CK_RC(TK_OK, tk_setting_get(conn, "smtp_from", &v, &res));
    ck_assert_ptr_nonnull(v);
    free(v);

    CK_RC(TK_OK, tk_setting_set(conn, "push_url", "", &res));
    CK_RC(TK_OK, tk_setting_get(conn, "push_url", &v, &res));
    ck_assert_ptr_null(v);

    v = (char *) "untouched";
    CK_RC(TK_ENOTFOUND, tk_setting_get(conn, "no_such_key", &v, &res));
    ck_assert_ptr_null(v);
    CK_RC(TK_ENOTFOUND, tk_setting_set(conn, "no_such_key", "1", &res));
}
END_TEST


START_TEST(test_setting_int_bool)
{
    set_ok("max_file_size", "1048576", "1048576");
    set_ok("max_file_size", "007", "7");
    set_ok("max_file_size", "0", "0");
    set_ok("max_file_size", "2147483647", "2147483647");
    set_bad("max_file_size", "-1", "whole number");
    set_bad("max_file_size", "+1", "whole number");
    set_bad("max_file_size", "1.5", "whole number");
    set_bad("max_file_size", "12abc", "whole number");
    set_bad("max_file_size", " 12", "whole number");
    set_bad("max_file_size", "2147483648", "whole number");
    set_bad("max_file_size", "99999999999999999999999", "whole number");
    set_ok("max_file_size", "", NULL);
    set_ok("max_file_size", NULL, NULL);

    set_ok("sla_pause_on_hold", "true", "true");
    set_ok("sla_pause_on_hold", "No", "false");
    set_ok("sla_pause_on_hold", "YES", "true");
    set_ok("sla_pause_on_hold", "0", "false");
    set_ok("sla_pause_on_hold", "1", "true");
    set_ok("sla_pause_on_hold", "FALSE", "false");
    set_bad("sla_pause_on_hold", "maybe", "true or false");
    set_bad("sla_pause_on_hold", "2", "true or false");
}
END_TEST


START_TEST(test_setting_url_method_zone)
{
    set_ok("webhook_url", "https://h.example/?a=1", "https://h.example/?a=1");
    set_ok("webhook_url", "http://127.0.0.1:9/", "http://127.0.0.1:9/");
    set_ok("smtp_url", "smtps://m.example:465", "smtps://m.example:465");
    set_ok("smtp_url", "smtp://mail.example", "smtp://mail.example");
    set_ok("push_url", "unix:/run/push.sock", "unix:/run/push.sock");
    set_bad("webhook_url", "ftp://x.example", "http://");
    set_bad("webhook_url", "x.example", "http://");
    set_bad("webhook_url", "https://", "http://");
    set_bad("webhook_url", "https://a b", "http://");
    set_bad("webhook_url", "javascript:alert(1)", "http://");
    set_ok("webhook_url", "", NULL);

    set_ok("auto_assign_method", "leastloaded", "LeastLoaded");
    set_ok("auto_assign_method", "RoundRobin", "RoundRobin");
    set_bad("auto_assign_method", "Random", "RoundRobin or LeastLoaded");

    set_ok("time_zone", "Europe/Berlin", "Europe/Berlin");
    set_ok("time_zone", "america/new_york", "America/New_York");
    set_ok("time_zone", "UTC", "UTC");
    set_bad("time_zone", "Mars/Olympus_Mons", "time zone");
    set_bad("time_zone", "Europe/Berlin; DROP TABLE users", "time zone");

    set_ok("smtp_username", "joe", "joe");
    set_ok("smtp_username", "", NULL);
    set_bad("smtp_from", "a@b\r\nBcc: c@d", "control characters");
}
END_TEST


START_TEST(test_setting_ids)
{
    static const char *const  keys[][2] = {
        { "default_status_id", "status" },
        { "default_site_id", "site" },
        { "default_priority_id", "priority" },
        { "default_category_id", "category" },
        { "default_tier_level_id", "tier level" },
        { "business_calendar_id", "business calendar" }
    };
    size_t                    i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        set_ok(keys[i][0], "1", "1");
        set_ok(keys[i][0], "01", "1");
        set_bad(keys[i][0], "999", keys[i][1]);
        set_bad(keys[i][0], "0", keys[i][1]);
        set_bad(keys[i][0], "-1", keys[i][1]);
        set_bad(keys[i][0], "one", keys[i][1]);
        set_bad(keys[i][0], "99999999999", keys[i][1]);
        set_ok(keys[i][0], "", NULL);
    }

    set_ok("reopen_status_id", "7", "7");
    set_ok("default_priority_id", "4", "4");
}
END_TEST


START_TEST(test_settings_list)
{
    const char  *secret;

    secret = "Very-Secret-Value";
    set_ok("smtp_password", secret, secret);
    set_ok("webhook_secret", "", NULL);

    CK_RC(TK_OK, tk_settings_list(conn, &res));
    ck_assert_ptr_nonnull(res.body);
    ck_assert_msg(strstr(res.body, secret) == NULL, "secret listed");

    ck_assert_str_eq(sql("SELECT count(*) = (SELECT count(*)"
                         " FROM setting_keys) FROM json_array_elements($1)",
                         res.body, NULL), "t");
    ck_assert_str_eq(sql("SELECT e->>'value' FROM json_array_elements($1) e"
                         " WHERE e->>'key' = 'smtp_password'", res.body,
                         NULL), "********");
    ck_assert_str_eq(sql("SELECT (e->'value')::text || '|' || (e->>'kind')"
                         " FROM json_array_elements($1) e"
                         " WHERE e->>'key' = 'webhook_secret'", res.body,
                         NULL), "null|secret");
    ck_assert_str_eq(sql("SELECT e->>'description' <> ''"
                         " FROM json_array_elements($1) e"
                         " WHERE e->>'key' = 'max_file_size'", res.body,
                         NULL), "t");
}
END_TEST


START_TEST(test_setting_internal)
{
    long  n;
    int   b;

    set_ok("close_link_ttl_hours", "48", "48");
    CK_RC(TK_OK, tk__setting_int(conn, "close_link_ttl_hours", 5, &n, &res));
    ck_assert_int_eq(n, 48);
    set_ok("close_link_ttl_hours", "", NULL);
    CK_RC(TK_OK, tk__setting_int(conn, "close_link_ttl_hours", 5, &n, &res));
    ck_assert_int_eq(n, 5);
    /* written behind the library's back: the default */
    sql("UPDATE settings SET value = 'x' WHERE key = 'close_link_ttl_hours'",
        NULL, NULL);
    CK_RC(TK_OK, tk__setting_int(conn, "close_link_ttl_hours", 6, &n, &res));
    ck_assert_int_eq(n, 6);
    CK_RC(TK_ENOTFOUND, tk__setting_int(conn, "nokey", 6, &n, &res));
    ck_assert_int_eq(n, 6);

    set_ok("auto_assign_on_create", "yes", "true");
    CK_RC(TK_OK, tk__setting_bool(conn, "auto_assign_on_create", 0, &b,
                                  &res));
    ck_assert_int_eq(b, 1);
    set_ok("auto_assign_on_create", "", NULL);
    CK_RC(TK_OK, tk__setting_bool(conn, "auto_assign_on_create", 1, &b,
                                  &res));
    ck_assert_int_eq(b, 1);

    ck_assert_int_eq(tk__setting_parse_int("0", &n), TK_OK);
    ck_assert_int_eq(tk__setting_parse_int("", &n), TK_EINVAL);
    ck_assert_int_eq(tk__setting_parse_int(NULL, &n), TK_EINVAL);
    ck_assert_int_eq(tk__setting_parse_int("-0", &n), TK_EINVAL);
    ck_assert_int_eq(tk__setting_parse_bool("On", &b), TK_EINVAL);
}
END_TEST


/* Unavailable database -------------------------------------------------- */

START_TEST(test_unavailable)
{
    tk_conn_t       *down;
    tk_principal_t   p;
    char             err[512], *v;
    int              n;

    ck_assert_int_eq(tk_conn_open(&down, "host=/nonexistent port=1"), TK_OK);

    CK_RC(TK_EUNAVAIL, tk_auth_login(down, "admin", "demo", &p, &res));
    CK_RC(TK_EUNAVAIL, tk_principal_load(down, ADMIN, 0, &p, &res));
    CK_RC(TK_EUNAVAIL, tk_setting_get(down, "time_zone", &v, &res));
    CK_RC(TK_EUNAVAIL, tk_settings_list(down, &res));
    ck_assert_int_eq(tk_migrate(down, "sql", &n, err, sizeof(err)),
                     TK_EUNAVAIL);
    ck_assert_msg(strstr(err, "unavailable") != NULL, "%s", err);

    tk_conn_close(down);
}
END_TEST


static Suite *
auth_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("auth");

    tc = add_tcase(s, "migrate", tmp_setup, tmp_teardown, 60);
    tcase_add_test(tc, test_migrate_idempotent);
    tcase_add_test(tc, test_migrate_new_files);
    tcase_add_test(tc, test_migrate_failure);
    tcase_add_test(tc, test_migrate_bad_dirs);
    tcase_add_test(tc, test_migrate_own_commit);
    tcase_add_test(tc, test_load_once);

    /* password hashes are slow on purpose, slower under valgrind */
    tc = add_tcase(s, "identity", db_setup, db_teardown, 600);
    tcase_add_test(tc, test_login_success);
    tcase_add_test(tc, test_login_failures_look_alike);
    tcase_add_test(tc, test_login_throttled);
    tcase_add_test(tc, test_principal_load);
    tcase_add_test(tc, test_principal_by_name);
    tcase_add_test(tc, test_user_add);
    tcase_add_test(tc, test_user_set_password);
    tcase_add_test(tc, test_unavailable);

    tc = add_tcase(s, "settings", db_setup, db_teardown, 60);
    tcase_add_test(tc, test_setting_get);
    tcase_add_test(tc, test_setting_int_bool);
    tcase_add_test(tc, test_setting_url_method_zone);
    tcase_add_test(tc, test_setting_ids);
    tcase_add_test(tc, test_settings_list);
    tcase_add_test(tc, test_setting_internal);

    return s;
}


/*
 * Removes what the tests make, before (a run that crashed) and after (a
 * failed test does not reach its own cleanup).
 */
static int
cleanup(PGconn *c)
{
    PGresult    *r;
    const char  *v[1];
    char         like[64];
    int          ok;

    r = PQexec(c, "SET client_min_messages = warning;"
               " DROP TABLE IF EXISTS tkcheck_m1, tkcheck_g, tkcheck_b,"
               " tkcheck_c, tkcheck_load;"
               " DROP FUNCTION IF EXISTS tkcheck_f();"
               " DELETE FROM schema_migrations"
               " WHERE version IN ('990', '991');"
               " DELETE FROM loaded_files WHERE name LIKE 'tkcheck%'");
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);

    snprintf(like, sizeof(like), "tkcheck%d\\_%%", (int) getpid());
    v[0] = like;
    r = PQexecParams(c, "DELETE FROM users WHERE user_name LIKE $1", 1, NULL,
                     v, NULL, NULL, 0);
    ok &= PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    r = PQexecParams(c, "DELETE FROM login_failures WHERE user_name LIKE $1",
                     1, NULL, v, NULL, NULL, 0);
    ok &= PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);

    return ok;
}


/* Keeps every setting as it is before the tests and puts it back after. */
static int
snapshot(PGconn *c, int restore)
{
    static PGresult  *saved;
    PGresult         *r;
    const char       *v[2];
    int               i, ok;

    if (!restore) {
        saved = PQexec(c, "SELECT key, value FROM settings");
        return PQresultStatus(saved) == PGRES_TUPLES_OK;
    }

    ok = 1;

    for (i = 0; i < PQntuples(saved); i++) {
        v[0] = PQgetvalue(saved, i, 0);
        v[1] = PQgetisnull(saved, i, 1) ? NULL : PQgetvalue(saved, i, 1);
        r = PQexecParams(c, "UPDATE settings SET value = $2 WHERE key = $1",
                         2, NULL, v, NULL, NULL, 0);
        ok &= PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }

    PQclear(saved);
    return ok;
}


/* The settings as they are, and a clean start. */
static int
prepare(PGconn *c)
{
    if (!snapshot(c, 0) || !cleanup(c)) {
        fprintf(stderr, "check_auth: cannot read the settings of "
                "TICKETS_TEST_DB \"%s\": %s", conninfo, PQerrorMessage(c));
        return 0;
    }

    return 1;
}


/* The settings back, and what the tests made goes. */
static int
restore(PGconn *c)
{
    if (!snapshot(c, 1) || !cleanup(c)) {
        fprintf(stderr, "check_auth: cannot restore the database: %s",
                PQerrorMessage(c));
        return 0;
    }

    return 1;
}


int
main(void)
{
    return db_main(auth_suite, prepare, restore);
}
