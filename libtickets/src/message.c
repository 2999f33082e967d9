/*
 * The messages of notifications: the RFC 5322 email of an event with its
 * readable text, and the JSON body and signature of an HTTP notification.
 * Pure functions, no I/O: t/unit/check_deliver.c tests them.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "deliver.h"
#include "valid.h"


#define TK__SUBJECT_MAX  900


static char *tk__clean(const char *s, size_t max);
static int tk__ascii_text(const char *s);
static void tk__hdr_words(tk__buf_t *b, size_t col, const char *s);
static void tk__hdr_encoded(tk__buf_t *b, size_t col, const char *s);
static int tk__hdr_addrs(tk__buf_t *b, const char *name,
    const char *const *addrs, size_t n, char *err, size_t errlen);
static void tk__qp(tk__buf_t *b, const char *s);
static const char *tk__jstr(const cJSON *o, const char *key);


int
tk__mail_build(const tk__mail_t *m, char **out, size_t *len, char *err,
    size_t errlen)
{
    static const char *const  days[] = {
        "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
    };
    static const char *const  months[] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
        "Nov", "Dec"
    };

    tk__buf_t    b;
    struct tm    tm;
    const char  *s;
    char        *subject;
    char         addr[TK__ADDR_MAX + 1], name[256];

    *out = NULL;
    *len = 0;

    if (tk__mail_from_parse(m->from, addr, name, sizeof(name)) != TK_OK) {
        snprintf(err, errlen, "the sender is not an email address");
        return TK_EINVAL;
    }

    if (m->uuid == NULL || !tk__valid_uuid(m->uuid)) {
        snprintf(err, errlen, "the notification id is not a UUID");
        return TK_EINVAL;
    }

    if (m->host == NULL || m->host[0] == '\0'
        || m->host[strspn(m->host, "abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")]
           != '\0')
    {
        snprintf(err, errlen, "the host of the Message-ID is not a name");
        return TK_EINVAL;
    }

    if ((m->ticket_id != NULL
         && (m->ticket_id[0] == '\0'
             || m->ticket_id[strspn(m->ticket_id, "0123456789")] != '\0'))
        || (m->event != NULL
            && m->event[strspn(m->event, "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789")] != '\0'))
    {
        snprintf(err, errlen, "the ticket id or event is not a name");
        return TK_EINVAL;
    }

    memset(&b, 0, sizeof(b));

    gmtime_r(&m->date, &tm);
    tk__buf_fmt(&b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
                days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);

    tk__buf_str(&b, "From: ");
    if (name[0] != '\0') {
        if (tk__ascii_text(name)) {
            tk__buf_str(&b, "\"");
            for (s = name; *s != '\0'; s++) {
                if (*s == '"' || *s == '\\') {
                    tk__buf_str(&b, "\\");
                }
                tk__buf_add(&b, s, 1);
            }
            tk__buf_str(&b, "\"");
        } else {
            tk__hdr_encoded(&b, sizeof("From: ") - 1, name);
        }
        tk__buf_str(&b, " ");
    }
    tk__buf_fmt(&b, "<%s>\r\n", addr);

    if (tk__hdr_addrs(&b, "To", m->to, m->nto, err, errlen) != TK_OK
        || tk__hdr_addrs(&b, "Cc", m->cc, m->ncc, err, errlen) != TK_OK)
    {
        free(b.p);
        return TK_EINVAL;
    }

    subject = tk__clean(m->subject != NULL ? m->subject : "",
                        TK__SUBJECT_MAX);
    if (subject == NULL) {
        free(b.p);
        return TK_ENOMEM;
    }

    tk__buf_str(&b, "Subject:");
    if (tk__ascii_text(subject)) {
        tk__hdr_words(&b, sizeof("Subject:") - 1, subject);
    } else {
        tk__buf_str(&b, " ");
        tk__hdr_encoded(&b, sizeof("Subject: ") - 1, subject);
    }
    tk__buf_str(&b, "\r\n");
    free(subject);

    tk__buf_fmt(&b, "Message-ID: <%s@%s>\r\n", m->uuid, m->host);

    if (m->ticket_id != NULL) {
        tk__buf_fmt(&b, "References: <ticket-%s@%s>\r\n", m->ticket_id,
                    m->host);
        tk__buf_fmt(&b, "X-Tickets-Ticket-Id: %s\r\n", m->ticket_id);
    }

    if (m->event != NULL) {
        tk__buf_fmt(&b, "X-Tickets-Event: %s\r\n", m->event);
    }

    tk__buf_str(&b, "MIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n"
                "Auto-Submitted: auto-generated\r\n"
                "\r\n");

    tk__qp(&b, m->body != NULL ? m->body : "");

    if (b.oom) {
        free(b.p);
        return TK_ENOMEM;
    }

    *out = b.p;
    *len = b.len;
    return TK_OK;
}


int
tk__mail_addr_ok(const char *s)
{
    size_t  len, i;

    if (s == NULL) {
        return 0;
    }

    len = strlen(s);
    if (len == 0 || len > TK__ADDR_MAX || !tk__valid_email(s, len)) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


int
tk__mail_from_parse(const char *from, char *addr, char *name, size_t namelen)
{
    const char  *lt, *gt, *e;
    size_t       n;

    name[0] = '\0';
    addr[0] = '\0';

    if (from == NULL) {
        return TK_EINVAL;
    }

    lt = strchr(from, '<');

    if (lt == NULL) {
        for (; *from == ' '; from++) { /* trim */ }
        n = strlen(from);
        for (; n > 0 && from[n - 1] == ' '; n--) { /* trim */ }

    } else {
        gt = strchr(lt, '>');
        if (gt == NULL || gt[1] != '\0') {
            return TK_EINVAL;
        }

        /* the name, without its quotes */
        for (; *from == ' ' || *from == '"'; from++) { /* trim */ }
        for (e = lt; e > from && (e[-1] == ' ' || e[-1] == '"'); e--) {
            /* trim */
        }

        n = (size_t) (e - from);
        if (n >= namelen) {
            n = namelen - 1;
        }
        memcpy(name, from, n);
        name[n] = '\0';

        from = lt + 1;
        n = (size_t) (gt - from);
    }

    if (n == 0 || n > TK__ADDR_MAX) {
        return TK_EINVAL;
    }

    memcpy(addr, from, n);
    addr[n] = '\0';

    if (!tk__mail_addr_ok(addr)) {
        addr[0] = '\0';
        return TK_EINVAL;
    }

    /* a name is text: no control characters, quotes or backslashes */
    for (e = name; *e != '\0'; e++) {
        if ((unsigned char) *e < 0x20 || *e == 0x7f) {
            name[0] = '\0';
            return TK_EINVAL;
        }
    }

    return TK_OK;
}


