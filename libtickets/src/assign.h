/*
 * Internal: auto-assignment of a ticket to a technician of its group
 * (SPEC 4, Auto-assignment; docs/sla.md).
 *
 * The caller decides whether to ask (the settings auto_assign_on_create
 * and auto_assign_on_update, and no AssignedUser given) and touches the
 * ticket afterwards; this only picks and writes.
 */

#ifndef TK_ASSIGN_H
#define TK_ASSIGN_H

#include "tickets.h"


/*
 * In the caller's transaction: when the ticket is unassigned and has a
 * group, assigns it to one of the group's active Technicians, chosen by
 * the setting auto_assign_method (RoundRobin, the default, or
 * LeastLoaded), with a history row by by_user_id and the TicketAssigned
 * email and push (res->outbox counts them).  The group's row of
 * assignment_cursors stays locked until the transaction ends, so that
 * concurrent assignments in one group, from any worker or host, take
 * turns.  TK_OK also when there is nothing to do or no candidate;
 * TK_EUNAVAIL or TK_EINTERNAL when the database fails.
 */
int tk__auto_assign(tk_conn_t *c, const char *ticket_id,
    const char *by_user_id, tk_result_t *res);


#endif /* TK_ASSIGN_H */
