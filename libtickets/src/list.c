/*
 * GET /api/TicketsApi (SPEC 3.1): the twenty list types, search, paging
 * and sort; PostgreSQL builds the page's JSON and counts every match.
 *
 * One statement per combination of list type, Member or not, search or
 * not, sort key and order, assembled from constant fragments: a predicate
 * per list type, one search predicate, a sort key per sort.  Client text
 * never becomes SQL; values travel as $n:
 *
 *   $1 the user U, $2 LIMIT, $3 OFFSET, and with a search
 *   $4 the Subject pattern, $5 the TicketId, $6 the Priority ids,
 *   $7 the Requester pattern (NULL for a field not searched: it matches
 *   nothing, and PostgreSQL folds it away when it plans the values).
 *
 * Why not one statement that switches on the list type with a parameter:
 * a cached generic plan of "CASE $n WHEN ..." cannot pick the index of the
 * list it is asked for, and a million tickets then means a full scan per
 * request.  With one text per combination each plan uses the index its
 * own predicate calls for: a BitmapOr of the requester and assignee
 * indexes for involving(U), the group index for AllMyGroups, a backward
 * primary key scan that stops at the LIMIT for the big lists.
 *
 * Two shapes, both answering the page and the count of every match (not
 * count(*) OVER (), which gives no total for a page past the end):
 *
 *   - a list that is a large share of the table (AllTickets, the status
 *     lists, ...) walks the sort's index and stops at the LIMIT, while the
 *     count takes its own cheapest path, an index-only scan mostly;
 *   - a scoped list (one user's tickets, their tasks, a Member's every
 *     list, any search) is bounded by its matches, and its count visits
 *     each of them anyway: the matches are collected once (a MATERIALIZED
 *     CTE of id and sort key), counted, and the page cut from them.  The
 *     walk would there be a trap: data is correlated (a technician's
 *     on-hold tickets are all recent, or all old), and a plan that walks
 *     the id index hoping to meet 25 of them soon can read the whole
 *     table.
 *
 * The texts are built on first use into a table with one slot per
 * combination (800), so that a statement keeps its address and is
 * prepared once per connection by tk__exec.  A connection holds at most
 * TK__LIST_MAX_PREPARED of them, since its prepared statements are
 * capped (TK__MAX_PREPARED) and shared with every other operation; past
 * that a combination runs unprepared, with the same text and values.
 */

#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "db.h"
#include "result.h"
#include "valid.h"


#define TK__NELEMS(a)  (sizeof(a) / sizeof((a)[0]))

#define TK__SEARCH_MAX          200     /* characters */
#define TK__PAGE_SIZE_DEFAULT   25
#define TK__PAGE_SIZE_MAX       100
#define TK__LIST_MAX_PREPARED   64      /* per connection */


/* Predicates on the ticket t for the current user U ($1). */
#define TK__INVOLVING  "(t.requester_id = $1 OR t.assignee_id = $1)"
#define TK__INVOLVING_OR_UNASSIGNED                                          \
    "(t.requester_id = $1 OR t.assignee_id = $1 OR t.assignee_id IS NULL)"
/* an array, so that status_id = ANY is an index condition wherever
 * status_id is an index column (a semi-join is not) */
#define TK__STATUS(types)                                                    \
    "t.status_id = ANY (ARRAY(SELECT id FROM statuses"                       \
    " WHERE status_type IN (" types ")))"
#define TK__ACTIVE     TK__STATUS("'Open', 'OnHold', 'Pending'")
#define TK__COMPLETED  TK__STATUS("'Resolved', 'Closed'")
#define TK__OVERDUE    "t.due_date < now() AND " TK__ACTIVE
/* the calendar day in U's time zone (sql/002_list_indexes.sql) */
#define TK__DAY_START(days)                                                  \
    "(SELECT (date_trunc('day', now() AT TIME ZONE z)" days ")"              \
    " AT TIME ZONE z FROM user_time_zone($1) z)"
#define TK__TODAY                                                            \
    "t.due_date >= " TK__DAY_START("")                                       \
    " AND t.due_date < " TK__DAY_START(" + interval '1 day'")
/* an array, so that the tickets are fetched by id rather than joined */
#define TK__TASK(completed)                                                  \
    "k.assigned_user_id = $1 AND " completed "k.is_completed"                \
    " AND NOT k.ticket_deleted"
#define TK__HAS_TASK(completed)                                              \
    "t.id = ANY (ARRAY(SELECT k.ticket_id FROM tasks k WHERE "               \
    TK__TASK(completed) "))"