void
tk__url_host(const char *url, char *host, size_t len)
{
    const char  *p, *e, *at;
    size_t       n;

    snprintf(host, len, "localhost");

    if (url == NULL || (p = strstr(url, "://")) == NULL) {
        return;
    }

    p += 3;
    e = p + strcspn(p, "/?#");
    at = memchr(p, '@', (size_t) (e - p));
    if (at != NULL) {
        p = at + 1;
    }

    n = strcspn(p, ":/?#");
    if (n == 0 || n >= len) {
        return;
    }

    if (strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789.-") < n)
    {
        return;
    }

    memcpy(host, p, n);
    host[n] = '\0';
}


int
tk__mail_template(const char *event, const char *payload,
    const char *base_url, char **subject, char **body)
{
    cJSON        *o, *att, *a;
    tk__buf_t     s, b;
    const char   *title, *subj, *msg, *v;
    char          id[32], ref[40];
    size_t        base_len;
    int           n;

    *subject = NULL;
    *body = NULL;

    o = cJSON_Parse(payload != NULL ? payload : "{}");

    id[0] = '\0';
    a = cJSON_GetObjectItemCaseSensitive(o, "ticketId");
    if (cJSON_IsNumber(a)) {
        snprintf(id, sizeof(id), "%.0f", a->valuedouble);
    } else if (cJSON_IsString(a)) {
        snprintf(id, sizeof(id), "%.30s", a->valuestring);
    }

    title = tk__jstr(o, "title");
    subj = tk__jstr(o, "subject");
    msg = tk__jstr(o, "message");
    if (title == NULL) {
        title = "";
    }
    if (event == NULL) {
        event = "";
    }

    base_len = base_url != NULL ? strlen(base_url) : 0;
    while (base_len > 0 && base_url[base_len - 1] == '/') {
        base_len--;
    }

    memset(&s, 0, sizeof(s));
    memset(&b, 0, sizeof(b));

    /* the subject names the ticket, so that people can find it */
    snprintf(ref, sizeof(ref), "#%s", id);

    if (subj == NULL || subj[0] == '\0') {
        if (strcmp(event, "TicketAssigned") == 0) {
            tk__buf_fmt(&s, "Ticket #%s assigned to you: %s", id, title);
        } else if (strcmp(event, "Closed") == 0) {
            tk__buf_fmt(&s, "Ticket #%s closed: %s", id, title);
        } else if (strcmp(event, "Resolved") == 0) {
            tk__buf_fmt(&s, "Ticket #%s resolved: %s", id, title);
        } else if (strcmp(event, "Escalated") == 0) {
            tk__buf_fmt(&s, "Ticket #%s escalated: %s", id, title);
        } else if (strcmp(event, "RequesterReply") == 0) {
            tk__buf_fmt(&s, "Ticket #%s: the requester replied: %s", id,
                        title);
        } else {
            tk__buf_fmt(&s, "Ticket #%s: %s", id, title);
        }

    } else if (id[0] != '\0'
               && (v = strstr(subj, ref)) != NULL
               && (v[strlen(ref)] < '0' || v[strlen(ref)] > '9'))
    {
        tk__buf_str(&s, subj);

    } else if (id[0] != '\0') {
        tk__buf_fmt(&s, "[Ticket #%s] %s", id, subj);

    } else {
        tk__buf_str(&s, subj);
    }

    if (strcmp(event, "TicketAssigned") == 0) {
        if (msg != NULL) {
            tk__buf_fmt(&b, "Hello,\n\n%s\n", msg);
        } else {
            tk__buf_fmt(&b, "Hello,\n\nticket #%s \"%s\" has been assigned "
                        "to you.\n", id, title);
        }

    } else if (strcmp(event, "Reply") == 0) {
        tk__buf_fmt(&b, "Hello,\n\nthere is a reply on ticket #%s \"%s\":"
                    "\n\n%s\n", id, title, msg != NULL ? msg : "");

    } else if (strcmp(event, "Forward") == 0) {
        tk__buf_fmt(&b, "Hello,\n\nticket #%s \"%s\" has been forwarded to "
                    "you:\n\n%s\n", id, title, msg != NULL ? msg : "");

    } else if (strcmp(event, "RequesterReply") == 0) {
        tk__buf_fmt(&b, "Hello,\n\nthe requester replied on ticket #%s "
                    "\"%s\":\n\n%s\n", id, title, msg != NULL ? msg : "");

    } else if (strcmp(event, "Closed") == 0) {
        tk__buf_fmt(&b, "Hello,\n\nyour ticket #%s \"%s\" has been closed."
                    "\n\n%s\n", id, title,
                    msg != NULL ? msg : "");

    } else if (strcmp(event, "Resolved") == 0) {
        tk__buf_fmt(&b, "Hello,\n\nyour ticket #%s \"%s\" has been "
                    "resolved:\n\n%s\n", id, title, msg != NULL ? msg : "");
        v = tk__jstr(o, "closeLink");
        if (v != NULL) {
            tk__buf_fmt(&b, "\nIf the problem is solved, please confirm it "
                        "and close the ticket with this link:\n\n%s\n\n"
                        "If it is not, let us know and mention ticket #%s."
                        "\n", v, id);
        }

    } else if (strcmp(event, "Escalated") == 0) {
        tk__buf_fmt(&b, "Hello,\n\nticket #%s \"%s\" has been escalated."
                    "\n\n%s\n", id, title, msg != NULL ? msg : "");
        if ((v = tk__jstr(o, "reason")) != NULL) {
            tk__buf_fmt(&b, "\nReason:     %s\n", v);
        }
        if ((v = tk__jstr(o, "dueDate")) != NULL) {
            tk__buf_fmt(&b, "Due date:   %s\n", v);
        }
        if ((v = tk__jstr(o, "group")) != NULL) {
            tk__buf_fmt(&b, "Group:      %s\n", v);
        }
        if ((v = tk__jstr(o, "tierLevel")) != NULL) {
            tk__buf_fmt(&b, "Tier level: %s\n", v);
        }

    } else {
        tk__buf_fmt(&b, "Hello,\n\n%s\n", msg != NULL ? msg : "");
    }

    att = cJSON_GetObjectItemCaseSensitive(o, "attachments");
    n = cJSON_IsArray(att) ? cJSON_GetArraySize(att) : 0;

    if (n > 0) {
        tk__buf_fmt(&b, "\n%d attachment%s:\n", n, n == 1 ? "" : "s");
        cJSON_ArrayForEach(a, att) {
            if (cJSON_IsNumber(a) && base_len > 0) {
                tk__buf_fmt(&b, "  %.*s/api/TicketsApi/attachment/%.0f\n",
                            (int) base_len, base_url, a->valuedouble);
            }
        }
    }

    tk__buf_fmt(&b, "\n-- \nTicket #%s: %s\n", id, title);
    if (base_len > 0 && id[0] != '\0') {
        tk__buf_fmt(&b, "%.*s/api/TicketsApi/%s\n", (int) base_len, base_url,
                    id);
    }
    tk__buf_str(&b, "This message was sent automatically by the helpdesk."
                "\n");

    cJSON_Delete(o);

    if (s.oom || b.oom) {
        free(s.p);
        free(b.p);
        return TK_ENOMEM;
    }

    *subject = s.p;
    *body = b.p;
    return TK_OK;
}


int
tk__http_body(const char *uuid, const char *channel, const char *event,
    const char *ticket_id, const char *created_on, const char *recipients,
    const char *payload, const char *devices, char **out)
{
    cJSON  *o, *x;
    int     ok;

    *out = NULL;

    o = cJSON_CreateObject();
    if (o == NULL) {
        return TK_ENOMEM;
    }

    ok = cJSON_AddStringToObject(o, "id", uuid) != NULL
         && cJSON_AddStringToObject(o, "channel", channel) != NULL
         && cJSON_AddStringToObject(o, "event", event) != NULL
         && (ticket_id != NULL
             ? cJSON_AddNumberToObject(o, "ticketId",
                                       strtod(ticket_id, NULL)) != NULL
             : cJSON_AddNullToObject(o, "ticketId") != NULL)
         && (created_on != NULL
             ? cJSON_AddStringToObject(o, "createdOn", created_on) != NULL
             : cJSON_AddNullToObject(o, "createdOn") != NULL);

    if (ok) {
        x = cJSON_Parse(recipients != NULL ? recipients : "[]");
        ok = (x != NULL || (x = cJSON_CreateArray()) != NULL)
             && cJSON_AddItemToObject(o, "recipients", x);
    }

    if (ok && devices != NULL) {
        x = cJSON_Parse(devices);
        ok = (x != NULL || (x = cJSON_CreateArray()) != NULL)
             && cJSON_AddItemToObject(o, "devices", x);
    }

    if (ok) {
        x = cJSON_Parse(payload != NULL ? payload : "{}");
        ok = (x != NULL || (x = cJSON_CreateObject()) != NULL)
             && cJSON_AddItemToObject(o, "data", x);
    }

    if (ok) {
        *out = cJSON_PrintUnformatted(o);
    }

    cJSON_Delete(o);

    return *out != NULL ? TK_OK : TK_ENOMEM;
}


int
tk__http_signature(const char *secret, const char *timestamp,
    const char *body, size_t len, char out[72])
{
    unsigned char   mac[32];
    char           *data;
    size_t          tlen;
    int             rc;

    tlen = strlen(timestamp);

    data = malloc(tlen + 1 + len);
    if (data == NULL) {
        return TK_ENOMEM;
    }

    memcpy(data, timestamp, tlen);
    data[tlen] = '.';
    memcpy(data + tlen + 1, body, len);

    rc = tk__hmac_sha256(secret, strlen(secret), data, tlen + 1 + len, mac);
    free(data);

    if (rc != TK_OK) {
        return rc;
    }

    memcpy(out, "sha256=", 7);
    tk__hex(mac, sizeof(mac), out + 7);

    return TK_OK;
}


int
tk__target_parse(const char *target, char *sock, size_t socklen, char *url,
    size_t urllen)
{
    const char  *p, *e, *uri;
    size_t       n;

    sock[0] = '\0';
    url[0] = '\0';

    if (target == NULL || target[0] == '\0') {
        return TK_EINVAL;
    }

    for (p = target; *p != '\0'; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f) {
            return TK_EINVAL;
        }
    }

    p = target;
    if (strncasecmp(p, "http://unix:", 12) == 0) {
        p += 7;
    }

    if (strncasecmp(p, "unix:", 5) == 0) {
        p += 5;
        if (*p != '/') {
            return TK_EINVAL;
        }

        e = strchr(p, ':');
        n = e != NULL ? (size_t) (e - p) : strlen(p);
        uri = e != NULL && e[1] != '\0' ? e + 1 : "/";

        if (n >= socklen || *uri != '/') {
            return TK_EINVAL;
        }

        memcpy(sock, p, n);
        sock[n] = '\0';

        if ((size_t) snprintf(url, urllen, "http://localhost%s", uri)
            >= urllen)
        {
            sock[0] = '\0';
            url[0] = '\0';
            return TK_EINVAL;
        }

        return TK_OK;
    }

    if ((strncasecmp(p, "http://", 7) != 0 || p[7] == '\0')
        && (strncasecmp(p, "https://", 8) != 0 || p[8] == '\0'))
    {
        return TK_EINVAL;
    }

    if ((size_t) snprintf(url, urllen, "%s", p) >= urllen) {
        url[0] = '\0';
        return TK_EINVAL;
    }

    return TK_OK;
}


