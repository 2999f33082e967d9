/*
 * Unit tests of the one-round-trip read of a ticket, tk_ticket_get_as
 * (libtickets/src/read.c), against a real PostgreSQL: TICKETS_TEST_DB is
 * its conninfo, migrated and with the demo data loaded.  It must answer
 * exactly what tk_principal_load followed by tk_ticket_get answers: the
 * same code, the same bytes, the same ETag, for every ticket and every
 * kind of principal; and 304 (TK_NOT_MODIFIED) for the current ETag.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"


#define MARK     "check_read ticket."
#define READER   "check-read-user"


/* What the two round trips answer: code, body (malloc'd or NULL), ETag. */
typedef struct {
    int         code;
    char       *body;
    char        etag[48];
    tk_principal_t p;
} answer_t;


static void
old_read(const char *user, unsigned perms, int64_t id, answer_t *a)
{
    tk_result_t  r;

    memset(a, 0, sizeof(*a));
    tk_result_init(&r);

    a->code = tk_principal_load(conn, user, perms, &a->p, &r);
    if (a->code == TK_OK) {
        tk_result_clear(&r);
        a->code = tk_ticket_get(conn, &a->p, id, &r);
    }

    if (a->code == TK_OK) {
        a->body = strdup(r.body);
        memcpy(a->etag, r.etag, sizeof(a->etag));
    }

    tk_result_clear(&r);
}


static void
new_read(const char *user, unsigned perms, int64_t id, const char *inm,
    answer_t *a)
{
    tk_result_t  r;

    memset(a, 0, sizeof(*a));
    tk_result_init(&r);

    a->code = tk_ticket_get_as(conn, user, perms, id, inm, &a->p, &r);
    ck_assert_int_eq(a->code, r.code);

    if (a->code == TK_OK) {
        ck_assert_ptr_nonnull(r.body);
        ck_assert_uint_eq(strlen(r.body), r.body_len);
        a->body = strdup(r.body);
    }

    if (a->code == TK_NOT_MODIFIED) {
        ck_assert_ptr_null(r.body);
    }

    if (a->code >= TK_OK) {
        memcpy(a->etag, r.etag, sizeof(a->etag));
    }

    tk_result_clear(&r);
}


static void
answer_free(answer_t *a)
{
    free(a->body);
    a->body = NULL;
}


/* Both ways for (user, id): the same code, principal, bytes and ETag. */
static void
assert_same(const char *user, unsigned perms, int64_t id)
{
    answer_t  o, n;

    old_read(user, perms, id, &o);
    new_read(user, perms, id, NULL, &n);

    /*
     * slaState.minutesLeft follows the clock: two reads a moment apart
     * differ when a minute turned between them.  A second pair cannot
     * cross another boundary a minute later.
     */
    if (o.code == TK_OK && n.code == TK_OK && strcmp(o.body, n.body) != 0) {
        answer_free(&o);
        answer_free(&n);
        old_read(user, perms, id, &o);
        new_read(user, perms, id, NULL, &n);
    }

    ck_assert_msg(o.code == n.code, "user %s ticket %lld: %d, then %d",
                  user, (long long) id, o.code, n.code);

    if (o.code == TK_OK) {
        ck_assert_msg(strcmp(o.body, n.body) == 0,
                      "user %s ticket %lld:\n%s\n%s", user, (long long) id,
                      o.body, n.body);
        ck_assert_str_eq(o.etag, n.etag);
    }

    if (o.code != TK_EAUTH) {
        ck_assert_str_eq(o.p.user_id, n.p.user_id);
        ck_assert_str_eq(o.p.user_name, n.p.user_name);
        ck_assert_int_eq(o.p.role, n.p.role);
        ck_assert_uint_eq(o.p.perms, n.p.perms);
    }

    answer_free(&o);
    answer_free(&n);
}


static char *
ticket(const char *requester, const char *title)
{
    char  *id;

    id = q("INSERT INTO tickets (title, description, requester_id,"
           " created_by_id, site_id, department_id, status_id)"
           " VALUES ($2, '" MARK "', $1, $1, 1, 1, 1) RETURNING id",
           requester, title);
    ck_assert_ptr_nonnull(id);
    return id;
}


static void
setup(void)
{
    db_setup();
    free(q("DELETE FROM users WHERE id = $1", READER));
    free(q("INSERT INTO users (id, user_name, full_name, role)"
           " VALUES ($1, 'check_read_user', 'Check Read', 'Technician')"
           " RETURNING id", READER));
}


static void
teardown(void)
{
    ck_assert(exec_script(pg, "BEGIN;" DELETE_TICKETS(MARK)
                              "DELETE FROM users WHERE id = '" READER "';"
                              "COMMIT"));
    db_teardown();
}


