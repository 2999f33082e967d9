/*
 * Tickets: the TicketApiModel and registration.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "assign.h"
#include "db.h"
#include "idem.h"
#include "model.h"
#include "result.h"
#include "settings.h"
#include "sla.h"
#include "ticket.h"
#include "upload.h"
#include "valid.h"


static const tk__stmt_t  tk__ticket_json_stmt = {
    "tk_ticket_json",
    "SELECT " TK__TICKET_MODEL ", t.version"
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
tk__ticket_read(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk__stmt_t *st, tk_result_t *res)
{
    const char  *v[2];
    PGresult    *r;
    char         ids[24];

    snprintf(ids, sizeof(ids), "%lld", (long long) id);
    v[0] = id > 0 ? ids : NULL;
    v[1] = p->role == TK_ROLE_MEMBER ? p->user_id : NULL;

    r = tk__exec(c, st, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (tk__take_body(r, res) != TK_OK) {
        if (res->code == TK_ENOTFOUND) {
            tk__fail(res, TK_ENOTFOUND, "no ticket %s", ids);
        }
        return res->code;
    }

    res->code = TK_OK;
    return TK_OK;
}


int
tk_ticket_get(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    return tk__ticket_json(c, p, id, res);
}



/* The ticket's row for a write, locked until the transaction ends. */
static const tk__stmt_t  tk__ticket_lock_stmt = {
    "tk_ticket_lock",
    "SELECT t.id, t.guid, t.title, t.requester_id, coalesce(ru.email, ''),"
    " coalesce(t.assignee_id, ''), coalesce(au.email, ''), t.status_id,"
    " s.status_type, coalesce(t.group_id::text, ''),"
    " coalesce(t.priority_id::text, ''), coalesce(t.cc, ''), t.version,"
    " " TK__IS_LOCKED ", t.is_escalated"
    /*
     * Locked alone, then joined: after waiting for a concurrent write,
     * FOR UPDATE rechecks every qual of the statement against the new
     * row, and a join to the old status or assignee would drop it.
     */
    " FROM (SELECT * FROM tickets WHERE id = $1 AND NOT is_deleted"
    " AND ($2::text IS NULL OR requester_id = $2) FOR UPDATE) t"
    " JOIN statuses s ON s.id = t.status_id"
    " JOIN users ru ON ru.id = t.requester_id"
    " LEFT JOIN users au ON au.id = t.assignee_id",
    2
};

static const tk__stmt_t  tk__history_add_stmt = {
    "tk_history_add",
    "INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id) VALUES ($1::bigint, $2, $3, $4, $5)",
    5
};

static const tk__stmt_t  tk__ticket_touch_stmt = {
    "tk_ticket_touch",
    "UPDATE tickets SET version = version + 1, updated_on = now()"
    " WHERE id = $1::bigint",
    1
};


#define TK__COPY(dst, r, col)                                                 \
    snprintf(dst, sizeof(dst), "%s", tk__val(r, 0, col) ? tk__val(r, 0, col) \
                                                         : "")

int
tk__ticket_lock(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk__ticket_row_t *t, tk_result_t *res)
{
    const char  *v[2];
    PGresult    *r;
    char         ids[24];

    memset(t, 0, sizeof(*t));

    if (id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no ticket %lld", (long long) id);
    }

    snprintf(ids, sizeof(ids), "%lld", (long long) id);
    v[0] = ids;
    v[1] = (p != NULL && p->role == TK_ROLE_MEMBER) ? p->user_id : NULL;

    r = tk__exec(c, &tk__ticket_lock_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) != 1) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "no ticket %s", ids);
    }

    TK__COPY(t->id, r, 0);
    TK__COPY(t->guid, r, 1);
    TK__COPY(t->title, r, 2);
    TK__COPY(t->requester_id, r, 3);
    TK__COPY(t->requester_email, r, 4);
    TK__COPY(t->assignee_id, r, 5);
    TK__COPY(t->assignee_email, r, 6);
    TK__COPY(t->status_id, r, 7);
    TK__COPY(t->status_type, r, 8);
    TK__COPY(t->group_id, r, 9);
    TK__COPY(t->priority_id, r, 10);
    TK__COPY(t->cc, r, 11);
    t->version = atoi(tk__val(r, 0, 12) ? tk__val(r, 0, 12) : "0");
    t->is_locked = tk__val(r, 0, 13) && tk__val(r, 0, 13)[0] == 't';
    t->is_escalated = tk__val(r, 0, 14) && tk__val(r, 0, 14)[0] == 't';

    PQclear(r);
    return TK_OK;
}


