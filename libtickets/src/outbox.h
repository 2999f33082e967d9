/*
 * Internal: notifications, written in the transaction of their change and
 * delivered later (SPEC 4, Notifications).
 *
 * channel: "email" (recipients: addresses), "push" (recipients: user ids),
 * "tpi" or "webhook" (recipients: none, the URL comes from settings).
 * event: "TicketAssigned", "Reply", "Forward", "Closed", "Resolved",
 * "RequesterReply", "Escalated", ...
 * payload: a JSON object with what the message needs: ticketId, title,
 * subject, message, and per event more (closeLink, conversationId, ...).
 */

#ifndef TK_OUTBOX_H
#define TK_OUTBOX_H

#include "tickets.h"

/* recipients: a JSON array of strings (text), may be "[]" */
int tk__outbox_add(tk_conn_t *c, const char *channel, const char *event,
    const char *ticket_id, const char *recipients_json,
    const char *payload_json, tk_result_t *res);

#endif /* TK_OUTBOX_H */
