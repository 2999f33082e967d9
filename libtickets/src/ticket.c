/*
 * Tickets: the TicketApiModel and registration.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "db.h"
#include "result.h"
#include "ticket.h"


/* A person as the API shows one; NULL when id is NULL. */
#define TK__PERSON(id)                                                        \
    "(SELECT json_build_object('id', u.id, 'fullName', u.full_name,"          \
    " 'userName', u.user_name, 'email', u.email)"                             \
    " FROM users u WHERE u.id = " id ")"

/* A lookup of the ticket t as {id, key}; NULL when the ticket has none. */
#define TK__LOOKUP(table, key, col, fk)                                       \
    "(SELECT json_build_object('id', x.id, '" key "', x." col ")"             \
    " FROM " table " x WHERE x.id = t." fk ")"

static const tk__stmt_t  tk__ticket_json_stmt = {
    "tk_ticket_json",
    "SELECT json_build_object("
    "'id', t.id, 'guid', t.guid, 'title', t.title,"
    " 'description', t.description,"
    " 'ticketType', (ARRAY['Ticket', 'Problem', 'Incident',"
    " 'ServiceRequest', 'Change'])[t.ticket_type + 1],"
    " 'source', (ARRAY['Manual', 'Api'])[t.source + 1],"
    " 'creator', " TK__PERSON("t.requester_id") ","
    " 'assignee', " TK__PERSON("t.assignee_id") ","
    " 'createdBy', " TK__PERSON("t.created_by_id") ","
    " 'category', "
    TK__LOOKUP("categories", "name", "name", "category_id") ","
    " 'subCategory', "
    TK__LOOKUP("subcategories", "name", "name", "subcategory_id") ","
    " 'item', " TK__LOOKUP("items", "name", "name", "item_id") ","
    " 'site', " TK__LOOKUP("sites", "title", "title", "site_id") ","
    " 'department', "
    TK__LOOKUP("departments", "title", "title", "department_id") ","
    " 'group', " TK__LOOKUP("groups", "group", "name", "group_id") ","
    " 'client', " TK__LOOKUP("clients", "name", "name", "client_id") ","
    " 'status', json_build_object('id', s.id, 'status', s.name,"
    " 'statusType', s.status_type),"
    " 'priority', "
    TK__LOOKUP("priorities", "priority", "name", "priority_id") ","
    " 'tierLevel', "
    TK__LOOKUP("tier_levels", "title", "title", "tier_level_id") ","
    " 'service', " TK__LOOKUP("services", "name", "name", "service_id") ","
    " 'impact', " TK__LOOKUP("impacts", "name", "name", "impact_id") ","
    " 'urgency', " TK__LOOKUP("urgencies", "name", "name", "urgency_id") ","
    " 'sla', " TK__LOOKUP("sla_policies", "name", "name", "sla_id") ","
    " 'dueDate', iso_utc(t.due_date),"
    " 'responseDueDate', iso_utc(t.response_due_date),"
    " 'firstRespondedOn', iso_utc(t.first_responded_on),"
    " 'cc', t.cc,"
    " 'tags', (SELECT coalesce(json_agg(json_build_object('id', g.id,"
    " 'name', g.name) ORDER BY g.id), '[]') FROM ticket_tags tt"
    " JOIN tags g ON g.id = tt.tag_id WHERE tt.ticket_id = t.id),"
    " 'isEscalated', t.is_escalated,"
    /* an unset or unreadable setting never locks */
    " 'isLocked', coalesce(s.status_type = 'Closed' AND t.closed_on"
    " + make_interval(days => (SELECT CASE WHEN value ~ '^[0-9]{1,5}$'"
    " THEN value::int END FROM settings"
    " WHERE key = 'lock_closed_after_days')) <= now(), false),"
    " 'isDeleted', t.is_deleted,"
    " 'createdOn', iso_utc(t.created_on),"
    " 'updatedOn', iso_utc(t.updated_on),"
    " 'resolvedOn', iso_utc(t.resolved_on),"
    " 'closedOn', iso_utc(t.closed_on),"
    " 'deletedOn', iso_utc(t.deleted_on),"
    " 'resolution', (SELECT json_build_object('resolution', r.resolution,"
    " 'resolvedBy', " TK__PERSON("r.resolved_by_id") ","
    " 'resolvedOn', iso_utc(r.resolved_on))"
    " FROM resolutions r WHERE r.ticket_id = t.id),"
    " 'closure', (SELECT json_build_object('status', (ARRAY['Successful',"
    " 'Unsuccessful', 'Cancelled', 'Duplicate', 'NoResponse'])[cl.status + 1],"
    " 'comments', cl.comments, 'closureComments', cl.closure_comments,"
    " 'closedBy', " TK__PERSON("cl.closed_by_id") ","
    " 'closingDate', iso_utc(cl.closing_date),"
    " 'acknowledged', cl.acknowledged)"
    " FROM closures cl WHERE cl.ticket_id = t.id),"
    /* the ticket's own files; a conversation lists its own */
    " 'attachments', (SELECT coalesce(json_agg(json_build_object("
    "'id', a.id, 'fileName', a.file_name, 'contentType', a.content_type,"
    " 'size', a.size, 'sha256', a.sha256) ORDER BY a.id), '[]')"
    " FROM attachments a WHERE a.ticket_id = t.id"
    " AND a.conversation_id IS NULL)"
    "), t.version"
    " FROM tickets t JOIN statuses s ON s.id = t.status_id"
    " WHERE t.id = $1 AND NOT t.is_deleted"
    " AND ($2::text IS NULL OR t.requester_id = $2)",
    2
};