void
tk__buf_add(tk__buf_t *b, const char *s, size_t n)
{
    char    *p;
    size_t   cap;

    if (b->oom) {
        return;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }

        p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }

        b->p = p;
        b->cap = cap;
    }

    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}


void
tk__buf_str(tk__buf_t *b, const char *s)
{
    tk__buf_add(b, s, strlen(s));
}


void
tk__buf_fmt(tk__buf_t *b, const char *fmt, ...)
{
    va_list   ap;
    char      small[512], *big;
    int       n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);

    if (n < 0) {
        b->oom = 1;
        return;
    }

    if ((size_t) n < sizeof(small)) {
        tk__buf_add(b, small, (size_t) n);
        return;
    }

    big = malloc((size_t) n + 1);
    if (big == NULL) {
        b->oom = 1;
        return;
    }

    va_start(ap, fmt);
    vsnprintf(big, (size_t) n + 1, fmt, ap);
    va_end(ap);

    tk__buf_add(b, big, (size_t) n);
    free(big);
}


/*
 * A copy of s for a header: each control character (CR and LF above all)
 * becomes a space, and at most max bytes are kept, cut at a character.
 */
static char *
tk__clean(const char *s, size_t max)
{
    char    *out;
    size_t   n, i;

    n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    out = malloc(n + 1);
    if (out == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        out[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    }
    out[n] = '\0';

    return out;
}


/* printable ASCII that cannot be taken for an encoded-word */
static int
tk__ascii_text(const char *s)
{
    const char  *p;

    for (p = s; *p != '\0'; p++) {
        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e) {
            return 0;
        }
    }

    return strstr(s, "=?") == NULL;
}


