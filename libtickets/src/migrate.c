/*
 * Schema migrations and data files that run once.
 *
 * A migration is dir/NNN_name.sql, recorded in schema_migrations under its
 * number NNN; a data file is recorded in loaded_files under its base name.
 * Each runs in its own transaction together with its record, under one
 * advisory lock, so that two migrators started at once apply each file
 * once and a half-applied file cannot exist.  The files are the
 * operator's, trusted as SQL: they run with PQexec, several statements at
 * a time.
 */

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "result.h"


/*
 * Starts a transaction's work: the lock, with a fixed key ("tickets" in
 * ASCII) that no other advisory lock uses; and no notices or warnings
 * ("already exists, skipping"), which libpq would print on stderr.
 */
#define TK__MIGRATE_LOCK                                                    \
    "SET LOCAL client_min_messages = error;"                               \
    " SELECT pg_advisory_xact_lock(32758176929903731)"

/* A ledger: the table that records what ran and its statements. */
typedef struct {
    const char        *create;
    const tk__stmt_t  *recorded;
    const tk__stmt_t  *record;
} tk__ledger_t;

static int tk__run_once(tk_conn_t *c, const tk__ledger_t *ledger,
    const char *key, const char *path, const char *name, int *ran,
    char *err, size_t errlen);
static int tk__ledger_open(tk_conn_t *c, const tk__ledger_t *ledger,
    char *err, size_t errlen);
static int tk__run_file(tk_conn_t *c, const char *text, const char *name,
    char *err, size_t errlen);
static void tk__copy_end(PGconn *pg);
static int tk__migration_name(const struct dirent *d);
static int tk__name_cmp(const struct dirent **a, const struct dirent **b);
static int tk__read_file(const char *path, char **text, char *err,
    size_t errlen);
static long tk__line_of(const char *text, long position);
static int tk__err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));


static const tk__stmt_t  tk__migration_recorded = {
    "tk_migration_recorded",
    "SELECT 1 FROM schema_migrations WHERE version = $1",
    1
};

static const tk__stmt_t  tk__migration_record = {
    "tk_migration_record",
    "INSERT INTO schema_migrations (version) VALUES ($1)",
    1
};

static const tk__stmt_t  tk__file_recorded = {
    "tk_file_recorded",
    "SELECT 1 FROM loaded_files WHERE name = $1",
    1
};

static const tk__stmt_t  tk__file_record = {
    "tk_file_record",
    "INSERT INTO loaded_files (name) VALUES ($1)",
    1
};

static const tk__ledger_t  tk__migrations = {
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY,"
    " applied_on timestamptz NOT NULL DEFAULT now())",
    &tk__migration_recorded,
    &tk__migration_record
};

static const tk__ledger_t  tk__loaded_files = {
    "CREATE TABLE IF NOT EXISTS loaded_files ("
    " name text PRIMARY KEY,"
    " loaded_on timestamptz NOT NULL DEFAULT now())",
    &tk__file_recorded,
    &tk__file_record
};


int
tk_migrate(tk_conn_t *c, const char *dir, int *applied, char *err,
    size_t errlen)
{
    struct dirent  **list;
    char            *path, version[4];
    int              n, i, ran, rc;

    *applied = 0;

    if (dir == NULL) {
        return tk__err(err, errlen, TK_EINVAL, "no directory given");
    }

    rc = tk__ledger_open(c, &tk__migrations, err, errlen);
    if (rc != TK_OK) {
        return rc;
    }

    n = scandir(dir, &list, tk__migration_name, tk__name_cmp);
    if (n < 0) {
        return tk__err(err, errlen, errno == ENOENT ? TK_ENOTFOUND : TK_EINVAL,
                       "%s: %s", dir, strerror(errno));
    }

    rc = TK_OK;

    /* the number is the version: two files may not share one */
    for (i = 1; i < n; i++) {
        if (strncmp(list[i - 1]->d_name, list[i]->d_name, 3) == 0) {
            rc = tk__err(err, errlen, TK_EINVAL,
                         "%s and %s have the same number",
                         list[i - 1]->d_name, list[i]->d_name);
            break;
        }
    }

    for (i = 0; rc == TK_OK && i < n; i++) {
        if (asprintf(&path, "%s/%s", dir, list[i]->d_name) < 0) {
            rc = tk__err(err, errlen, TK_ENOMEM, "out of memory");
            break;
        }

        memcpy(version, list[i]->d_name, 3);
        version[3] = '\0';

        rc = tk__run_once(c, &tk__migrations, version, path,
                          list[i]->d_name, &ran, err, errlen);
        *applied += ran;
        free(path);
    }

    for (i = 0; i < n; i++) {
        free(list[i]);
    }

    free(list);
    return rc;
}


