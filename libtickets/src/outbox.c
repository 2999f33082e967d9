/*
 * Notifications: one outbox row, in the transaction of its change.
 */

#include <stddef.h>

#include "db.h"
#include "outbox.h"


static const tk__stmt_t  tk__outbox_add_stmt = {
    "tk_outbox_add",
    "INSERT INTO outbox (channel, event, ticket_id, recipients, payload)"
    " VALUES ($1::text, $2::text, $3::bigint,"
    " ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::jsonb)",
    5
};


int
tk__outbox_add(tk_conn_t *c, const char *channel, const char *event,
    const char *ticket_id, const char *recipients_json,
    const char *payload_json, tk_result_t *res)
{
    const char  *v[5];
    PGresult    *r;

    v[0] = channel;
    v[1] = event;
    v[2] = ticket_id;
    v[3] = recipients_json != NULL ? recipients_json : "[]";
    v[4] = payload_json != NULL ? payload_json : "{}";

    r = tk__exec(c, &tk__outbox_add_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    PQclear(r);
    res->outbox++;
    return TK_OK;
}
