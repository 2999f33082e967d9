/*
 * Forms: the fields and files of a request body, as the HTTP layer parsed
 * them.  Lookups are linear: a form holds tens of fields, not thousands.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tickets.h"
#include "form.h"

typedef struct {
  char *name;                 /* name and value share one allocation */
  size_t name_len;
  char *value;
} tk__field_t;

typedef struct {
  tk_file_t pub;              /* what tk_form_file() shows */
  char *strings;              /* name, filename and content type */
  unsigned char *data;
  size_t cap;
} tk__file_t;

struct tk_form_s {
  tk__field_t *fields;
  size_t nfields;
  size_t fields_cap;
  tk__file_t *files;
  size_t nfiles;
  size_t files_cap;
};


/*
 * Returns base grown to hold at least need elements of size bytes, doubling
 * the capacity, or NULL (base untouched) when memory is short.
 */
static void *tk__grow(void *base, size_t *cap, size_t need, size_t size) {
  size_t ncap;
  void *p;

  if (need <= *cap)
    return base;

  ncap = *cap ? *cap : 8;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2 / size)
      return NULL;
    ncap *= 2;
  }

  p = realloc(base, ncap * size);
  if (p == NULL)
    return NULL;

  *cap = ncap;
  return p;
}


static int tk__name_eq(const char *a, const char *b, size_t len) {
  size_t i;
  unsigned char ca;
  unsigned char cb;

  for (i = 0; i < len; i++) {
    ca = (unsigned char) a[i];
    cb = (unsigned char) b[i];
    if (ca >= 'A' && ca <= 'Z')
      ca += 'a' - 'A';
    if (cb >= 'A' && cb <= 'Z')
      cb += 'a' - 'A';
    if (ca != cb)
      return 0;
  }

  return 1;
}


/* Copies len bytes and a NUL; src may be NULL when len is 0. */
static char *tk__put(char *dst, const char *src, size_t len) {
  if (len > 0)
    memcpy(dst, src, len);
  dst[len] = '\0';
  return dst + len + 1;
}


tk_form_t *tk_form_new(void) {
  return calloc(1, sizeof(tk_form_t));
}


void tk_form_free(tk_form_t *form) {
  size_t i;

  if (form == NULL)
    return;

  for (i = 0; i < form->nfields; i++)
    free(form->fields[i].name);

  for (i = 0; i < form->nfiles; i++) {
    free(form->files[i].strings);
    free(form->files[i].data);
  }

  free(form->fields);
  free(form->files);
  free(form);
}


int tk_form_add(tk_form_t *form, const char *name, size_t name_len,
    const char *value, size_t value_len) {
  tk__field_t *fields;
  char *s;

  if (value_len > SIZE_MAX / 2 || name_len > SIZE_MAX / 2 - 2)
    return TK_ENOMEM;

  /*
   * Text ends at a NUL here and in PostgreSQL: refuse it, never cut it.
   * An empty name or value may come as NULL, which memchr must not see.
   */
  if ((name_len > 0 && memchr(name, '\0', name_len) != NULL)
      || (value_len > 0 && memchr(value, '\0', value_len) != NULL))
    return TK_EINVAL;

  fields = tk__grow(form->fields, &form->fields_cap, form->nfields + 1,
                    sizeof(*fields));
  if (fields == NULL)
    return TK_ENOMEM;
  form->fields = fields;

  s = malloc(name_len + value_len + 2);
  if (s == NULL)
    return TK_ENOMEM;

  fields[form->nfields].name = s;
  fields[form->nfields].name_len = name_len;
  fields[form->nfields].value = tk__put(s, name, name_len);
  tk__put(fields[form->nfields].value, value, value_len);
  form->nfields++;

  return TK_OK;
}


