/*
 * The outbox by channel, read for the metrics scrape (tk_outbox_stats).
 * Pending and failed rows come from their partial indexes; the sent count
 * and the retries read every row of the channel.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "result.h"


static const tk__stmt_t  tk__outbox_stats_stmt = {
    "tk_outbox_stats",
    "SELECT c.channel,"
    " count(o.id) FILTER (WHERE o.status = 'pending'),"
    " count(o.id) FILTER (WHERE o.status = 'failed'),"
    " count(o.id) FILTER (WHERE o.status = 'sent'),"
    " coalesce(sum(greatest(o.attempts - 1, 0)), 0),"
    " coalesce(extract(epoch FROM now() - min(o.created_on)"
    "   FILTER (WHERE o.status = 'pending')), 0)::float8"
    " FROM (VALUES ('email'), ('push'), ('subscription'), ('tpi'),"
    " ('webhook')) c (channel)"
    " LEFT JOIN outbox o ON o.channel = c.channel"
    " GROUP BY c.channel ORDER BY c.channel",
    0
};


int
tk_outbox_stats(tk_conn_t *conn, tk_outbox_stats_t *stats, int max, int *n,
    tk_result_t *res)
{
    int          i, rows;
    double       age;
    PGresult    *r;
    const char  *v;

    *n = 0;

    r = tk__exec(conn, &tk__outbox_stats_stmt, NULL, res);
    if (r == NULL) {
        return res->code;
    }

    rows = PQntuples(r);

    for (i = 0; i < rows && i < max; i++) {
        v = tk__val(r, i, 0);
        snprintf(stats[i].channel, sizeof(stats[i].channel), "%s",
                 v ? v : "");
        stats[i].pending = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        stats[i].failed = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        stats[i].sent = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        stats[i].retries = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        age = strtod(PQgetvalue(r, i, 5), NULL);
        stats[i].oldest_pending_seconds = age > 0 ? age : 0;
    }

    *n = i;
    PQclear(r);

    return TK_OK;
}
