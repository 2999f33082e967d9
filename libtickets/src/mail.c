/*
 * Inbound email (docs/email.md): one RFC 5322 message, parsed with GMime,
 * becomes a ticket, a conversation on a ticket, or nothing (robots and
 * loops), and is kept whole in inbound_mail in the same transaction.
 *
 * The ticket or conversation is made by the API's own operations
 * (tk_ticket_new, tk_ticket_reqreply, tk_ticket_reply, tk_ticket_note) as
 * the sender, so that their rules hold for mail too: the requester's
 * re-open rules, the uploads' extensions and sizes, the notifications.
 * The inbound_mail row goes in with the connection's precommit hook, just
 * before their COMMIT; its unique Message-ID makes a second delivery of a
 * message fail there and be answered as a duplicate.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>

#include <cJSON.h>
#include <gmime/gmime.h>

#include "crypto.h"
#include "db.h"
#include "result.h"
#include "settings.h"
#include "valid.h"


#define TK__MAIL_TITLE_MAX   255
#define TK__MAIL_MAX_DEFAULT (25L * 1024 * 1024)
#define TK__MAIL_MAX_FILES   64


typedef struct {
    char            *filename;
    char            *content_type;
    GByteArray      *data;
} tk__mail_file_t;

typedef struct {
    const char      *message_id;    /* without <>, never NULL */
    char            *own_id;        /* when the message has none */
    char             from[256];     /* the address, lower-cased */
    const char      *subject;       /* decoded, UTF-8 */
    char            *text;          /* the body as text, UTF-8 */
    char            *html;          /* the HTML body reduced to text */
    tk__mail_file_t  files[TK__MAIL_MAX_FILES];
    int              nfiles;
    int              skipped;       /* attachments beyond the maximum */
    int              broken;        /* the parser's worst warning, or 0 */
    const char      *robot;         /* why it is a robot, or NULL */
    GMimeReferences *refs;
} tk__mail_t;

/* what the precommit hook stores */
typedef struct {
    const tk__mail_t  *m;
    const char        *raw;
    size_t             len;
    const char        *outcome;
    int64_t            ticket_id;   /* 0: the answer's (a new ticket) */
    int                source;      /* set tickets.source to Email */
    int                duplicate;   /* the Message-ID was stored before */
    int64_t            conversation_id;
} tk__mail_store_t;


static const tk__stmt_t  tk__mail_seen_stmt = {
    "tk_mail_seen",
    "SELECT outcome, ticket_id, conversation_id FROM inbound_mail"
    " WHERE message_id = $1",
    1
};

static const tk__stmt_t  tk__mail_settings_stmt = {
    "tk_mail_settings",
    "SELECT (SELECT value FROM settings WHERE key = 'mail_max_bytes'),"
    " (SELECT value FROM settings WHERE key = 'mail_ticket_tag'),"
    " (SELECT value FROM settings WHERE key = 'mail_create_requesters'),"
    " (SELECT lower(substring(value FROM '[^<>[:space:]]+@[^<>[:space:]]+'))"
    " FROM settings WHERE key = 'smtp_from'),"
    " (SELECT substring(value FROM '^[a-zA-Z][a-zA-Z0-9+.-]*://"
    "(?:[^@/]*@)?([^/:?#]+)') FROM settings WHERE key = 'public_base_url')",
    0
};

/* a Message-ID we sent, as the outbox keeps it: its ticket */
static const tk__stmt_t  tk__mail_outbox_stmt = {
    "tk_mail_outbox",
    "SELECT ticket_id FROM outbox WHERE uuid = $1::uuid",
    1
};

static const tk__stmt_t  tk__mail_ticket_stmt = {
    "tk_mail_ticket",
    "SELECT t.id, t.requester_id, r.email FROM tickets t"
    " LEFT JOIN users r ON r.id = t.requester_id"
    " WHERE t.id = $1::bigint AND NOT t.is_deleted",
    1
};

static const tk__stmt_t  tk__mail_sender_stmt = {
    "tk_mail_sender",
    "SELECT user_name FROM users WHERE lower(email) = lower($1)"
    " AND is_active ORDER BY created_on, id LIMIT 1",
    1
};

static const tk__stmt_t  tk__mail_store_stmt = {
    "tk_mail_store",
    "INSERT INTO inbound_mail (message_id, sender, subject, outcome, reason,"
    " ticket_id, conversation_id, size, raw)"
    " VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::bigint,"
    " octet_length($8::bytea), $8::bytea)"
    " ON CONFLICT (message_id) DO NOTHING RETURNING id",
    8
};

static const tk__stmt_t  tk__mail_source_stmt = {
    "tk_mail_source",
    "UPDATE tickets SET source = 2 WHERE id = $1::bigint",
    1
};


static pthread_once_t  tk__gmime_once = PTHREAD_ONCE_INIT;

static void
tk__gmime_init(void)
{
    g_mime_init();
}


