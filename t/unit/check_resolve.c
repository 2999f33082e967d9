/*
 * Unit tests of close, resolve, the close link and reopen
 * (libtickets/src/resolve.c) against a real PostgreSQL: TICKETS_TEST_DB is
 * its conninfo, migrated and with the demo data loaded.  Each test makes
 * its own tickets; the settings it changes are put back before the next.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"


/* every ticket the tests make says this, so that they can go again */
#define MARK     "check_resolve ticket."

/* the settings the tests change, put back after each test */
#define SAVED_SETTINGS                                                        \
    "'closed_status_id', 'resolved_status_id', 'reopen_status_id',"         \
    " 'tpi_callback_url', 'lock_closed_after_days', 'close_link_secret',"   \
    " 'public_base_url', 'close_link_ttl_hours'"


static char  *saved;


static void
setting(const char *key, const char *value)
{
    free(q("UPDATE settings SET value = $2 WHERE key = $1", key, value));
}


/* A new ticket of requester in status, with cc (may be NULL); its id as
 * text in out. */
static void
ticket(const char *requester, int status, const char *cc, char out[24])
{
    char  st[8], *id;

    snprintf(st, sizeof(st), "%d", status);
    id = q("INSERT INTO tickets (title, description, requester_id,"
           " created_by_id, site_id, department_id, status_id, cc,"
           " resolved_on, closed_on)"
           " VALUES ('Printer smokes', '" MARK "', $1, $1, 1, 1,"
           " $2::int, $3,"
           " CASE WHEN $2::int IN (5, 6) THEN now() - interval '2 days' END,"
           " CASE WHEN $2::int = 6 THEN now() - interval '1 day' END)"
           " RETURNING id", requester, st, cc);
    ck_assert_ptr_nonnull(id);
    snprintf(out, 24, "%s", id);
    free(id);
}


static int64_t
id_of(const char *id)
{
    return strtoll(id, NULL, 10);
}


static long
count_of(const char *table, const char *id)
{
    char  sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE ticket_id = $1",
             table);
    return qn(sql, id);
}


/* What a refused write must leave as it was. */
typedef struct {
    char   *row;
    long    history, conversations, outbox, closures, resolutions, links;
} snapshot_t;

static void
snap(const char *id, snapshot_t *s)
{
    s->row = q("SELECT t::text FROM tickets t WHERE id = $1", id);
    s->history = count_of("history", id);
    s->conversations = count_of("conversations", id);
    s->outbox = count_of("outbox", id);
    s->closures = count_of("closures", id);
    s->resolutions = count_of("resolutions", id);
    s->links = count_of("close_links", id);
}

static void
assert_unchanged(const char *id, snapshot_t *before)
{
    snapshot_t  now;

    snap(id, &now);
    ck_assert_str_eq(now.row, before->row);
    ck_assert_int_eq(now.history, before->history);
    ck_assert_int_eq(now.conversations, before->conversations);
    ck_assert_int_eq(now.outbox, before->outbox);
    ck_assert_int_eq(now.closures, before->closures);
    ck_assert_int_eq(now.resolutions, before->resolutions);
    ck_assert_int_eq(now.links, before->links);
    free(now.row);
    free(before->row);
}


static int
do_close(tk_principal_t p, int64_t id, tk_form_t *f)
{
    int  rc;

    rc = CALL(tk_ticket_close(conn, &p, id, f, NULL, &res));
    tk_form_free(f);
    return rc;
}


static int
do_resolve(tk_principal_t p, int64_t id, tk_form_t *f)
{
    int  rc;

    rc = CALL(tk_ticket_resolve(conn, &p, id, f, NULL, &res));
    tk_form_free(f);
    return rc;
}


static int
do_reopen(tk_principal_t p, int64_t id)
{
    return CALL(tk_ticket_reopen(conn, &p, id, NULL, &res));
}


static int
do_confirm(const char *guid, const char *token)
{
    return CALL(tk_ticket_confirm(conn, guid, token, &res));
}


static int
do_confirm_page(const char *guid, const char *token)
{
    return CALL(tk_ticket_confirm_page(conn, guid, token, &res));
}


/* The answer is a validation error on exactly these fields (NULL
 * terminated). */
static void
assert_errors(const char *field, ...)
{
    cJSON        *e;
    const cJSON  *it;
    va_list       ap;
    int           n = 0, want = 0;

    ck_assert_int_eq(res.code, TK_EINVAL);
    e = validation_errors();

    va_start(ap, field);
    for (; field != NULL; field = va_arg(ap, const char *)) {
        it = cJSON_GetObjectItemCaseSensitive(e, field);
        ck_assert_msg(cJSON_IsArray(it) && cJSON_GetArraySize(it) >= 1,
                      "no error for %s in %s", field, res.errors);
        want++;
    }
    va_end(ap);

    cJSON_ArrayForEach(it, e) {
        n++;
    }
    ck_assert_msg(n == want, "errors %s: %d fields, want %d", res.errors,
                  n, want);
    cJSON_Delete(e);
}


/* The close link of the ticket's latest Resolved email. */
static char *
close_link(const char *id)
{
    return q("SELECT payload->>'closeLink' FROM outbox WHERE ticket_id = $1"
             " AND channel = 'email' AND event = 'Resolved'"
             " ORDER BY id DESC LIMIT 1", id);
}


static const char *
token_of(const char *link)
{
    const char  *t = strstr(link, "?token=");

    ck_assert_ptr_nonnull(t);
    return t + 7;
}


/*
 * A history value as text to compare: 'ISO' for a date as iso_utc()
 * writes it (it must also parse as one), else the value itself.
 */
#define ISO(v)                                                                \
    "CASE WHEN " v " ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"        \
    "[0-9]{2}Z$' THEN CASE WHEN (" v ")::timestamptz IS NOT NULL"             \
    " THEN 'ISO' END ELSE " v " END"

/* The latest history row of field on the ticket holds the ticket's date
 * column col as it is now, as iso_utc() writes it (both NULL: equal). */
