/*
 * The "Uploads" file parts of a request, stored in PostgreSQL with their
 * SHA-256 so that every host behind a load balancer serves them.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "db.h"
#include "result.h"
#include "settings.h"
#include "upload.h"
#include "valid.h"


static const tk__stmt_t  tk__upload_settings_stmt = {
    "tk_upload_settings",
    "SELECT (SELECT value FROM settings WHERE key = 'allowed_extensions'),"
    " (SELECT value FROM settings WHERE key = 'max_file_size')",
    0
};

/* No row when the name breaks the table's CHECK: the file is skipped. */
static const tk__stmt_t  tk__upload_store_stmt = {
    "tk_upload_store",
    "INSERT INTO attachments (ticket_id, conversation_id, file_name,"
    " content_type, size, sha256, content, created_by_id)"
    " SELECT $1::bigint, $2::bigint, $3::text, $4::text,"
    " octet_length($5::bytea), $6::text, $5::bytea, $7::text"
    " WHERE $3::text !~ '[/\\\\[:cntrl:]]'"
    " RETURNING id",
    7
};


int
tk__is_upload(const tk_file_t *f)
{
    return strcasecmp(f->name, "Uploads") == 0;
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


int
tk__uploads_store(tk_conn_t *c, const tk_principal_t *p,
    const tk_form_t *form, const char *ticket_id,
    const char *conversation_id, tk_result_t *res)
{
    const tk_file_t  *f;
    const char       *v[7];
    const char       *exts = NULL, *maxsize;
    PGresult         *r, *set = NULL;
    long              max = TK__SETTING_INT_MAX;
    size_t            i, n;
    char              sha[65], size[48];
    int               lengths[7] = { 0 };
    int               formats[7] = { 0, 0, 0, 0, 1, 0, 0 };
    int               stored;

    n = tk_form_nfiles(form);

    for (i = 0; i < n; i++) {
        f = tk_form_file(form, i);
        if (!tk__is_upload(f)) {
            continue;
        }

        if (set == NULL) {
            set = tk__exec(c, &tk__upload_settings_stmt, NULL, res);
            if (set == NULL) {
                return res->code;
            }

            /* unset or unreadable: as large as a bytea parameter can be */
            exts = tk__val(set, 0, 0);
            maxsize = tk__val(set, 0, 1);
            if (tk__setting_parse_int(maxsize, &max) != TK_OK) {
                max = TK__SETTING_INT_MAX;
            }
        }

        if (tk__utf8_count(f->filename) < 0) {
            tk__note(res, "file name is not UTF-8", "(unnamed)");
            continue;
        }

        if (!tk__ext_allowed(exts, f->filename)) {
            tk__note(res, "extension not allowed", f->filename);
            continue;
        }

        if (f->size > (size_t) max) {
            snprintf(size, sizeof(size), "larger than %ld bytes", max);
            tk__note(res, size, f->filename);
            continue;
        }

        if (tk__sha256_hex(f->data, f->size, sha) != TK_OK) {
            PQclear(set);
            return tk__fail(res, TK_EINTERNAL, "sha256 failed");
        }

        v[0] = ticket_id;
        v[1] = conversation_id;
        v[2] = f->filename;
        v[3] = tk__safe_type(f->content_type);
        v[4] = (const char *) f->data;
        v[5] = sha;
        v[6] = p != NULL ? p->user_id : NULL;
        lengths[4] = (int) f->size;

        r = tk__execb(c, &tk__upload_store_stmt, v, lengths, formats, res);
        if (r == NULL) {
            PQclear(set);
            return res->code;
        }

        stored = PQntuples(r) == 1;
        PQclear(r);

        if (!stored) {
            tk__note(res, "file name not allowed", f->filename);
        }
    }

    PQclear(set);
    return TK_OK;
}