int
tk_load_once(tk_conn_t *c, const char *path, int *loaded, char *err,
    size_t errlen)
{
    const char  *name;
    int          rc;

    *loaded = 0;

    if (path == NULL) {
        return tk__err(err, errlen, TK_EINVAL, "no file given");
    }

    name = strrchr(path, '/');
    name = name != NULL ? name + 1 : path;

    if (*name == '\0') {
        return tk__err(err, errlen, TK_EINVAL, "%s: not a file name", path);
    }

    rc = tk__ledger_open(c, &tk__loaded_files, err, errlen);
    if (rc != TK_OK) {
        return rc;
    }

    return tk__run_once(c, &tk__loaded_files, name, path, name, loaded, err,
                        errlen);
}


/*
 * Runs the file at path unless key is recorded in the ledger, and records
 * it, in one transaction under the lock.  The check before the lock only
 * saves reading a file that already ran; the one under it decides.
 */
static int
tk__run_once(tk_conn_t *c, const tk__ledger_t *ledger, const char *key,
    const char *path, const char *name, int *ran, char *err, size_t errlen)
{
    tk_result_t   res;
    PGresult     *r;
    char         *text;
    const char   *v[1];
    int           rc, done;

    *ran = 0;
    text = NULL;
    v[0] = key;
    tk_result_init(&res);

    r = tk__exec(c, ledger->recorded, v, &res);
    if (r == NULL) {
        goto failed;
    }

    done = PQntuples(r) > 0;
    PQclear(r);

    if (done) {
        return TK_OK;
    }

    rc = tk__read_file(path, &text, err, errlen);
    if (rc != TK_OK) {
        return rc;
    }

    if (tk__begin(c, &res) != TK_OK
        || tk__cmd(c, TK__MIGRATE_LOCK, &res) != TK_OK)
    {
        goto failed;
    }

    r = tk__exec(c, ledger->recorded, v, &res);
    if (r == NULL) {
        goto failed;
    }

    done = PQntuples(r) > 0;
    PQclear(r);

    if (!done) {
        /* first: a file that commits by itself then commits its record */
        r = tk__exec(c, ledger->record, v, &res);
        if (r == NULL) {
            goto failed;
        }

        PQclear(r);

        rc = tk__run_file(c, text, name, err, errlen);
        if (rc != TK_OK) {
            if (PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
                c->in_tx = 0;
            }

            tk__rollback(c);
            free(text);
            return rc;
        }
    }

    if (tk__commit(c, &res) != TK_OK) {
        goto failed;
    }

    free(text);
    *ran = !done;
    return TK_OK;

failed:

    tk__rollback(c);
    free(text);
    return tk__err(err, errlen, res.code, "%s: %s", name, res.message);
}


static int
tk__ledger_open(tk_conn_t *c, const tk__ledger_t *ledger, char *err,
    size_t errlen)
{
    tk_result_t  res;

    tk_result_init(&res);

    /* under the lock: concurrent CREATE TABLE IF NOT EXISTS can collide */
    if (tk__begin(c, &res) != TK_OK
        || tk__cmd(c, TK__MIGRATE_LOCK, &res) != TK_OK
        || tk__cmd(c, ledger->create, &res) != TK_OK
        || tk__commit(c, &res) != TK_OK)
    {
        tk__rollback(c);
        return tk__err(err, errlen, res.code, "%s", res.message);
    }

    return TK_OK;
}