static void
assert_date_history(const char *id, const char *field, const char *col)
{
    char   sql[320], *got;

    snprintf(sql, sizeof(sql), "SELECT h.new_value IS NOT DISTINCT FROM"
             " iso_utc(t.%s) FROM history h JOIN tickets t"
             " ON t.id = h.ticket_id WHERE h.ticket_id = $1::bigint"
             " AND h.field = $2 ORDER BY h.id DESC LIMIT 1", col);
    got = q(sql, id, field);
    ck_assert_msg(got != NULL && strcmp(got, "t") == 0, "ticket %s: the "
                  "last %s row is %s, not the ticket's %s", id, field,
                  got ? "another date" : "missing", col);
    free(got);
}


/* The saved settings back: a failed test ends without its teardown. */
static int
restore(PGconn *c)
{
    const char  *v[1] = { saved };
    char        *out;

    if (!sql_value(c, "UPDATE settings s SET value = j.value FROM"
                   " json_each_text($1::json) j WHERE s.key = j.key",
                   1, v, &out))
    {
        fprintf(stderr, "check_resolve: restore: %s", PQerrorMessage(c));
        return 0;
    }

    return 1;
}


static void
setup(void)
{
    db_setup();
    restore(pg);
}


static void
teardown(void)
{
    restore(pg);
    db_teardown();
}


/* Close ------------------------------------------------------------------ */

START_TEST(close_ok)
{
    char  id[24];

    ticket(MEMBER1, 2, "boss@example.com; Member1@example.com, x@example.org",
           id);

    ck_assert_int_eq(do_close(TECH1_P, id_of(id),
                              form("TicketId", id, "CloseBy", TECH2,
                                   "Comments", "Replaced the fuser.",
                                   "ClosureComments", "Spare part used.",
                                   "Status", "cancelled",
                                   "ClosingDate", "2026-11-30T10:15:00+01:00",
                                   "Acknowledged", "true", NULL)),
                     TK_NO_CONTENT);
    ck_assert_ptr_null(res.body);

    assert_q("6|2|t", "SELECT format('%s|%s|%s', status_id, version,"
                      " closed_on > now() - interval '1 minute')"
                      " FROM tickets WHERE id = $1", id);
    assert_q("2|Replaced the fuser.|Spare part used.|" TECH2
             "|2026-11-30T09:15:00Z|t",
             "SELECT format('%s|%s|%s|%s|%s|%s', status, comments,"
             " closure_comments, closed_by_id, iso_utc(closing_date),"
             " acknowledged) FROM closures WHERE ticket_id = $1", id);
    assert_q("Closure|Replaced the fuser.|" TECH1,
             "SELECT string_agg(format('%s|%s|%s', type, message,"
             " created_by_id), ',') FROM conversations WHERE ticket_id = $1",
             id);
    /* the status, then the date it sets; resolvedOn stays unset */
    assert_q("status|In Progress|Closed|" TECH1 ",closedOn||ISO|" TECH1,
             "SELECT string_agg(format('%s|%s|%s|%s', field, old_value, "
             ISO("new_value") ", changed_by_id), ',' ORDER BY id)"
             " FROM history WHERE ticket_id = $1", id);
    assert_date_history(id, "closedOn", "closed_on");

    /* the requester and each Cc once, whatever their case */
    assert_q("email|Closed|{member1@example.com,boss@example.com,"
             "x@example.org}",
             "SELECT string_agg(format('%s|%s|%s', channel, event,"
             " recipients), ',') FROM outbox WHERE ticket_id = $1", id);
    assert_q("t|Replaced the fuser.|t",
             "SELECT format('%s|%s|%s',"
             " payload->'ticketId' = to_jsonb($1::int),"
             " payload->>'message', payload->>'subject' LIKE '%closed%')"
             " FROM outbox WHERE ticket_id = $1::bigint", id);
}
END_TEST


START_TEST(close_defaults)
{
    char  id[24];

    ticket(MEMBER1, 5, "boss@example.com", id);

    /* field names in any case; Status by number */
    ck_assert_int_eq(do_close(ADMIN_P, id_of(id),
                              form("ticketid", id, "closeby", ADMIN,
                                   "status", "4", NULL)),
                     TK_NO_CONTENT);

    assert_q("4|||t|f",
             "SELECT format('%s|%s|%s|%s|%s', status, comments,"
             " closure_comments, closing_date > now() - interval '1 minute',"
             " acknowledged) FROM closures WHERE ticket_id = $1", id);
    /* resolved_on stays: the ticket was resolved before it was closed */
    assert_q("6|t|t",
             "SELECT format('%s|%s|%s', status_id, resolved_on IS NOT NULL,"
             " closed_on > now() - interval '1 minute')"
             " FROM tickets WHERE id = $1", id);
    /* so it has no history row, closedOn has one */
    assert_q("status|Resolved|Closed|" ADMIN ",closedOn||ISO|" ADMIN,
             "SELECT string_agg(format('%s|%s|%s|%s', field, old_value, "
             ISO("new_value") ", changed_by_id), ',' ORDER BY id)"
             " FROM history WHERE ticket_id = $1", id);
    assert_date_history(id, "closedOn", "closed_on");
    assert_q("Closure|t", "SELECT format('%s|%s', type, message IS NULL)"
                          " FROM conversations WHERE ticket_id = $1", id);
    /* no email without Acknowledged */
    ck_assert_int_eq(count_of("outbox", id), 0);
}
END_TEST


