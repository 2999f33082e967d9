/*
 * Auto-assignment (SPEC 4): an unassigned ticket with a group goes to one
 * of the group's active Technicians, by round robin or to the least
 * loaded, fairly across workers and hosts.
 *
 * Fairness comes from the group's row of assignment_cursors: it is locked
 * first, in a statement of its own, and held until the caller commits;
 * the choice is made by the next statement, whose snapshot is taken after
 * the lock and so sees every assignment committed before it.  Candidates
 * are ordered by user id in the "C" collation, whatever the database's
 * locale: round robin takes the first after the cursor's last_user_id,
 * wrapping around; least loaded takes the one with the fewest active
 * tickets, ties in that same order.
 */

#include <stdlib.h>

#include "assign.h"
#include "db.h"
#include "result.h"


/*
 * Locks (creating it when needed) the cursor of the ticket's group when
 * the ticket is one to assign: not deleted, unassigned, with a group,
 * and not Resolved or Closed.  No row: nothing to do.
 */
static const tk__stmt_t  tk__assign_lock_stmt = {
    "tk_assign_lock",
    "INSERT INTO assignment_cursors (group_id)"
    " SELECT t.group_id FROM tickets t JOIN statuses s ON s.id = t.status_id"
    " WHERE t.id = $1::bigint AND NOT t.is_deleted AND t.assignee_id IS NULL"
    " AND t.group_id IS NOT NULL"
    " AND s.status_type NOT IN ('Resolved', 'Closed')"
    " ON CONFLICT (group_id) DO UPDATE"
    " SET last_user_id = assignment_cursors.last_user_id"
    " RETURNING group_id",
    1
};

/*
 * The choice and everything it writes: the ticket, the cursor, the
 * history row and the technician's email and push.  $2 is who caused it.
 * One row: the technician's id (NULL: no candidate) and the outbox rows
 * written.
 */
static const tk__stmt_t  tk__assign_stmt = {
    "tk_assign",
    "WITH t AS ("
    " SELECT id, title, group_id FROM tickets"
    " WHERE id = $1::bigint AND assignee_id IS NULL AND group_id IS NOT NULL"
    "), m AS ("
    " SELECT coalesce(lower((SELECT value FROM settings"
    " WHERE key = 'auto_assign_method')) = 'leastloaded', false)"
    " AS least_loaded"
    "), pick AS MATERIALIZED ("
    " SELECT u.id, u.email,"
    " coalesce(nullif(u.full_name, ''), u.user_name) AS name"
    " FROM t"
    " JOIN group_members g ON g.group_id = t.group_id"
    " JOIN users u ON u.id = g.user_id AND u.is_active"
    " AND u.role = 'Technician'"
    " LEFT JOIN assignment_cursors ac ON ac.group_id = t.group_id"
    " CROSS JOIN m"
    " ORDER BY CASE WHEN m.least_loaded THEN (SELECT count(*)"
    " FROM tickets x JOIN statuses s ON s.id = x.status_id"
    " WHERE x.assignee_id = u.id AND NOT x.is_deleted"
    " AND s.status_type IN ('Open', 'OnHold', 'Pending')) END,"
    /* after the cursor first, then from the start again */
    " u.id COLLATE \"C\" <= coalesce(ac.last_user_id, '') COLLATE \"C\","
    " u.id COLLATE \"C\""
    " LIMIT 1"
    "), a AS ("
    " UPDATE tickets x SET assignee_id = pick.id FROM pick"
    " WHERE x.id = $1::bigint"
    " RETURNING x.id, x.title"
    "), cur AS ("
    " UPDATE assignment_cursors ac SET last_user_id = pick.id,"
    " assigned_count = ac.assigned_count + 1"
    " FROM t, pick WHERE ac.group_id = t.group_id"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT a.id, 'assignee', NULL, pick.name, $2::text FROM a, pick"
    "), o AS ("
    " INSERT INTO outbox (channel, event, ticket_id, recipients, payload)"
    " SELECT n.channel, 'TicketAssigned', a.id, ARRAY[n.recipient],"
    " jsonb_build_object('ticketId', a.id, 'title', a.title,"
    " 'subject', format('Ticket #%s assigned to you: %s', a.id, a.title),"
    " 'message', format('Ticket #%s \"%s\" was assigned to %s"
    " automatically.', a.id, a.title, pick.name),"
    " 'assignee', pick.id, 'assignedBy', 'auto')"
    " FROM a, pick"
    " CROSS JOIN LATERAL (VALUES ('email', pick.email), ('push', pick.id))"
    " AS n(channel, recipient)"
    " WHERE n.recipient IS NOT NULL"
    " RETURNING 1"
    ")"
    " SELECT (SELECT id FROM pick), (SELECT count(*) FROM o)",
    2
};


int
tk__auto_assign(tk_conn_t *c, const char *ticket_id, const char *by_user_id,
    tk_result_t *res)
{
    const char  *v[2] = { ticket_id, by_user_id };
    const char  *n;
    PGresult    *r;
    int          rows;

    r = tk__exec(c, &tk__assign_lock_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    rows = PQntuples(r);
    PQclear(r);

    if (rows == 0) {
        return TK_OK;
    }

    r = tk__exec(c, &tk__assign_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    n = tk__val(r, 0, 1);
    res->outbox += n != NULL ? atoi(n) : 0;

    PQclear(r);
    return TK_OK;
}
