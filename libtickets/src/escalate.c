/*
 * The escalation job (SPEC 4, Escalation): active tickets past their due
 * date are escalated once each, by the system, with an email to the
 * assignee and the members of the ticket's group.
 *
 * Every worker of every host calls it on its own timer; the job_runs row
 * makes it run in one place at a time (FOR UPDATE SKIP LOCKED: whoever
 * finds it locked goes away) and at most once per
 * escalation_interval_seconds across all of them.
 */

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "result.h"
#include "settings.h"


/* when the setting is 0 (the job is off): look again after this */
#define TK__ESCALATION_IDLE  60


/* Seconds until the job is due, 0 when it is; no row: it runs elsewhere. */
static const tk__stmt_t  tk__esc_gate_stmt = {
    "tk_esc_gate",
    "SELECT CASE WHEN last_run_on + make_interval(secs => $1::int) <= now()"
    " THEN 0 ELSE ceil(extract(epoch FROM last_run_on"
    " + make_interval(secs => $1::int) - now()))::int END"
    " FROM job_runs WHERE name = 'escalation' FOR UPDATE SKIP LOCKED",
    1
};

/*
 * Up to $1 tickets: each marked, its history row, a private Escalation
 * conversation by nobody (the system), one email to the assignee and the
 * group's active members.  Columns: tickets escalated, emails queued.
 */
static const tk__stmt_t  tk__esc_run_stmt = {
    "tk_esc_run",
    /*
     * The candidates per active status on tickets_status_due_idx, apart:
     * most tickets are old completed ones, all of them past their due
     * date, and an ordered walk of the due dates would read them all.
     */
    "WITH cand AS MATERIALIZED ("
    " SELECT t.id, t.due_date FROM tickets t"
    " WHERE t.status_id = ANY (ARRAY(SELECT s.id FROM statuses s"
    " WHERE s.status_type IN ('Open', 'OnHold', 'Pending')))"
    " AND t.due_date < now() AND NOT t.is_escalated AND NOT t.is_deleted"
    " AND t.sla_paused_since IS NULL"
    "), due AS ("
    " SELECT t.id FROM tickets t"
    " WHERE t.id = ANY (ARRAY(SELECT id FROM cand"
    " ORDER BY due_date, id LIMIT $1::int))"
    " AND NOT t.is_escalated AND NOT t.is_deleted"
    " AND t.sla_paused_since IS NULL"
    " ORDER BY t.due_date, t.id"
    " FOR UPDATE OF t SKIP LOCKED"
    "), u AS ("
    " UPDATE tickets x SET is_escalated = true, escalated_on = now(),"
    " version = x.version + 1, updated_on = now()"
    " FROM due WHERE x.id = due.id"
    " RETURNING x.id, x.title, x.assignee_id, x.group_id, x.tier_level_id,"
    " x.due_date"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT id, 'isEscalated', 'false', 'true', NULL FROM u"
    "), cv AS ("
    " INSERT INTO conversations (ticket_id, type, title, message,"
    " is_private, created_by_id)"
    " SELECT id, 'Escalation', 'Ticket escalated',"
    " 'Escalated automatically: past its due date of '"
    " || iso_utc(due_date) || '.', true, NULL FROM u"
    "), n AS ("
    " SELECT u.*, g.name AS group_name, tl.title AS tier_title,"
    " ARRAY(SELECT r.email FROM ("
    " SELECT DISTINCT ON (lower(m.email)) m.email, m.ord FROM ("
    " SELECT a.email, 0 AS ord FROM users a WHERE a.id = u.assignee_id"
    " AND a.is_active AND a.email IS NOT NULL"
    " UNION ALL"
    " SELECT b.email, 1 FROM group_members gm JOIN users b"
    " ON b.id = gm.user_id WHERE gm.group_id = u.group_id AND b.is_active"
    " AND b.email IS NOT NULL"
    " ) m ORDER BY lower(m.email), m.ord"
    " ) r ORDER BY r.ord, lower(r.email)) AS recipients"
    " FROM u LEFT JOIN groups g ON g.id = u.group_id"
    " LEFT JOIN tier_levels tl ON tl.id = u.tier_level_id"
    "), o AS ("
    " INSERT INTO outbox (channel, event, ticket_id, recipients, payload)"
    " SELECT 'email', 'Escalated', n.id, n.recipients, jsonb_build_object("
    " 'ticketId', n.id, 'title', n.title,"
    " 'subject', 'Ticket #' || n.id || ' escalated: ' || n.title,"
    " 'message', 'Ticket #' || n.id || ' \"' || n.title || '\" is past its"
    " due date of ' || iso_utc(n.due_date) || ' and has been escalated.',"
    " 'reason', 'Past its due date', 'escalatedBy', NULL,"
    " 'automatic', true, 'assignee', n.assignee_id,"
    " 'group', n.group_name, 'tierLevel', n.tier_title,"
    " 'dueDate', iso_utc(n.due_date))"
    " FROM n WHERE cardinality(n.recipients) > 0"
    " RETURNING 1"
    ")"
    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM o)",
    1
};

/* a full batch leaves the job due, so that the rest follows at once */
static const tk__stmt_t  tk__esc_done_stmt = {
    "tk_esc_done",
    "UPDATE job_runs SET last_run_on = CASE WHEN $1::bool"
    " THEN '-infinity' ELSE now() END WHERE name = 'escalation'",
    1
};


int
tk_escalate_due(tk_conn_t *c, int max, int *next, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1];
    char         period[16], limit[16];
    long         seconds, escalated, queued;
    int          wait;

    *next = TK__ESCALATION_IDLE;

    if (tk__setting_int(c, "escalation_interval_seconds",
                        TK__ESCALATION_IDLE, &seconds, res)
        != TK_OK)
    {
        return res->code;
    }

    if (seconds == 0) {
        return 0;
    }

    *next = (int) seconds;

    if (tk__begin(c, res) != TK_OK) {
        return res->code;
    }

    snprintf(period, sizeof(period), "%ld", seconds);
    v[0] = period;

    r = tk__exec(c, &tk__esc_gate_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    /* another worker or host runs it now */
    if (PQntuples(r) == 0) {
        PQclear(r);
        tk__rollback(c);
        return 0;
    }

    wait = atoi(tk__val(r, 0, 0));
    PQclear(r);

    if (wait > 0) {
        tk__rollback(c);
        *next = wait;
        return 0;
    }

    snprintf(limit, sizeof(limit), "%d", max > 0 ? max : 1);
    v[0] = limit;

    r = tk__exec(c, &tk__esc_run_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    escalated = strtol(tk__val(r, 0, 0), NULL, 10);
    queued = strtol(tk__val(r, 0, 1), NULL, 10);
    PQclear(r);

    v[0] = escalated >= (max > 0 ? max : 1) ? "true" : "false";

    r = tk__exec(c, &tk__esc_done_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }
    PQclear(r);

    if (tk__commit(c, res) != TK_OK) {
        goto failed;
    }

    if (v[0][0] == 't') {
        *next = 1;
    }

    res->outbox += (int) queued;

    if (escalated > 0) {
        snprintf(res->message, sizeof(res->message), "escalation: %ld "
                 "ticket%s past due escalated, %ld email%s queued",
                 escalated, escalated == 1 ? "" : "s", queued,
                 queued == 1 ? "" : "s");
    }

    return (int) escalated;

failed:

    tk__rollback(c);
    return res->code;
}