START_TEST(close_validation)
{
    snapshot_t  s;
    char        id[24], other[24];

    ticket(MEMBER1, 1, NULL, id);
    ticket(MEMBER1, 1, NULL, other);
    snap(id, &s);

    do_close(ADMIN_P, id_of(id), form(NULL));
    assert_errors("TicketId", "CloseBy", NULL);

    do_close(ADMIN_P, id_of(id), form("TicketId", " ", "CloseBy", "",
                                      NULL));
    assert_errors("TicketId", "CloseBy", NULL);

    do_close(ADMIN_P, id_of(id), form("TicketId", other, "CloseBy", ADMIN,
                                      NULL));
    assert_errors("TicketId", NULL);
    ck_assert_ptr_nonnull(strstr(res.errors, "must match"));

    do_close(ADMIN_P, id_of(id), form("TicketId", "12abc", "CloseBy", ADMIN,
                                      NULL));
    assert_errors("TicketId", NULL);

    do_close(ADMIN_P, id_of(id), form("TicketId", id, "CloseBy", "nobody",
                                      NULL));
    assert_errors("CloseBy", NULL);
    ck_assert_ptr_nonnull(strstr(res.errors, "Unknown CloseBy nobody."));

    do_close(ADMIN_P, id_of(id), form("TicketId", id, "CloseBy", ADMIN,
                                      "Status", "5", "ClosingDate",
                                      "yesterday", "Acknowledged", "maybe",
                                      NULL));
    assert_errors("Status", "ClosingDate", "Acknowledged", NULL);

    do_close(ADMIN_P, id_of(id), form("TicketId", id, "CloseBy", "\xff",
                                      "Comments", "caf\xc3", "Status",
                                      "Bogus", NULL));
    assert_errors("CloseBy", "Comments", "Status", NULL);

    /* validation comes before the ticket is looked at */
    do_close(ADMIN_P, 999999999, form("TicketId", "999999999", NULL));
    assert_errors("CloseBy", NULL);

    assert_unchanged(id, &s);
}
END_TEST


START_TEST(close_refused)
{
    tk_principal_t  p;
    snapshot_t      s;
    char            id[24], mine[24];

    ticket(MEMBER1, 1, NULL, id);
    ticket(MEMBER2, 1, NULL, mine);
    snap(id, &s);

    p = TECH1_P;
    p.perms &= ~TK_PERM_CLOSE;
    ck_assert_int_eq(do_close(p, id_of(id), form("TicketId", id, "CloseBy",
                                                 TECH1, NULL)),
                     TK_EFORBIDDEN);

    ck_assert_int_eq(do_close(ADMIN_P, 999999999,
                              form("TicketId", "999999999", "CloseBy", ADMIN,
                                   NULL)),
                     TK_ENOTFOUND);

    /* another's ticket is unknown to a Member, even with the permission */
    p = principal(MEMBER2, NULL, TK_ROLE_MEMBER, TK_PERM_CLOSE);
    ck_assert_int_eq(do_close(p, id_of(id), form("TicketId", id, "CloseBy",
                                                 MEMBER2, NULL)),
                     TK_ENOTFOUND);
    /* and a Member closes in their own name only */
    ck_assert_int_eq(do_close(p, id_of(mine), form("TicketId", mine,
                                                   "CloseBy", TECH1, NULL)),
                     TK_EFORBIDDEN);
    assert_unchanged(id, &s);

    ck_assert_int_eq(do_close(p, id_of(mine), form("TicketId", mine,
                                                   "CloseBy", MEMBER2,
                                                   NULL)),
                     TK_NO_CONTENT);

    /* a deleted ticket is unknown */
    free(q("UPDATE tickets SET is_deleted = true, deleted_on = now()"
           " WHERE id = $1", id));
    snap(id, &s);
    ck_assert_int_eq(do_close(ADMIN_P, id_of(id),
                              form("TicketId", id, "CloseBy", ADMIN, NULL)),
                     TK_ENOTFOUND);
    assert_unchanged(id, &s);
}
END_TEST


START_TEST(close_already)
{
    snapshot_t  s;
    char        id[24];

    ticket(MEMBER1, 6, "boss@example.com", id);
    snap(id, &s);

    ck_assert_int_eq(do_close(ADMIN_P, id_of(id),
                              form("TicketId", id, "CloseBy", ADMIN,
                                   "Acknowledged", "true", "Comments", "x",
                                   NULL)),
                     TK_OK);
    ck_assert_str_eq(res.body, "{\"message\":\"Ticket was already closed.\"}");
    ck_assert_uint_eq(res.body_len, strlen(res.body));
    ck_assert_str_eq(res.content_type, "");

    assert_unchanged(id, &s);
}
END_TEST


START_TEST(close_no_status)
{
    snapshot_t  s;
    char        id[24];

    ticket(MEMBER1, 1, NULL, id);
    snap(id, &s);

    /* the closure row is written before the status: it must go too */
    setting("closed_status_id", NULL);
    ck_assert_int_eq(do_close(ADMIN_P, id_of(id),
                              form("TicketId", id, "CloseBy", ADMIN,
                                   "Acknowledged", "yes", NULL)),
                     TK_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(res.message, "no Closed status"));
    assert_unchanged(id, &s);
}
END_TEST


START_TEST(close_uploads)
{
    tk_form_t  *f;
    char        id[24];

    ticket(MEMBER1, 1, NULL, id);

    f = form("TicketId", id, "CloseBy", ADMIN, NULL);
    ck_assert_int_eq(tk_form_file_begin(f, "Uploads", 7, "report.txt", 10,
                                        "text/plain", 10), TK_OK);
    ck_assert_int_eq(tk_form_file_append(f, "hello", 5), TK_OK);
    ck_assert_int_eq(tk_form_file_begin(f, "Uploads", 7, "evil.exe", 8,
                                        "application/x-msdownload", 24),
                     TK_OK);
    ck_assert_int_eq(tk_form_file_append(f, "MZ", 2), TK_OK);

    ck_assert_int_eq(do_close(ADMIN_P, id_of(id), f), TK_NO_CONTENT);

    /* the allowed file, on the closure conversation; the other skipped */
    assert_q("report.txt|2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e730"
             "43362938b9824|Closure",
             "SELECT string_agg(format('%s|%s|%s', a.file_name, a.sha256,"
             " c.type), ',') FROM attachments a"
             " JOIN conversations c ON c.id = a.conversation_id"
             " WHERE a.ticket_id = $1", id);
    ck_assert_int_eq(count_of("attachments", id), 1);
}
END_TEST


/* Resolve ---------------------------------------------------------------- */