int
tk__ticket_json(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    const char  *v[2];
    const char  *version;
    PGresult    *r;
    char         ids[24];
    char         etag[sizeof(res->etag)];

    if (id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no ticket %lld", (long long) id);
    }

    snprintf(ids, sizeof(ids), "%lld", (long long) id);
    v[0] = ids;
    v[1] = (p != NULL && p->role == TK_ROLE_MEMBER) ? p->user_id : NULL;

    r = tk__exec(c, &tk__ticket_json_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    version = tk__val(r, 0, 1);
    snprintf(etag, sizeof(etag), "\"%s-%s\"", ids, version ? version : "");

    if (tk__take_body(r, res) != TK_OK) {
        if (res->code == TK_ENOTFOUND) {
            tk__fail(res, TK_ENOTFOUND, "no ticket %s", ids);
        }
        return res->code;
    }

    memcpy(res->etag, etag, sizeof(etag));
    res->code = TK_OK;
    return TK_OK;
}


int
tk_ticket_get(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    return tk__ticket_json(c, p, id, res);
}


/*
 * Registration.  The fields of TicketCreateViewModel, in the order of the
 * parameters of the statements below: the ones the database must know
 * come first, $1 to $18, so that one query checks them all.
 */
enum {
    TK__F_CREATOR = 0,
    TK__F_SITE,
    TK__F_DEPARTMENT,
    TK__F_STATUS,
    TK__F_CATEGORY,
    TK__F_SUBCATEGORY,
    TK__F_ITEM,
    TK__F_TIER,
    TK__F_GROUP,
    TK__F_CLIENT,
    TK__F_PRIORITY,
    TK__F_SERVICE,
    TK__F_IMPACT,
    TK__F_URGENCY,
    TK__F_SLA,
    TK__F_ASSIGNEE,
    TK__F_GUID,
    TK__F_TAGS,
    TK__NCHECKED,
    TK__F_TITLE = TK__NCHECKED,
    TK__F_DESCRIPTION,
    TK__F_TYPE,
    TK__F_CC,
    TK__F_DUE,
    TK__NFIELDS
};

typedef enum {
    TK__K_ID = 0,               /* int, 1..2147483647 */
    TK__K_USER,                 /* a user id */
    TK__K_GUID,
    TK__K_TAGS,                 /* ids, repeated and/or comma-separated */
    TK__K_TEXT,
    TK__K_TYPE,                 /* TicketType */
    TK__K_CC,
    TK__K_DATE
} tk__kind_t;

typedef struct {
    const char  *name;
    tk__kind_t   kind;
    int          required;
    int          max;           /* code points, 0: no limit */
    int          parent;        /* the id this one belongs to; 0: none */
    const char  *unknown;       /* (name, value) when the database says no */
} tk__reg_field_t;

static const tk__reg_field_t  tk__reg_fields[TK__NFIELDS] = {
    [TK__F_CREATOR]     = { "CreatorId", TK__K_USER, 1, 0, 0, NULL },
    [TK__F_SITE]        = { "SiteId", TK__K_ID, 1, 0, 0, NULL },
    [TK__F_DEPARTMENT]  = { "DepartmentId", TK__K_ID, 1, 0, 0, NULL },
    [TK__F_STATUS]      = { "TicketStatusId", TK__K_ID, 1, 0, 0, NULL },
    [TK__F_CATEGORY]    = { "TicketCategoryId", TK__K_ID, 0, 0, 0, NULL },
    [TK__F_SUBCATEGORY] = { "TicketSubCategoryId", TK__K_ID, 0, 0,
                            TK__F_CATEGORY, NULL },
    [TK__F_ITEM]        = { "ItemId", TK__K_ID, 0, 0, TK__F_SUBCATEGORY,
                            NULL },
    [TK__F_TIER]        = { "TierLevelId", TK__K_ID, 0, 0, 0, NULL },
    [TK__F_GROUP]       = { "GroupId", TK__K_ID, 0, 0, 0, NULL },
    [TK__F_CLIENT]      = { "ClientId", TK__K_ID, 0, 0, 0, NULL },
    [TK__F_PRIORITY]    = { "TicketPriorityId", TK__K_ID, 0, 0, 0, NULL },
    [TK__F_SERVICE]     = { "ServiceId", TK__K_ID, 0, 0, 0, NULL },
    [TK__F_IMPACT]      = { "ImpactId", TK__K_ID, 0, 0, 0, NULL },
    [TK__F_URGENCY]     = { "UrgencyId", TK__K_ID, 0, 0, 0, NULL },
    [TK__F_SLA]         = { "SLAId", TK__K_ID, 0, 0, 0,
                            "%s %s is not an active SLA policy." },
    [TK__F_ASSIGNEE]    = { "AssignedUser", TK__K_USER, 0, 0, 0,
                            "%s %s is not an active Admin or Technician." },
    [TK__F_GUID]        = { "Guid", TK__K_GUID, 0, 0, 0,
                            "%s %s is already in use." },
    [TK__F_TAGS]        = { "SelectedTags", TK__K_TAGS, 0, 0, 0, NULL },
    [TK__F_TITLE]       = { "Title", TK__K_TEXT, 1, 255, 0, NULL },
    [TK__F_DESCRIPTION] = { "Description", TK__K_TEXT, 1, 0, 0, NULL },
    [TK__F_TYPE]        = { "TicketType", TK__K_TYPE, 1, 0, 0, NULL },
    [TK__F_CC]          = { "Cc", TK__K_CC, 0, 0, 0, NULL },
    [TK__F_DUE]         = { "DueDate", TK__K_DATE, 0, 0, 0, NULL }
};

/* a normalized number or date; room for what snprintf might write */
#define TK__NUMLEN  96

static const char *const  tk__ticket_types[] = {
    "Ticket", "Problem", "Incident", "ServiceRequest", "Change"
};

/* The fields of one request, checked and made into parameters. */
typedef struct {
    const char      *val[TK__NFIELDS];  /* parameter text, NULL: absent */
    char             num[TK__NFIELDS][TK__NUMLEN];
    char            *tags;              /* an int[] literal */
    unsigned char    bad[TK__NFIELDS];
    cJSON           *errors;
} tk__reg_t;

/*
 * One row: for each checked field in order, true when it is absent or
 * known, except the subcategory and item (the id of their parent, NULL
 * when unknown) and the tags (the unknown ones, NULL when none).
 */
static const tk__stmt_t  tk__reg_check_stmt = {
    "tk_ticket_reg_check",
    "SELECT $1::text IS NULL OR EXISTS (SELECT FROM users WHERE id = $1),"
    " $2::int IS NULL OR EXISTS (SELECT FROM sites WHERE id = $2),"
    " $3::int IS NULL OR EXISTS (SELECT FROM departments WHERE id = $3),"
    " $4::int IS NULL OR EXISTS (SELECT FROM statuses WHERE id = $4),"
    " $5::int IS NULL OR EXISTS (SELECT FROM categories WHERE id = $5),"
    " (SELECT category_id FROM subcategories WHERE id = $6::int),"
    " (SELECT subcategory_id FROM items WHERE id = $7::int),"
    " $8::int IS NULL OR EXISTS (SELECT FROM tier_levels WHERE id = $8),"
    " $9::int IS NULL OR EXISTS (SELECT FROM groups WHERE id = $9),"
    " $10::int IS NULL OR EXISTS (SELECT FROM clients WHERE id = $10),"
    " $11::int IS NULL OR EXISTS (SELECT FROM priorities WHERE id = $11),"
    " $12::int IS NULL OR EXISTS (SELECT FROM services WHERE id = $12),"
    " $13::int IS NULL OR EXISTS (SELECT FROM impacts WHERE id = $13),"
    " $14::int IS NULL OR EXISTS (SELECT FROM urgencies WHERE id = $14),"
    " $15::int IS NULL OR EXISTS (SELECT FROM sla_policies"
    " WHERE id = $15 AND is_active),"
    " $16::text IS NULL OR EXISTS (SELECT FROM users WHERE id = $16"
    " AND is_active AND role IN ('Admin', 'Technician')),"
    " $17::uuid IS NULL OR NOT EXISTS (SELECT FROM tickets"
    " WHERE guid = $17),"
    " (SELECT string_agg(x::text, ', ' ORDER BY x) FROM (SELECT DISTINCT x"
    " FROM unnest($18::int[]) AS u(x)"
    " WHERE NOT EXISTS (SELECT FROM tags WHERE id = u.x)) m)",
    TK__NCHECKED
};

/*
 * The ticket with its SLA, tags, history and the notification of its
 * technician, in one statement; returns the id and the upload settings.
 * $24 is the principal.
 */
static const tk__stmt_t  tk__reg_insert_stmt = {
    "tk_ticket_reg_insert",
    "WITH sla AS ("
    " SELECT p.id, p.response_minutes, p.resolution_minutes"
    " FROM sla_policies p"
    " WHERE CASE WHEN $15::int IS NOT NULL THEN p.id = $15"
    " ELSE p.is_active"
    " AND (p.priority_id IS NULL OR p.priority_id = $11::int)"
    " AND (p.category_id IS NULL OR p.category_id = $5::int)"
    " AND (p.client_id IS NULL OR p.client_id = $10::int) END"
    " ORDER BY (p.priority_id IS NOT NULL)::int"
    " + (p.category_id IS NOT NULL)::int"
    " + (p.client_id IS NOT NULL)::int DESC, p.id"
    " LIMIT 1"
    "), t AS ("
    " INSERT INTO tickets (guid, title, description, ticket_type, source,"
    " requester_id, assignee_id, created_by_id, category_id,"
    " subcategory_id, item_id, site_id, department_id, group_id, client_id,"
    " status_id, priority_id, tier_level_id, service_id, impact_id,"
    " urgency_id, sla_id, due_date, response_due_date, cc)"
    " SELECT coalesce($17::uuid, gen_random_uuid()), $19::text, $20::text,"
    " $21::smallint, 0, $1::text, $16::text, $24::text, $5::int, $6::int,"
    " $7::int, $2::int, $3::int, $9::int, $10::int, $4::int, $11::int,"
    " $8::int, $12::int, $13::int, $14::int, sla.id,"
    /* wall-clock minutes for now: the business calendar is its own issue */
    " CASE WHEN sla.id IS NULL THEN $23::timestamptz"
    " ELSE now() + sla.resolution_minutes * interval '1 minute' END,"
    " now() + sla.response_minutes * interval '1 minute', $22::text"
    " FROM (SELECT) AS one LEFT JOIN sla ON true"
    " RETURNING id, title, assignee_id"
    "), tg AS ("
    " INSERT INTO ticket_tags (ticket_id, tag_id)"
    " SELECT t.id, u.x FROM t, (SELECT DISTINCT unnest($18::int[])) AS u(x)"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, new_value, changed_by_id)"
    " SELECT id, 'Created', title, $24::text FROM t"
    "), o AS ("
    " INSERT INTO outbox (channel, event, ticket_id, recipients, payload)"
    " SELECT n.channel, 'TicketAssigned', t.id, ARRAY[n.recipient],"
    " jsonb_build_object('ticketId', t.id, 'title', t.title,"
    " 'assignee', t.assignee_id)"
    " FROM t JOIN users u ON u.id = t.assignee_id"
    " CROSS JOIN LATERAL (VALUES ('email', u.email), ('push', u.id))"
    " AS n(channel, recipient)"
    " WHERE n.recipient IS NOT NULL"
    ")"
    " SELECT t.id,"
    " (SELECT value FROM settings WHERE key = 'allowed_extensions'),"
    " (SELECT value FROM settings WHERE key = 'max_file_size')"
    " FROM t",
    24
};