int
tk__history_add(tk_conn_t *c, const char *ticket_id, const char *by,
    const char *field, const char *old_value, const char *new_value,
    tk_result_t *res)
{
    const char  *v[5] = { ticket_id, field, old_value, new_value, by };
    PGresult    *r;

    r = tk__exec(c, &tk__history_add_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    PQclear(r);
    return TK_OK;
}


int
tk__ticket_touch(tk_conn_t *c, const char *ticket_id, tk_result_t *res)
{
    const char  *v[1] = { ticket_id };
    PGresult    *r;
    int          n;

    r = tk__exec(c, &tk__ticket_touch_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    n = atoi(PQcmdTuples(r));
    PQclear(r);

    if (n != 1) {
        return tk__fail(res, TK_ENOTFOUND, "no ticket %s", ticket_id);
    }

    /* the SLA clock stops and starts with the status (SPEC 4) */
    return tk__sla_status_changed(c, ticket_id, res);
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

/* a normalized number or date */
#define TK__NUMLEN  40

static const char *const  tk__ticket_types[] = {
    "Ticket", "Problem", "Incident", "ServiceRequest", "Change"
};

#define TK__NTYPES  (int) (sizeof(tk__ticket_types) / sizeof(char *))

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
 * technician, in one statement; returns the id and the outbox rows
 * written.  $24 is the principal.
 */
static const tk__stmt_t  tk__reg_insert_stmt = {
    "tk_ticket_reg_insert",
    "WITH sla AS ("
    " SELECT p.id, d.response_due, d.resolution_due"
    " FROM (SELECT coalesce($15::int, sla_policy_for($11::int, $5::int,"
    " $10::int)) AS id) p, sla_due(p.id, now(), 0, 0) d"
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
    /* a policy's due date overrides a manual one (SPEC 4) */
    " CASE WHEN sla.id IS NULL THEN $23::timestamptz"
    " ELSE sla.resolution_due END,"
    " sla.response_due, $22::text"
    " FROM sla"
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
    " RETURNING 1"
    ")"
    " SELECT t.id, (SELECT count(*) FROM o),"
    " (SELECT value FROM settings WHERE key = 'auto_assign_on_create')"
    " FROM t",
    24
};


/* An error entry for the field, which is then known to be bad. */
static int
tk__reg_error(tk__reg_t *reg, int field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
tk__reg_error(tk__reg_t *reg, int field, const char *fmt, ...)
{
    va_list  ap;
    char     text[256];

    reg->bad[field] = 1;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    return tk__error_add(&reg->errors, tk__reg_fields[field].name, "%s",
                         text);
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
    int64_t       id;
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

            if (tk__parse_idn(s, len, INT32_MAX, &id) != TK_OK) {
                rc = tk__reg_invalid(reg, TK__F_TAGS, s, len);
                continue;
            }

            p += sprintf(p, "%s%lld", p[-1] == '{' ? "" : ",",
                         (long long) id);
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
    const char             *raw;
    int64_t                 id;
    long                    n;
    int                     type;

    if (f->kind == TK__K_TAGS) {
        return tk__reg_parse_tags(form, reg);
    }

    /* empty or blank is absent, as ASP.NET binds it */
    raw = tk_form_get(form, f->name);
    if (tk__blank(raw)) {
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
        if (tk__parse_id(raw, INT32_MAX, &id) != TK_OK) {
            return tk__reg_invalid(reg, i, raw, strlen(raw));
        }
        snprintf(reg->num[i], TK__NUMLEN, "%lld", (long long) id);
        raw = reg->num[i];
        break;

    case TK__K_TYPE:
        if (tk__parse_enum(raw, tk__ticket_types, TK__NTYPES, &type)
            != TK_OK)
        {
            return tk__reg_invalid(reg, i, raw, strlen(raw));
        }
        snprintf(reg->num[i], TK__NUMLEN, "%d", type);
        raw = reg->num[i];
        break;

    case TK__K_DATE:
        if (tk__parse_datetime(raw, reg->num[i]) != TK_OK) {
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
        /* separators only: no address, as if absent */
        if (raw[strspn(raw, " \t\r\n,;")] == '\0') {
            return TK_OK;
        }
        if (!tk__valid_email_list(raw)) {
            return tk__reg_error(reg, i, "The %s field is not a valid "
                                 "e-mail address.", f->name);
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

    return reg->errors == NULL ? TK_OK : tk__errors_answer(&reg->errors, res);
}


/* Auto-assignment on create: only when no AssignedUser was given. */
static int
tk__reg_assign(tk_conn_t *c, const tk_principal_t *p, const tk__reg_t *reg,
    const char *id, int on, tk_result_t *res)
{
    if (reg->val[TK__F_ASSIGNEE] != NULL || reg->val[TK__F_GROUP] == NULL) {
        return TK_OK;
    }

    return on ? tk__auto_assign(c, id, p->user_id, res) : TK_OK;
}


/* The ticket and all that comes with it, in one transaction. */
static int
tk__reg_store(tk_conn_t *c, const tk_principal_t *p, const tk_form_t *form,
    tk__reg_t *reg, const char *key, const char *req_sha, tk_result_t *res)
{
    const char  *v[TK__NFIELDS + 1];
    PGresult    *r;
    int          rc, on;
    char         id[24];

    if (tk__write_begin(c, p, key, req_sha, res) != 0) {
        return res->code;
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
            return rc == TK_OK ? tk__errors_answer(&reg->errors, res)
                               : tk__fail(res, rc, "out of memory");
        }
        goto failed;
    }

    snprintf(id, sizeof(id), "%s", tk__val(r, 0, 0) ? tk__val(r, 0, 0) : "");
    /* the assignment's email and push, queued by the insert */
    res->outbox = tk__val(r, 0, 1) ? atoi(tk__val(r, 0, 1)) : 0;
    /* auto_assign_on_create, read by the insert: unset or not a boolean
     * is off */
    if (tk__setting_parse_bool(tk__val(r, 0, 2), &on) != TK_OK) {
        on = 0;
    }
    PQclear(r);

    /*
     * The assignment comes last but for the answer: it holds the group's
     * cursor until the commit, and uploads may take a while.
     */
    if (tk__uploads_store(c, p, form, id, NULL, res) != TK_OK
        || tk__reg_assign(c, p, reg, id, on, res) != TK_OK)
    {
        goto failed;
    }

    /* without a key to store the answer under, the answer is the last
     * statement of the transaction: its COMMIT goes with it */
    if (key == NULL) {
        tk__commit_next(c);
    }

    if (tk__ticket_json(c, p, strtoll(id, NULL, 10), res) != TK_OK) {
        goto failed;
    }

    res->id = strtoll(id, NULL, 10);
    res->code = TK_CREATED;
    return tk__write_commit(c, p, key, res);

failed:

    return tk__write_failed(c, res);
}


int
tk_ticket_register(tk_conn_t *c, const tk_principal_t *p,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res)
{
    const char  *names[TK__NFIELDS + 1];
    tk__reg_t    reg;
    char         req_sha[65];
    int          i, rc;

    /* compat: the original answers 400, not 403 */
    if (!(p->perms & TK_PERM_CREATE)) {
        return tk__fail(res, TK_EINVAL, "Permission denied");
    }

    /*
     * A retry is answered before validation: what it names may have
     * changed since (its own Guid exists now).  Unknown fields are
     * ignored, as the request itself ignores them.
     */
    for (i = 0; i < TK__NFIELDS; i++) {
        names[i] = tk__reg_fields[i].name;
    }
    names[TK__NFIELDS] = NULL;

    if (tk__write_replay(c, p, idempotency_key, "register", form, names,
                         req_sha, res) != 0)
    {
        return res->code;
    }

    memset(&reg, 0, sizeof(reg));

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
                       idempotency_key ? req_sha : NULL, res);

done:

    cJSON_Delete(reg.errors);
    free(reg.tags);
    return rc;
}