/* Runs the text of a file inside the open transaction. */
static int
tk__run_file(tk_conn_t *c, const char *text, const char *name, char *err,
    size_t errlen)
{
    PGresult        *r;
    ExecStatusType   s;
    const char      *msg, *pos, *state;
    long             line;
    int              rc;

    r = PQexec(c->pg, text);
    s = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
        /* the data would have to come from us: end it, the server fails */
        PQclear(r);
        tk__copy_end(c->pg);
        return tk__err(err, errlen, TK_EINVAL,
                       "%s: COPY from or to the client is not supported",
                       name);
    }

    if (s == PGRES_FATAL_ERROR || s == PGRES_BAD_RESPONSE
        || s == PGRES_NONFATAL_ERROR)
    {
        msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                        : NULL;
        pos = r != NULL ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION)
                        : NULL;
        state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

        if (msg == NULL) {
            msg = PQerrorMessage(c->pg);
        }

        line = pos != NULL ? tk__line_of(text, atol(pos)) : 0;

        if (line > 0) {
            rc = tk__err(err, errlen, TK_EINTERNAL, "%s, line %ld: %s", name,
                         line, msg);
        } else {
            rc = tk__err(err, errlen, TK_EINTERNAL, "%s: %s", name, msg);
        }

        if (PQstatus(c->pg) != CONNECTION_OK
            || (state != NULL && (strncmp(state, "08", 2) == 0
                                  || strncmp(state, "57P", 3) == 0)))
        {
            rc = TK_EUNAVAIL;
        }

        PQclear(r);
        return rc;
    }

    PQclear(r);

    /* a COMMIT or ROLLBACK in the file would separate it from its record */
    if (PQtransactionStatus(c->pg) != PQTRANS_INTRANS) {
        return tk__err(err, errlen, TK_EINVAL,
                       "%s: has a COMMIT or ROLLBACK of its own, so it may "
                       "be applied in part: check the database and remove "
                       "them", name);
    }

    return TK_OK;
}


static void
tk__copy_end(PGconn *pg)
{
    PGresult  *r;
    char      *buf;

    PQputCopyEnd(pg, "COPY with the client is not supported");

    while (PQgetCopyData(pg, &buf, 0) > 0) {
        PQfreemem(buf);
    }

    while ((r = PQgetResult(pg)) != NULL) {
        PQclear(r);
    }
}


/* NNN_*.sql */
static int
tk__migration_name(const struct dirent *d)
{
    const char  *s;
    size_t       len;

    s = d->d_name;
    len = strlen(s);

    return len > 8
           && s[0] >= '0' && s[0] <= '9'
           && s[1] >= '0' && s[1] <= '9'
           && s[2] >= '0' && s[2] <= '9'
           && s[3] == '_'
           && strcmp(s + len - 4, ".sql") == 0;
}


/* byte order, not the locale's */
static int
tk__name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}


static int
tk__read_file(const char *path, char **text, char *err, size_t errlen)
{
    FILE    *f;
    char    *buf, *p;
    size_t   len, cap, n;
    int      rc;

    *text = NULL;

    f = fopen(path, "r");
    if (f == NULL) {
        return tk__err(err, errlen, errno == ENOENT ? TK_ENOTFOUND : TK_EINVAL,
                       "%s: %s", path, strerror(errno));
    }

    buf = NULL;
    len = 0;
    cap = 0;
    rc = TK_OK;

    for ( ;; ) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 16384;
            p = realloc(buf, cap);
            if (p == NULL) {
                rc = tk__err(err, errlen, TK_ENOMEM, "out of memory");
                break;
            }
            buf = p;
        }

        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;

        if (n == 0) {
            if (ferror(f)) {
                rc = tk__err(err, errlen, TK_EINVAL, "%s: read error", path);
            }
            break;
        }
    }

    fclose(f);

    if (rc == TK_OK && memchr(buf, '\0', len) != NULL) {
        rc = tk__err(err, errlen, TK_EINVAL, "%s: not a text file", path);
    }

    if (rc != TK_OK) {
        free(buf);
        return rc;
    }

    buf[len] = '\0';
    *text = buf;
    return TK_OK;
}


/* The line of the 1-based character position the server reports. */
static long
tk__line_of(const char *text, long position)
{
    const unsigned char  *s;
    long                  chars, line;

    line = 1;
    chars = 0;

    for (s = (const unsigned char *) text; *s != '\0'; s++) {
        /* count UTF-8 characters: skip continuation bytes */
        if ((*s & 0xc0) != 0x80 && ++chars == position) {
            return line;
        }

        if (*s == '\n') {
            line++;
        }
    }

    return 0;
}


static int
tk__err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list  ap;
    size_t   len;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);

        /* the server's messages end in a newline */
        len = strlen(err);
        while (len > 0 && (err[len - 1] == '\n' || err[len - 1] == ' ')) {
            err[--len] = '\0';
        }
    }

    return code;
}