/*
 * How a list finds its page and counts its matches (see the top):
 *
 *   WALK     a large share of the table: the page walks the sort's index
 *            and stops at the LIMIT, the count takes its own path;
 *   WIDE     WALK, for most of the table: sorted by priority (whose rank
 *            is not on the ticket), each priority's tickets are walked by
 *            id and merged in rank order, rather than all of them sorted;
 *   ARMS     involving(U) and a predicate most of U's tickets meet: the
 *            requester's and the assignee's tickets are two index walks
 *            (an arm each), merged, each stopping at the page's end; the
 *            count runs the arms one after the other (the assignee arm
 *            without the tickets U also requested);
 *   COLLECT  few matches (the active ones, a user's tasks): all of them
 *            are collected once, counted, and the page cut from them;
 *   ARMS_COLLECT  COLLECT over the two arms of involving(U);
 *   ARMS3_COLLECT and a third arm, the unassigned tickets;
 *   TASKS    U's tasks: by id, the page and the count walk the tasks
 *            index alone (sql/006_task_lists.sql), else COLLECT.
 *
 * A Member's lists are also limited to requester = U, which makes ARMS a
 * WALK and ARMS_COLLECT a COLLECT of one arm; any search makes a list
 * ADAPTIVE (below).
 */
enum {
    TK__WALK = 0,
    TK__WIDE,
    TK__ARMS,
    TK__COLLECT,
    TK__ARMS_COLLECT,
    TK__ARMS3_COLLECT,
    TK__TASKS,
    TK__ADAPTIVE
};

/*
 * The list types, in the order of the seed (their enum numbers): name,
 * predicate (without involving(U) for the ARMS kinds), kind.
 */
#define TK__LIST_TYPES(X)                                                    \
    X(AllMyGroups, "t.group_id = ANY (ARRAY(SELECT group_id"                 \
                   " FROM group_members WHERE user_id = $1))", TK__WIDE)     \
    X(MyOpenOrUnassigned, TK__STATUS("'Open'"), TK__ARMS3_COLLECT)          \
    X(UnassignedTickets, "t.assignee_id IS NULL AND " TK__ACTIVE, TK__WALK) \
    X(MyOpenTickets, TK__STATUS("'Open'"), TK__ARMS_COLLECT)                 \
    X(MyTicketsOnhold, TK__STATUS("'OnHold'"), TK__ARMS_COLLECT)             \
    X(MyOverdueTickets, TK__OVERDUE, TK__ARMS_COLLECT)                       \
    X(MyPendingTickets, TK__STATUS("'Pending'"), TK__ARMS_COLLECT)           \
    X(MyTicketsDueToday, TK__TODAY " AND " TK__ACTIVE, TK__ARMS_COLLECT)     \
    X(MyEscalated, "t.is_escalated", TK__ARMS)                               \
    X(AllEscalated, "t.is_escalated", TK__WIDE)                              \
    X(MyCompletedTickets, TK__COMPLETED, TK__ARMS)                           \
    X(AllMyTickets, "true", TK__ARMS)                                        \
    X(MyOpenTasks, TK__HAS_TASK("NOT "), TK__TASKS)                          \
    X(MyCompletedTasks, TK__HAS_TASK(""), TK__TASKS)                         \
    X(TicketsOnHold, TK__STATUS("'OnHold'"), TK__WALK)                       \
    X(OverdueTickets, TK__OVERDUE, TK__WALK)                                 \
    X(TicketsDueToday, TK__TODAY " AND " TK__ACTIVE, TK__WALK)               \
    X(PendingTickets, TK__STATUS("'Pending'"), TK__WALK)                     \
    X(CompletedTickets, TK__COMPLETED, TK__WIDE)                             \
    X(AllTickets, "true", TK__WIDE)

#define TK__LIST_NAME(name, where, kind)    #name,
#define TK__LIST_WHERE(name, where, kind)   where,
#define TK__LIST_KIND(name, where, kind)    kind,

static const char *const  tk__list_names[] = {
    TK__LIST_TYPES(TK__LIST_NAME)
};

static const char *const  tk__list_wheres[] = {
    TK__LIST_TYPES(TK__LIST_WHERE)
};

static const char  tk__list_kinds[] = {
    TK__LIST_TYPES(TK__LIST_KIND)
};

#define TK__LIST_DEFAULT     11     /* AllMyTickets */
#define TK__LIST_OPEN_TASKS  12     /* MyOpenTasks */

/*
 * A ticket matches when any searched field does.  Each arm is an index
 * condition, so that the whole is an index BitmapOr: the requesters are
 * looked up once (ARRAY(...)), and the priorities before the statement
 * (tk__list_priorities_stmt), so that the planner sees the ids: a
 * priority is a quarter of the table, and an unknown one would make it
 * plan a full scan for every search.
 */
#define TK__SEARCH                                                           \
    "(t.title ILIKE $5 OR t.id = $6 OR t.priority_id = ANY ($7)"            \
    " OR t.requester_id = ANY (ARRAY(SELECT id FROM users"                   \
    " WHERE full_name ILIKE $8 OR user_name ILIKE $8 OR email ILIKE $8)))"

/* the ids of the priorities of a name, as an array, NULL for none */
static const tk__stmt_t  tk__list_priorities_stmt = {
    "tk_list_priorities",
    "SELECT '{' || string_agg(id::text, ',') || '}' FROM priorities"
    " WHERE lower(name) = lower($1)",
    1
};