int tk_form_file_begin(tk_form_t *form, const char *name, size_t name_len,
    const char *filename, size_t filename_len, const char *content_type,
    size_t content_type_len) {
  static const char octet_stream[] = "application/octet-stream";
  char safe[TK__FILENAME_MAX + 1];
  tk__file_t *files;
  tk__file_t *f;
  size_t safe_len;
  char *s;

  /* An empty type would later be served as the default, JSON. */
  if (content_type_len == 0) {
    content_type = octet_stream;
    content_type_len = sizeof(octet_stream) - 1;
  }

  if (name_len > SIZE_MAX / 4 || content_type_len > SIZE_MAX / 4)
    return TK_ENOMEM;

  safe_len = tk__safe_filename(filename, filename_len, safe, sizeof(safe));

  files = tk__grow(form->files, &form->files_cap, form->nfiles + 1,
                   sizeof(*files));
  if (files == NULL)
    return TK_ENOMEM;
  form->files = files;

  s = malloc(name_len + safe_len + content_type_len + 3);
  if (s == NULL)
    return TK_ENOMEM;

  f = &files[form->nfiles++];
  memset(f, 0, sizeof(*f));
  f->strings = s;
  f->pub.name = s;
  s = tk__put(s, name, name_len);
  f->pub.filename = s;
  s = tk__put(s, safe, safe_len);
  f->pub.content_type = s;
  tk__put(s, content_type, content_type_len);
  /* Never NULL: an empty file is still a value, not an SQL NULL. */
  f->pub.data = (const unsigned char *) "";

  return TK_OK;
}


int tk_form_file_append(tk_form_t *form, const void *data, size_t len) {
  unsigned char *p;
  tk__file_t *f;

  if (form->nfiles == 0)
    return TK_EINVAL;

  if (len == 0)
    return TK_OK;

  f = &form->files[form->nfiles - 1];
  if (len > SIZE_MAX - f->pub.size)
    return TK_ENOMEM;

  p = tk__grow(f->data, &f->cap, f->pub.size + len, 1);
  if (p == NULL)
    return TK_ENOMEM;

  memcpy(p + f->pub.size, data, len);
  f->data = p;
  f->pub.data = p;
  f->pub.size += len;

  return TK_OK;
}


const char *tk_form_get(const tk_form_t *form, const char *name) {
  const char *value;

  return tk_form_get_all(form, name, &value, 1) > 0 ? value : NULL;
}


size_t tk_form_get_all(const tk_form_t *form, const char *name,
    const char **values, size_t max) {
  const tk__field_t *f;
  size_t len;
  size_t n;
  size_t i;

  len = strlen(name);
  n = 0;

  for (i = 0; i < form->nfields; i++) {
    f = &form->fields[i];
    if (f->name_len != len || !tk__name_eq(f->name, name, len))
      continue;
    if (n < max)
      values[n] = f->value;
    n++;
  }

  return n;
}


size_t tk_form_nfiles(const tk_form_t *form) {
  return form->nfiles;
}


const tk_file_t *tk_form_file(const tk_form_t *form, size_t i) {
  return i < form->nfiles ? &form->files[i].pub : NULL;
}


size_t tk__form_nfields(const tk_form_t *form) {
  return form->nfields;
}


const char *tk__form_field(const tk_form_t *form, size_t i,
    const char **value) {
  if (i >= form->nfields)
    return NULL;

  *value = form->fields[i].value;
  return form->fields[i].name;
}


/*
 * Unicode general category Cf (format characters), Unicode 15.0: invisible
 * characters that change how a name displays, such as the bidirectional
 * overrides (U+202E shows "invoice\u202efdp.exe" as "invoiceexe.pdf").
 */
