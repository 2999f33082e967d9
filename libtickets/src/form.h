/*
 * Internal: what form.c shares with the rest of the library.
 */

#ifndef TK_FORM_H_
#define TK_FORM_H_

#include <stddef.h>
#include <stdint.h>

/* the longest safe file name, in bytes */
#define TK__FILENAME_MAX 200

/*
 * Reduces a client's file name to a base name that is safe to store and to
 * send back in a Content-Disposition header: valid UTF-8 without
 * separators, controls (Cc), format characters (Cf), what Windows refuses,
 * a leading dot or space, or a trailing one.  Writes at most
 * min(TK__FILENAME_MAX, outlen - 1) bytes and a NUL to out; returns the
 * length.  "file" stands in for a name with nothing left.
 */
size_t tk__safe_filename(const char *in, size_t len, char *out, size_t outlen);

/* the fields in the order added, for tests and fuzzers: the name, NULL
 * past the end */
struct tk_form_s;
size_t tk__form_nfields(const struct tk_form_s *form);
const char *tk__form_field(const struct tk_form_s *form, size_t i,
    const char **value);

/* true for a code point of Unicode category Cc or Cf (Unicode 15.0) */
int tk__unicode_cc_cf(uint32_t cp);
/*
 * Decodes the UTF-8 character at s (len > 0) into *cp and returns its
 * length; for a sequence that is not UTF-8, *cp is U+FFFD and the length
 * that of its maximal subpart (at least 1).
 */
size_t tk__utf8_next(const unsigned char *s, size_t len, uint32_t *cp);

#endif /* TK_FORM_H_ */
