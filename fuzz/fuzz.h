/*
 * What the libFuzzer harnesses share: a check that aborts (so that
 * libFuzzer keeps the input as a crash), and checkers written apart from
 * the library's own code, so that a bug in one is not hidden by the same
 * bug in the other.
 */

#ifndef TK_FUZZ_H
#define TK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                               \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "invariant failed at %s:%d: %s: ", __FILE__,     \
                    __LINE__, #cond);                                       \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
            abort();                                                        \
        }                                                                   \
    } while (0)


/* Well-formed UTF-8 (RFC 3629), by the table of Unicode 15 section 3.9. */
static inline int
fuzz_utf8_valid(const unsigned char *s, size_t len)
{
    size_t  i, k, n;
    int     lo, hi;

    for (i = 0; i < len; i += n) {
        lo = 0x80;
        hi = 0xbf;

        if (s[i] <= 0x7f) {
            n = 1;
        } else if (s[i] >= 0xc2 && s[i] <= 0xdf) {
            n = 2;
        } else if (s[i] == 0xe0) {
            n = 3; lo = 0xa0;
        } else if ((s[i] >= 0xe1 && s[i] <= 0xec) || s[i] == 0xee
                   || s[i] == 0xef)
        {
            n = 3;
        } else if (s[i] == 0xed) {
            n = 3; hi = 0x9f;
        } else if (s[i] == 0xf0) {
            n = 4; lo = 0x90;
        } else if (s[i] >= 0xf1 && s[i] <= 0xf3) {
            n = 4;
        } else if (s[i] == 0xf4) {
            n = 4; hi = 0x8f;
        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if (s[i + k] < (k == 1 ? lo : 0x80)
                || s[i + k] > (k == 1 ? hi : 0xbf))
            {
                return 0;
            }
        }
    }

    return 1;
}


/* the code point at s, which is valid UTF-8; *n is its length */
static inline uint32_t
fuzz_utf8_cp(const unsigned char *s, size_t *n)
{
    if (s[0] < 0x80) {
        *n = 1;
        return s[0];
    }
    if (s[0] < 0xe0) {
        *n = 2;
        return (uint32_t) (s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    }
    if (s[0] < 0xf0) {
        *n = 3;
        return (uint32_t) (s[0] & 0x0f) << 12 | (uint32_t) (s[1] & 0x3f) << 6
               | (s[2] & 0x3f);
    }
    *n = 4;
    return (uint32_t) (s[0] & 0x07) << 18 | (uint32_t) (s[1] & 0x3f) << 12
           | (uint32_t) (s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}


/*
 * General category Cc or Cf.  Cf as listed by Unicode 15.0's
 * DerivedGeneralCategory.txt (Debian 12's Perl and Python carry 14.0,
 * which lacks U+13439..1343F).
 */
static inline int
fuzz_is_cc_cf(uint32_t c)
{
    return c <= 0x1f || (c >= 0x7f && c <= 0x9f)
           || c == 0xad || (c >= 0x600 && c <= 0x605) || c == 0x61c
           || c == 0x6dd || c == 0x70f || c == 0x890 || c == 0x891
           || c == 0x8e2 || c == 0x180e || (c >= 0x200b && c <= 0x200f)
           || (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064)
           || (c >= 0x2066 && c <= 0x206f) || c == 0xfeff
           || (c >= 0xfff9 && c <= 0xfffb) || c == 0x110bd || c == 0x110cd
           || (c >= 0x13430 && c <= 0x1343f)
           || (c >= 0x1bca0 && c <= 0x1bca3)
           || (c >= 0x1d173 && c <= 0x1d17a) || c == 0xe0001
           || (c >= 0xe0020 && c <= 0xe007f);
}


/* xorshift64*: splits and choices that replay for the same input */
static inline uint64_t
fuzz_rand(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dULL;
}


/* FNV-1a, a seed from the input */
static inline uint64_t
fuzz_seed(const uint8_t *data, size_t size)
{
    uint64_t  h;
    size_t    i;

    h = 0xcbf29ce484222325ULL;
    for (i = 0; i < size; i++) {
        h = (h ^ data[i]) * 0x100000001b3ULL;
    }

    return h | 1;
}

#endif /* TK_FUZZ_H */
