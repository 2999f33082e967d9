/*
 * Unit tests of inbound email (libtickets/src/mail.c) against a real
 * PostgreSQL: TICKETS_TEST_DB is its conninfo, migrated and with the demo
 * data loaded.  Messages go in as an MTA hands them over; what they made
 * is read back with SQL.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"


/* every message the tests send has a subject that starts so */
#define MARK     "check_mail:"


static int64_t  ticket;     /* a ticket of member1, made by prepare() */


static int
deliver(const char *raw)
{
    return CALL(tk_mail_deliver(conn, raw, strlen(raw), &res));
}


/* A text/plain message from member1 (or from), with extra headers. */
static char *
message(const char *from, const char *id, const char *subject,
    const char *headers, const char *body)
{
    char  *m;
    int    n;

    n = asprintf(&m, "From: %s\r\nTo: helpdesk@example.com\r\n"
                 "Subject: " MARK " %s\r\n%s%s%s%s"
                 "MIME-Version: 1.0\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n\r\n%s",
                 from != NULL ? from : "member1@example.com", subject,
                 id != NULL ? "Message-ID: <" : "", id != NULL ? id : "",
                 id != NULL ? ">\r\n" : "", headers != NULL ? headers : "",
                 body);
    ck_assert_int_gt(n, 0);
    return m;
}


static const char *
outcome(void)
{
    cJSON       *j = body_json();
    static char  out[32];

    snprintf(out, sizeof(out), "%s", str(j, "outcome"));
    cJSON_Delete(j);
    return out;
}


static long
answer_num(const char *key)
{
    cJSON  *j = body_json();
    long    n;

    n = cJSON_IsNull(obj(j, key)) ? -1 : num(j, key);
    cJSON_Delete(j);
    return n;
}


START_TEST(new_ticket)
{
    char  *m, id[24], *v;

    m = message(NULL, "check-mail-new@example.org", "new ticket", NULL,
                "\r\n  Line one.\r\nLine two.\r\n\r\n");
    ck_assert_int_eq(deliver(m), TK_CREATED);
    ck_assert_str_eq(outcome(), "ticket");
    ck_assert_int_gt(res.id, 0);
    snprintf(id, sizeof(id), "%lld", (long long) res.id);

    assert_q(MARK " new ticket", "SELECT title FROM tickets WHERE id = $1",
             id);
    assert_q("Line one.\r\nLine two.",
             "SELECT description FROM tickets WHERE id = $1", id);
    assert_q("2", "SELECT source FROM tickets WHERE id = $1", id);
    assert_q(MEMBER1, "SELECT requester_id FROM tickets WHERE id = $1", id);
    assert_q("ticket", "SELECT outcome FROM inbound_mail"
             " WHERE message_id = 'check-mail-new@example.org'");

    v = q("SELECT octet_length(raw) FROM inbound_mail"
          " WHERE message_id = 'check-mail-new@example.org'");
    ck_assert_int_eq(atol(v), (long) strlen(m));
    free(v);
    free(m);
}
END_TEST


START_TEST(html_reduced)
{
    char  *m, id[24];

    ck_assert_int_gt(asprintf(&m,
        "From: member1@example.com\r\nSubject: " MARK " html\r\n"
        "Message-ID: <check-mail-html@example.org>\r\n"
        "Content-Type: text/html; charset=iso-8859-1\r\n\r\n"
        "<html><head><title>T</title><style>b{}</style></head>"
        "<body><!-- hidden --><p>Caf\xe9 &lt;ok&gt; &#x263A;</p>"
        "<ul><li>one<li>two</ul><script>evil()</script>"
        "<a href=\"javascript:x\">link</a></body></html>"), 0);
    ck_assert_int_eq(deliver(m), TK_CREATED);
    snprintf(id, sizeof(id), "%lld", (long long) res.id);
    assert_q("Café <ok> \u263a\n\none\ntwo\nlink",
             "SELECT description FROM tickets WHERE id = $1", id);
    free(m);
}
END_TEST


