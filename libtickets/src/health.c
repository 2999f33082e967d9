/*
 * GET /api/health: the database answers, or it does not; and the release
 * that answers, {"status":"ok","version":"0.1.0"}.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "result.h"


static const tk__stmt_t  tk__health_stmt = {
    "tk_health",
    "SELECT 1",
    0
};


int
tk_health(tk_conn_t *c, tk_result_t *res)
{
    size_t             len;
    PGresult          *r;

    r = tk__exec(c, &tk__health_stmt, NULL, res);
    if (r == NULL) {
        /* whatever went wrong, the database is not answering as it should */
        res->code = TK_EUNAVAIL;
        return TK_EUNAVAIL;
    }
    PQclear(r);

    /* the version is ours (digits, dots, letters): no escaping needed */
    len = sizeof("{\"status\":\"ok\",\"version\":\"\"}") - 1
          + strlen(tk_version());

    free(res->body);
    res->body = malloc(len + 1);
    if (res->body == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    snprintf(res->body, len + 1, "{\"status\":\"ok\",\"version\":\"%s\"}",
             tk_version());
    res->body_len = len;
    res->code = TK_OK;
    return TK_OK;
}
