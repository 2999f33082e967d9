/*
 * Internal: what form.c shares with the rest of the library.
 */

#ifndef TK_FORM_H_
#define TK_FORM_H_

#include <stddef.h>

/* the longest safe file name, in bytes */
#define TK__FILENAME_MAX 200

/*
 * Reduces a client's file name to a base name that is safe to store and to
 * send back in a Content-Disposition header.  Writes at most
 * min(TK__FILENAME_MAX, outlen - 1) bytes and a NUL to out; returns the
 * length.  "file" stands in for a name with nothing left.
 */
size_t tk__safe_filename(const char *in, size_t len, char *out, size_t outlen);

#endif /* TK_FORM_H_ */