START_TEST(resolve_ok)
{
    char  id[24], *guid, *link, want[256];

    ticket(MEMBER1, 1, "boss@example.com", id);
    guid = q("SELECT guid FROM tickets WHERE id = $1", id);

    ck_assert_int_eq(do_resolve(TECH1_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH2,
                                     "Resolution", "Cleaned the rollers.",
                                     NULL)),
                     TK_NO_CONTENT);
    ck_assert_ptr_null(res.body);

    assert_q("5|2|t|t",
             "SELECT format('%s|%s|%s|%s', status_id, version,"
             " resolved_on > now() - interval '1 minute', closed_on IS NULL)"
             " FROM tickets WHERE id = $1", id);
    assert_q("Cleaned the rollers.|" TECH2 "|t",
             "SELECT format('%s|%s|%s', resolution, resolved_by_id,"
             " resolved_on > now() - interval '1 minute') FROM resolutions"
             " WHERE ticket_id = $1", id);
    assert_q("Resolution|Cleaned the rollers.|" TECH1,
             "SELECT string_agg(format('%s|%s|%s', type, message,"
             " created_by_id), ',') FROM conversations WHERE ticket_id = $1",
             id);
    assert_q("resolution||Cleaned the rollers.|" TECH1
             ",status|Open|Resolved|" TECH1 ",resolvedOn||ISO|" TECH1,
             "SELECT string_agg(format('%s|%s|%s|%s', field, old_value, "
             ISO("new_value") ", changed_by_id), ',' ORDER BY id)"
             " FROM history WHERE ticket_id = $1", id);
    assert_date_history(id, "resolvedOn", "resolved_on");

    /* one email with the close link, no TPI callback when none is set */
    assert_q("email|Resolved|{member1@example.com,boss@example.com}",
             "SELECT string_agg(format('%s|%s|%s', channel, event,"
             " recipients), ',') FROM outbox WHERE ticket_id = $1", id);
    assert_q("t|Printer smokes|Cleaned the rollers.",
             "SELECT format('%s|%s|%s',"
             " payload->'ticketId' = to_jsonb($1::int),"
             " payload->>'title', payload->>'message')"
             " FROM outbox WHERE ticket_id = $1::bigint", id);

    link = close_link(id);
    ck_assert_ptr_nonnull(link);
    snprintf(want, sizeof(want),
             "http://127.0.0.1:8080/api/TicketsApi/confirm/%s?token=", guid);
    ck_assert_msg(strncmp(link, want, strlen(want)) == 0, "link %s", link);
    ck_assert_uint_eq(strlen(token_of(link)), 54);
    ck_assert_uint_eq(strspn(token_of(link), "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz0123456789-_"), 54);

    /* only the hash of the token is kept, for a week by default */
    assert_q("1|t|t",
             "SELECT format('%s|%s|%s', count(*), bool_and(used_on IS NULL),"
             " bool_and(expires_on BETWEEN now() + interval '167 hours'"
             " AND now() + interval '169 hours')) FROM close_links"
             " WHERE ticket_id = $1", id);
    ck_assert_int_eq(qn("SELECT count(*) FROM close_links"
                        " WHERE ticket_id = $1::bigint AND token_sha256 ="
                        " encode(sha256(convert_to($2, 'UTF8')), 'hex')",
                        id, token_of(link)), 1);

    free(link);
    free(guid);
}
END_TEST


START_TEST(resolve_tpi)
{
    char  id[24], *guid, *link, want[256];

    setting("tpi_callback_url", "http://127.0.0.1:9/tpi");
    setting("public_base_url", "https://help.example.com/");
    setting("close_link_ttl_hours", "2");

    ticket(MEMBER1, 3, NULL, id);
    guid = q("SELECT guid FROM tickets WHERE id = $1", id);

    ck_assert_int_eq(do_resolve(ADMIN_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH1,
                                     "Resolution", "Rebooted.", NULL)),
                     TK_NO_CONTENT);

    assert_q("email|Resolved|{member1@example.com},tpi|Resolved|{}",
             "SELECT string_agg(format('%s|%s|%s', channel, event,"
             " recipients), ',' ORDER BY channel) FROM outbox"
             " WHERE ticket_id = $1", id);

    snprintf(want, sizeof(want), "t|%s|Resolved|Rebooted.|" TECH1 "|t",
             guid);
    assert_q(want,
             "SELECT format('%s|%s|%s|%s|%s|%s', payload->'ticketId'"
             " = to_jsonb($1::int), payload->>'guid', payload->>'status',"
             " payload->>'resolution', payload->>'resolvedBy',"
             " payload->>'resolvedOn' = iso_utc(r.resolved_on))"
             " FROM outbox o JOIN resolutions r ON r.ticket_id = o.ticket_id"
             " WHERE o.ticket_id = $1::bigint AND channel = 'tpi'", id);

    /* no double slash after the base URL; the lifetime of the setting */
    link = close_link(id);
    snprintf(want, sizeof(want),
             "https://help.example.com/api/TicketsApi/confirm/%s?token=",
             guid);
    ck_assert_msg(link != NULL && strncmp(link, want, strlen(want)) == 0,
                  "link %s", link);
    assert_q("t",
             "SELECT bool_and(expires_on BETWEEN now() + interval '119 min'"
             " AND now() + interval '121 min') FROM close_links"
             " WHERE ticket_id = $1", id);

    free(link);
    free(guid);
}
END_TEST