START_TEST(quotes_trimmed)
{
    static const char *const  bodies[] = {
        /* Gmail, the attribution line wrapped */
        ("Answer one.\r\n\r\nOn Mon, 7 Dec 2026 at 10:00, Helpdesk\r\n"
         "<helpdesk@example.com> wrote:\r\n> old\r\n"),
        /* a bottom block of "> " lines */
        "Answer two.\r\n\r\n> old\r\n>\r\n> older\r\n",
        /* Outlook */
        ("Answer three.\r\n\r\n-----Original Message-----\r\n"
         "From: x\r\n"),
        ("Answer four.\r\n\r\nFrom: Helpdesk\r\nSent: Monday\r\n"
         "To: me\r\n")
    };
    static const char *const  want[] = {
        "Answer one.", "Answer two.", "Answer three.", "Answer four."
    };

    char    *m, subject[64], mid[64], tid[24];
    size_t   i;

    snprintf(tid, sizeof(tid), "%lld", (long long) ticket);

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        snprintf(subject, sizeof(subject), "Re: [Ticket #%lld]",
                 (long long) ticket);
        snprintf(mid, sizeof(mid), "check-mail-quote-%zu@example.org", i);
        m = message(NULL, mid, subject, NULL, bodies[i]);
        ck_assert_int_eq(deliver(m), TK_OK);
        ck_assert_str_eq(outcome(), "reply");
        ck_assert_int_eq(answer_num("ticketId"), ticket);
        assert_q(want[i], "SELECT message FROM conversations"
                 " WHERE ticket_id = $1 ORDER BY id DESC LIMIT 1", tid);
        free(m);
    }

    /* nothing but a quote: kept as it is */
    snprintf(subject, sizeof(subject), "Re: [Ticket #%lld]",
             (long long) ticket);
    m = message(NULL, "check-mail-quote-only@example.org", subject, NULL,
                "> only a quote\r\n");
    ck_assert_int_eq(deliver(m), TK_OK);
    assert_q("> only a quote", "SELECT message FROM conversations"
             " WHERE ticket_id = $1 ORDER BY id DESC LIMIT 1", tid);
    free(m);
}
END_TEST


START_TEST(duplicate_once)
{
    char  *m, *before;

    m = message(NULL, "check-mail-dup@example.org", "dup", NULL, "Once.\r\n");
    ck_assert_int_eq(deliver(m), TK_CREATED);
    before = q("SELECT count(*) FROM tickets");
    ck_assert_int_eq(deliver(m), TK_OK);
    ck_assert_str_eq(outcome(), "duplicate");
    assert_q(before, "SELECT count(*) FROM tickets");
    free(before);
    free(m);

    /* no Message-ID: the same bytes are the same message */
    m = message(NULL, NULL, "no id", NULL, "No id.\r\n");
    ck_assert_int_eq(deliver(m), TK_CREATED);
    ck_assert_int_eq(deliver(m), TK_OK);
    ck_assert_str_eq(outcome(), "duplicate");
    assert_q("1", "SELECT count(*) FROM tickets WHERE description = 'No id.'");
    free(m);
}
END_TEST


START_TEST(robots_ignored)
{
    static const char *const  headers[] = {
        "Auto-Submitted: auto-replied\r\n",
        "Precedence: bulk\r\n",
        "Precedence: junk\r\n",
        "List-Id: <a.list.example.org>\r\n",
        "X-Autoreply: yes\r\n"
    };

    char    *m, *before, mid[64];
    size_t   i;

    before = q("SELECT count(*) FROM tickets");

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        snprintf(mid, sizeof(mid), "check-mail-robot-%zu@example.org", i);
        m = message(NULL, mid, "Out of office", headers[i], "Away.\r\n");
        ck_assert_int_eq(deliver(m), TK_OK);
        ck_assert_str_eq(outcome(), "ignored");
        free(m);
    }

    /* Auto-Submitted: no is a person */
    m = message(NULL, "check-mail-robot-no@example.org", "person",
                "Auto-Submitted: no\r\n", "Me.\r\n");
    ck_assert_int_eq(deliver(m), TK_CREATED);
    free(m);

    /* the helpdesk's own address */
    m = message("Helpdesk <HELPDESK@localhost>",
                "check-mail-robot-self@example.org", "loop", NULL, "x\r\n");
    ck_assert_int_eq(deliver(m), TK_OK);
    ck_assert_str_eq(outcome(), "ignored");
    free(m);

    ck_assert_int_eq(qn("SELECT count(*) FROM tickets"), atol(before) + 1);
    free(before);
}
END_TEST


