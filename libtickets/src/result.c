/*
 * Result codes, results, permission and role names.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "result.h"


/* Indexed by bit position: the names are the ones tokens carry. */
static const char *const tk__perm_names[] = {
    "Tickets.Create",
    "Tickets.Update",
    "Tickets.Forward",
    "Tickets.Reply",
    "Tickets.Close",
    "Tickets.Resolve",
    "Tickets.Delete",
    "Tickets.Inbound"
};

/* Indexed by tk_role_t. */
static const char *const tk__role_names[] = {
    "Admin",
    "Technician",
    "Member",
    "Integration"
};

#define TK__NELEMS(a)  (sizeof(a) / sizeof((a)[0]))


const char *
tk_strerror(int code)
{
    switch (code) {
    case TK_OK:            return "ok";
    case TK_CREATED:       return "created";
    case TK_NO_CONTENT:    return "no content";
    case TK_NOT_MODIFIED:  return "not modified";
    case TK_ENOMEM:        return "out of memory";
    case TK_EINVAL:        return "invalid input";
    case TK_ENOTFOUND:     return "not found";
    case TK_EFORBIDDEN:    return "forbidden";
    case TK_EAUTH:         return "authentication failed";
    case TK_ECONFLICT:     return "conflict";
    case TK_EPRECOND:      return "precondition failed";
    case TK_EUNAVAIL:      return "database unavailable";
    case TK_EINTERNAL:     return "internal error";
    case TK_ETHROTTLED:    return "too many requests";
    case TK_ECANCELED:     return "cancelled";
    default:               return "unknown error";
    }
}


void
tk_result_init(tk_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->total = -1;
}


void
tk_result_clear(tk_result_t *res)
{
    free(res->body);
    free(res->errors);
    tk_result_init(res);
}


int
tk__fail(tk_result_t *res, int code, const char *fmt, ...)
{
    va_list  ap;

    res->code = code;

    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);

    return code;
}


unsigned
tk_perm_parse(const char *name, size_t len)
{
    size_t  i;

    if (name == NULL) {
        return 0;
    }

    for (i = 0; i < TK__NELEMS(tk__perm_names); i++) {
        if (strlen(tk__perm_names[i]) == len
            && memcmp(tk__perm_names[i], name, len) == 0)
        {
            return 1u << i;
        }
    }

    return 0;
}


const char *
tk_perm_name(unsigned perm)
{
    size_t  i;

    for (i = 0; i < TK__NELEMS(tk__perm_names); i++) {
        if (perm == 1u << i) {
            return tk__perm_names[i];
        }
    }

    return NULL;
}


int
tk_role_parse(const char *name)
{
    size_t  i;

    if (name == NULL) {
        return -1;
    }

    for (i = 0; i < TK__NELEMS(tk__role_names); i++) {
        if (strcasecmp(tk__role_names[i], name) == 0) {
            return (int) i;
        }
    }

    return -1;
}


const char *
tk_role_name(int role)
{
    if (role < 0 || (size_t) role >= TK__NELEMS(tk__role_names)) {
        return NULL;
    }

    return tk__role_names[role];
}