START_TEST(resolve_again)
{
    snapshot_t  s;
    char        id[24], *first, *second;

    ticket(MEMBER1, 1, NULL, id);

    ck_assert_int_eq(do_resolve(ADMIN_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH1,
                                     "Resolution", "Rebooted.", NULL)),
                     TK_NO_CONTENT);
    first = close_link(id);
    snap(id, &s);

    /* the same text: nothing at all happens */
    ck_assert_int_eq(do_resolve(ADMIN_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH2,
                                     "Resolution", "Rebooted.", NULL)),
                     TK_OK);
    ck_assert_str_eq(res.body,
                     "{\"message\":\"Ticket was already resolved.\"}");
    assert_unchanged(id, &s);

    /* another text: the one resolution changes, a new link replaces the
     * old one */
    ck_assert_int_eq(do_resolve(ADMIN_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH2,
                                     "Resolution", "Replaced the PSU.",
                                     NULL)),
                     TK_NO_CONTENT);
    assert_q("1|Replaced the PSU.|" TECH2,
             "SELECT format('%s|%s|%s', count(*), min(resolution),"
             " min(resolved_by_id)) FROM resolutions WHERE ticket_id = $1",
             id);
    assert_q("5", "SELECT status_id FROM tickets WHERE id = $1", id);
    /* resolved again: resolvedOn moves, the status does not */
    assert_q("resolution||Rebooted.,status|Open|Resolved,resolvedOn||ISO,"
             "resolution|Rebooted.|Replaced the PSU.,resolvedOn|ISO|ISO",
             "SELECT string_agg(format('%s|%s|%s', field, " ISO("old_value")
             ", " ISO("new_value") "), ',' ORDER BY id) FROM history"
             " WHERE ticket_id = $1", id);
    assert_date_history(id, "resolvedOn", "resolved_on");
    assert_q("Rebooted.,Replaced the PSU.",
             "SELECT string_agg(message, ',' ORDER BY id) FROM conversations"
             " WHERE ticket_id = $1 AND type = 'Resolution'", id);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id = $1",
                        id), 2);

    second = close_link(id);
    ck_assert_str_ne(first, second);
    assert_q("false,true",
             "SELECT string_agg((expires_on > now())::text, ',' ORDER BY id)"
             " FROM close_links WHERE ticket_id = $1", id);

    ck_assert_int_eq(do_confirm(strstr(first, "confirm/") + 8,
                                token_of(first)), TK_EINVAL);
    free(first);
    free(second);
}
END_TEST


/* Resolving a Closed ticket that is not locked reopens it as Resolved:
 * resolvedOn moves, closedOn is cleared, each with its history row. */
START_TEST(resolve_closed)
{
    char  id[24], *resolved_on, *closed_on, want[256];

    setting("lock_closed_after_days", "7");
    ticket(MEMBER1, 6, NULL, id);
    resolved_on = q("SELECT iso_utc(resolved_on) FROM tickets"
                    " WHERE id = $1", id);
    closed_on = q("SELECT iso_utc(closed_on) FROM tickets WHERE id = $1",
                  id);
    ck_assert_ptr_nonnull(resolved_on);
    ck_assert_ptr_nonnull(closed_on);

    ck_assert_int_eq(do_resolve(TECH1_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH1,
                                     "Resolution", "Fixed again.", NULL)),
                     TK_NO_CONTENT);

    assert_q("5|t|t",
             "SELECT format('%s|%s|%s', status_id,"
             " resolved_on > now() - interval '1 minute', closed_on IS NULL)"
             " FROM tickets WHERE id = $1", id);
    assert_q("resolution||Fixed again.|" TECH1
             ",status|Closed|Resolved|" TECH1
             ",resolvedOn|ISO|ISO|" TECH1 ",closedOn|ISO||" TECH1,
             "SELECT string_agg(format('%s|%s|%s|%s', field, "
             ISO("old_value") ", " ISO("new_value") ", changed_by_id), ','"
             " ORDER BY id) FROM history WHERE ticket_id = $1", id);
    assert_date_history(id, "resolvedOn", "resolved_on");
    assert_date_history(id, "closedOn", "closed_on");

    /* the old values are the dates the ticket had */
    snprintf(want, sizeof(want), "%s|%s", resolved_on, closed_on);
    assert_q(want, "SELECT format('%s|%s', (SELECT old_value FROM history"
                   " WHERE ticket_id = $1 AND field = 'resolvedOn'),"
                   " (SELECT old_value FROM history"
                   " WHERE ticket_id = $1 AND field = 'closedOn'))", id);

    free(resolved_on);
    free(closed_on);
}
END_TEST


START_TEST(resolve_validation)
{
    snapshot_t  s;
    char        id[24], other[24];

    ticket(MEMBER1, 1, NULL, id);
    ticket(MEMBER1, 1, NULL, other);
    snap(id, &s);

    do_resolve(ADMIN_P, id_of(id), form(NULL));
    assert_errors("TicketId", "ResolvedBy", "Resolution", NULL);

    do_resolve(ADMIN_P, id_of(id), form("TicketId", id, "ResolvedBy", TECH1,
                                        "Resolution", " \r\n", NULL));
    assert_errors("Resolution", NULL);

    do_resolve(ADMIN_P, id_of(id), form("TicketId", other, "ResolvedBy",
                                        "ghost", "Resolution", "x", NULL));
    assert_errors("TicketId", "ResolvedBy", NULL);

    do_resolve(ADMIN_P, id_of(id), form("TicketId", "-1", "ResolvedBy",
                                        TECH1, "Resolution", "\xc3\x28",
                                        NULL));
    assert_errors("TicketId", "Resolution", NULL);

    assert_unchanged(id, &s);
}
END_TEST


START_TEST(resolve_refused)
{
    tk_principal_t  p;
    snapshot_t      s;
    char            id[24], closed[24];

    ticket(MEMBER1, 1, NULL, id);
    snap(id, &s);

    p = TECH1_P;
    p.perms &= ~TK_PERM_RESOLVE;
    ck_assert_int_eq(do_resolve(p, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH1,
                                     "Resolution", "x", NULL)),
                     TK_EFORBIDDEN);

    ck_assert_int_eq(do_resolve(ADMIN_P, 999999999,
                                form("TicketId", "999999999", "ResolvedBy",
                                     TECH1, "Resolution", "x", NULL)),
                     TK_ENOTFOUND);

    p = principal(MEMBER2, NULL, TK_ROLE_MEMBER, TK_PERM_ALL);
    ck_assert_int_eq(do_resolve(p, id_of(id),
                                form("TicketId", id, "ResolvedBy", MEMBER2,
                                     "Resolution", "x", NULL)),
                     TK_ENOTFOUND);

    /* the resolution row comes before the status: it must go too */
    setting("resolved_status_id", "");
    ck_assert_int_eq(do_resolve(ADMIN_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH1,
                                     "Resolution", "x", NULL)),
                     TK_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(res.message, "no Resolved status"));
    setting("resolved_status_id", "5");

    setting("close_link_secret", NULL);
    ck_assert_int_eq(do_resolve(ADMIN_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH1,
                                     "Resolution", "x", NULL)),
                     TK_ECONFLICT);
    assert_unchanged(id, &s);

    /* resolving would reopen a locked ticket */
    setting("lock_closed_after_days", "0");
    ticket(MEMBER1, 6, NULL, closed);
    snap(closed, &s);
    setting("close_link_secret", "0123456789abcdef0123456789abcdef");
    ck_assert_int_eq(do_resolve(ADMIN_P, id_of(closed),
                                form("TicketId", closed, "ResolvedBy", TECH1,
                                     "Resolution", "x", NULL)),
                     TK_ECONFLICT);
    ck_assert_str_eq(res.message, "Ticket is locked");
    assert_unchanged(closed, &s);
}
END_TEST