static const char *const  tk__search_fields[] = {
    "Subject", "TicketId", "Priority", "Requester"
};

/*
 * Sort keys of the ticket t and its priority p, after which id breaks
 * ties so that pages never overlap.  Unset due dates and priorities come
 * last in either order.
 */
typedef struct {
    const char  *name;
    const char  *key;               /* NULL: id alone */
    int          nulls_last;
} tk__list_sort_t;

static const tk__list_sort_t  tk__list_sorts[] = {
    { "id", NULL, 0 },
    { "createdOn", "t.created_on", 0 },
    { "updatedOn", "t.updated_on", 0 },
    { "dueDate", "t.due_date", 1 },
    { "priority", "p.rank", 1 }
};

static const char *const  tk__list_orders[] = { "asc", "desc" };

/* A TicketList of the ticket t (SPEC 3.1). */
#define TK__LIST_ROW                                                         \
    "json_build_object("                                                     \
    "'id', t.id, 'subject', t.title,"                                        \
    " 'ticketType', (ARRAY['Ticket', 'Problem', 'Incident',"                 \
    " 'ServiceRequest', 'Change'])[t.ticket_type + 1],"                      \
    " 'source', (ARRAY['Manual', 'Api', 'Email'])"                           \
    " [t.source + 1],"                                                       \
    " 'status', s.name, 'statusType', s.status_type, 'priority', p.name,"    \
    " 'requester', coalesce(nullif(ru.full_name, ''), ru.user_name),"        \
    " 'requesterId', t.requester_id,"                                        \
    " 'assignedTo', coalesce(nullif(au.full_name, ''), au.user_name),"       \
    " 'assignedToId', t.assignee_id,"                                        \
    " 'group', g.name, 'category', c.name, 'site', si.title,"                \
    " 'dueDate', iso_utc(t.due_date),"                                       \
    " 'isOverdue', coalesce(t.due_date < now() AND s.status_type"            \
    " IN ('Open', 'OnHold', 'Pending'), false),"                             \
    " 'isEscalated', t.is_escalated,"                                        \
    " 'openTasks', (SELECT count(*) FROM tasks k WHERE k.ticket_id = t.id"   \
    " AND NOT k.is_completed),"                                              \
    " 'createdOn', iso_utc(t.created_on),"                                   \
    " 'updatedOn', iso_utc(t.updated_on))"

/* the names of the page's tickets t */
#define TK__LIST_JOINS                                                       \
    " JOIN statuses s ON s.id = t.status_id"                                 \
    " JOIN users ru ON ru.id = t.requester_id"                               \
    " LEFT JOIN users au ON au.id = t.assignee_id"                           \
    " LEFT JOIN priorities p ON p.id = t.priority_id"                        \
    " LEFT JOIN groups g ON g.id = t.group_id"                               \
    " LEFT JOIN categories c ON c.id = t.category_id"                        \
    " LEFT JOIN sites si ON si.id = t.site_id"

/*
 * The declaration of params types every parameter (an unreferenced CTE
 * is never run).  Arguments: the declaration, the matches m (a CTE, or
 * ""), the page's ids (an array expression), what is counted.
 */
#define TK__LIST_SQL                                                         \
    "WITH params AS (SELECT %s)%s SELECT (%s)::text,"                        \
    " (SELECT count(*) FROM (%s) c)"

/*
 * The page's rows, from its ids in their order: one text for every list,
 * so that PostgreSQL plans its joins once per connection (the list
 * statement is planned again for each U and page, and planning these
 * eight relations with it took longer than running both).
 */
static const tk__stmt_t  tk__list_rows_stmt = {
    "tk_list_rows",
    "SELECT coalesce(json_agg(" TK__LIST_ROW " ORDER BY x.n), '[]')::text"
    " FROM unnest($1::bigint[]) WITH ORDINALITY x (id, n)"
    " JOIN tickets t ON t.id = x.id" TK__LIST_JOINS,
    1
};

#define TK__LIST_PARAMS   "$1::text, $2::int, $3::bigint, $4::bigint"
#define TK__SEARCH_PARAMS ", $5::text, $6::bigint, $7::int[], $8::text"

#define TK__LIST_NKEYS                                                       \
    (TK__NELEMS(tk__list_names) * 2 * 2 * TK__NELEMS(tk__list_sorts) * 2)

static tk__stmt_t       tk__list_stmts[TK__LIST_NKEYS];
static pthread_mutex_t  tk__list_lock = PTHREAD_MUTEX_INITIALIZER;


/* What the query string asks for. */
typedef struct {
    int          list;
    int          sort;
    int          desc;
    unsigned     fields;            /* bit i: tk__search_fields[i] */
    int64_t      page;
    int64_t      page_size;
    const char  *search;            /* trimmed, NULL for no search */
    size_t       search_len;
} tk__list_query_t;

/* the bits of tk__list_query_t.fields, in tk__search_fields' order */
#define TK__FIELD_SUBJECT    0x01u
#define TK__FIELD_TICKET_ID  0x02u
#define TK__FIELD_PRIORITY   0x04u
#define TK__FIELD_REQUESTER  0x08u