/*
 * Every ticket of the database, as every kind of principal: the demo
 * tickets (nulls, resolutions, closures, tags, attachments, deleted ones)
 * and tickets of hostile text, each field as the old statement built it.
 */
START_TEST(same_as_before)
{
    static const char *const  users[] = {
        ADMIN, TECH1, MEMBER1, MEMBER2, INTEG, READER
    };
    static const char *const  hostile[] = {
        "quote \" backslash \\ slash / </script>",
        "tab\tnewline\ncr\rbell\x07 esc\x1b del\x7f",
        "unicode \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe2\x80\xa8 sep",
        "{\"json\": [1, 2]} ' OR 1=1 --",
    };
    char     *id, *ids;
    char     *end;
    char     *s;
    size_t    i, u;
    int64_t   t;

    for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        free(ticket(i % 2 ? MEMBER1 : MEMBER2, hostile[i]));
    }

    /* a deleted one, with a cc and a tag */
    id = ticket(MEMBER1, "deleted");
    free(q("UPDATE tickets SET (is_deleted, deleted_on, cc) = (true, now(),"
           " 'a@example.com') WHERE id = $1::bigint", id));
    free(id);

    ids = q("SELECT string_agg(id::text, ',' ORDER BY id) FROM tickets");
    ck_assert_ptr_nonnull(ids);

    for (s = ids; *s != '\0'; s = *end ? end + 1 : end) {
        t = strtoll(s, &end, 10);
        for (u = 0; u < sizeof(users) / sizeof(users[0]); u++) {
            assert_same(users[u], TK_PERM_ALL, t);
        }
    }

    /* no such ticket, no such id, and no such user */
    assert_same(ADMIN, TK_PERM_ALL, 0);
    assert_same(ADMIN, TK_PERM_ALL, -5);
    assert_same(ADMIN, TK_PERM_ALL, INT64_MAX);
    assert_same("nobody", TK_PERM_ALL, 1);
    assert_same("", TK_PERM_ALL, 1);
    assert_same("\xff\xfe not text", TK_PERM_ALL, 1);

    free(ids);
}
END_TEST


/* If-None-Match: the current ETag, weak or strong, in a list, or "*". */
START_TEST(not_modified)
{
    answer_t  a, b;
    char     *id, hdr[160], stale[64];
    int64_t   t;

    id = ticket(MEMBER1, "revalidated");
    t = strtoll(id, NULL, 10);

    new_read(ADMIN, TK_PERM_ALL, t, NULL, &a);
    ck_assert_int_eq(a.code, TK_OK);

    /* the same ETag */
    new_read(ADMIN, TK_PERM_ALL, t, a.etag, &b);
    ck_assert_int_eq(b.code, TK_NOT_MODIFIED);
    ck_assert_str_eq(b.etag, a.etag);

    snprintf(hdr, sizeof(hdr), "W/%s", a.etag);
    new_read(ADMIN, TK_PERM_ALL, t, hdr, &b);
    ck_assert_int_eq(b.code, TK_NOT_MODIFIED);

    snprintf(hdr, sizeof(hdr), "\"1-1\", \"x\" ,%s , W/\"9\"", a.etag);
    new_read(ADMIN, TK_PERM_ALL, t, hdr, &b);
    ck_assert_int_eq(b.code, TK_NOT_MODIFIED);

    new_read(ADMIN, TK_PERM_ALL, t, "*", &b);
    ck_assert_int_eq(b.code, TK_NOT_MODIFIED);
    ck_assert_str_eq(b.etag, a.etag);

    /* none of these is the ticket's ETag: the ticket */
    snprintf(stale, sizeof(stale), "\"%s-0\"", id);
    {
        static const char  *const other[] = {
            "", ",", "\"\"", "W/", "\"7-1\"", "garbage", "\"-1\"",
            "\"1-99999999999999999999\""
        };
        size_t  i;

        for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
            new_read(ADMIN, TK_PERM_ALL, t, other[i], &b);
            ck_assert_int_eq(b.code, TK_OK);
            ck_assert_str_eq(b.body, a.body);
            answer_free(&b);
        }
    }

    new_read(ADMIN, TK_PERM_ALL, t, stale, &b);
    ck_assert_int_eq(b.code, TK_OK);
    answer_free(&b);

    /* the ETag of the id without its quotes, or with another id */
    snprintf(hdr, sizeof(hdr), "%.*s", (int) strlen(a.etag) - 2,
             a.etag + 1);
    new_read(ADMIN, TK_PERM_ALL, t, hdr, &b);
    ck_assert_int_eq(b.code, TK_OK);
    answer_free(&b);

    /* after a change the old ETag names an old version */
    free(q("UPDATE tickets SET version = version + 1 WHERE id = $1::bigint",
           id));
    new_read(ADMIN, TK_PERM_ALL, t, a.etag, &b);
    ck_assert_int_eq(b.code, TK_OK);
    ck_assert_str_ne(b.etag, a.etag);
    answer_free(&b);

    /* the Member rule and the principal come first, even for "*" */
    new_read(MEMBER2, TK_PERM_ALL, t, "*", &b);
    ck_assert_int_eq(b.code, TK_ENOTFOUND);
    new_read(MEMBER1, TK_PERM_CREATE, t, "*", &b);
    ck_assert_int_eq(b.code, TK_NOT_MODIFIED);
    new_read("nobody", TK_PERM_ALL, t, "*", &b);
    ck_assert_int_eq(b.code, TK_EAUTH);

    /* a deleted ticket is gone, whatever the header says */
    free(q("UPDATE tickets SET (is_deleted, deleted_on) = (true, now())"
           " WHERE id = $1::bigint", id));
    new_read(ADMIN, TK_PERM_ALL, t, "*", &b);
    ck_assert_int_eq(b.code, TK_ENOTFOUND);

    answer_free(&a);
    free(id);
}
END_TEST


