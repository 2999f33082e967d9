/*
 * What the Check unit tests share: see testlib.h.
 */


#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"


const char   *conninfo;
tk_conn_t    *conn;
PGconn       *pg;
tk_result_t   res;

const char *const  person_keys[] = {
    "id", "fullName", "userName", "email", NULL
};


tk_principal_t
principal(const char *id, const char *name, int role, unsigned perms)
{
    tk_principal_t  p;

    memset(&p, 0, sizeof(p));
    snprintf(p.user_id, sizeof(p.user_id), "%s", id);
    if (name != NULL) {
        snprintf(p.user_name, sizeof(p.user_name), "%s", name);
    }
    p.role = role;
    p.perms = perms;
    return p;
}


static void
quiet(void *arg, const char *message)
{
}


void
db_setup(void)
{
    ck_assert_int_eq(tk_conn_open(&conn, conninfo), TK_OK);
    pg = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "%s", PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, quiet, NULL);
    tk_result_init(&res);
}


void
db_teardown(void)
{
    tk_result_clear(&res);
    tk_conn_close(conn);
    PQfinish(pg);
    conn = NULL;
    pg = NULL;
}


int
checked_code(int rc)
{
    ck_assert_msg(rc == res.code, "code %d, res.code %d (%s)", rc, res.code,
                  res.message);
    return rc;
}


/* Queries ------------------------------------------------------------- */

int
sql_value(PGconn *c, const char *sql, int n, const char *const *params,
    char **out)
{
    PGresult  *r;
    int        ok;

    *out = NULL;
    r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ok = PQresultStatus(r) == PGRES_TUPLES_OK
         || PQresultStatus(r) == PGRES_COMMAND_OK;

    if (ok && PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
    {
        *out = strdup(PQgetvalue(r, 0, 0));
    }

    PQclear(r);
    return ok;
}


char *
query_value(PGconn *c, const char *sql, int n, const char *const *params)
{
    char  *out;

    ck_assert_msg(sql_value(c, sql, n, params, &out), "%s: %s", sql,
                  PQerrorMessage(c));
    return out;
}


/* The highest $n that sql names: how many parameters it takes. */
static int
params_named(const char *sql)
{
    const char  *s;
    int          n, most = 0;

    for (s = strchr(sql, '$'); s != NULL; s = strchr(s + 1, '$')) {
        for (n = 0; isdigit((unsigned char) s[1]); s++) {
            n = n < 1000 ? n * 10 + (s[1] - '0') : n;
        }
        most = n > most ? n : most;
    }

    return most;
}


char *
q_args(const char *const *args, size_t n)
{
    int  named = params_named(args[0]);

    ck_assert_msg((size_t) named < n, "%s: %d parameters, %zu given",
                  args[0], named, n - 1);
    return query_value(pg, args[0], named, args + 1);
}


long
qn_args(const char *const *args, size_t n)
{
    char  *s;
    long   v;

    s = q_args(args, n);
    v = s ? strtol(s, NULL, 10) : -1;
    free(s);
    return v;
}


void
assert_q_args(const char *want, const char *const *args, size_t n)
{
    char  *got;

    got = q_args(args, n);
    if (want == NULL) {
        ck_assert_msg(got == NULL, "%s: got %s, want NULL", args[0], got);
    } else {
        ck_assert_msg(got != NULL && strcmp(got, want) == 0,
                      "%s: got %s, want %s", args[0], got ? got : "NULL",
                      want);
    }
    free(got);
}


int
exec_script(PGconn *c, const char *sql)
{
    PGresult  *r;
    int        ok;

    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK
         || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        fprintf(stderr, "%s: %s: %s", program_invocation_short_name, sql,
                PQerrorMessage(c));
        PQclear(PQexec(c, "ROLLBACK"));
    }

    PQclear(r);
    return ok;
}


int
read_setting(PGconn *c, const char *key, char *out, size_t len)
{
    char  *v;

    if (!sql_value(c, "SELECT coalesce(value, '') FROM settings"
                   " WHERE key = $1", 1, &key, &v))
    {
        fprintf(stderr, "%s: setting %s: %s", program_invocation_short_name,
                key, PQerrorMessage(c));
        return 0;
    }

    if (v == NULL) {
        fprintf(stderr, "%s: no setting %s\n", program_invocation_short_name,
                key);
        return 0;
    }

    snprintf(out, len, "%s", v);
    free(v);
    return 1;
}


/* Forms --------------------------------------------------------------- */

void
add(tk_form_t *f, const char *name, const char *value)
{
    ck_assert_int_eq(tk_form_add(f, name, strlen(name), value,
                                 strlen(value)), TK_OK);
}


void
add_pairs(tk_form_t *f, va_list ap)
{
    const char  *name;

    while ((name = va_arg(ap, const char *)) != NULL) {
        add(f, name, va_arg(ap, const char *));
    }
}


