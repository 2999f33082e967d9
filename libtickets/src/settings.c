/*
 * Settings: values by key, checked by the kind that setting_keys gives
 * each key.  A value is stored in its canonical form (an id without
 * leading zeros, "true" for "yes", the server's spelling of a time zone);
 * an empty value clears the setting.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "result.h"
#include "settings.h"


/* enough for a number and for the longest time zone name */
#define TK__CANON_LEN  72

/*
 * How a kind checks a value: parse checks the text and points *out at its
 * canonical form (the input itself, a constant, or buf, which holds
 * TK__CANON_LEN bytes); lookup, when
 * set, maps that form to the canonical value of an existing row, or to no
 * row at all.
 */
typedef struct {
    const char        *kind;
    int              (*parse)(const char *in, char *buf, const char **out);
    const tk__stmt_t  *lookup;
    const char        *expects;
} tk__setting_kind_t;

static PGresult *tk__setting_row(tk_conn_t *c, const char *key,
    tk_result_t *res);
static const tk__setting_kind_t *tk__setting_kind(const char *kind);
static int tk__parse_int(const char *in, char *buf, const char **out);
static int tk__parse_id(const char *in, char *buf, const char **out);
static int tk__parse_bool(const char *in, char *buf, const char **out);
static int tk__parse_url(const char *in, char *buf, const char **out);
static int tk__parse_method(const char *in, char *buf, const char **out);
static int tk__parse_zone(const char *in, char *buf, const char **out);


static const tk__stmt_t  tk__setting_get_stmt = {
    "tk_setting_get",
    "SELECT k.kind, s.value FROM setting_keys k"
    " LEFT JOIN settings s ON s.key = k.key WHERE k.key = $1",
    1
};

static const tk__stmt_t  tk__setting_set_stmt = {
    "tk_setting_set",
    "INSERT INTO settings (key, value) VALUES ($1, $2)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    2
};

static const tk__stmt_t  tk__settings_list_stmt = {
    "tk_settings_list",
    "SELECT coalesce(json_agg(json_build_object("
    "   'key', k.key, 'kind', k.kind,"
    "   'value', CASE WHEN k.kind = 'secret' AND s.value IS NOT NULL"
    "            THEN '********' ELSE s.value END,"
    "   'description', k.description) ORDER BY k.key), '[]')::text"
    " FROM setting_keys k LEFT JOIN settings s ON s.key = k.key",
    0
};

#define TK__ID_LOOKUP(kind, table)                                          \
    static const tk__stmt_t  tk__setting_##kind = {                        \
        "tk_setting_" #kind,                                               \
        "SELECT id::text FROM " table " WHERE id = $1::integer",           \
        1                                                                  \
    }

TK__ID_LOOKUP(status, "statuses");
TK__ID_LOOKUP(site, "sites");
TK__ID_LOOKUP(priority, "priorities");
TK__ID_LOOKUP(category, "categories");
TK__ID_LOOKUP(tier_level, "tier_levels");
TK__ID_LOOKUP(calendar, "business_calendars");

static const tk__stmt_t  tk__setting_zone = {
    "tk_setting_zone",
    "SELECT name FROM pg_timezone_names WHERE lower(name) = lower($1)"
    " ORDER BY name = $1 DESC, name LIMIT 1",
    1
};

static const tk__setting_kind_t  tk__setting_kinds[] = {
    { "text", NULL, NULL, "text" },
    { "secret", NULL, NULL, "text" },
    { "int", tk__parse_int, NULL,
      "a whole number from 0 to 2147483647" },
    { "bool", tk__parse_bool, NULL, "true or false" },
    { "url", tk__parse_url, NULL,
      "a URL starting with http://, https://, smtp://, smtps:// or unix:" },
    { "method", tk__parse_method, NULL, "RoundRobin or LeastLoaded" },
    { "time_zone", tk__parse_zone, &tk__setting_zone,
      "a time zone name such as Europe/Berlin or UTC" },
    { "status", tk__parse_id, &tk__setting_status,
      "the id of an existing status" },
    { "site", tk__parse_id, &tk__setting_site, "the id of an existing site" },
    { "priority", tk__parse_id, &tk__setting_priority,
      "the id of an existing priority" },
    { "category", tk__parse_id, &tk__setting_category,
      "the id of an existing category" },
    { "tier_level", tk__parse_id, &tk__setting_tier_level,
      "the id of an existing tier level" },
    { "calendar", tk__parse_id, &tk__setting_calendar,
      "the id of an existing business calendar" }
};