/* No row when the name breaks the table's CHECK: the file is skipped. */
static const tk__stmt_t  tk__reg_file_stmt = {
    "tk_ticket_reg_file",
    "INSERT INTO attachments (ticket_id, file_name, content_type, size,"
    " sha256, content, created_by_id)"
    " SELECT $1::bigint, $2::text, $3::text, octet_length($4::bytea),"
    " $5::text, $4::bytea, $6::text"
    " WHERE $2::text !~ '[/\\\\[:cntrl:]]'"
    " RETURNING id",
    6
};

static const tk__stmt_t  tk__idem_find_stmt = {
    "tk_ticket_idem_find",
    "SELECT body, request_sha256, resource_id FROM idempotency_keys"
    " WHERE principal_id = $1 AND key = $2 AND status = 201"
    " AND created_on > now() - interval '24 hours'",
    2
};

/*
 * Takes the key, or an expired row of it.  A second request with the key
 * waits here on the first one's row until that one commits or rolls back.
 */
static const tk__stmt_t  tk__idem_claim_stmt = {
    "tk_ticket_idem_claim",
    "INSERT INTO idempotency_keys (principal_id, key, request_sha256, status)"
    " VALUES ($1, $2, $3, 0)"
    " ON CONFLICT (principal_id, key) DO UPDATE"
    " SET request_sha256 = EXCLUDED.request_sha256, status = 0,"
    " resource_id = NULL, body = NULL, created_on = now()"
    " WHERE idempotency_keys.created_on <= now() - interval '24 hours'"
    " RETURNING 1",
    3
};