/* The close link ------------------------------------------------------- */

/* A resolved ticket of member1: its id, guid and close link. */
static void
resolved(char id[24], char **guid, char **link)
{
    ticket(MEMBER1, 2, "boss@example.com", id);
    ck_assert_int_eq(do_resolve(TECH1_P, id_of(id),
                                form("TicketId", id, "ResolvedBy", TECH1,
                                     "Resolution", "Fixed.", NULL)),
                     TK_NO_CONTENT);
    *guid = q("SELECT guid FROM tickets WHERE id = $1", id);
    *link = close_link(id);
    ck_assert_ptr_nonnull(*link);
}


static void
assert_page(int code, const char *text)
{
    ck_assert_int_eq(res.code, code);
    ck_assert_str_eq(res.content_type, "text/html; charset=utf-8");
    ck_assert_ptr_nonnull(res.body);
    ck_assert_uint_eq(strlen(res.body), res.body_len);
    ck_assert_msg(strncmp(res.body, "<!DOCTYPE html>", 15) == 0, "%s",
                  res.body);
    ck_assert_msg(strstr(res.body, text) != NULL, "%s not in %s", text,
                  res.body);
}


START_TEST(confirm_ok)
{
    snapshot_t  s;
    char        id[24], *guid, *link, text[96];
    long        outbox;

    resolved(id, &guid, &link);
    outbox = count_of("outbox", id);

    ck_assert_int_eq(do_confirm(guid, token_of(link)), TK_OK);
    snprintf(text, sizeof(text), "Thank you \xe2\x80\x94 ticket #%s is "
             "closed.", id);
    assert_page(TK_OK, text);

    /* closed, acknowledged by the requester, and no email about it */
    assert_q("6|3|t", "SELECT format('%s|%s|%s', status_id, version,"
                      " closed_on > now() - interval '1 minute')"
                      " FROM tickets WHERE id = $1", id);
    assert_q("0|" MEMBER1 "|t",
             "SELECT format('%s|%s|%s', status, closed_by_id, acknowledged)"
             " FROM closures WHERE ticket_id = $1", id);
    assert_q("Closure|" MEMBER1,
             "SELECT format('%s|%s', type, created_by_id) FROM conversations"
             " WHERE ticket_id = $1 ORDER BY id DESC LIMIT 1", id);
    assert_q("Resolved|Closed|" MEMBER1,
             "SELECT format('%s|%s|%s', old_value, new_value, changed_by_id)"
             " FROM history WHERE ticket_id = $1 AND field = 'status'"
             " ORDER BY id DESC LIMIT 1", id);
    /* after the resolution's rows: the status and closedOn, by the
     * requester; resolvedOn stays as the resolution set it */
    assert_q("status|In Progress|Resolved|" TECH1
             ",resolvedOn||ISO|" TECH1
             ",status|Resolved|Closed|" MEMBER1 ",closedOn||ISO|" MEMBER1,
             "SELECT string_agg(format('%s|%s|%s|%s', field, old_value, "
             ISO("new_value") ", changed_by_id), ',' ORDER BY id)"
             " FROM history WHERE ticket_id = $1 AND field <> 'resolution'",
             id);
    assert_date_history(id, "closedOn", "closed_on");
    assert_date_history(id, "resolvedOn", "resolved_on");
    ck_assert_int_eq(count_of("outbox", id), outbox);
    assert_q("t",
             "SELECT used_on > now() - interval '1 minute' FROM close_links"
             " WHERE ticket_id = $1", id);

    /* once only */
    snap(id, &s);
    ck_assert_int_eq(do_confirm(guid, token_of(link)), TK_EINVAL);
    assert_page(TK_EINVAL, "not valid");
    assert_unchanged(id, &s);

    free(guid);
    free(link);
}
END_TEST


/* The GET of the link: a page whose form posts the token; nothing used. */
START_TEST(confirm_page)
{
    snapshot_t  s;
    char        id[24], *guid, *link, input[160];
    const char *token;

    resolved(id, &guid, &link);
    token = token_of(link);
    snap(id, &s);

    ck_assert_int_eq(do_confirm_page(guid, token), TK_OK);
    assert_page(TK_OK, "<form method=\"post\" action=\"\">");
    snprintf(input, sizeof(input), "<input type=\"hidden\" name=\"token\" "
             "value=\"%s\">", token);
    assert_page(TK_OK, input);
    ck_assert_int_eq(do_confirm_page(guid, token), TK_OK);
    assert_unchanged(id, &s);
    assert_q("t", "SELECT bool_and(used_on IS NULL) FROM close_links"
                  " WHERE ticket_id = $1", id);

    /* refused as the POST refuses, and the token never shown then */
    ck_assert_int_eq(do_confirm_page(guid, "AAAA"), TK_EINVAL);
    assert_page(TK_EINVAL, "not valid");
    ck_assert_ptr_null(strstr(res.body, "AAAA"));
    ck_assert_int_eq(do_confirm_page(guid, NULL), TK_EINVAL);
    ck_assert_int_eq(do_confirm_page("not-a-guid", token), TK_EINVAL);

    /* the POST closes; then the GET says the link is used */
    ck_assert_int_eq(do_confirm(guid, token), TK_OK);
    ck_assert_int_eq(do_confirm_page(guid, token), TK_EINVAL);
    assert_page(TK_EINVAL, "not valid");

    free(guid);
    free(link);
}
END_TEST