/* ASCII words, folded before a word that would pass column 78. */
static void
tk__hdr_words(tk__buf_t *b, size_t col, const char *s)
{
    const char  *w;
    size_t       n;

    for (;;) {
        for (; *s == ' '; s++) { /* one space between words */ }
        if (*s == '\0') {
            return;
        }

        w = s;
        n = strcspn(w, " ");
        s = w + n;

        if (col + 1 + n > 78 && col > sizeof("Subject:") - 1) {
            tk__buf_str(b, "\r\n");
            col = 0;
        }

        tk__buf_str(b, " ");
        tk__buf_add(b, w, n);
        col += 1 + n;
    }
}


/*
 * RFC 2047 encoded-words, "=?UTF-8?B?...?=", cut between characters, one
 * per folded line: each line at most 76 characters from col on.
 */
static void
tk__hdr_encoded(tk__buf_t *b, size_t col, const char *s)
{
    unsigned char   enc[64];
    size_t          len, n, max;

    len = strlen(s);

    while (len > 0) {
        /* 12 characters of "=?UTF-8?B?" and "?=", 4 for each 3 bytes */
        max = col + 12 < 76 ? (76 - col - 12) / 4 * 3 : 3;
        n = len > max ? max : len;
        while (n < len && n > 1 && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }

        EVP_EncodeBlock(enc, (const unsigned char *) s, (int) n);

        tk__buf_str(b, "=?UTF-8?B?");
        tk__buf_str(b, (const char *) enc);
        tk__buf_str(b, "?=");

        s += n;
        len -= n;

        if (len > 0) {
            tk__buf_str(b, "\r\n ");
            col = 1;
        }
    }
}