/* The values a search term gives the statement. */
typedef struct {
    char         term[4 * TK__SEARCH_MAX + 1];
    char         pattern[2 * 4 * TK__SEARCH_MAX + 3];
    char         id[24];
    char        *priorities;        /* malloc'd */
} tk__list_terms_t;


static int tk__list_terms(tk_conn_t *c, const tk__list_query_t *lq,
    tk__list_terms_t *t, const char **v, tk_result_t *res);
static int tk__list_parse(const tk_form_t *q, tk__list_query_t *lq,
    tk_result_t *res);
static int tk__list_fields(const char *s, unsigned *fields, cJSON **errors);
static int tk__list_name(const char *s, const char *const *names, int n);
static const char *tk__list_echo(const char *s, char out[68]);
static int tk__list_order(char **out, const tk__list_sort_t *sort, int desc,
    const char *alias);
static const tk__stmt_t *tk__list_stmt(size_t key);
static int tk__list_printf(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static PGresult *tk__list_exec(tk_conn_t *c, const tk__stmt_t *st,
    const char *const *v, tk_result_t *res);


int
tk_ticket_list(tk_conn_t *c, const tk_principal_t *p,
    const tk_form_t *query, tk_result_t *res)
{
    const char        *v[8] = { NULL };
    const char        *total, *ids;
    const tk__stmt_t  *st;
    tk__list_query_t   lq;
    tk__list_terms_t   terms;
    PGresult          *r, *rows;
    size_t             key;
    int64_t            end, bound, n, limit_n;
    char               limit[24], offset[24], bound_s[24];
    int                rc;

    if (p == NULL) {
        return tk__fail(res, TK_EAUTH, "no principal");
    }

    rc = tk__list_parse(query, &lq, res);
    if (rc != TK_OK) {
        return rc;
    }

    key = (size_t) lq.list;
    key = key * 2 + (p->role == TK_ROLE_MEMBER);
    key = key * 2 + (lq.search != NULL);
    key = key * TK__NELEMS(tk__list_sorts) + (size_t) lq.sort;
    key = key * 2 + (size_t) lq.desc;

    st = tk__list_stmt(key);
    if (st == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    /*
     * The matches are counted up to the count limit, or to the end of
     * the page asked for when that is further: one more than that says
     * there are more (X-Total-Count then is a lower bound).
     */
    end = lq.page * lq.page_size;
    limit_n = lq.search != NULL ? c->search_count_limit
                                : c->list_count_limit;
    bound = limit_n > end ? limit_n : end;

    snprintf(limit, sizeof(limit), "%lld", (long long) lq.page_size);
    snprintf(offset, sizeof(offset), "%lld", (long long) (end - lq.page_size));
    snprintf(bound_s, sizeof(bound_s), "%lld", (long long) bound + 1);
    v[0] = p->user_id;
    v[1] = limit;
    v[2] = offset;
    v[3] = limit_n > 0 ? bound_s : NULL;

    memset(&terms, 0, sizeof(terms));

    /*
     * The ids and their rows are read in one snapshot, so that the page
     * shows each ticket as it was when it was chosen.  BEGIN goes with the
     * first statement and COMMIT with the rows: no round trip of its own.
     */
    if (tk__begin_snapshot_deferred(c, res) != TK_OK) {
        return res->code;
    }

    if (lq.search != NULL
        && tk__list_terms(c, &lq, &terms, v + 4, res) != TK_OK)
    {
        tk__rollback(c);
        return res->code;
    }

    r = tk__list_exec(c, st, v, res);
    free(terms.priorities);

    if (r == NULL) {
        tk__rollback(c);
        return res->code;
    }

    ids = tk__val(r, 0, 0) ? tk__val(r, 0, 0) : "{}";
    tk__commit_next(c);
    rows = tk__exec(c, &tk__list_rows_stmt, &ids, res);
    if (rows == NULL) {
        PQclear(r);
        tk__rollback(c);
        return res->code;
    }

    if (tk__commit(c, res) != TK_OK) {
        PQclear(r);
        PQclear(rows);
        return res->code;
    }

    total = tk__val(r, 0, 1);
    n = total ? strtoll(total, NULL, 10) : 0;
    res->total = n;
    res->total_capped = 0;
    if (limit_n > 0 && n > bound) {
        res->total = bound;
        res->total_capped = 1;
    }
    res->page = (int) lq.page;
    res->page_size = (int) lq.page_size;

    PQclear(r);

    rc = tk__take_body(rows, res);
    if (rc != TK_OK) {
        res->total = -1;
        return rc == TK_ENOTFOUND ? tk__fail(res, TK_EINTERNAL, "no list")
                                  : rc;
    }

    res->code = TK_OK;
    return TK_OK;
}


void
tk_conn_set_list_count_limit(tk_conn_t *c, int64_t limit,
    int64_t search_limit)
{
    c->list_count_limit = limit > 0 ? limit : 0;
    c->search_count_limit = search_limit > 0 ? search_limit : 0;
}


/*
 * The values of $5..$8 for the search term, into v[0..3]: NULL for a
 * field not searched or that the term cannot match (a TicketId that is no
 * number, a Priority that no priority is called).
 */
static int
tk__list_terms(tk_conn_t *c, const tk__list_query_t *lq,
    tk__list_terms_t *t, const char **v, tk_result_t *res)
{
    const char  *pv[1];
    PGresult    *r;
    int64_t      id;
    size_t       i, n;

    memcpy(t->term, lq->search, lq->search_len);
    t->term[lq->search_len] = '\0';

    /* %term% with LIKE's %, _ and \ escaped */
    n = 0;
    t->pattern[n++] = '%';
    for (i = 0; i < lq->search_len; i++) {
        if (strchr("%_\\", t->term[i]) != NULL) {
            t->pattern[n++] = '\\';
        }
        t->pattern[n++] = t->term[i];
    }
    t->pattern[n++] = '%';
    t->pattern[n] = '\0';

    if (lq->fields & TK__FIELD_SUBJECT) {
        v[0] = t->pattern;
    }

    if ((lq->fields & TK__FIELD_TICKET_ID)
        && tk__parse_id(t->term + (t->term[0] == '#'), INT64_MAX, &id)
           == TK_OK)
    {
        snprintf(t->id, sizeof(t->id), "%lld", (long long) id);
        v[1] = t->id;
    }

    if (lq->fields & TK__FIELD_PRIORITY) {
        pv[0] = t->term;
        r = tk__exec(c, &tk__list_priorities_stmt, pv, res);
        if (r == NULL) {
            return res->code;
        }

        if (tk__val(r, 0, 0) != NULL) {
            t->priorities = strdup(tk__val(r, 0, 0));
            if (t->priorities == NULL) {
                PQclear(r);
                return tk__fail(res, TK_ENOMEM, "out of memory");
            }
            v[2] = t->priorities;
        }

        PQclear(r);
    }

    if (lq->fields & TK__FIELD_REQUESTER) {
        v[3] = t->pattern;
    }

    return TK_OK;
}


/*
 * The query string's arguments; a blank one is absent.  Every offending
 * argument gets its entry in errors, named as the client spells it in
 * SPEC 3.1.
 */
static int
tk__list_parse(const tk_form_t *q, tk__list_query_t *lq, tk_result_t *res)
{
    const char  *s, *e;
    cJSON       *errors = NULL;
    long         n;
    char         echo[68];
    int          i;

    memset(lq, 0, sizeof(*lq));
    lq->list = TK__LIST_DEFAULT;
    lq->desc = 1;
    lq->fields = (1u << TK__NELEMS(tk__search_fields)) - 1;
    lq->page = 1;
    lq->page_size = TK__PAGE_SIZE_DEFAULT;

#define TK__ERROR(field, ...)                                                \
    do {                                                                     \
        if (tk__error_add(&errors, field, __VA_ARGS__) != TK_OK) {           \
            goto nomem;                                                      \
        }                                                                    \
    } while (0)

    s = tk_form_get(q, "listType");
    if (!tk__blank(s)
        && tk__parse_enum(s, tk__list_names, (int) TK__NELEMS(tk__list_names),
                          &lq->list) != TK_OK)
    {
        TK__ERROR("listType", "The value '%s' is not a valid listType.",
                  tk__list_echo(s, echo));
    }

    s = tk_form_get(q, "search");
    if (s != NULL) {
        n = tk__utf8_count(s);
        if (n < 0) {
            TK__ERROR("search", "The field search must be valid UTF-8.");
        } else if (n > TK__SEARCH_MAX) {
            TK__ERROR("search", "The field search must be a string with a "
                      "maximum length of %d.", TK__SEARCH_MAX);
        } else {
            s += strspn(s, " \t\r\n");
            for (e = s + strlen(s); e > s && strchr(" \t\r\n", e[-1]); e--) {
                /* trim */
            }
            if (e > s) {
                lq->search = s;
                lq->search_len = (size_t) (e - s);
            }
        }
    }

    s = tk_form_get(q, "searchFields");
    if (!tk__blank(s) && tk__list_fields(s, &lq->fields, &errors) != TK_OK) {
        goto nomem;
    }

    s = tk_form_get(q, "page");
    if (!tk__blank(s) && tk__parse_id(s, INT_MAX, &lq->page) != TK_OK) {
        TK__ERROR("page", "The field page must be a whole number from 1 to "
                  "%d.", INT_MAX);
    }

    s = tk_form_get(q, "pageSize");
    if (!tk__blank(s)
        && tk__parse_id(s, TK__PAGE_SIZE_MAX, &lq->page_size) != TK_OK)
    {
        TK__ERROR("pageSize", "The field pageSize must be between 1 and %d.",
                  TK__PAGE_SIZE_MAX);
    }

    s = tk_form_get(q, "sort");
    if (!tk__blank(s)) {
        for (i = 0; i < (int) TK__NELEMS(tk__list_sorts); i++) {
            if (strcasecmp(s, tk__list_sorts[i].name) == 0) {
                break;
            }
        }
        if (i == (int) TK__NELEMS(tk__list_sorts)) {
            TK__ERROR("sort", "The value '%s' is not valid for sort: use id, "
                      "createdOn, updatedOn, dueDate or priority.",
                      tk__list_echo(s, echo));
        }
        lq->sort = i;
    }

    s = tk_form_get(q, "order");
    if (!tk__blank(s)) {
        i = tk__list_name(s, tk__list_orders,
                          (int) TK__NELEMS(tk__list_orders));
        if (i < 0) {
            TK__ERROR("order", "The value '%s' is not valid for order: use "
                      "asc or desc.", tk__list_echo(s, echo));
        }
        lq->desc = i == 1;
    }

#undef TK__ERROR

    if (errors != NULL) {
        return tk__errors_answer(&errors, res);
    }

    return TK_OK;

nomem:

    cJSON_Delete(errors);
    return tk__fail(res, TK_ENOMEM, "out of memory");
}


/* "Subject, requester": names separated by commas, white space around
 * them allowed, an empty piece passed over; none at all means all four. */
static int
tk__list_fields(const char *s, unsigned *fields, cJSON **errors)
{
    const char  *e;
    unsigned     set = 0;
    size_t       n;
    char         name[16], echo[68];
    int          i;

    for (; *s != '\0'; s = *e ? e + 1 : e) {
        e = s + strcspn(s, ",");
        for (; s < e && strchr(" \t\r\n", *s); s++) { /* trim */ }
        for (n = (size_t) (e - s); n > 0 && strchr(" \t\r\n", s[n - 1]); n--)
        {
            /* trim */
        }
        if (n == 0) {
            continue;
        }

        i = -1;
        if (n < sizeof(name)) {
            memcpy(name, s, n);
            name[n] = '\0';
            i = tk__list_name(name, tk__search_fields,
                              (int) TK__NELEMS(tk__search_fields));
        }

        if (i < 0) {
            tk__echo(s, n, echo);
            if (tk__error_add(errors, "searchFields", "'%s' is not a search "
                              "field: use Subject, TicketId, Priority or "
                              "Requester.", tk__utf8_count(echo) < 0
                              ? "?" : echo) != TK_OK)
            {
                return TK_ENOMEM;
            }
            continue;
        }

        set |= 1u << i;
    }

    if (set != 0) {
        *fields = set;
    }

    return TK_OK;
}


/* the index of a name, case-insensitive; -1 when it is none of them */
static int
tk__list_name(const char *s, const char *const *names, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            return i;
        }
    }

    return -1;
}