tk_form_t *
form(const char *name, ...)
{
    tk_form_t  *f;
    va_list     ap;

    f = tk_form_new();
    ck_assert_ptr_nonnull(f);

    va_start(ap, name);
    for (; name != NULL; name = va_arg(ap, const char *)) {
        add(f, name, va_arg(ap, const char *));
    }
    va_end(ap);

    return f;
}


void
add_file(tk_form_t *f, const char *name, const char *filename,
    const char *type, const void *data, size_t len)
{
    ck_assert_int_eq(tk_form_file_begin(f, name, strlen(name), filename,
                                        strlen(filename), type,
                                        strlen(type)), TK_OK);
    ck_assert_int_eq(tk_form_file_append(f, data, len), TK_OK);
}


/* Answers ------------------------------------------------------------- */

cJSON *
body_json(void)
{
    cJSON  *j;

    ck_assert_ptr_nonnull(res.body);
    ck_assert_uint_eq(strlen(res.body), res.body_len);
    j = cJSON_Parse(res.body);
    ck_assert_msg(j != NULL, "not JSON: %s", res.body);
    return j;
}


const cJSON *
obj(const cJSON *j, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(j, key);
}


const char *
str(const cJSON *j, const char *key)
{
    const cJSON  *v = obj(j, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}


long
num(const cJSON *j, const char *key)
{
    const cJSON  *v = obj(j, key);

    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
    return (long) v->valuedouble;
}


void
assert_keys(const cJSON *j, const char *const *keys)
{
    const cJSON  *it;
    size_t        i = 0;

    ck_assert_msg(cJSON_IsObject(j), "not an object");

    cJSON_ArrayForEach(it, j) {
        ck_assert_msg(keys[i] != NULL, "extra key %s", it->string);
        ck_assert_str_eq(it->string, keys[i]);
        i++;
    }

    ck_assert_msg(keys[i] == NULL, "missing key %s", keys[i]);
}


cJSON *
validation_errors(void)
{
    cJSON  *e;

    ck_assert_str_eq(res.message, "One or more validation errors occurred.");
    ck_assert_ptr_nonnull(res.errors);
    e = cJSON_Parse(res.errors);
    ck_assert_msg(e != NULL, "not JSON: %s", res.errors);
    return e;
}


void
assert_field_error(const char *field, const char *msg)
{
    cJSON        *e;
    const cJSON  *list;

    ck_assert_int_eq(res.code, TK_EINVAL);
    e = validation_errors();
    list = obj(e, field);
    ck_assert_msg(cJSON_IsArray(list) && cJSON_GetArraySize(list) == 1
                  && cJSON_GetArraySize(e) == 1, "errors: %s", res.errors);
    ck_assert_str_eq(cJSON_GetArrayItem(list, 0)->valuestring, msg);
    cJSON_Delete(e);
}


/* Test programs ------------------------------------------------------- */

TCase *
add_tcase(Suite *s, const char *name, void (*setup)(void),
    void (*teardown)(void), double timeout)
{
    TCase  *tc;

    tc = tcase_create(name);
    if (timeout > 0) {
        tcase_set_timeout(tc, timeout);
    }
    if (setup != NULL || teardown != NULL) {
        tcase_add_checked_fixture(tc, setup, teardown);
    }
    suite_add_tcase(s, tc);
    return tc;
}


int
run_suite(Suite *s)
{
    SRunner  *sr;
    int       failed;

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}


int
db_main(Suite *(*suite)(void), int (*before)(PGconn *c),
    int (*after)(PGconn *c))
{
    PGconn  *c;
    int      failed;

    conninfo = getenv("TICKETS_TEST_DB");
    if (conninfo == NULL || conninfo[0] == '\0') {
        fprintf(stderr, "%s: TICKETS_TEST_DB is not set: it must be the "
                "conninfo of a migrated PostgreSQL with the demo data "
                "loaded (make unit does so)\n",
                program_invocation_short_name);
        return EXIT_FAILURE;
    }

    c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s: %s: %s", program_invocation_short_name,
                conninfo, PQerrorMessage(c));
        PQfinish(c);
        return EXIT_FAILURE;
    }
    PQsetNoticeProcessor(c, quiet, NULL);

    srandom((unsigned) time(NULL) ^ (unsigned) getpid());

    if (before != NULL && !before(c)) {
        PQfinish(c);
        return EXIT_FAILURE;
    }

    failed = run_suite(suite());

    if (after != NULL && !after(c)) {
        failed++;
    }
    PQfinish(c);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}


char *
make_tmpdir(char *dir, size_t len)
{
    const char  *tmp = getenv("TMPDIR");

    snprintf(dir, len, "%s/%s.XXXXXX",
             tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp",
             program_invocation_short_name);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "%s: mkdtemp %s: %s\n", program_invocation_short_name,
                dir, strerror(errno));
        return NULL;
    }

    return dir;
}


void
remove_tmpdir(const char *dir)
{
    char  cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "%s: cannot remove %s\n",
                program_invocation_short_name, dir);
    }
}
