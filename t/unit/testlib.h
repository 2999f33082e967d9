/*
 * What the Check unit tests (t/unit/check_*.c) share: the demo users, the
 * connections of a test to TICKETS_TEST_DB and queries on them, forms, the
 * JSON of an answer, and the main() of a test program.  Every helper that
 * checks something fails the running test when it does not hold.
 */

#ifndef TESTLIB_H
#define TESTLIB_H


#include <stdarg.h>
#include <stddef.h>

#include <check.h>
#include <cJSON.h>
#include <libpq-fe.h>

#include "tickets.h"


/* The demo users (sql/demo/demo.sql) ------------------------------------ */

#define ADMIN    "00000000-0000-4000-a000-000000000001"
#define TECH1    "00000000-0000-4000-a000-000000000002"
#define TECH2    "00000000-0000-4000-a000-000000000003"
#define TECH3    "00000000-0000-4000-a000-000000000004"
#define MEMBER1  "00000000-0000-4000-a000-000000000005"
#define MEMBER2  "00000000-0000-4000-a000-000000000006"
#define INTEG    "00000000-0000-4000-a000-000000000007"

/* the permissions of a technician: all but delete */
#define TECH_PERMS   (TK_PERM_ALL & ~TK_PERM_DELETE)

/* principals of the demo users, as their logins make them */
#define ADMIN_P      principal(ADMIN, "admin", TK_ROLE_ADMIN, TK_PERM_ALL)
#define TECH1_P      principal(TECH1, "tech1", TK_ROLE_TECHNICIAN,           \
                               TECH_PERMS)
#define MEMBER1_P    principal(MEMBER1, "member1", TK_ROLE_MEMBER,           \
                               TK_PERM_CREATE)
#define MEMBER2_P    principal(MEMBER2, "member2", TK_ROLE_MEMBER,           \
                               TK_PERM_CREATE)
#define INTEG_P      principal(INTEG, "integration", TK_ROLE_INTEGRATION, 0)
/* a Member whose identity provider grants everything */
#define MEMBER1_ALL  principal(MEMBER1, "member1", TK_ROLE_MEMBER,           \
                               TK_PERM_ALL)

/* A principal of user id with user name name (NULL: none). */
tk_principal_t principal(const char *id, const char *name, int role,
    unsigned perms);


/* The connections of a test --------------------------------------------- */

extern const char   *conninfo;  /* TICKETS_TEST_DB, set by db_main() */
extern tk_conn_t    *conn;      /* the library's connection (db_setup) */
extern PGconn       *pg;        /* libpq, to arrange and to look (db_setup) */
extern tk_result_t   res;       /* the answer of the library call under test */

/* Checked fixture: opens conn and pg (notices quiet), initialises res. */
void db_setup(void);
/* Checked fixture: clears res, closes conn and pg. */
void db_teardown(void);

/* CALL(tk_...(conn, ..., &res)): the code of the call on a cleared res,
 * checked to be res.code. */
#define CALL(call)  checked_code((tk_result_clear(&res), (call)))
/* rc, checked to be res.code. */
int checked_code(int rc);


/* Queries --------------------------------------------------------------- */

/* Runs sql with n parameters (NULL: SQL NULL) on c: 1 with its first value
 * in *out (malloc'd; NULL for no row or SQL NULL), 0 when it failed. */
int sql_value(PGconn *c, const char *sql, int n, const char *const *params,
    char **out);
/* sql_value() that must succeed: the first value or NULL. */
char *query_value(PGconn *c, const char *sql, int n,
    const char *const *params);

/* q(sql, p1, ...): the first value of sql on pg (malloc'd, or NULL for no
 * row or SQL NULL), with $1, $2, ... bound to as many of p1, ... as sql
 * names (NULL: SQL NULL); the statement must succeed. */