static int
tk__hdr_addrs(tk__buf_t *b, const char *name, const char *const *addrs,
    size_t n, char *err, size_t errlen)
{
    size_t  i;

    if (n == 0) {
        return TK_OK;
    }

    for (i = 0; i < n; i++) {
        if (!tk__mail_addr_ok(addrs[i])) {
            snprintf(err, errlen, "a recipient is not an email address");
            return TK_EINVAL;
        }
    }

    tk__buf_fmt(b, "%s: ", name);

    for (i = 0; i < n; i++) {
        tk__buf_fmt(b, "%s%s", i > 0 ? ",\r\n " : "", addrs[i]);
    }

    tk__buf_str(b, "\r\n");
    return TK_OK;
}


/*
 * RFC 2045 quoted-printable with CRLF line ends: any line break of the
 * text becomes one; lines are at most 76 characters; white space before a
 * line end and a dot that starts a line are encoded.
 */
static void
tk__qp(tk__buf_t *b, const char *s)
{
    static const char  hex[] = "0123456789ABCDEF";

    const unsigned char  *p;
    unsigned char         c, next;
    char                  enc[3];
    size_t                col, w;
    int                   literal;

    col = 0;

    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        c = *p;

        if (c == '\r' || c == '\n') {
            if (c == '\r' && p[1] == '\n') {
                p++;
            }
            tk__buf_str(b, "\r\n");
            col = 0;
            continue;
        }

        next = p[1];
        literal = (c >= 33 && c <= 126 && c != '=')
                  || ((c == ' ' || c == '\t') && next != '\0'
                      && next != '\r' && next != '\n');

        if (c == '.' && col == 0) {
            literal = 0;
        }

        w = literal ? 1 : 3;

        if (col + w > 75) {
            tk__buf_str(b, "=\r\n");
            col = 0;
        }

        if (literal) {
            tk__buf_add(b, (const char *) p, 1);
        } else {
            enc[0] = '=';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 0xf];
            tk__buf_add(b, enc, 3);
        }

        col += w;
    }

    tk__buf_str(b, "\r\n");
}


/* 1 when addr is one of the comma- or semicolon-separated list. */
int
tk__mail_in_list(const char *list, const char *addr)
{
    const char  *s, *e;
    size_t       n, len;

    len = strlen(addr);

    for (s = list; *s != '\0'; s = *e ? e + 1 : e) {
        e = s + strcspn(s, ",;");
        for (; s < e && strchr(" \t\r\n", *s); s++) { /* trim */ }
        for (n = (size_t) (e - s); n > 0 && strchr(" \t\r\n", s[n - 1]); n--)
        {
            /* trim */
        }

        if (n == len && strncasecmp(s, addr, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* a string member, NULL when absent, null or not a string */
static const char *
tk__jstr(const cJSON *o, const char *key)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