/* The parser's warnings that mean the structure cannot be trusted. */
static void
tk__mail_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
    gpointer data)
{
    tk__mail_t  *m = data;

    switch (code) {
    case GMIME_WARN_MALFORMED_MULTIPART:
    case GMIME_WARN_TRUNCATED_MESSAGE:
    case GMIME_WARN_MALFORMED_MESSAGE:
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
    case GMIME_CRIT_NESTING_OVERFLOW:
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        if (m->broken == 0) {
            m->broken = (int) code;
        }
        break;
    default:
        break;
    }
}


static const char *
tk__mail_broken_name(int code)
{
    switch (code) {
    case GMIME_WARN_MALFORMED_MULTIPART:
        return "a multipart without parts";
    case GMIME_WARN_TRUNCATED_MESSAGE:
        return "the message is truncated";
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        return "a multipart without a boundary";
    case GMIME_CRIT_NESTING_OVERFLOW:
        return "MIME parts nested too deep";
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        return "a MIME part without headers or content";
    default:
        return "the message is malformed";
    }
}


/* Bytes in charset as valid UTF-8 (malloc'd); unknown charsets as Latin-1. */
static char *
tk__mail_utf8(const char *data, size_t len, const char *charset)
{
    gchar  *s = NULL, *v;
    char   *out;

    if (charset != NULL && g_ascii_strcasecmp(charset, "utf-8") != 0
        && g_ascii_strcasecmp(charset, "us-ascii") != 0)
    {
        s = g_convert(data, (gssize) len, "UTF-8",
                      g_mime_charset_iconv_name(charset), NULL, NULL, NULL);
    }

    if (s == NULL && !g_utf8_validate(data, (gssize) len, NULL)) {
        s = g_convert(data, (gssize) len, "UTF-8", "ISO-8859-1", NULL, NULL,
                      NULL);
    }

    v = g_utf8_make_valid(s != NULL ? s : data, s != NULL ? -1 : (gssize) len);
    g_free(s);

    out = v != NULL ? strdup(v) : NULL;
    g_free(v);
    return out;
}


/* The decoded content of a leaf part (transfer encoding undone). */
static GByteArray *
tk__mail_content(GMimePart *part)
{
    GMimeDataWrapper  *w;
    GMimeStream       *s;
    GByteArray        *a;

    w = g_mime_part_get_content(part);
    if (w == NULL) {
        return g_byte_array_new();
    }

    a = g_byte_array_new();
    s = g_mime_stream_mem_new_with_byte_array(a);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
    g_mime_data_wrapper_write_to_stream(w, s);
    g_object_unref(s);

    return a;
}


static void
tk__buf_putc(GString *b, char ch)
{
    /* no run of more than two blank lines, no space after a newline */
    if (ch == '\n') {
        while (b->len > 0 && (b->str[b->len - 1] == ' '
                              || b->str[b->len - 1] == '\t'))
        {
            g_string_truncate(b, b->len - 1);
        }
        if (b->len >= 2 && b->str[b->len - 1] == '\n'
            && b->str[b->len - 2] == '\n')
        {
            return;
        }
    } else if (ch == ' ' && (b->len == 0 || b->str[b->len - 1] == ' '
                             || b->str[b->len - 1] == '\n'))
    {
        return;
    }

    g_string_append_c(b, ch);
}


/*
 * HTML reduced to text: markup, scripts, styles and comments dropped,
 * blocks and line breaks as newlines, white space folded, the common
 * entities and numeric references decoded.  The result is only ever
 * stored and shown as text.
 */
static char *
tk__mail_html_text(const char *h)
{
    static const char *const  blocks[] = {
        "br", "p", "/p", "div", "/div", "li", "tr", "/tr", "h1", "h2", "h3",
        "/h1", "/h2", "/h3", "blockquote", "/blockquote", "hr", "table",
        "/table", "ul", "/ul", "ol", "/ol", "/li", "pre", "/pre", NULL
    };
    static const struct { const char *name; const char *text; } ents[] = {
        { "amp", "&" }, { "lt", "<" }, { "gt", ">" }, { "quot", "\"" },
        { "apos", "'" }, { "nbsp", " " }, { NULL, NULL }
    };

    GString      *b;
    const char   *p, *e, *skip;
    char          tag[16], ubuf[8];
    size_t        n, i;
    gunichar      u;
    int           k;

    b = g_string_new(NULL);

    for (p = h; *p != '\0'; ) {
        if (p[0] == '<' && strncmp(p, "<!--", 4) == 0) {
            e = strstr(p + 4, "-->");
            p = e != NULL ? e + 3 : p + strlen(p);
            continue;
        }

        if (*p == '<') {
            for (n = 0, e = p + 1;
                 *e != '\0' && n < sizeof(tag) - 1
                 && (g_ascii_isalnum(*e) || (*e == '/' && n == 0));
                 e++)
            {
                tag[n++] = (char) g_ascii_tolower(*e);
            }
            tag[n] = '\0';

            if (strcmp(tag, "script") == 0 || strcmp(tag, "style") == 0
                || strcmp(tag, "head") == 0 || strcmp(tag, "title") == 0)
            {
                snprintf(ubuf, sizeof(ubuf), "</%.5s", tag);
                skip = strcasestr(p, tag[0] == 'h' ? "</head" : ubuf);
                if (skip == NULL) {
                    break;
                }
                p = skip + 2;
            }

            e = strchr(p, '>');
            if (e == NULL) {
                break;
            }
            p = e + 1;

            for (k = 0; blocks[k] != NULL; k++) {
                if (strcmp(tag, blocks[k]) == 0) {
                    tk__buf_putc(b, '\n');
                    if (tag[0] == 'p' || tag[1] == 'p') {
                        tk__buf_putc(b, '\n');
                    }
                    break;
                }
            }
            continue;
        }

        if (*p == '&') {
            e = strchr(p, ';');
            if (e != NULL && e - p < 12) {
                if (p[1] == '#') {
                    u = (gunichar) (p[2] == 'x' || p[2] == 'X'
                                    ? strtoul(p + 3, NULL, 16)
                                    : strtoul(p + 2, NULL, 10));
                    if (u != 0 && g_unichar_validate(u)) {
                        n = (size_t) g_unichar_to_utf8(u, ubuf);
                        for (i = 0; i < n; i++) {
                            tk__buf_putc(b, ubuf[i]);
                        }
                    }
                    p = e + 1;
                    continue;
                }
                for (k = 0; ents[k].name != NULL; k++) {
                    n = strlen(ents[k].name);
                    if ((size_t) (e - p - 1) == n
                        && strncmp(p + 1, ents[k].name, n) == 0)
                    {
                        tk__buf_putc(b, ents[k].text[0]);
                        break;
                    }
                }
                if (ents[k].name != NULL) {
                    p = e + 1;
                    continue;
                }
            }
        }

        tk__buf_putc(b, *p == '\r' || *p == '\n' || *p == '\t' ? ' ' : *p);
        p++;
    }

    return g_string_free(b, FALSE);
}