static const struct {
  uint32_t lo;
  uint32_t hi;
} tk__cf[] = {
  { 0x00ad, 0x00ad }, { 0x0600, 0x0605 }, { 0x061c, 0x061c },
  { 0x06dd, 0x06dd }, { 0x070f, 0x070f }, { 0x0890, 0x0891 },
  { 0x08e2, 0x08e2 }, { 0x180e, 0x180e }, { 0x200b, 0x200f },
  { 0x202a, 0x202e }, { 0x2060, 0x2064 }, { 0x2066, 0x206f },
  { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb }, { 0x110bd, 0x110bd },
  { 0x110cd, 0x110cd }, { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
  { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 }, { 0xe0020, 0xe007f },
};


int tk__unicode_cc_cf(uint32_t cp) {
  size_t i;

  /* Cc: C0, DEL and C1 */
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
    return 1;

  for (i = 0; i < sizeof(tk__cf) / sizeof(tk__cf[0]); i++) {
    if (cp < tk__cf[i].lo)
      return 0;
    if (cp <= tk__cf[i].hi)
      return 1;
  }

  return 0;
}


size_t tk__utf8_next(const unsigned char *s, size_t len, uint32_t *cp) {
  unsigned char lo;
  unsigned char hi;
  size_t need;
  size_t i;
  uint32_t v;

  *cp = 0xfffd;

  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }

  lo = 0x80;
  hi = 0xbf;

  if (s[0] >= 0xc2 && s[0] <= 0xdf) {
    need = 1;
  } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
    need = 2;
    if (s[0] == 0xe0)
      lo = 0xa0;              /* overlong */
    else if (s[0] == 0xed)
      hi = 0x9f;              /* surrogates */
  } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    need = 3;
    if (s[0] == 0xf0)
      lo = 0x90;              /* overlong */
    else if (s[0] == 0xf4)
      hi = 0x8f;              /* past U+10FFFF */
  } else {
    return 1;
  }

  v = s[0] & (0x3f >> need);

  for (i = 1; i <= need; i++) {
    if (i == len || s[i] < lo || s[i] > hi)
      return i;               /* the maximal subpart, one U+FFFD */
    v = v << 6 | (s[i] & 0x3f);
    lo = 0x80;
    hi = 0xbf;
  }

  *cp = v;
  return i;
}


static size_t tk__utf8_put(uint32_t cp, unsigned char *out) {
  if (cp < 0x80) {
    out[0] = (unsigned char) cp;
    return 1;
  }

  if (cp < 0x800) {
    out[0] = (unsigned char) (0xc0 | cp >> 6);
    out[1] = (unsigned char) (0x80 | (cp & 0x3f));
    return 2;
  }

  if (cp < 0x10000) {
    out[0] = (unsigned char) (0xe0 | cp >> 12);
    out[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
    out[2] = (unsigned char) (0x80 | (cp & 0x3f));
    return 3;
  }

  out[0] = (unsigned char) (0xf0 | cp >> 18);
  out[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
  out[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
  out[3] = (unsigned char) (0x80 | (cp & 0x3f));
  return 4;
}


/*
 * Code point by code point: a sequence that is not UTF-8 becomes U+FFFD
 * (one per maximal subpart, as Unicode recommends), controls and format
 * characters are dropped, and only then are the dot rules applied, so that
 * an invisible character cannot shield a leading or trailing dot.
 */
size_t tk__safe_filename(const char *in, size_t len, char *out,
    size_t outlen) {
  const unsigned char *u;
  unsigned char enc[4];
  uint32_t cp;
  size_t base;
  size_t cap;
  size_t adv;
  size_t k;
  size_t n;
  size_t i;

  if (outlen == 0)
    return 0;

  cap = outlen - 1 < TK__FILENAME_MAX ? outlen - 1 : TK__FILENAME_MAX;
  u = (const unsigned char *) in;

  for (base = len; base > 0; base--)
    if (u[base - 1] == '/' || u[base - 1] == '\\')
      break;

  n = 0;

  for (i = base; i < len; i += adv) {
    adv = tk__utf8_next(u + i, len - i, &cp);

    /* Cc, Cf and what Windows refuses in a name */
    if (tk__unicode_cc_cf(cp) || (cp < 0x80 && strchr("\"<>:|?*", (int) cp)))
      continue;
    if (n == 0 && (cp == '.' || cp == ' '))
      continue;

    k = tk__utf8_put(cp, enc);
    if (k > cap - n)
      break;                  /* cut, never inside a character */
    memcpy(out + n, enc, k);
    n += k;
  }

  while (n > 0 && (out[n - 1] == '.' || out[n - 1] == ' '))
    n--;

  if (n == 0) {
    n = cap < 4 ? cap : 4;
    memcpy(out, "file", n);
  }

  out[n] = '\0';
  return n;
}