START_TEST(confirm_bad)
{
    snapshot_t  s;
    char        id[24], other[24], *guid, *link, *oguid, *token, braced[64];
    size_t      n;

    resolved(id, &guid, &link);
    ticket(MEMBER1, 5, NULL, other);
    oguid = q("SELECT guid FROM tickets WHERE id = $1", other);
    snap(id, &s);

    token = strdup(token_of(link));
    n = strlen(token);

    /* one character changed: refused by the signature */
    token[n / 2] = token[n / 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(do_confirm(guid, token), TK_EINVAL);
    assert_page(TK_EINVAL, "not valid");
    token[n / 2] = token_of(link)[n / 2];

    ck_assert_int_eq(do_confirm(guid, NULL), TK_EINVAL);
    assert_page(TK_EINVAL, "not valid");
    ck_assert_int_eq(do_confirm(guid, ""), TK_EINVAL);
    token[n - 1] = '\0';
    ck_assert_int_eq(do_confirm(guid, token), TK_EINVAL);
    token[n - 1] = token_of(link)[n - 1];
    ck_assert_int_eq(do_confirm(guid, "not base64!"), TK_EINVAL);

    /* the token of one ticket on another */
    ck_assert_int_eq(do_confirm(oguid, token), TK_EINVAL);
    ck_assert_int_eq(do_confirm("not-a-guid", token), TK_EINVAL);
    ck_assert_int_eq(do_confirm(NULL, token), TK_EINVAL);
    assert_page(TK_EINVAL, "not valid");

    /* another secret now: every link made before is refused */
    setting("close_link_secret", "another secret of thirty-two bytes!!");
    ck_assert_int_eq(do_confirm(guid, token), TK_EINVAL);
    setting("close_link_secret", NULL);
    ck_assert_int_eq(do_confirm(guid, token), TK_EINVAL);
    restore(pg);

    /* expired */
    free(q("UPDATE close_links SET expires_on = now() - interval '1s'"
           " WHERE ticket_id = $1", id));
    ck_assert_int_eq(do_confirm(guid, token), TK_EINVAL);
    assert_page(TK_EINVAL, "not valid");
    free(q("UPDATE close_links SET expires_on = now() + interval '1 hour'"
           " WHERE ticket_id = $1", id));
    free(s.row);
    snap(id, &s);

    /* deleted */
    free(q("UPDATE tickets SET is_deleted = true, deleted_on = now()"
           " WHERE id = $1", id));
    ck_assert_int_eq(do_confirm(guid, token), TK_EINVAL);
    free(q("UPDATE tickets SET is_deleted = false, deleted_on = NULL"
           " WHERE id = $1", id));
    assert_unchanged(id, &s);

    /* the guid in braces and upper case is the same guid */
    snprintf(braced, sizeof(braced), "{%s}", guid);
    for (n = 0; braced[n] != '\0'; n++) {
        braced[n] = (char) (braced[n] >= 'a' && braced[n] <= 'f'
                            ? braced[n] - 32 : braced[n]);
    }
    ck_assert_int_eq(do_confirm(braced, token), TK_OK);
    assert_q("6", "SELECT status_id FROM tickets WHERE id = $1", id);

    free(token);
    free(oguid);
    free(guid);
    free(link);
}
END_TEST


START_TEST(confirm_closed_or_reopened)
{
    snapshot_t  s;
    char        id[24], *guid, *link, text[64];

    /* closed by staff meanwhile: a friendly page, the link is used up */
    resolved(id, &guid, &link);
    ck_assert_int_eq(do_close(ADMIN_P, id_of(id),
                              form("TicketId", id, "CloseBy", ADMIN, NULL)),
                     TK_NO_CONTENT);
    snap(id, &s);
    ck_assert_int_eq(do_confirm(guid, token_of(link)), TK_OK);
    snprintf(text, sizeof(text), "Ticket #%s is closed already.", id);
    assert_page(TK_OK, text);
    assert_q("t", "SELECT used_on IS NOT NULL FROM close_links"
                  " WHERE ticket_id = $1", id);
    s.links = count_of("close_links", id);
    assert_unchanged(id, &s);
    assert_q("f",
             "SELECT acknowledged FROM closures WHERE ticket_id = $1", id);
    ck_assert_int_eq(do_confirm(guid, token_of(link)), TK_EINVAL);
    free(guid);
    free(link);

    /* reopened meanwhile: the link died with the resolution */
    resolved(id, &guid, &link);
    ck_assert_int_eq(do_reopen(TECH1_P, id_of(id)), TK_NO_CONTENT);
    snap(id, &s);
    ck_assert_int_eq(do_confirm(guid, token_of(link)), TK_EINVAL);
    assert_page(TK_EINVAL, "not valid");
    assert_unchanged(id, &s);
    free(guid);
    free(link);

    /* moved out of Resolved some other way: not closed by the link */
    resolved(id, &guid, &link);
    free(q("UPDATE tickets SET status_id = 3 WHERE id = $1", id));
    snap(id, &s);
    ck_assert_int_eq(do_confirm(guid, token_of(link)), TK_EINVAL);
    assert_page(TK_EINVAL, "reopened");
    assert_unchanged(id, &s);
    free(guid);
    free(link);
}
END_TEST


/* Reopen ----------------------------------------------------------------- */

START_TEST(reopen_ok)
{
    char  id[24], closed[24], want[256], *was;

    ticket(MEMBER1, 5, NULL, id);
    was = q("SELECT iso_utc(resolved_on) FROM tickets WHERE id = $1", id);
    ck_assert_ptr_nonnull(was);
    ck_assert_int_eq(do_reopen(TECH1_P, id_of(id)), TK_NO_CONTENT);
    ck_assert_ptr_null(res.body);

    assert_q("7|2|t|t", "SELECT format('%s|%s|%s|%s', status_id, version,"
                        " resolved_on IS NULL, closed_on IS NULL)"
                        " FROM tickets WHERE id = $1", id);
    assert_q("Reopen|The ticket was reopened.|" TECH1,
             "SELECT string_agg(format('%s|%s|%s', type, message,"
             " created_by_id), ',') FROM conversations WHERE ticket_id = $1",
             id);
    /* the status, then resolvedOn cleared (closedOn was not set) */
    assert_q("status|Resolved|Reopened|" TECH1 ",resolvedOn|ISO||" TECH1,
             "SELECT string_agg(format('%s|%s|%s|%s', field, "
             ISO("old_value") ", new_value, changed_by_id), ','"
             " ORDER BY id) FROM history WHERE ticket_id = $1", id);
    snprintf(want, sizeof(want), "%s|t", was);
    assert_q(want,
             "SELECT format('%s|%s', old_value, new_value IS NULL)"
             " FROM history WHERE ticket_id = $1 AND field = 'resolvedOn'",
             id);
    free(was);
    ck_assert_int_eq(count_of("outbox", id), 0);

    /* closed a day ago, locked after seven */
    setting("lock_closed_after_days", "7");
    ticket(MEMBER1, 6, NULL, closed);
    ck_assert_int_eq(do_reopen(ADMIN_P, id_of(closed)), TK_NO_CONTENT);
    assert_q("7|t|t",
             "SELECT format('%s|%s|%s', status_id, resolved_on IS NULL,"
             " closed_on IS NULL) FROM tickets WHERE id = $1", closed);
    assert_q("status|Closed|Reopened|" ADMIN ",resolvedOn|ISO||" ADMIN
             ",closedOn|ISO||" ADMIN,
             "SELECT string_agg(format('%s|%s|%s|%s', field, "
             ISO("old_value") ", new_value, changed_by_id), ','"
             " ORDER BY id) FROM history WHERE ticket_id = $1", closed);

    /* a Member with the permission, on their own ticket */
    ticket(MEMBER1, 5, NULL, id);
    ck_assert_int_eq(do_reopen(MEMBER1_ALL, id_of(id)), TK_NO_CONTENT);
}
END_TEST


START_TEST(reopen_refused)
{
    tk_principal_t  p;
    snapshot_t      s;
    char            id[24];
    int             st;

    /* active: Open, Reopened, OnHold, Pending */
    for (st = 1; st <= 7; st++) {
        if (st == 5 || st == 6) {
            continue;
        }
        ticket(MEMBER1, st, NULL, id);
        snap(id, &s);
        ck_assert_int_eq(do_reopen(ADMIN_P, id_of(id)), TK_OK);
        ck_assert_str_eq(res.body,
                         "{\"message\":\"Ticket is already open.\"}");
        assert_unchanged(id, &s);
    }

    setting("lock_closed_after_days", "0");
    ticket(MEMBER1, 6, NULL, id);
    snap(id, &s);
    ck_assert_int_eq(do_reopen(ADMIN_P, id_of(id)), TK_ECONFLICT);
    ck_assert_str_eq(res.message, "Ticket is locked");
    assert_unchanged(id, &s);

    ticket(MEMBER1, 5, NULL, id);
    snap(id, &s);

    p = TECH1_P;
    p.perms &= ~TK_PERM_UPDATE;
    ck_assert_int_eq(do_reopen(p, id_of(id)), TK_EFORBIDDEN);
    ck_assert_int_eq(do_reopen(ADMIN_P, 999999999), TK_ENOTFOUND);
    ck_assert_int_eq(do_reopen(ADMIN_P, 0), TK_ENOTFOUND);
    p = principal(MEMBER2, NULL, TK_ROLE_MEMBER, TK_PERM_ALL);
    ck_assert_int_eq(do_reopen(p, id_of(id)), TK_ENOTFOUND);

    setting("reopen_status_id", NULL);
    ck_assert_int_eq(do_reopen(ADMIN_P, id_of(id)), TK_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(res.message, "no reopen status"));
    assert_unchanged(id, &s);
}
END_TEST


/* The database gone: an error, never a crash or a half write. */
START_TEST(unavailable)
{
    tk_principal_t  p = ADMIN_P;
    tk_conn_t      *down;

    ck_assert_int_eq(tk_conn_open(&down, "host=/nonexistent port=1"), TK_OK);

    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_reopen(down, &p, 1, NULL, &res), TK_EUNAVAIL);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_confirm(down, "3f2504e0-4f89-41d3-9a0c-0305e"
                                       "82c3301", "x", &res), TK_EUNAVAIL);
    ck_assert_str_eq(res.content_type, "");

    tk_conn_close(down);
}
END_TEST