static void
tk__mail_part(GMimeObject *parent, GMimeObject *obj, gpointer data)
{
    tk__mail_t         *m = data;
    GMimeContentType   *ct;
    GMimePart          *part;
    GByteArray         *a;
    const char         *name, *disp;
    char               *mime, *s, *t;
    tk__mail_file_t    *f;
    int                 is_text, is_html, attach;

    if (!GMIME_IS_PART(obj)) {
        return;
    }

    part = GMIME_PART(obj);
    ct = g_mime_object_get_content_type(obj);
    name = g_mime_part_get_filename(part);
    disp = g_mime_object_get_disposition(obj);

    is_text = g_mime_content_type_is_type(ct, "text", "plain");
    is_html = g_mime_content_type_is_type(ct, "text", "html");
    attach = (disp != NULL && g_ascii_strcasecmp(disp, "attachment") == 0)
             || name != NULL || !(is_text || is_html);

    if (!attach) {
        if ((is_text && m->text != NULL) || (is_html && m->html != NULL)) {
            /* a second body: kept as a file, as mail clients show it */
            attach = 1;

        } else {
            a = tk__mail_content(part);
            g_byte_array_append(a, (const guint8 *) "", 1);
            s = tk__mail_utf8((const char *) a->data, a->len - 1,
                              g_mime_content_type_get_parameter(ct,
                                                                "charset"));
            g_byte_array_free(a, TRUE);

            if (s != NULL && is_html) {
                t = tk__mail_html_text(s);
                free(s);
                s = t != NULL ? strdup(t) : NULL;
                g_free(t);
                m->html = s;
            } else {
                m->text = s;
            }
            return;
        }
    }

    if (m->nfiles == TK__MAIL_MAX_FILES) {
        m->skipped++;
        return;
    }

    mime = g_mime_content_type_get_mime_type(ct);
    f = &m->files[m->nfiles++];

    if (name != NULL && name[0] != '\0') {
        f->filename = tk__mail_utf8(name, strlen(name), NULL);
    } else {
        /* an inline image without a name: by its type, as uploads go */
        s = strchr(mime, '/');
        f->filename = malloc(48);
        if (f->filename != NULL) {
            snprintf(f->filename, 48, "part-%d.%.16s", m->nfiles,
                     s != NULL && strspn(s + 1, "abcdefghijklmnopqrstuvwxyz")
                                  == strlen(s + 1)
                     ? s + 1 : "bin");
        }
    }

    /* a base name only, as the form parser gives uploads */
    if (f->filename != NULL) {
        s = strrchr(f->filename, '/');
        t = strrchr(f->filename, '\\');
        if (t > s) {
            s = t;
        }
        if (s != NULL) {
            memmove(f->filename, s + 1, strlen(s + 1) + 1);
        }
    }

    f->content_type = strdup(mime);
    g_free(mime);
    f->data = tk__mail_content(part);
}