static const tk__stmt_t  tk__idem_store_stmt = {
    "tk_ticket_idem_store",
    "UPDATE idempotency_keys SET status = 201, resource_id = $3, body = $4"
    " WHERE principal_id = $1 AND key = $2",
    4
};


/* Code points of s, or -1 when s is not well-formed UTF-8. */
static long
tk__utf8_count(const char *s)
{
    const unsigned char  *p = (const unsigned char *) s;
    uint32_t              cp, min;
    long                  n;
    int                   k;

    for (n = 0; *p != '\0'; n++) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        if (*p >= 0xc2 && *p <= 0xdf) {
            k = 1; min = 0x80; cp = *p & 0x1f;
        } else if (*p >= 0xe0 && *p <= 0xef) {
            k = 2; min = 0x800; cp = *p & 0x0f;
        } else if (*p >= 0xf0 && *p <= 0xf4) {
            k = 3; min = 0x10000; cp = *p & 0x07;
        } else {
            return -1;
        }

        for (p++; k > 0; k--, p++) {
            if ((*p & 0xc0) != 0x80) {
                return -1;
            }
            cp = cp << 6 | (*p & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return -1;
        }
    }

    return n;
}


/* A client value quoted in a message: at most 64 bytes, whole characters. */
static const char *
tk__echo(const char *s, size_t len, char out[68])
{
    if (len > 64) {
        for (len = 64; len > 0 && (s[len] & 0xc0) == 0x80; len--) {
            /* back to the start of the cut character */
        }
        memcpy(out, s, len);
        memcpy(out + len, "...", 4);
    } else {
        memcpy(out, s, len);
        out[len] = '\0';
    }

    return out;
}


/* Digits only (no sign, no space), at most max; TK_OK or TK_EINVAL. */
static int
tk__parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t  v;
    size_t    i;

    if (len == 0) {
        return TK_EINVAL;
    }

    for (v = 0, i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return TK_EINVAL;
        }
        v = v * 10 + (uint64_t) (s[i] - '0');
        if (v > max) {
            return TK_EINVAL;
        }
    }

    *out = v;
    return TK_OK;
}


static int
tk__parse_id(const char *s, size_t len, char out[TK__NUMLEN])
{
    uint64_t  v;

    if (tk__parse_uint(s, len, INT32_MAX, &v) != TK_OK || v == 0) {
        return TK_EINVAL;
    }

    snprintf(out, TK__NUMLEN, "%u", (unsigned) v);
    return TK_OK;
}


static int
tk__parse_type(const char *s, char out[TK__NUMLEN])
{
    uint64_t  v;
    size_t    i;

    for (i = 0; i < sizeof(tk__ticket_types) / sizeof(char *); i++) {
        if (strcasecmp(s, tk__ticket_types[i]) == 0) {
            snprintf(out, TK__NUMLEN, "%u", (unsigned) i);
            return TK_OK;
        }
    }

    if (tk__parse_uint(s, strlen(s), 4, &v) != TK_OK) {
        return TK_EINVAL;
    }

    snprintf(out, TK__NUMLEN, "%u", (unsigned) v);
    return TK_OK;
}


static int
tk__digits(const char *s, size_t n, int *out)
{
    uint64_t  v;
    size_t    i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\0') {
            return 0;
        }
    }

    if (tk__parse_uint(s, n, 9999, &v) != TK_OK) {
        return 0;
    }

    *out = (int) v;
    return 1;
}


/*
 * ISO 8601 in the extended format: a date, or a date and a time with an
 * optional fraction and offset (Z, +hh, +hhmm, +hh:mm; none means UTC).
 * Out is the same instant in a form PostgreSQL always reads, so that the
 * insert cannot fail on it.
 */