/* a client value quoted in a message: never bytes that are not UTF-8 */
static const char *
tk__list_echo(const char *s, char out[68])
{
    tk__echo(s, strlen(s), out);
    return tk__utf8_count(out) < 0 ? "?" : out;
}


/* An ORDER BY: the sort's key, then id; of the tickets t, or of the
 * rows alias (id and key k) when alias is not NULL. */
static int
tk__list_order(char **out, const tk__list_sort_t *sort, int desc,
    const char *alias)
{
    const char  *dir = desc ? " DESC" : "";
    const char  *a = alias ? alias : "t";

    if (sort->key == NULL) {
        return tk__list_printf(out, "%s.id%s", a, dir);
    }

    if (alias == NULL) {
        return tk__list_printf(out, "%s%s%s, t.id%s", sort->key, dir,
                               sort->nulls_last ? " NULLS LAST" : "", dir);
    }

    return tk__list_printf(out, "%s.k%s%s, %s.id%s", a, dir,
                           sort->nulls_last ? " NULLS LAST" : "", a, dir);
}


/* asprintf() that leaves *out NULL when it fails. */
static int
tk__list_printf(char **out, const char *fmt, ...)
{
    va_list  ap;
    int      rc;

    va_start(ap, fmt);
    rc = vasprintf(out, fmt, ap);
    va_end(ap);

    if (rc < 0) {
        *out = NULL;
    }

    return rc;
}