/* The line where the quoted previous mail starts, or NULL. */
static char *
tk__mail_quote_start(char *text)
{
    char    *line, *next, *prev = NULL, *e;
    size_t   len;

    for (line = text; line != NULL && *line != '\0'; line = next) {
        e = strchr(line, '\n');
        next = e != NULL ? e + 1 : NULL;
        len = e != NULL ? (size_t) (e - line) : strlen(line);
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) {
            len--;
        }

        /* Gmail, Thunderbird, Apple: "On <date>, <someone> wrote:",
         * sometimes over two lines */
        if (len >= 6 && strncmp(line + len - 6, "wrote:", 6) == 0) {
            if (strncmp(line, "On ", 3) == 0) {
                return line;
            }
            if (prev != NULL && strncmp(prev, "On ", 3) == 0) {
                return prev;
            }
        }

        /* Outlook */
        if (strncmp(line, "-----Original Message-----", 26) == 0
            || strncmp(line, "________________________________", 32) == 0
            || (strncmp(line, "From: ", 6) == 0 && next != NULL
                && (strncmp(next, "Sent: ", 6) == 0
                    || strncmp(next, "Date: ", 6) == 0)))
        {
            return line;
        }

        /* a block quoted with "> " that runs to the end */
        if (line[0] == '>') {
            for (e = next; e != NULL && *e != '\0'; ) {
                if (*e != '>' && *e != '\n' && *e != '\r') {
                    break;
                }
                e = strchr(e, '\n');
                e = e != NULL ? e + 1 : NULL;
            }
            if (e == NULL || *e == '\0') {
                return line;
            }
        }

        prev = line;
    }

    return NULL;
}


/*
 * The text without white space around it and, with quotes set, without
 * the quoted previous mail (when something is left before it).
 */
static void
tk__mail_trim(char *text, int quotes)
{
    char    *q;
    size_t   len;

    q = text + strspn(text, " \t\r\n");
    memmove(text, q, strlen(q) + 1);

    q = quotes ? tk__mail_quote_start(text) : NULL;
    if (q != NULL && q != text) {
        *q = '\0';
    }

    len = strlen(text);
    while (len > 0 && strchr(" \t\r\n", text[len - 1]) != NULL) {
        text[--len] = '\0';
    }
}


static void
tk__mail_robot(tk__mail_t *m, GMimeMessage *msg)
{
    GMimeObject  *o = GMIME_OBJECT(msg);
    const char   *v;

    v = g_mime_object_get_header(o, "Auto-Submitted");
    while (v != NULL && (*v == ' ' || *v == '\t')) {
        v++;
    }
    if (v != NULL && !(g_ascii_strncasecmp(v, "no", 2) == 0
                       && (v[2] == '\0' || v[2] == ' ' || v[2] == ';'
                           || v[2] == '\t' || v[2] == '\r')))
    {
        m->robot = "Auto-Submitted";
        return;
    }

    v = g_mime_object_get_header(o, "Precedence");
    if (v != NULL && (strcasestr(v, "bulk") != NULL
                      || strcasestr(v, "list") != NULL
                      || strcasestr(v, "junk") != NULL
                      || strcasestr(v, "auto_reply") != NULL))
    {
        m->robot = "Precedence";
        return;
    }

    if (g_mime_object_get_header(o, "X-Autoreply") != NULL
        || g_mime_object_get_header(o, "X-Autorespond") != NULL
        || g_mime_object_get_header(o, "X-Auto-Response-Suppress") != NULL
        || g_mime_object_get_header(o, "List-Id") != NULL)
    {
        m->robot = "an auto-reply or list header";
    }
}


static void
tk__mail_free(tk__mail_t *m)
{
    int  i;

    for (i = 0; i < m->nfiles; i++) {
        free(m->files[i].filename);
        free(m->files[i].content_type);
        if (m->files[i].data != NULL) {
            g_byte_array_free(m->files[i].data, TRUE);
        }
    }

    if (m->refs != NULL) {
        g_mime_references_free(m->refs);
    }

    free(m->text);
    free(m->html);
    free(m->own_id);
}


/* The message into m; TK_EINVAL with the reason when it is unusable. */
static int
tk__mail_parse(GMimeMessage **out, const char *raw, size_t len,
    tk__mail_t *m, tk_result_t *res)
{
    GMimeParserOptions  *opts;
    GMimeStream         *s;
    GMimeParser         *parser;
    GMimeMessage        *msg;
    InternetAddressList *from;
    InternetAddress     *ia;
    const char          *addr, *v, *r2;
    char                *refs;
    char                 sha[65];
    size_t               i;

    *out = NULL;

    opts = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(opts, tk__mail_warning, m);

    s = g_mime_stream_mem_new_with_buffer(raw, len);
    parser = g_mime_parser_new_with_stream(s);
    g_object_unref(s);
    msg = g_mime_parser_construct_message(parser, opts);
    g_object_unref(parser);
    g_mime_parser_options_free(opts);

    if (msg == NULL) {
        return tk__fail(res, TK_EINVAL, "not an RFC 5322 message");
    }

    *out = msg;

    if (m->broken) {
        return tk__fail(res, TK_EINVAL, "malformed MIME structure: %s",
                        tk__mail_broken_name(m->broken));
    }

    from = g_mime_message_get_from(msg);
    ia = from != NULL && internet_address_list_length(from) > 0
         ? internet_address_list_get_address(from, 0) : NULL;
    addr = ia != NULL && INTERNET_ADDRESS_IS_MAILBOX(ia)
           ? internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia))
           : NULL;

    if (addr == NULL || strlen(addr) >= sizeof(m->from)
        || !tk__valid_email(addr, strlen(addr)))
    {
        return tk__fail(res, TK_EINVAL, "the message has no valid From "
                        "address");
    }

    for (i = 0; addr[i] != '\0'; i++) {
        m->from[i] = (char) g_ascii_tolower(addr[i]);
    }
    m->from[i] = '\0';

    v = g_mime_message_get_message_id(msg);
    if (v != NULL && v[0] != '\0' && strlen(v) < 998
        && tk__utf8_count(v) >= 0)
    {
        m->message_id = v;
    } else {
        /* none: the same bytes are the same message */
        if (tk__sha256_hex(raw, len, sha) != TK_OK) {
            return tk__fail(res, TK_EINTERNAL, "sha256 failed");
        }
        m->own_id = malloc(96);
        if (m->own_id == NULL) {
            return tk__fail(res, TK_ENOMEM, "out of memory");
        }
        snprintf(m->own_id, 96, "sha256-%.64s@inbound.invalid", sha);
        m->message_id = m->own_id;
    }

    m->subject = g_mime_message_get_subject(msg);
    if (m->subject == NULL) {
        m->subject = "";
    }

    /* In-Reply-To first: the one message this answers */
    v = g_mime_object_get_header(GMIME_OBJECT(msg), "In-Reply-To");
    r2 = g_mime_object_get_header(GMIME_OBJECT(msg), "References");
    refs = g_strdup_printf("%s %s", v != NULL ? v : "",
                           r2 != NULL ? r2 : "");
    m->refs = g_mime_references_parse(NULL, refs);
    g_free(refs);

    tk__mail_robot(m, msg);

    g_mime_message_foreach(msg, tk__mail_part, m);

    if (m->text == NULL && m->html != NULL) {
        m->text = m->html;
        m->html = NULL;
    }

    return TK_OK;
}