static const char *const  tk__url_schemes[] = {
    "http://", "https://", "smtp://", "smtps://", "unix:"
};

static const char *const  tk__assign_methods[] = {
    "RoundRobin", "LeastLoaded"
};

#define TK__NELEMS(a)  (sizeof(a) / sizeof((a)[0]))


int
tk_setting_get(tk_conn_t *c, const char *key, char **value, tk_result_t *res)
{
    PGresult    *r;
    const char  *v;

    *value = NULL;

    r = tk__setting_row(c, key, res);
    if (r == NULL) {
        return res->code;
    }

    v = tk__val(r, 0, 1);
    if (v != NULL) {
        *value = strdup(v);
        if (*value == NULL) {
            PQclear(r);
            return tk__fail(res, TK_ENOMEM, "out of memory");
        }
    }

    PQclear(r);
    return TK_OK;
}


int
tk_setting_set(tk_conn_t *c, const char *key, const char *value,
    tk_result_t *res)
{
    const tk__setting_kind_t  *k;
    PGresult                  *r;
    const char                *v[2], *canon, *s;
    char                       buf[TK__CANON_LEN];

    r = tk__setting_row(c, key, res);
    if (r == NULL) {
        return res->code;
    }

    k = tk__setting_kind(tk__val(r, 0, 0));
    PQclear(r);

    if (k == NULL) {
        return tk__fail(res, TK_EINTERNAL, "setting %s has an unknown kind",
                        key);
    }

    canon = NULL;

    if (value != NULL && value[0] != '\0') {
        /* no line breaks for email headers, no escapes for terminals */
        for (s = value; *s != '\0'; s++) {
            if ((unsigned char) *s < 0x20 || *s == 0x7f) {
                return tk__fail(res, TK_EINVAL, "setting %s: control "
                                "characters are not allowed", key);
            }
        }

        canon = value;

        if (k->parse != NULL && k->parse(value, buf, &canon) != TK_OK) {
            return tk__fail(res, TK_EINVAL, "setting %s expects %s", key,
                            k->expects);
        }

        if (k->lookup != NULL) {
            v[0] = canon;
            r = tk__exec(c, k->lookup, v, res);
            if (r == NULL) {
                return res->code;
            }

            if (PQntuples(r) == 0) {
                PQclear(r);
                return tk__fail(res, TK_EINVAL, "setting %s expects %s", key,
                                k->expects);
            }

            /* a name may change case: keep it in buf's place */
            snprintf(buf, sizeof(buf), "%s", PQgetvalue(r, 0, 0));
            canon = buf;
            PQclear(r);
        }
    }

    v[0] = key;
    v[1] = canon;

    r = tk__exec(c, &tk__setting_set_stmt, v, res);
    if (r == NULL) {
        if (strncmp(tk__sqlstate(c), "22", 2) == 0) {
            return tk__fail(res, TK_EINVAL, "setting %s expects %s", key,
                            k->expects);
        }

        return res->code;
    }

    PQclear(r);
    return TK_OK;
}


int
tk_settings_list(tk_conn_t *c, tk_result_t *res)
{
    PGresult  *r;

    r = tk__exec(c, &tk__settings_list_stmt, NULL, res);
    if (r == NULL) {
        return res->code;
    }

    return tk__take_body(r, res);
}


int
tk__setting_int(tk_conn_t *c, const char *key, long dflt, long *out,
    tk_result_t *res)
{
    PGresult  *r;

    *out = dflt;

    r = tk__setting_row(c, key, res);
    if (r == NULL) {
        return res->code;
    }

    if (tk__setting_parse_int(tk__val(r, 0, 1), out) != TK_OK) {
        *out = dflt;
    }

    PQclear(r);
    return TK_OK;
}