static int
tk__parse_date(const char *s, char out[TK__NUMLEN])
{
    static const int  mdays[] = { 31, 29, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31 };
    const char       *frac = "";
    size_t            nfrac = 0;
    char              sign = '+';
    int               y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
    int               leap;

    if (!tk__digits(s, 4, &y) || s[4] != '-' || !tk__digits(s + 5, 2, &mo)
        || s[7] != '-' || !tk__digits(s + 8, 2, &d))
    {
        return TK_EINVAL;
    }

    s += 10;

    if (*s == 'T' || *s == 't' || *s == ' ') {
        if (!tk__digits(s + 1, 2, &h) || s[3] != ':'
            || !tk__digits(s + 4, 2, &mi))
        {
            return TK_EINVAL;
        }
        s += 6;

        if (*s == ':') {
            if (!tk__digits(s + 1, 2, &sec)) {
                return TK_EINVAL;
            }
            s += 3;

            if (*s == '.' || *s == ',') {
                frac = ++s;
                while (*s >= '0' && *s <= '9') {
                    s++;
                }
                nfrac = (size_t) (s - frac);
                if (nfrac == 0) {
                    return TK_EINVAL;
                }
            }
        }

        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            sign = *s;
            if (!tk__digits(s + 1, 2, &oh)) {
                return TK_EINVAL;
            }
            s += 3;
            if (*s == ':' || (*s >= '0' && *s <= '9')) {
                s += *s == ':';
                if (!tk__digits(s, 2, &om)) {
                    return TK_EINVAL;
                }
                s += 2;
            }
        }
    }

    leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);

    if (*s != '\0' || y < 1 || mo < 1 || mo > 12 || d < 1
        || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)
        || h > 23 || mi > 59 || sec > 59 || oh > 14 || om > 59)
    {
        return TK_EINVAL;
    }

    snprintf(out, TK__NUMLEN, "%04d-%02d-%02dT%02d:%02d:%02d%s%.*s%c%02d:%02d",
             y, mo, d, h, mi, sec, nfrac ? "." : "",
             (int) (nfrac > 6 ? 6 : nfrac), frac, sign, oh, om);
    return TK_OK;
}


static int
tk__valid_uuid(const char *s)
{
    size_t  n, i;

    n = strlen(s);
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        s++;
        n -= 2;
    }

    if (n != 32 && n != 36) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (strchr("0123456789abcdefABCDEF", s[i]) == NULL) {
            return 0;
        }
    }

    return 1;
}


/* local@domain, as users.email: no space, no second @, nothing quoted. */
static int
tk__valid_email(const char *s, size_t len)
{
    const char  *at;
    size_t       i;

    at = memchr(s, '@', len);
    if (at == NULL || at == s || at == s + len - 1 || at[1] == '.'
        || s[len - 1] == '.' || memchr(at + 1, '@', len - (at - s) - 1))
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f
            || strchr("\"(),:;<>[\\]", s[i]) != NULL)
        {
            return 0;
        }
    }

    return 1;
}


static int
tk__blank(const char *s)
{
    return s[strspn(s, " \t\r\n")] == '\0';
}


