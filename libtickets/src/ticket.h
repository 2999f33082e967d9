/*
 * Internal: what ticket.c shares with the rest of the library.
 */

#ifndef TK_TICKET_H
#define TK_TICKET_H

#include <stdint.h>

#include "db.h"
#include "tickets.h"


/* What a write needs to know of the ticket it changes. */
typedef struct {
    char        id[24];
    char        guid[40];
    char        title[1024];
    char        requester_id[64];
    char        requester_email[256];
    char        assignee_id[64];        /* "" when none */
    char        assignee_email[256];
    char        status_id[16];
    char        status_type[16];        /* Open, OnHold, ... */
    char        group_id[16];           /* "" when none */
    char        priority_id[16];        /* "" when none */
    char        cc[1024];
    int         version;
    int         is_locked;
    int         is_escalated;
} tk__ticket_row_t;


/*
 * The TicketApiModel of one ticket, built by the server, into res->body
 * with res->etag set and res->code TK_OK.  A deleted ticket, or for a
 * Member another's ticket, is TK_ENOTFOUND.  p may be NULL (the library
 * acting for itself: no Member rule).  Runs inside the caller's
 * transaction when there is one, so a write can answer with what it wrote.
 */
int tk__ticket_json(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res);

/*
 * What st reads of one ticket into res->body, res->code TK_OK.  st takes
 * $1 the ticket's id (NULL when id is 0) and $2 a Member's own id (NULL
 * for others), and answers one row of one JSON column; no row or a NULL
 * is TK_ENOTFOUND "no ticket <id>".
 */
int tk__ticket_read(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk__stmt_t *st, tk_result_t *res);

/*
 * Locks the ticket FOR UPDATE in the caller's transaction and reads it.
 * TK_ENOTFOUND for an unknown or deleted ticket, or, for a Member, one
 * they did not request (p NULL: no Member rule).  is_locked follows the
 * setting lock_closed_after_days (unset: never locked).
 */
int tk__ticket_lock(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk__ticket_row_t *t, tk_result_t *res);

/* One history row, in the caller's transaction. */
int tk__history_add(tk_conn_t *c, const char *ticket_id, const char *by,
    const char *field, const char *old_value, const char *new_value,
    tk_result_t *res);

/* Bumps version and updated_on, and stops or starts the SLA clock after a
 * status change: every write to a ticket calls it once, after its change.
 * TK_ENOTFOUND when there is no such ticket. */
int tk__ticket_touch(tk_conn_t *c, const char *ticket_id, tk_result_t *res);


#endif /* TK_TICKET_H */