/* The statement of a combination, its text built on first use. */
static const tk__stmt_t *
tk__list_stmt(size_t key)
{
    const tk__list_sort_t  *sort;
    tk__stmt_t             *st;
    size_t                  k;
    char                   *where, *order, *order_m, *key_col, *sql;
    char                   *name, *cte, *page, *count, *third, *order_x;
    int                     search, member, list, desc, kind, arms, rc;
    const char             *decl, *from, *involving, *task;

    st = &tk__list_stmts[key];

    pthread_mutex_lock(&tk__list_lock);

    if (st->sql != NULL) {
        pthread_mutex_unlock(&tk__list_lock);
        return st;
    }

    k = key;
    desc = (int) (k % 2);
    k /= 2;
    sort = &tk__list_sorts[k % TK__NELEMS(tk__list_sorts)];
    k /= TK__NELEMS(tk__list_sorts);
    search = (int) (k % 2);
    k /= 2;
    member = (int) (k % 2);
    list = (int) (k / 2);

    kind = tk__list_kinds[list];
    arms = kind == TK__ARMS || kind == TK__ARMS_COLLECT
           || kind == TK__ARMS3_COLLECT;
    involving = kind == TK__ARMS3_COLLECT ? TK__INVOLVING_OR_UNASSIGNED
                                          : TK__INVOLVING;

    if (search) {
        kind = TK__ADAPTIVE;
    } else if (member && (kind == TK__ARMS || kind == TK__WIDE)) {
        kind = TK__WALK;
    } else if (member && (kind == TK__ARMS_COLLECT
                          || kind == TK__ARMS3_COLLECT))
    {
        kind = TK__COLLECT;
    } else if (kind == TK__TASKS && (member || sort->key != NULL)) {
        kind = TK__COLLECT;
    }

    decl = search ? TK__LIST_PARAMS TK__SEARCH_PARAMS : TK__LIST_PARAMS;
    from = sort->key != NULL && strncmp(sort->key, "p.", 2) == 0
           ? "tickets t LEFT JOIN priorities p ON p.id = t.priority_id"
           : "tickets t";
    where = order = order_m = key_col = sql = name = NULL;
    cte = page = count = third = order_x = NULL;

    /* involving(U) is in the predicate unless the arms bring it */
    if (!arms || kind == TK__ARMS || kind == TK__ARMS_COLLECT
        || kind == TK__ARMS3_COLLECT)
    {
        involving = NULL;
    }

    if (asprintf(&where, "NOT t.is_deleted AND (%s)%s%s%s%s%s",
                 tk__list_wheres[list],
                 involving ? " AND " : "", involving ? involving : "",
                 member ? " AND t.requester_id = $1" : "",
                 search ? " AND " : "", search ? TK__SEARCH : "") < 0)
    {
        where = NULL;
        goto failed;
    }

    if (tk__list_order(&order, sort, desc, NULL) < 0) {
        order = NULL;
        goto failed;
    }

    if (tk__list_order(&order_m, sort, desc, "m") < 0) {
        order_m = NULL;
        goto failed;
    }

    if (asprintf(&key_col, "%s%s%s", sort->key ? ", " : "",
                 sort->key ? sort->key : "", sort->key ? " AS k" : "") < 0)
    {
        key_col = NULL;
        goto failed;
    }

    switch (kind) {

    case TK__WIDE:
        if (sort->key != NULL && strncmp(sort->key, "p.", 2) == 0) {
            rc = tk__list_order(&order_x, sort, desc, "x");
            if (rc >= 0) {
                rc = tk__list_printf(&page, "ARRAY(SELECT x.id FROM ("
                                     "SELECT p.rank AS k, w.id"
                                     " FROM priorities p CROSS JOIN LATERAL"
                                     " (SELECT t.id FROM tickets t"
                                     " WHERE t.priority_id = p.id AND %s"
                                     " ORDER BY t.id%s"
                                     " LIMIT $2::bigint + $3::bigint) w"
                                     " UNION ALL SELECT NULL::int, t.id"
                                     " FROM (SELECT t.id FROM tickets t"
                                     " WHERE t.priority_id IS NULL AND %s"
                                     " ORDER BY t.id%s"
                                     " LIMIT $2::bigint + $3::bigint) t) x"
                                     " ORDER BY %s LIMIT $2 OFFSET $3)",
                                     where, desc ? " DESC" : "", where,
                                     desc ? " DESC" : "", order_x);
            }
            if (rc >= 0) {
                rc = tk__list_printf(&count, "SELECT 1 FROM tickets t"
                                     " WHERE %s LIMIT $4", where);
            }
            break;
        }
        /* fall through */

    case TK__WALK:
        rc = tk__list_printf(&page, "ARRAY(SELECT t.id FROM %s WHERE %s"
                             " ORDER BY %s LIMIT $2 OFFSET $3)", from, where,
                             order);
        if (rc >= 0) {
            rc = tk__list_printf(&count, "SELECT 1 FROM tickets t WHERE %s"
                                 " LIMIT $4", where);
        }
        break;

    case TK__ARMS:
        rc = tk__list_printf(&page, "ARRAY(SELECT m.id FROM ("
                             "SELECT * FROM (SELECT t.id%s FROM %s"
                             " WHERE t.requester_id = $1 AND %s ORDER BY %s"
                             " LIMIT $2::bigint + $3::bigint) r UNION "
                             "SELECT * FROM (SELECT t.id%s FROM %s"
                             " WHERE t.assignee_id = $1 AND %s ORDER BY %s"
                             " LIMIT $2::bigint + $3::bigint) a) m"
                             " ORDER BY %s LIMIT $2 OFFSET $3)",
                             key_col, from, where, order, key_col, from, where,
                             order, order_m);
        if (rc >= 0) {
            rc = tk__list_printf(&count, "SELECT 1 FROM tickets t"
                                 " WHERE t.requester_id = $1 AND %s UNION ALL"
                                 " SELECT 1 FROM tickets t"
                                 " WHERE t.assignee_id = $1"
                                 " AND t.requester_id <> $1 AND %s LIMIT $4",
                                 where, where);
        }
        break;

    case TK__TASKS:
        task = list == TK__LIST_OPEN_TASKS ? TK__TASK("NOT ") : TK__TASK("");
        rc = tk__list_printf(&page, "ARRAY(SELECT k.ticket_id FROM tasks k"
                             " WHERE %s GROUP BY k.ticket_id"
                             " ORDER BY k.ticket_id%s LIMIT $2 OFFSET $3)",
                             task, desc ? " DESC" : "");
        if (rc >= 0) {
            rc = tk__list_printf(&count, "SELECT 1 FROM tasks k WHERE %s"
                                 " GROUP BY k.ticket_id LIMIT $4", task);
        }
        break;

    case TK__ARMS_COLLECT:
    case TK__ARMS3_COLLECT:
        rc = 0;
        if (kind == TK__ARMS3_COLLECT) {
            rc = tk__list_printf(&third, " UNION ALL SELECT t.id%s FROM %s"
                                 " WHERE t.assignee_id IS NULL"
                                 " AND t.requester_id <> $1 AND %s",
                                 key_col, from, where);
        }
        if (rc >= 0) {
            /* disjoint arms: nothing to merge */
            rc = tk__list_printf(&cte, ", m AS MATERIALIZED ("
                                 "SELECT t.id%s FROM %s"
                                 " WHERE t.requester_id = $1 AND %s UNION ALL "
                                 "SELECT t.id%s FROM %s"
                                 " WHERE t.assignee_id = $1"
                                 " AND t.requester_id <> $1 AND %s%s)",
                                 key_col, from, where, key_col, from, where,
                                 third ? third : "");
        }
        goto collected;

    case TK__COLLECT:
        rc = tk__list_printf(&cte, ", m AS MATERIALIZED (SELECT t.id%s"
                             " FROM %s WHERE %s)", key_col, from, where);

    collected:

        if (rc >= 0) {
            rc = tk__list_printf(&page, "ARRAY(SELECT m.id FROM m ORDER BY %s"
                                 " LIMIT $2 OFFSET $3)", order_m);
        }
        if (rc >= 0) {
            rc = tk__list_printf(&count, "SELECT 1 FROM m LIMIT $4");
        }
        break;

    default: /* TK__ADAPTIVE */
        rc = tk__list_printf(&cte, ", m AS MATERIALIZED (SELECT t.id%s"
                             " FROM %s WHERE %s LIMIT $4)", key_col, from,
                             where);
        if (rc >= 0) {
            rc = tk__list_printf(&page, "CASE WHEN"
                                 " ((SELECT count(*) FROM m) < $4)"
                                 " IS NOT FALSE"
                                 " THEN ARRAY(SELECT m.id FROM m ORDER BY %s"
                                 " LIMIT $2 OFFSET $3)"
                                 " ELSE ARRAY(SELECT t.id FROM %s WHERE %s"
                                 " ORDER BY %s LIMIT $2 OFFSET $3) END",
                                 order_m, from, where, order);
        }
        if (rc >= 0) {
            rc = tk__list_printf(&count, "SELECT 1 FROM m");
        }
        break;
    }

    if (rc < 0) {
        goto failed;
    }

    if (asprintf(&sql, TK__LIST_SQL, decl, cte ? cte : "", page, count) < 0)
    {
        sql = NULL;
        goto failed;
    }

    if (asprintf(&name, "tk_list_%zu", key) < 0) {
        name = NULL;
        goto failed;
    }

    st->name = name;
    st->nparams = search ? 8 : 4;
    st->sql = sql;
    sql = NULL;
    name = NULL;

failed:

    if (st->sql == NULL) {
        st = NULL;
    }

    pthread_mutex_unlock(&tk__list_lock);
    free(where);
    free(order);
    free(order_m);
    free(key_col);
    free(cte);
    free(third);
    free(order_x);
    free(page);
    free(count);
    free(sql);
    free(name);
    return st;
}


/*
 * tk__exec when the statement is prepared on this connection or there is
 * room for it among the list statements; else unprepared.
 */
static PGresult *
tk__list_exec(tk_conn_t *c, const tk__stmt_t *st, const char *const *v,
    tk_result_t *res)
{
    uintptr_t          first, end;
    int                i, n;

    first = (uintptr_t) tk__list_stmts;
    end = (uintptr_t) (tk__list_stmts + TK__LIST_NKEYS);

    for (i = 0, n = 0; i < c->nprepared; i++) {
        if (c->prepared[i] == st) {
            return tk__exec(c, st, v, res);
        }
        n += (uintptr_t) c->prepared[i] >= first
             && (uintptr_t) c->prepared[i] < end;
    }

    if (n < TK__LIST_MAX_PREPARED) {
        return tk__exec(c, st, v, res);
    }

    return tk__exec_unprepared(c, st, v, res);
}