/* A user deactivated between two requests on the same connection is
 * refused at once, on both paths; active again, served again. */
START_TEST(deactivated_between_requests)
{
    answer_t  a;
    char     *id;
    int64_t   t;

    id = ticket(MEMBER1, "read by a user about to go");
    t = strtoll(id, NULL, 10);

    new_read(READER, TECH_PERMS, t, NULL, &a);
    ck_assert_int_eq(a.code, TK_OK);
    ck_assert_str_eq(a.p.user_id, READER);
    ck_assert_str_eq(a.p.user_name, "check_read_user");
    ck_assert_int_eq(a.p.role, TK_ROLE_TECHNICIAN);
    ck_assert_uint_eq(a.p.perms, TECH_PERMS);

    free(q("UPDATE users SET is_active = false WHERE id = $1", READER));
    answer_free(&a);
    new_read(READER, TECH_PERMS, t, NULL, &a);
    ck_assert_int_eq(a.code, TK_EAUTH);
    ck_assert_str_eq(a.p.user_id, "");
    new_read(READER, TECH_PERMS, t, "*", &a);
    ck_assert_int_eq(a.code, TK_EAUTH);

    /* made a Member: the Member rule at once */
    free(q("UPDATE users SET is_active = true, role = 'Member'"
           " WHERE id = $1", READER));
    new_read(READER, TECH_PERMS, t, NULL, &a);
    ck_assert_int_eq(a.code, TK_ENOTFOUND);
    ck_assert_int_eq(a.p.role, TK_ROLE_MEMBER);

    free(q("UPDATE users SET role = 'Technician' WHERE id = $1", READER));
    new_read(READER, TECH_PERMS, t, NULL, &a);
    ck_assert_int_eq(a.code, TK_OK);
    answer_free(&a);
    free(id);
}
END_TEST


/* A lookup renamed while the connection has the statement prepared: the
 * next read shows the new name (nothing is cached in the library). */
START_TEST(lookup_renamed)
{
    answer_t  a;
    cJSON    *j;
    char     *id, *old;
    int64_t   t;

    id = ticket(MEMBER1, "its status is renamed");
    t = strtoll(id, NULL, 10);

    new_read(ADMIN, TK_PERM_ALL, t, NULL, &a);
    ck_assert_int_eq(a.code, TK_OK);
    answer_free(&a);

    old = q("SELECT name FROM statuses WHERE id = 1");
    free(q("UPDATE statuses SET name = 'Renamed \"open\"' WHERE id = 1"));

    new_read(ADMIN, TK_PERM_ALL, t, NULL, &a);
    free(q("UPDATE statuses SET name = $1 WHERE id = 1", old));
    ck_assert_int_eq(a.code, TK_OK);
    j = cJSON_Parse(a.body);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(str(obj(j, "status"), "status"), "Renamed \"open\"");
    cJSON_Delete(j);
    assert_same(ADMIN, TK_PERM_ALL, t);

    answer_free(&a);
    free(old);
    free(id);
}
END_TEST


static Suite *
read_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("read");

    tc = add_tcase(s, "get_as", setup, teardown, 120);
    tcase_add_test(tc, same_as_before);
    tcase_add_test(tc, not_modified);
    tcase_add_test(tc, deactivated_between_requests);
    tcase_add_test(tc, lookup_renamed);

    return s;
}


int
main(void)
{
    return db_main(read_suite, NULL, NULL);
}