/* The inbound_mail row (and the source of a new ticket), in the write's
 * transaction: the precommit hook of the connection. */
static int
tk__mail_precommit(tk_conn_t *c, void *arg, tk_result_t *res)
{
    tk__mail_store_t  *st = arg;
    const char        *v[8];
    int                lengths[8] = { 0 };
    int                formats[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
    PGresult          *r;
    tk_result_t        tmp;
    cJSON             *o, *id;
    char               tid[24], cid[24];
    int                stored;

    if (st->ticket_id == 0) {
        st->ticket_id = res->id;
    } else if (res->body != NULL) {
        /* the answer is the conversation */
        o = cJSON_Parse(res->body);
        id = cJSON_GetObjectItemCaseSensitive(o, "id");
        if (cJSON_IsNumber(id)) {
            st->conversation_id = (int64_t) id->valuedouble;
        }
        cJSON_Delete(o);
    }

    snprintf(tid, sizeof(tid), "%lld", (long long) st->ticket_id);
    snprintf(cid, sizeof(cid), "%lld", (long long) st->conversation_id);

    v[0] = st->m->message_id;
    v[1] = st->m->from;
    v[2] = st->m->subject;
    v[3] = st->outcome;
    v[4] = NULL;
    v[5] = st->ticket_id > 0 ? tid : NULL;
    v[6] = st->conversation_id > 0 ? cid : NULL;
    v[7] = st->raw;
    lengths[7] = (int) st->len;

    tk_result_init(&tmp);

    if (st->source) {
        v[0] = tid;
        r = tk__exec(c, &tk__mail_source_stmt, v, &tmp);
        if (r == NULL) {
            goto failed;
        }
        PQclear(r);
        v[0] = st->m->message_id;
    }

    r = tk__execb(c, &tk__mail_store_stmt, v, lengths, formats, &tmp);
    if (r == NULL) {
        goto failed;
    }

    stored = PQntuples(r) == 1;
    PQclear(r);
    tk_result_clear(&tmp);

    if (!stored) {
        /* delivered before, committed meanwhile: undo this one */
        st->duplicate = 1;
        return tk__fail(res, TK_ECONFLICT, "delivered before");
    }

    return TK_OK;

failed:

    tk__fail(res, tmp.code, "%s", tmp.message);
    tk_result_clear(&tmp);
    return res->code;
}


/* The answer: {"outcome": ..., "messageId": ..., "ticketId": ...}. */
static int
tk__mail_answer(tk_result_t *res, int code, const char *outcome,
    const char *message_id, int64_t ticket_id, int64_t conversation_id,
    const char *reason)
{
    cJSON  *o;
    char   *body;

    o = cJSON_CreateObject();
    if (o == NULL
        || cJSON_AddStringToObject(o, "outcome", outcome) == NULL
        || cJSON_AddStringToObject(o, "messageId", message_id) == NULL
        || (ticket_id > 0
            ? cJSON_AddNumberToObject(o, "ticketId", (double) ticket_id)
            : cJSON_AddNullToObject(o, "ticketId")) == NULL
        || (conversation_id > 0
            ? cJSON_AddNumberToObject(o, "conversationId",
                                      (double) conversation_id)
            : cJSON_AddNullToObject(o, "conversationId")) == NULL
        || (reason != NULL
            ? cJSON_AddStringToObject(o, "reason", reason)
            : cJSON_AddNullToObject(o, "reason")) == NULL)
    {
        cJSON_Delete(o);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (body == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    free(res->body);
    free(res->errors);
    res->errors = NULL;
    res->body = body;
    res->body_len = strlen(body);
    res->etag[0] = '\0';
    res->content_type[0] = '\0';
    res->id = code == TK_CREATED ? ticket_id : 0;
    res->code = code;
    snprintf(res->message, sizeof(res->message), "%s", outcome);
    return code;
}


/* The ticket named by what the message refers to or its subject; 0: none. */
static int
tk__mail_thread(tk_conn_t *c, const tk__mail_t *m, const char *tag,
    const char *host, int64_t *ticket, int *own, tk_result_t *res)
{
    const char  *v[1], *id, *at, *p;
    PGresult    *r;
    char         uuid[40];
    int64_t      n;
    size_t       tl;
    int          i, len;

    *ticket = 0;
    *own = 0;

    /* the message itself is one we sent: it came back */
    if (m->message_id != NULL && (at = strchr(m->message_id, '@')) != NULL
        && at - m->message_id == 36)
    {
        memcpy(uuid, m->message_id, 36);
        uuid[36] = '\0';
        if (tk__valid_uuid(uuid)) {
            v[0] = uuid;
            r = tk__exec(c, &tk__mail_outbox_stmt, v, res);
            if (r == NULL) {
                return res->code;
            }
            *own = PQntuples(r) > 0;
            PQclear(r);
            if (*own) {
                return TK_OK;
            }
        }
    }

    len = m->refs != NULL ? g_mime_references_length(m->refs) : 0;

    for (i = 0; i < len && *ticket == 0; i++) {
        id = g_mime_references_get_message_id(m->refs, i);
        at = id != NULL ? strchr(id, '@') : NULL;
        if (at == NULL) {
            continue;
        }

        /* <ticket-N@host>, the References of every mail of a ticket */
        if (strncmp(id, "ticket-", 7) == 0 && host != NULL
            && g_ascii_strcasecmp(at + 1, host) == 0
            && tk__parse_idn(id + 7, (size_t) (at - id - 7), INT64_MAX, &n)
               == TK_OK)
        {
            *ticket = n;
            break;
        }

        /* <uuid@host>: a notification of the outbox */
        if (at - id != 36) {
            continue;
        }
        memcpy(uuid, id, 36);
        uuid[36] = '\0';
        if (!tk__valid_uuid(uuid)) {
            continue;
        }

        v[0] = uuid;
        r = tk__exec(c, &tk__mail_outbox_stmt, v, res);
        if (r == NULL) {
            return res->code;
        }
        if (PQntuples(r) > 0 && tk__val(r, 0, 0) != NULL) {
            *ticket = strtoll(tk__val(r, 0, 0), NULL, 10);
        }
        PQclear(r);
    }

    /* the subject's tag, e.g. "Ticket #123" or "[#123]" */
    tl = tag != NULL ? strlen(tag) : 0;
    for (p = m->subject; *ticket == 0 && tl > 0 && *p != '\0'; p++) {
        if (strncasecmp(p, tag, tl) == 0 && g_ascii_isdigit(p[tl])) {
            n = 0;
            for (p += tl; g_ascii_isdigit(*p) && n < INT64_MAX / 10; p++) {
                n = n * 10 + (*p - '0');
            }
            *ticket = n;
            break;
        }
    }

    if (*ticket == 0 && (p = strstr(m->subject, "[#")) != NULL
        && g_ascii_isdigit(p[2]))
    {
        *ticket = strtoll(p + 2, NULL, 10);
    }

    return TK_OK;
}


static int
tk__form_str(tk_form_t *f, const char *name, const char *value)
{
    return tk_form_add(f, name, strlen(name), value, strlen(value));
}


/* The fields of the operation and the message's files as its uploads. */
static tk_form_t *
tk__mail_form(const tk__mail_t *m, const char *text, const char *title)
{
    tk_form_t  *f;
    int         i, rc = TK_OK;

    f = tk_form_new();
    if (f == NULL) {
        return NULL;
    }

    rc |= tk__form_str(f, "Title", title);
    rc |= tk__form_str(f, "Message", text);
    rc |= tk__form_str(f, "Description", text);

    for (i = 0; i < m->nfiles && rc == TK_OK; i++) {
        if (m->files[i].filename == NULL || m->files[i].content_type == NULL
            || m->files[i].data == NULL)
        {
            rc = TK_ENOMEM;
            break;
        }
        rc |= tk_form_file_begin(f, "Uploads", 7, m->files[i].filename,
                                 strlen(m->files[i].filename),
                                 m->files[i].content_type,
                                 strlen(m->files[i].content_type));
        if (rc == TK_OK && m->files[i].data->len > 0) {
            rc |= tk_form_file_append(f, m->files[i].data->data,
                                      m->files[i].data->len);
        }
    }

    if (rc != TK_OK) {
        tk_form_free(f);
        return NULL;
    }

    return f;
}


/* At most max bytes of s, cut at the start of a character, one line. */
static void
tk__mail_title(char *out, size_t max, const char *s)
{
    size_t  len, i;

    while (*s == ' ' || *s == '\t') {
        s++;
    }

    len = strlen(s);
    if (len > max) {
        for (len = max; len > 0 && (s[len] & 0xc0) == 0x80; len--) {
            /* back to the start of the cut character */
        }
    }

    memcpy(out, s, len);
    out[len] = '\0';

    for (i = 0; i < len; i++) {
        if ((unsigned char) out[i] < 0x20) {
            out[i] = ' ';
        }
    }

    if (out[0] == '\0') {
        snprintf(out, max + 1, "(no subject)");
    }
}


/* Stores a message that is accepted and does nothing: robots, loops. */
static int
tk__mail_ignore(tk_conn_t *c, const tk__mail_t *m, const char *raw,
    size_t len, const char *reason, tk_result_t *res)
{
    const char  *v[8];
    int          lengths[8] = { 0 };
    int          formats[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
    PGresult    *r;

    v[0] = m->message_id;
    v[1] = m->from;
    v[2] = m->subject;
    v[3] = "ignored";
    v[4] = reason;
    v[5] = NULL;
    v[6] = NULL;
    v[7] = raw;
    lengths[7] = (int) len;

    r = tk__execb(c, &tk__mail_store_stmt, v, lengths, formats, res);
    if (r == NULL) {
        return res->code;
    }
    PQclear(r);

    return tk__mail_answer(res, TK_OK, "ignored", m->message_id, 0, 0,
                           reason);
}


/* An earlier delivery of the message, if any: 1 with the answer in res. */
static int
tk__mail_seen(tk_conn_t *c, const tk__mail_t *m, tk_result_t *res)
{
    const char  *v[1] = { m->message_id };
    PGresult    *r;
    int64_t      t, cv;

    r = tk__exec(c, &tk__mail_seen_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }

    t = tk__val(r, 0, 1) != NULL ? strtoll(tk__val(r, 0, 1), NULL, 10) : 0;
    cv = tk__val(r, 0, 2) != NULL ? strtoll(tk__val(r, 0, 2), NULL, 10) : 0;
    PQclear(r);

    tk__mail_answer(res, TK_OK, "duplicate", m->message_id, t, cv,
                    "delivered before");
    return 1;
}


/* The sender's user name into name; creates them when the setting allows. */
static int
tk__mail_sender(tk_conn_t *c, const tk__mail_t *m, int create, char *name,
    size_t len, tk_result_t *res)
{
    const char  *v[1] = { m->from };
    PGresult    *r;
    tk_result_t  tmp;
    int          rc;

    r = tk__exec(c, &tk__mail_sender_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) == 1) {
        snprintf(name, len, "%s", tk__val(r, 0, 0));
        PQclear(r);
        return TK_OK;
    }
    PQclear(r);

    if (!create) {
        return tk__fail(res, TK_EFORBIDDEN, "no user has the address %s",
                        m->from);
    }

    /* a Member by their address, who signs in after a password reset */
    tk_result_init(&tmp);
    rc = tk_user_add(c, m->from, m->from, NULL, "Member", NULL, &tmp);
    if (rc < 0 && rc != TK_ECONFLICT) {
        tk__fail(res, rc, "cannot create the requester %s: %s", m->from,
                 tmp.message);
        tk_result_clear(&tmp);
        return res->code;
    }
    tk_result_clear(&tmp);

    snprintf(name, len, "%s", m->from);
    return TK_OK;
}


int
tk_mail_deliver(tk_conn_t *c, const char *raw, size_t len, tk_result_t *res)
{
    tk__mail_t         m;
    tk__mail_store_t   st;
    tk_principal_t     p;
    GMimeMessage      *msg = NULL;
    PGresult          *set = NULL, *r;
    tk_form_t         *form = NULL;
    const char        *v[1], *tag, *from_addr, *host, *req_id, *req_email;
    char               title[TK__MAIL_TITLE_MAX + 1], user[256], ids[24];
    char               requester[64], requester_email[256];
    long               max = TK__MAIL_MAX_DEFAULT;
    int64_t            ticket;
    int                own, create = 0, rc;

    memset(&m, 0, sizeof(m));
    memset(&st, 0, sizeof(st));

    set = tk__exec(c, &tk__mail_settings_stmt, NULL, res);
    if (set == NULL) {
        return res->code;
    }

    if (tk__val(set, 0, 0) != NULL) {
        tk__setting_parse_int(tk__val(set, 0, 0), &max);
    }
    if (tk__val(set, 0, 2) != NULL) {
        tk__setting_parse_bool(tk__val(set, 0, 2), &create);
    }
    tag = tk__val(set, 0, 1);
    from_addr = tk__val(set, 0, 3);
    host = tk__val(set, 0, 4);

    if (raw == NULL || len == 0) {
        rc = tk__fail(res, TK_EINVAL, "the message is empty");
        goto done;
    }

    if (len > (size_t) max || len > INT32_MAX / 2) {
        rc = tk__fail(res, TK_EINVAL, "the message of %zu bytes is larger "
                      "than mail_max_bytes (%ld)", len, max);
        goto done;
    }

    pthread_once(&tk__gmime_once, tk__gmime_init);

    if (tk__mail_parse(&msg, raw, len, &m, res) != TK_OK) {
        rc = res->code;
        goto done;
    }

    rc = tk__mail_seen(c, &m, res);
    if (rc != 0) {
        rc = res->code;
        goto done;
    }

    if (tk__mail_thread(c, &m, tag, host, &ticket, &own, res) != TK_OK) {
        rc = res->code;
        goto done;
    }

    /* loops and robots: kept, never answered */
    if (own || m.robot != NULL
        || (from_addr != NULL && strcmp(from_addr, m.from) == 0))
    {
        rc = tk__mail_ignore(c, &m, raw, len,
                             own ? "one of our own messages"
                             : m.robot != NULL ? m.robot
                             : "sent from the helpdesk's own address", res);
        goto done;
    }

    if (tk__mail_sender(c, &m, create, user, sizeof(user), res) != TK_OK
        || tk_principal_by_name(c, user, &p, res) != TK_OK)
    {
        rc = res->code == TK_EAUTH ? tk__fail(res, TK_EFORBIDDEN,
                                              "the user of %s is not active",
                                              m.from)
                                   : res->code;
        goto done;
    }

    requester[0] = '\0';
    requester_email[0] = '\0';

    if (ticket > 0) {
        snprintf(ids, sizeof(ids), "%lld", (long long) ticket);
        v[0] = ids;
        r = tk__exec(c, &tk__mail_ticket_stmt, v, res);
        if (r == NULL) {
            rc = res->code;
            goto done;
        }
        if (PQntuples(r) == 1) {
            req_id = tk__val(r, 0, 1);
            req_email = tk__val(r, 0, 2);
            snprintf(requester, sizeof(requester), "%s",
                     req_id != NULL ? req_id : "");
            snprintf(requester_email, sizeof(requester_email), "%s",
                     req_email != NULL ? req_email : "");
        } else {
            /* a tag of a ticket that is gone: a new ticket */
            ticket = 0;
        }
        PQclear(r);
    }

    if (m.text == NULL) {
        m.text = strdup("");
        if (m.text == NULL) {
            rc = tk__fail(res, TK_ENOMEM, "out of memory");
            goto done;
        }
    }

    /* a reply without the mail it quotes; the stored original has it */
    tk__mail_trim(m.text, ticket > 0);

    tk__mail_title(title, TK__MAIL_TITLE_MAX, m.subject);

    form = tk__mail_form(&m, m.text[0] != '\0' ? m.text : "(no text)",
                         title);
    if (form == NULL) {
        rc = tk__fail(res, TK_ENOMEM, "out of memory");
        goto done;
    }

    st.m = &m;
    st.raw = raw;
    st.len = len;
    st.ticket_id = ticket;

    if (ticket > 0) {
        snprintf(ids, sizeof(ids), "%lld", (long long) ticket);
        if (tk__form_str(form, "Id", ids) != TK_OK
            || tk__form_str(form, "Username", p.user_name) != TK_OK
            || (requester_email[0] != '\0'
                && tk__form_str(form, "SendTo", requester_email) != TK_OK)
            || tk__form_str(form, "IsPrivate", "false") != TK_OK)
        {
            rc = tk__fail(res, TK_ENOMEM, "out of memory");
            goto done;
        }
    } else if (tk__form_str(form, "Requester", p.user_name) != TK_OK) {
        rc = tk__fail(res, TK_ENOMEM, "out of memory");
        goto done;
    }

    st.outcome = ticket > 0 ? "reply" : "ticket";
    st.source = ticket == 0;

    c->precommit = tk__mail_precommit;
    c->precommit_arg = &st;

    if (ticket == 0) {
        rc = tk_ticket_new(c, &p, form, NULL, res);

    } else if (strcmp(requester, p.user_id) == 0) {
        rc = tk_ticket_reqreply(c, &p, ticket, form, NULL, res);

    } else if (tk_is_staff(&p) && requester_email[0] != '\0') {
        /* staff answering by mail: a reply, mailed to the requester */
        rc = tk_ticket_reply(c, &p, ticket, form, NULL, res);

    } else if (tk_is_staff(&p)) {
        rc = tk_ticket_note(c, &p, ticket, form, NULL, res);

    } else {
        rc = tk__fail(res, TK_EFORBIDDEN, "%s is neither the requester of "
                      "ticket %s nor staff", m.from, ids);
    }

    c->precommit = NULL;
    c->precommit_arg = NULL;

    if (st.duplicate) {
        /* the same message, delivered twice at once: the other one won */
        rc = tk__mail_seen(c, &m, res) == 1 ? TK_OK : res->code;
        goto done;
    }

    if (rc < 0) {
        if (rc == TK_EINVAL && res->errors != NULL) {
            /* the operation's field errors, for a human */
            snprintf(res->message, sizeof(res->message), "refused: %s",
                     res->errors);
        }
        goto done;
    }

    rc = tk__mail_answer(res, ticket > 0 ? TK_OK : TK_CREATED, st.outcome,
                         m.message_id, st.ticket_id, st.conversation_id,
                         m.skipped > 0 ? "too many attachments: some were "
                         "left out" : NULL);

done:

    c->precommit = NULL;
    tk_form_free(form);
    tk__mail_free(&m);
    if (msg != NULL) {
        g_object_unref(msg);
    }
    PQclear(set);
    return rc;
}