static int
tk__reg_error(tk__reg_t *reg, int field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
tk__reg_error(tk__reg_t *reg, int field, const char *fmt, ...)
{
    const char  *name = tk__reg_fields[field].name;
    va_list      ap;
    cJSON       *list, *msg;
    char         text[256];

    reg->bad[field] = 1;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    if (reg->errors == NULL && (reg->errors = cJSON_CreateObject()) == NULL) {
        return TK_ENOMEM;
    }

    list = cJSON_GetObjectItemCaseSensitive(reg->errors, name);
    if (list == NULL) {
        list = cJSON_AddArrayToObject(reg->errors, name);
        if (list == NULL) {
            return TK_ENOMEM;
        }
    }

    msg = cJSON_CreateString(text);
    if (msg == NULL || !cJSON_AddItemToArray(list, msg)) {
        cJSON_Delete(msg);
        return TK_ENOMEM;
    }

    return TK_OK;
}


static int
tk__reg_invalid(tk__reg_t *reg, int field, const char *s, size_t len)
{
    char  echo[68];

    return tk__reg_error(reg, field, "The value '%s' is not valid for %s.",
                         tk__echo(s, len, echo), tk__reg_fields[field].name);
}


/* Every value of SelectedTags, each a list of ids, into one int[]. */
static int
tk__reg_parse_tags(const tk_form_t *form, tk__reg_t *reg)
{
    const char  **vals;
    const char   *s, *e;
    size_t        n, i, len, total;
    char         *p;
    int           rc = TK_OK;

    n = tk_form_get_all(form, tk__reg_fields[TK__F_TAGS].name, NULL, 0);
    if (n == 0) {
        return TK_OK;
    }

    vals = malloc(n * sizeof(*vals));
    if (vals == NULL) {
        return TK_ENOMEM;
    }
    tk_form_get_all(form, tk__reg_fields[TK__F_TAGS].name, vals, n);

    /* an id is never longer than the text it came from */
    for (total = 3, i = 0; i < n; i++) {
        total += strlen(vals[i]) + 1;
    }

    reg->tags = p = malloc(total);
    if (p == NULL) {
        free(vals);
        return TK_ENOMEM;
    }
    *p++ = '{';

    for (i = 0; i < n && rc == TK_OK; i++) {
        if (tk__utf8_count(vals[i]) < 0) {
            rc = tk__reg_error(reg, TK__F_TAGS,
                               "The field SelectedTags contains invalid "
                               "UTF-8.");
            continue;
        }

        for (s = vals[i]; *s != '\0' && rc == TK_OK; s = *e ? e + 1 : e) {
            e = s + strcspn(s, ",");
            for (; s < e && *s == ' '; s++) { /* trim */ }
            for (len = (size_t) (e - s); len > 0 && s[len - 1] == ' '; len--)
            {
                /* trim */
            }

            if (len == 0) {
                continue;
            }

            if (tk__parse_id(s, len, reg->num[TK__F_TAGS]) != TK_OK) {
                rc = tk__reg_invalid(reg, TK__F_TAGS, s, len);
                continue;
            }

            p += sprintf(p, "%s%s", p[-1] == '{' ? "" : ",",
                         reg->num[TK__F_TAGS]);
        }
    }

    free(vals);
    strcpy(p, "}");

    if (p[-1] != '{') {
        reg->val[TK__F_TAGS] = reg->tags;
    }

    return rc;
}


/* One field from the form into reg: a parameter, or an error entry. */
static int
tk__reg_parse(const tk_form_t *form, int i, tk__reg_t *reg)
{
    const tk__reg_field_t  *f = &tk__reg_fields[i];
    const char             *s, *e, *raw;
    long                    n;
    int                     any;

    if (f->kind == TK__K_TAGS) {
        return tk__reg_parse_tags(form, reg);
    }

    /* empty or blank is absent, as ASP.NET binds it */
    raw = tk_form_get(form, f->name);
    if (raw == NULL || tk__blank(raw)) {
        return f->required
               ? tk__reg_error(reg, i, "The %s field is required.", f->name)
               : TK_OK;
    }

    n = tk__utf8_count(raw);
    if (n < 0) {
        return tk__reg_error(reg, i, "The field %s contains invalid UTF-8.",
                             f->name);
    }

    switch (f->kind) {

    case TK__K_TEXT:
        if (f->max > 0 && n > f->max) {
            return tk__reg_error(reg, i, "The field %s must be a string with "
                                 "a maximum length of %d.", f->name, f->max);
        }
        break;

    case TK__K_ID:
        if (tk__parse_id(raw, strlen(raw), reg->num[i]) != TK_OK) {
            return tk__reg_invalid(reg, i, raw, strlen(raw));
        }
        raw = reg->num[i];
        break;

    case TK__K_TYPE:
        if (tk__parse_type(raw, reg->num[i]) != TK_OK) {
            return tk__reg_invalid(reg, i, raw, strlen(raw));
        }
        raw = reg->num[i];
        break;

    case TK__K_DATE:
        if (tk__parse_date(raw, reg->num[i]) != TK_OK) {
            return tk__reg_invalid(reg, i, raw, strlen(raw));
        }
        raw = reg->num[i];
        break;

    case TK__K_GUID:
        if (!tk__valid_uuid(raw)) {
            return tk__reg_invalid(reg, i, raw, strlen(raw));
        }
        break;

    case TK__K_CC:
        for (any = 0, s = raw; *s != '\0'; s = *e ? e + 1 : e) {
            e = s + strcspn(s, ",;");
            for (; s < e && strchr(" \t\r\n", *s); s++) { /* trim */ }
            for (n = e - s; n > 0 && strchr(" \t\r\n", s[n - 1]); n--) {
                /* trim */
            }
            if (n > 0 && !tk__valid_email(s, (size_t) n)) {
                return tk__reg_error(reg, i, "The %s field is not a valid "
                                     "e-mail address.", f->name);
            }
            any |= n > 0;
        }
        if (!any) {
            return TK_OK;
        }
        break;

    default:
        break;
    }

    reg->val[i] = raw;
    return TK_OK;
}


/* What only the database knows, for every checked field in one query. */
static int
tk__reg_check(tk_conn_t *c, tk__reg_t *reg, tk_result_t *res)
{
    const tk__reg_field_t  *f;
    const char             *col, *parent;
    PGresult               *r;
    char                    echo[68];
    int                     i, rc = TK_OK;

    r = tk__exec(c, &tk__reg_check_stmt, reg->val, res);
    if (r == NULL) {
        return res->code;
    }

    for (i = 0; i < TK__NCHECKED && rc == TK_OK; i++) {
        f = &tk__reg_fields[i];
        col = tk__val(r, 0, i);

        if (reg->val[i] == NULL) {
            continue;
        }

        tk__echo(reg->val[i], strlen(reg->val[i]), echo);

        if (f->kind == TK__K_TAGS) {
            if (col != NULL) {
                rc = tk__reg_error(reg, i, "Unknown %s %s.", f->name, col);
            }

        } else if (f->parent != 0 && col != NULL) {
            parent = reg->val[f->parent];
            if (parent == NULL && !reg->bad[f->parent]) {
                rc = tk__reg_error(reg, i, "%s requires %s.", f->name,
                                   tk__reg_fields[f->parent].name);
            } else if (parent != NULL && strcmp(col, parent) != 0) {
                rc = tk__reg_error(reg, i, "%s %s does not belong to %s %s.",
                                   f->name, echo,
                                   tk__reg_fields[f->parent].name, parent);
            }

        } else if (col == NULL || col[0] != 't') {
            rc = tk__reg_error(reg, i, f->unknown ? f->unknown
                                                  : "Unknown %s %s.",
                               f->name, echo);
        }
    }

    PQclear(r);
    return rc == TK_OK ? TK_OK : tk__fail(res, rc, "out of memory");
}


/* The errors gathered so far as the answer: TK_EINVAL. */
static int
tk__reg_answer_errors(tk__reg_t *reg, tk_result_t *res)
{
    free(res->errors);
    res->errors = cJSON_PrintUnformatted(reg->errors);
    if (res->errors == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    return tk__fail(res, TK_EINVAL, "One or more validation errors occurred.");
}


static int
tk__reg_validate(tk_conn_t *c, const tk_form_t *form, tk__reg_t *reg,
    tk_result_t *res)
{
    int  i;

    for (i = 0; i < TK__NFIELDS; i++) {
        if (tk__reg_parse(form, i, reg) != TK_OK) {
            return tk__fail(res, TK_ENOMEM, "out of memory");
        }
    }

    if (tk__reg_check(c, reg, res) != TK_OK) {
        return res->code;
    }

    return reg->errors == NULL ? TK_OK : tk__reg_answer_errors(reg, res);
}


static int
tk__is_upload(const tk_file_t *f)
{
    return strcasecmp(f->name, "Uploads") == 0;
}


static int
tk__field_order(const void *a, const void *b)
{
    return strcasecmp(tk__reg_fields[*(const int *) a].name,
                      tk__reg_fields[*(const int *) b].name);
}


static int
tk__hash_put(EVP_MD_CTX *ctx, const char *s, size_t len)
{
    char  n[24];

    snprintf(n, sizeof(n), "%zu:", len);
    return EVP_DigestUpdate(ctx, n, strlen(n)) == 1
           && EVP_DigestUpdate(ctx, s, len) == 1;
}


/*
 * What makes two requests the same for an Idempotency-Key: the fields of
 * the model sorted by lower-cased name with all their values, then the
 * uploads in order by name and SHA-256.  Unknown fields are ignored, as
 * the request itself ignores them.  Each piece is length-prefixed so that
 * no two requests run together into one input.
 */
static int
tk__reg_request_sha(const tk_form_t *form, char (*sha)[65], char out[65])
{
    const tk_file_t  *f;
    EVP_MD_CTX       *ctx;
    const char      **vals;
    unsigned char     md[32];
    unsigned int      mdlen;
    size_t            n, i, j;
    char              name[32];
    int               order[TK__NFIELDS];
    int               ok;

    for (i = 0; i < TK__NFIELDS; i++) {
        order[i] = (int) i;
    }
    qsort(order, TK__NFIELDS, sizeof(order[0]), tk__field_order);

    ctx = EVP_MD_CTX_new();
    ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

    for (i = 0; ok && i < TK__NFIELDS; i++) {
        for (j = 0; tk__reg_fields[order[i]].name[j] != '\0'; j++) {
            name[j] = (char) (tk__reg_fields[order[i]].name[j] | 0x20);
        }

        ok = tk__hash_put(ctx, name, j);

        n = tk_form_get_all(form, tk__reg_fields[order[i]].name, NULL, 0);
        vals = n > 0 ? malloc(n * sizeof(*vals)) : NULL;
        ok = ok && (n == 0 || vals != NULL);
        if (ok && n > 0) {
            tk_form_get_all(form, tk__reg_fields[order[i]].name, vals, n);
        }

        for (j = 0; ok && j < n; j++) {
            ok = tk__hash_put(ctx, vals[j], strlen(vals[j]));
        }
        ok = ok && tk__hash_put(ctx, "", 0);
        free(vals);
    }

    for (i = 0; ok && i < tk_form_nfiles(form); i++) {
        f = tk_form_file(form, i);
        if (tk__is_upload(f)) {
            ok = tk__hash_put(ctx, f->filename, strlen(f->filename))
                 && tk__hash_put(ctx, sha[i], 64);
        }
    }

    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    EVP_MD_CTX_free(ctx);

    if (!ok) {
        return TK_EINTERNAL;
    }

    tk__hex(md, sizeof(md), out);
    return TK_OK;
}


/*
 * The stored answer of an Idempotency-Key: 1 when res holds it (the first
 * answer again, or the reuse error), 0 when there is none, < 0 on error.
 */
static int
tk__idem_answer(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *sha, tk_result_t *res)
{
    const char  *v[2] = { p->user_id, key };
    const char  *stored;
    PGresult    *r;
    long long    id;

    r = tk__exec(c, &tk__idem_find_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }

    stored = tk__val(r, 0, 1);
    if (stored == NULL || strcmp(stored, sha) != 0) {
        PQclear(r);
        tk__fail(res, TK_EINVAL,
                 "Idempotency-Key reused with a different request");
        return 1;
    }

    id = strtoll(tk__val(r, 0, 2) ? tk__val(r, 0, 2) : "0", NULL, 10);
    if (tk__take_body(r, res) != TK_OK) {
        return res->code;
    }

    /* the stored body is the ticket as created: always version 1 */
    res->id = id;
    snprintf(res->etag, sizeof(res->etag), "\"%lld-1\"", id);
    res->code = TK_CREATED;
    return 1;
}


static int
tk__ext_allowed(const char *list, const char *filename)
{
    const char  *ext, *s, *e;
    size_t       len;

    ext = strrchr(filename, '.');
    if (list == NULL || ext == NULL || *++ext == '\0') {
        return 0;
    }

    for (s = list; *s != '\0'; s = *e ? e + 1 : e) {
        e = s + strcspn(s, ",");
        for (; s < e && (*s == ' ' || *s == '.'); s++) { /* ".pdf" */ }
        for (len = (size_t) (e - s); len > 0 && s[len - 1] == ' '; len--) {
            /* trim */
        }
        if (len == strlen(ext) && strncasecmp(s, ext, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* A Content-Type is later sent back as a header: only printable ASCII. */
static const char *
tk__safe_type(const char *type)
{
    size_t  i;

    for (i = 0; type[i] != '\0'; i++) {
        if (type[i] < 0x20 || type[i] > 0x7e || i >= 127) {
            return "application/octet-stream";
        }
    }

    return i > 0 ? type : "application/octet-stream";
}


static void
tk__note(tk_result_t *res, const char *what, const char *name)
{
    size_t  len = strlen(res->message);

    snprintf(res->message + len, sizeof(res->message) - len, "%sskipped "
             "upload %s: %s", len ? "; " : "", name, what);
}


/*
 * The uploads of a new ticket: each allowed one is stored, the others are
 * skipped and named in res->message, and the request goes on.
 */
static int
tk__reg_files(tk_conn_t *c, const tk_principal_t *p, const tk_form_t *form,
    const char *id, const char *exts, const char *maxsize, char (*sha)[65],
    tk_result_t *res)
{
    const tk_file_t  *f;
    const char       *v[6];
    PGresult         *r;
    uint64_t          max = INT32_MAX;
    size_t            i;
    char              size[48];
    int               lengths[6] = { 0 };
    int               formats[6] = { 0, 0, 0, 1, 0, 0 };
    int               stored;

    /* unset: as large as a bytea parameter can be */
    if (maxsize != NULL
        && tk__parse_uint(maxsize, strlen(maxsize), INT32_MAX, &max) != TK_OK)
    {
        max = INT32_MAX;
    }

    for (i = 0; i < tk_form_nfiles(form); i++) {
        f = tk_form_file(form, i);
        if (!tk__is_upload(f)) {
            continue;
        }

        if (tk__utf8_count(f->filename) < 0) {
            tk__note(res, "file name is not UTF-8", "(unnamed)");
            continue;
        }

        if (!tk__ext_allowed(exts, f->filename)) {
            tk__note(res, "extension not allowed", f->filename);
            continue;
        }

        if (f->size > max) {
            snprintf(size, sizeof(size), "larger than %llu bytes",
                     (unsigned long long) max);
            tk__note(res, size, f->filename);
            continue;
        }

        v[0] = id;
        v[1] = f->filename;
        v[2] = tk__safe_type(f->content_type);
        v[3] = (const char *) f->data;
        v[4] = sha[i];
        v[5] = p->user_id;
        lengths[3] = (int) f->size;

        r = tk__execb(c, &tk__reg_file_stmt, v, lengths, formats, res);
        if (r == NULL) {
            return res->code;
        }

        stored = PQntuples(r) == 1;
        PQclear(r);

        if (!stored) {
            tk__note(res, "file name not allowed", f->filename);
        }
    }

    return TK_OK;
}


/* The ticket and all that comes with it, in one transaction. */
static int
tk__reg_store(tk_conn_t *c, const tk_principal_t *p, const tk_form_t *form,
    tk__reg_t *reg, const char *key, const char *req_sha, char (*sha)[65],
    tk_result_t *res)
{
    const char  *v[TK__NFIELDS + 1];
    const char  *iv[4];
    PGresult    *r;
    int          rc, claimed;
    char         id[24];

    if (tk__begin(c, res) != TK_OK) {
        return res->code;
    }

    if (key != NULL) {
        iv[0] = p->user_id;
        iv[1] = key;
        iv[2] = req_sha;

        r = tk__exec(c, &tk__idem_claim_stmt, iv, res);
        if (r == NULL) {
            goto failed;
        }
        claimed = PQntuples(r) == 1;
        PQclear(r);

        if (!claimed) {
            /* another request with the key committed while we waited */
            rc = tk__idem_answer(c, p, key, req_sha, res);
            tk__rollback(c);
            if (rc == 0) {
                return tk__fail(res, TK_ECONFLICT, "Idempotency-Key is in "
                                "use by another request");
            }
            return rc > 0 ? res->code : rc;
        }
    }

    memcpy(v, reg->val, sizeof(reg->val));
    v[TK__NFIELDS] = p->user_id;

    r = tk__exec(c, &tk__reg_insert_stmt, v, res);
    if (r == NULL) {
        if (strcmp(tk__sqlstate(c), "23505") == 0
            && reg->val[TK__F_GUID] != NULL)
        {
            /* the Guid, registered by a request running alongside */
            tk__rollback(c);
            rc = tk__reg_error(reg, TK__F_GUID, tk__reg_fields[TK__F_GUID]
                               .unknown, "Guid", reg->val[TK__F_GUID]);
            return rc == TK_OK ? tk__reg_answer_errors(reg, res)
                               : tk__fail(res, rc, "out of memory");
        }
        goto failed;
    }

    snprintf(id, sizeof(id), "%s", tk__val(r, 0, 0) ? tk__val(r, 0, 0) : "");
    rc = tk__reg_files(c, p, form, id, tk__val(r, 0, 1), tk__val(r, 0, 2),
                       sha, res);
    PQclear(r);

    if (rc != TK_OK || tk__ticket_json(c, p, strtoll(id, NULL, 10), res)
                       != TK_OK)
    {
        goto failed;
    }

    if (key != NULL) {
        iv[2] = id;
        iv[3] = res->body;

        r = tk__exec(c, &tk__idem_store_stmt, iv, res);
        if (r == NULL) {
            goto failed;
        }
        PQclear(r);
    }

    if (tk__commit(c, res) != TK_OK) {
        goto failed;
    }

    res->id = strtoll(id, NULL, 10);
    res->code = TK_CREATED;
    return TK_CREATED;

failed:

    tk__rollback(c);
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    res->etag[0] = '\0';
    return res->code;
}


int
tk_ticket_register(tk_conn_t *c, const tk_principal_t *p,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res)
{
    const tk_file_t  *f;
    tk__reg_t         reg;
    char            (*sha)[65] = NULL;
    char              req_sha[65];
    size_t            i, n;
    int               rc;

    /* compat: the original answers 400, not 403 */
    if (!(p->perms & TK_PERM_CREATE)) {
        return tk__fail(res, TK_EINVAL, "Permission denied");
    }

    if (idempotency_key != NULL
        && (idempotency_key[0] == '\0' || strlen(idempotency_key) > 255
            || tk__utf8_count(idempotency_key) < 0))
    {
        return tk__fail(res, TK_EINVAL, "Idempotency-Key must be 1 to 255 "
                        "bytes of UTF-8");
    }

    memset(&reg, 0, sizeof(reg));

    n = tk_form_nfiles(form);
    sha = calloc(n ? n : 1, sizeof(*sha));
    if (sha == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    for (i = 0; i < n; i++) {
        f = tk_form_file(form, i);
        if (tk__is_upload(f)
            && tk__sha256_hex(f->data, f->size, sha[i]) != TK_OK)
        {
            rc = tk__fail(res, TK_EINTERNAL, "sha256 failed");
            goto done;
        }
    }

    /*
     * A retry is answered before validation: what it names may have
     * changed since (its own Guid exists now).
     */
    if (idempotency_key != NULL) {
        rc = tk__reg_request_sha(form, sha, req_sha);
        if (rc != TK_OK) {
            tk__fail(res, rc, "request hash failed");
            goto done;
        }

        rc = tk__idem_answer(c, p, idempotency_key, req_sha, res);
        if (rc != 0) {
            rc = rc > 0 ? res->code : rc;
            goto done;
        }
    }

    rc = tk__reg_validate(c, form, &reg, res);
    if (rc != TK_OK) {
        goto done;
    }

    if (p->role == TK_ROLE_MEMBER
        && strcmp(reg.val[TK__F_CREATOR], p->user_id) != 0)
    {
        rc = tk__fail(res, TK_EFORBIDDEN,
                      "a Member may register tickets only for themselves");
        goto done;
    }

    rc = tk__reg_store(c, p, form, &reg, idempotency_key,
                       idempotency_key ? req_sha : NULL, sha, res);

done:

    cJSON_Delete(reg.errors);
    free(reg.tags);
    free(sha);
    return rc;
}
