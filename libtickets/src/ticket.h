/*
 * Internal: what ticket.c shares with the rest of the library.
 */

#ifndef TK_TICKET_H
#define TK_TICKET_H

#include <stdint.h>

#include "tickets.h"

/*
 * The TicketApiModel of one ticket, built by the server, into res->body
 * with res->etag set and res->code TK_OK.  A deleted ticket, or for a
 * Member another's ticket, is TK_ENOTFOUND.  p may be NULL (the library
 * acting for itself: no Member rule).  Runs inside the caller's
 * transaction when there is one, so a write can answer with what it wrote.
 */
int tk__ticket_json(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res);

#endif /* TK_TICKET_H */