#define q(...)               q_args(SQL_ARGS(__VA_ARGS__))
/* qn(sql, p1, ...): q() as a number, -1 for NULL. */
#define qn(...)              qn_args(SQL_ARGS(__VA_ARGS__))
/* assert_q(want, sql, p1, ...): q() is want (NULL: NULL). */
#define assert_q(want, ...)  assert_q_args(want, SQL_ARGS(__VA_ARGS__))

/* the arguments of q(), qn() and assert_q() as an array and its length
 * (sizeof does not evaluate them again) */
#define SQL_ARGS(...)                                                         \
    (const char *const []) { __VA_ARGS__ },                                   \
    sizeof((const char *const []) { __VA_ARGS__ }) / sizeof(const char *)

/* q(), qn() and assert_q() of the statement args[0] and its parameters */
char *q_args(const char *const *args, size_t n);
long qn_args(const char *const *args, size_t n);
void assert_q_args(const char *want, const char *const *args, size_t n);

/* Runs sql on c, statements one after another: 1 when all succeeded, else
 * 0 with the error on stderr and any transaction rolled back. */
int exec_script(PGconn *c, const char *sql);
/* statements of a script that delete the tickets described mark, with
 * their outbox rows */
#define DELETE_TICKETS(mark)                                                  \
    "DELETE FROM outbox WHERE ticket_id IN"                                   \
    " (SELECT id FROM tickets WHERE description = '" mark "');"               \
    "DELETE FROM tickets WHERE description = '" mark "';"
/* The value of the setting key on c into out ("" for NULL): 0 if none. */
int read_setting(PGconn *c, const char *key, char *out, size_t len);


/* Forms ----------------------------------------------------------------- */

/* Adds the field name=value to f. */
void add(tk_form_t *f, const char *name, const char *value);
/* Adds the (name, value) pairs of ap, up to a NULL name, to f. */
void add_pairs(tk_form_t *f, va_list ap);
/* A new form of (name, value) pairs up to a NULL name. */
tk_form_t *form(const char *name, ...);
/* Adds a file of len bytes of data to f. */
void add_file(tk_form_t *f, const char *name, const char *filename,
    const char *type, const void *data, size_t len);


/* Answers --------------------------------------------------------------- */

/* res.body, parsed: it must be JSON of length res.body_len. */
cJSON *body_json(void);
/* The member key of j, or NULL. */
const cJSON *obj(const cJSON *j, const char *key);
/* The string member key of j, or NULL. */
const char *str(const cJSON *j, const char *key);
/* The number member key of j, which must be one. */
long num(const cJSON *j, const char *key);
/* j is an object of exactly the keys (NULL-ended), in their order. */
void assert_keys(const cJSON *j, const char *const *keys);
/* the keys of a person (PersonViewModel) */
extern const char *const  person_keys[];

/* res.errors, parsed, of a validation failure (as res.message says). */
cJSON *validation_errors(void);
/* res is a validation failure of exactly one field, with one message. */
void assert_field_error(const char *field, const char *msg);


/* Test programs --------------------------------------------------------- */

/* A test case of s named name, with the checked fixture setup and
 * teardown (NULL: none) and a timeout in seconds (0: Check's default). */
TCase *add_tcase(Suite *s, const char *name, void (*setup)(void),
    void (*teardown)(void), double timeout);
/* Runs the tests of s: how many failed. */
int run_suite(Suite *s);
/* The main() of a program that tests against TICKETS_TEST_DB: runs
 * suite() between before and after (NULL: none), which get a connection
 * to it and answer 0 for a failure.  The exit status. */
int db_main(Suite *(*suite)(void), int (*before)(PGconn *c),
    int (*after)(PGconn *c));

/* A new directory <program>.XXXXXX in $TMPDIR or /tmp, into dir: dir, or
 * NULL with the reason on stderr. */
char *make_tmpdir(char *dir, size_t len);
/* Removes the directory dir and all in it. */
void remove_tmpdir(const char *dir);


#endif /* TESTLIB_H */