static Suite *
resolve_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("resolve");

    tc = add_tcase(s, "close", setup, teardown, 0);
    tcase_add_test(tc, close_ok);
    tcase_add_test(tc, close_defaults);
    tcase_add_test(tc, close_validation);
    tcase_add_test(tc, close_refused);
    tcase_add_test(tc, close_already);
    tcase_add_test(tc, close_no_status);
    tcase_add_test(tc, close_uploads);

    tc = add_tcase(s, "resolve", setup, teardown, 0);
    tcase_add_test(tc, resolve_ok);
    tcase_add_test(tc, resolve_tpi);
    tcase_add_test(tc, resolve_again);
    tcase_add_test(tc, resolve_closed);
    tcase_add_test(tc, resolve_validation);
    tcase_add_test(tc, resolve_refused);

    tc = add_tcase(s, "confirm", setup, teardown, 0);
    tcase_add_test(tc, confirm_ok);
    tcase_add_test(tc, confirm_page);
    tcase_add_test(tc, confirm_bad);
    tcase_add_test(tc, confirm_closed_or_reopened);

    tc = add_tcase(s, "reopen", setup, teardown, 0);
    tcase_add_test(tc, reopen_ok);
    tcase_add_test(tc, reopen_refused);
    tcase_add_test(tc, unavailable);

    return s;
}


/* The settings the tests change, saved to put them back. */
static int
prepare(PGconn *c)
{
    if (!sql_value(c, "SELECT json_object_agg(key, value) FROM settings"
                   " WHERE key IN (" SAVED_SETTINGS ")", 0, NULL, &saved)
        || saved == NULL)
    {
        fprintf(stderr, "check_resolve: %s", PQerrorMessage(c));
        return 0;
    }

    return 1;
}


/* The settings back, and what the tests made goes, so that they can run
 * again. */
static int
cleanup(PGconn *c)
{
    int  ok;

    restore(c);
    ok = exec_script(c,
        "BEGIN;"
        DELETE_TICKETS(MARK)
        "COMMIT");
    free(saved);
    return ok;
}


int
main(void)
{
    return db_main(resolve_suite, prepare, cleanup);
}