int
tk__setting_bool(tk_conn_t *c, const char *key, int dflt, int *out,
    tk_result_t *res)
{
    PGresult  *r;

    *out = dflt;

    r = tk__setting_row(c, key, res);
    if (r == NULL) {
        return res->code;
    }

    if (tk__setting_parse_bool(tk__val(r, 0, 1), out) != TK_OK) {
        *out = dflt;
    }

    PQclear(r);
    return TK_OK;
}


int
tk__setting_parse_int(const char *s, long *out)
{
    long  n;

    if (s == NULL || *s == '\0') {
        return TK_EINVAL;
    }

    for (n = 0; *s >= '0' && *s <= '9'; s++) {
        n = n * 10 + (*s - '0');
        if (n > TK__SETTING_INT_MAX) {
            return TK_EINVAL;
        }
    }

    if (*s != '\0') {
        return TK_EINVAL;
    }

    *out = n;
    return TK_OK;
}


int
tk__setting_parse_bool(const char *s, int *out)
{
    static const char *const  yes[] = { "true", "yes", "1" };
    static const char *const  no[] = { "false", "no", "0" };
    size_t                    i;

    if (s == NULL) {
        return TK_EINVAL;
    }

    for (i = 0; i < TK__NELEMS(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return TK_OK;
        }

        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return TK_OK;
        }
    }

    return TK_EINVAL;
}


/* The kind and value of a known key: NULL with TK_ENOTFOUND otherwise. */
static PGresult *
tk__setting_row(tk_conn_t *c, const char *key, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1];

    if (key == NULL) {
        tk__fail(res, TK_ENOTFOUND, "no setting key given");
        return NULL;
    }

    v[0] = key;

    r = tk__exec(c, &tk__setting_get_stmt, v, res);
    if (r == NULL) {
        return NULL;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        tk__fail(res, TK_ENOTFOUND, "unknown setting \"%.64s\"", key);
        return NULL;
    }

    return r;
}


static const tk__setting_kind_t *
tk__setting_kind(const char *kind)
{
    size_t  i;

    for (i = 0; kind != NULL && i < TK__NELEMS(tk__setting_kinds); i++) {
        if (strcmp(tk__setting_kinds[i].kind, kind) == 0) {
            return &tk__setting_kinds[i];
        }
    }

    return NULL;
}


/* 007 is stored as 7 */
static int
tk__parse_int(const char *in, char *buf, const char **out)
{
    long  n;

    if (tk__setting_parse_int(in, &n) != TK_OK) {
        return TK_EINVAL;
    }

    snprintf(buf, TK__CANON_LEN, "%ld", n);
    *out = buf;
    return TK_OK;
}


static int
tk__parse_id(const char *in, char *buf, const char **out)
{
    if (tk__parse_int(in, buf, out) != TK_OK || strcmp(buf, "0") == 0) {
        return TK_EINVAL;
    }

    return TK_OK;
}


static int
tk__parse_bool(const char *in, char *buf, const char **out)
{
    int  b;

    if (tk__setting_parse_bool(in, &b) != TK_OK) {
        return TK_EINVAL;
    }

    *out = b ? "true" : "false";
    return TK_OK;
}


static int
tk__parse_url(const char *in, char *buf, const char **out)
{
    size_t  i, n;

    for (i = 0; i < TK__NELEMS(tk__url_schemes); i++) {
        n = strlen(tk__url_schemes[i]);

        if (strncasecmp(in, tk__url_schemes[i], n) == 0) {
            /* something after the scheme, and no space in it */
            if (in[n] == '\0' || strchr(in, ' ') != NULL) {
                return TK_EINVAL;
            }

            *out = in;
            return TK_OK;
        }
    }

    return TK_EINVAL;
}


static int
tk__parse_method(const char *in, char *buf, const char **out)
{
    size_t  i;

    for (i = 0; i < TK__NELEMS(tk__assign_methods); i++) {
        if (strcasecmp(in, tk__assign_methods[i]) == 0) {
            *out = tk__assign_methods[i];
            return TK_OK;
        }
    }

    return TK_EINVAL;
}


/* the server decides which names exist; this only bounds the question */
static int
tk__parse_zone(const char *in, char *buf, const char **out)
{
    if (strlen(in) > 64 || strchr(in, ' ') != NULL) {
        return TK_EINVAL;
    }

    *out = in;
    return TK_OK;
}
