/*
 * The read path of GET /api/TicketsApi/{id}: the principal and the ticket
 * in one round trip (docs/performance.md).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "model.h"
#include "result.h"


/*
 * One row when $1 is an active user, none otherwise: the user's id, name
 * and role (as tk_principal_by_id), the ticket's version (NULL when there
 * is no such ticket for them: unknown, deleted, or a Member's look at
 * another's ticket) and its TicketApiModel, NULL as well when the version
 * is one of $3 (-1 in $3: any version, "If-None-Match: *"), so that a
 * revalidation builds nothing.  $2 is the ticket's id, NULL for none.
 */
static const tk__stmt_t  tk__ticket_get_as_stmt = {
    "tk_ticket_get_as",
    "SELECT u.id, u.user_name, u.role, t.version,"
    " CASE WHEN t.version = ANY ($3::int[]) OR -1 = ANY ($3::int[])"
    " THEN NULL ELSE " TK__TICKET_MODEL " END"
    " FROM users u"
    " LEFT JOIN (tickets t JOIN statuses s ON s.id = t.status_id)"
    " ON t.id = $2::bigint AND NOT t.is_deleted"
    " AND (u.role <> 'Member' OR t.requester_id = u.id)"
    " WHERE u.id = $1 AND u.is_active",
    3
};


/*
 * The versions If-None-Match names for ticket id, as an int[] literal into
 * buf: each entity-tag of the list, weak or strong (RFC 9110 13.1.2 uses
 * the weak comparison), that reads "<id>-<version>"; -1 for "*".  "{}"
 * when none does.
 */
static void
tk__inm_versions(const char *header, const char *ids, char *buf, size_t size)
{
    const char  *s, *e, *q;
    size_t       n, idlen, used;
    long         v;
    char        *end;

    idlen = strlen(ids);
    used = 0;
    buf[used++] = '{';

    for (s = header; *s != '\0'; s = *e ? e + 1 : e) {
        e = s + strcspn(s, ",");
        for (; s < e && (*s == ' ' || *s == '\t'); s++) { /* trim */ }
        for (n = (size_t) (e - s); n > 0 && (s[n - 1] == ' '
                                            || s[n - 1] == '\t'); n--)
        {
            /* trim */
        }

        v = -2;

        if (n == 1 && *s == '*') {
            v = -1;

        } else {
            if (n >= 2 && s[0] == 'W' && s[1] == '/') {
                s += 2;
                n -= 2;
            }

            /* "<id>-<digits>" */
            if (n >= idlen + 4 && s[0] == '"' && s[n - 1] == '"'
                && memcmp(s + 1, ids, idlen) == 0 && s[idlen + 1] == '-')
            {
                q = s + idlen + 2;
                if (*q >= '0' && *q <= '9') {
                    v = strtol(q, &end, 10);
                    if (end != s + n - 1 || v > 2147483647 || end - q > 10) {
                        v = -2;
                    }
                }
            }
        }

        if (v == -2 || used + 16 >= size) {
            continue;
        }

        used += (size_t) snprintf(buf + used, size - used, "%s%ld",
                                  used > 1 ? "," : "", v);
    }

    buf[used++] = '}';
    buf[used] = '\0';
}


int
tk_ticket_get_as(tk_conn_t *c, const char *user_id, unsigned token_perms,
    int64_t id, const char *if_none_match, tk_principal_t *p,
    tk_result_t *res)
{
    const char  *v[3], *role, *version;
    PGresult    *r;
    size_t       len;
    char         ids[24];
    char         versions[256];

    memset(p, 0, sizeof(*p));

    if (user_id == NULL || strlen(user_id) >= sizeof(p->user_id)) {
        return tk__fail(res, TK_EAUTH, "unknown or inactive user");
    }

    snprintf(ids, sizeof(ids), "%lld", (long long) id);
    tk__inm_versions(if_none_match != NULL ? if_none_match : "", ids,
                     versions, sizeof(versions));

    v[0] = user_id;
    v[1] = id > 0 ? ids : NULL;
    v[2] = versions;

    r = tk__exec(c, &tk__ticket_get_as_stmt, v, res);
    if (r == NULL) {
        /* bytes that are not text are no one's id */
        if (strncmp(tk__sqlstate(c), "22", 2) == 0) {
            return tk__fail(res, TK_EAUTH, "unknown or inactive user");
        }

        return res->code;
    }

    if (PQntuples(r) != 1) {
        PQclear(r);
        return tk__fail(res, TK_EAUTH, "unknown or inactive user");
    }

    role = tk__val(r, 0, 2);
    p->role = tk_role_parse(role);
    if (p->role < 0) {
        tk__fail(res, TK_EINTERNAL, "user has an unknown role \"%s\"",
                 role != NULL ? role : "");
        PQclear(r);
        return res->code;
    }

    snprintf(p->user_id, sizeof(p->user_id), "%s", tk__val(r, 0, 0));
    snprintf(p->user_name, sizeof(p->user_name), "%s", tk__val(r, 0, 1));
    p->perms = token_perms;

    version = tk__val(r, 0, 3);
    if (version == NULL) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "no ticket %s", ids);
    }

    snprintf(res->etag, sizeof(res->etag), "\"%s-%s\"", ids, version);

    if (tk__val(r, 0, 4) == NULL) {
        PQclear(r);
        res->code = TK_NOT_MODIFIED;
        return TK_NOT_MODIFIED;
    }

    len = (size_t) PQgetlength(r, 0, 4);

    free(res->body);
    res->body = malloc(len + 1);
    if (res->body == NULL) {
        PQclear(r);
        res->etag[0] = '\0';
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    memcpy(res->body, tk__val(r, 0, 4), len + 1);
    res->body_len = len;
    PQclear(r);

    res->code = TK_OK;
    return TK_OK;
}