START_TEST(refused)
{
    char  *m, *before, *big;

    before = q("SELECT count(*) FROM inbound_mail");

    m = message("stranger@example.net", "check-mail-stranger@example.org",
                "who", NULL, "x\r\n");
    ck_assert_int_eq(deliver(m), TK_EFORBIDDEN);
    ck_assert_ptr_nonnull(strstr(res.message, "stranger@example.net"));
    free(m);

    ck_assert_int_eq(deliver("From: member1@example.com\r\n"
                             "Subject: " MARK " broken\r\n"
                             "Content-Type: multipart/mixed; boundary=zz\r\n"
                             "\r\nno parts at all\r\n"), TK_EINVAL);
    ck_assert_ptr_nonnull(strstr(res.message, "malformed MIME"));

    ck_assert_int_eq(deliver("Subject: no sender\r\n\r\nbody\r\n"), TK_EINVAL);
    ck_assert_int_eq(CALL(tk_mail_deliver(conn, "", 0, &res)), TK_EINVAL);

    exec_script(pg, "UPDATE settings SET value = '100'"
                " WHERE key = 'mail_max_bytes'");
    big = message(NULL, "check-mail-big@example.org", "big", NULL,
                  "0123456789012345678901234567890123456789"
                  "0123456789012345678901234567890123456789\r\n");
    ck_assert_int_eq(deliver(big), TK_EINVAL);
    ck_assert_ptr_nonnull(strstr(res.message, "mail_max_bytes"));
    exec_script(pg, "UPDATE settings SET value = '26214400'"
                " WHERE key = 'mail_max_bytes'");
    free(big);

    assert_q(before, "SELECT count(*) FROM inbound_mail");
    free(before);
}
END_TEST


/* The row of the mail fails: the ticket it made goes with it. */
START_TEST(all_or_nothing)
{
    char  *m, *before;

    before = q("SELECT count(*) FROM tickets");
    ck_assert(exec_script(pg,
        "CREATE FUNCTION test_mail_boom() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$;"
        "CREATE TRIGGER test_mail_boom BEFORE INSERT ON inbound_mail"
        " FOR EACH ROW EXECUTE FUNCTION test_mail_boom()"));

    m = message(NULL, "check-mail-boom@example.org", "boom", NULL, "x\r\n");
    ck_assert_int_eq(deliver(m), TK_EINTERNAL);

    ck_assert(exec_script(pg, "DROP TRIGGER test_mail_boom ON inbound_mail;"
                          "DROP FUNCTION test_mail_boom()"));

    assert_q(before, "SELECT count(*) FROM tickets");
    assert_q("0", "SELECT count(*) FROM inbound_mail"
             " WHERE message_id = 'check-mail-boom@example.org'");

    /* and once the fault is gone, it goes in */
    ck_assert_int_eq(deliver(m), TK_CREATED);
    free(before);
    free(m);
}
END_TEST


static Suite *
mail_suite(void)
{
    Suite  *s = suite_create("mail");
    TCase  *tc = add_tcase(s, "mail", db_setup, db_teardown, 30);

    tcase_add_test(tc, new_ticket);
    tcase_add_test(tc, html_reduced);
    tcase_add_test(tc, quotes_trimmed);
    tcase_add_test(tc, duplicate_once);
    tcase_add_test(tc, robots_ignored);
    tcase_add_test(tc, refused);
    tcase_add_test(tc, all_or_nothing);
    return s;
}


/* What the tests made goes, so that they can run again. */
static int
cleanup(PGconn *c)
{
    return exec_script(c,
        "BEGIN;"
        "DROP TRIGGER IF EXISTS test_mail_boom ON inbound_mail;"
        "DROP FUNCTION IF EXISTS test_mail_boom();"
        "DELETE FROM inbound_mail WHERE message_id LIKE 'check-mail-%'"
        " OR subject LIKE '" MARK "%';"
        "DELETE FROM outbox WHERE ticket_id IN (SELECT id FROM tickets"
        " WHERE title LIKE '" MARK "%' OR title LIKE 'check_mail ticket');"
        "DELETE FROM tickets WHERE title LIKE '" MARK "%'"
        " OR title = 'check_mail ticket';"
        "COMMIT");
}


static int
prepare(PGconn *c)
{
    PGresult  *r;

    if (!cleanup(c)) {
        return 0;
    }

    r = PQexec(c, "INSERT INTO tickets (title, description, requester_id,"
               " created_by_id, site_id, department_id, status_id)"
               " VALUES ('check_mail ticket', 'x', '" MEMBER1 "', '" ADMIN
               "', 1, 1, 1) RETURNING id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "check_mail: %s", PQerrorMessage(c));
        PQclear(r);
        return 0;
    }

    ticket = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 1;
}


int
main(void)
{
    return db_main(mail_suite, prepare, cleanup);
}
