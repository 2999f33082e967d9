/*
 * libFuzzer harness of the file-name sanitiser, tk__safe_filename().
 *
 * Input: byte 0 picks the output buffer size (small ones too), the rest is
 * the client's file name.  Invariants: the length returned is the string's,
 * within the cap; the name is valid UTF-8 with no separator, no character
 * of category Cc or Cf, none of "<>:|?* and no leading or trailing dot or
 * space; it is never empty; and sanitising it again changes nothing.
 */

#include <string.h>

#include "fuzz.h"
#include "form.h"


static void
check_safe(const char *out, size_t n, size_t cap)
{
    const unsigned char  *u;
    uint32_t              c;
    size_t                i, k;

    u = (const unsigned char *) out;

    FUZZ_CHECK(n <= cap, "length %zu over cap %zu", n, cap);
    FUZZ_CHECK(strlen(out) == n, "length %zu, string %zu", n, strlen(out));
    FUZZ_CHECK(n > 0 || cap == 0, "empty name");
    FUZZ_CHECK(fuzz_utf8_valid(u, n), "not UTF-8");

    if (n == 0) {
        return;
    }

    FUZZ_CHECK(u[0] != '.' && u[0] != ' ', "leading '%c'", u[0]);
    FUZZ_CHECK(u[n - 1] != '.' && u[n - 1] != ' ', "trailing '%c'",
               u[n - 1]);

    for (i = 0; i < n; i += k) {
        c = fuzz_utf8_cp(u + i, &k);
        FUZZ_CHECK(c != '/' && c != '\\', "separator at %zu", i);
        FUZZ_CHECK(c >= 0x80 || strchr("\"<>:|?*", (int) c) == NULL
                   || c == 0, "'%c' at %zu", (int) c, i);
        FUZZ_CHECK(!fuzz_is_cc_cf(c), "U+%04X (Cc/Cf) at %zu", c, i);
    }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *in, out[TK__FILENAME_MAX + 1], again[TK__FILENAME_MAX + 1];
    size_t   outlen, cap, n, n2;

    if (size == 0) {
        return 0;
    }

    /* mostly the size the library uses, sometimes a small one */
    outlen = data[0] < 0xe0 ? sizeof(out) : (size_t) (data[0] - 0xe0) + 1;
    cap = outlen - 1 < TK__FILENAME_MAX ? outlen - 1 : TK__FILENAME_MAX;

    /* a copy of its own size, so that ASan sees a read past it */
    in = malloc(size - 1 ? size - 1 : 1);
    FUZZ_CHECK(in != NULL, "malloc");
    memcpy(in, data + 1, size - 1);

    n = tk__safe_filename(in, size - 1, out, outlen);
    check_safe(out, n, cap);

    n2 = tk__safe_filename(out, n, again, outlen);
    FUZZ_CHECK(n2 == n && memcmp(out, again, n) == 0,
               "not idempotent: \"%s\" -> \"%s\"", out, again);

    free(in);
    return 0;
}
