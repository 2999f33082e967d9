/*
 * Internal: the "Uploads" file parts of a request, stored with the ticket
 * (and the conversation they came with) in the caller's transaction.
 */

#ifndef TK_UPLOAD_H
#define TK_UPLOAD_H

#include "tickets.h"

/* 1 when the file part is an upload ("Uploads", case-insensitive) */
int tk__is_upload(const tk_file_t *f);

/*
 * Stores each upload whose extension is in the allowed_extensions setting
 * and whose size is within max_file_size, with its SHA-256; skips the
 * others (compat) and names them in res->message for the log.
 * conversation_id may be NULL.  TK_OK or an error in res.
 */
int tk__uploads_store(tk_conn_t *c, const tk_principal_t *p,
    const tk_form_t *form, const char *ticket_id,
    const char *conversation_id, tk_result_t *res);

#endif /* TK_UPLOAD_H */
