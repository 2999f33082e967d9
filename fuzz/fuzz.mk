# libFuzzer harnesses (docs/reliability.md, "Fuzzing"), included by the
# Makefile.  clang with ASan and UBSan, UB fatal; the library is compiled
# again into $(FB), apart from the gcc build.
#
#   make fuzz                 every target for FUZZ_SECONDS (600) each
#   make fuzz FUZZ_TARGETS=jwt FUZZ_SECONDS=60
#   make fuzz-smoke           each target FUZZ_SMOKE_SECONDS (5) over its
#                             corpus: part of make test
#   make unit-san             the form, validator and JWT unit tests under
#                             ASan and UBSan (part of make test)

FUZZ_CC            ?= clang-14
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_TARGETS       ?= multipart urlencoded jwt valid filename
FUZZ_NICE          ?= 10
FB                 := $(B)/fuzz

FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
# only what a compiler must know from pkg-config: include paths, macros,
# -pthread; another compiler's options are no business of clang's
FUZZ_PKG_CFLAGS = $(filter -I% -D% -pthread,$(PKG_CFLAGS))
FUZZ_CFLAGS  = -std=gnu11 -D_GNU_SOURCE -O1 -g $(WARN) $(FUZZ_SAN) \
               -DTK_VERSION='"$(VERSION)"' \
               -Ilibtickets/include -Ilibtickets/src -I$(MOD_DIR) -Ifuzz \
               $(FUZZ_PKG_CFLAGS)

FUZZ_LIB_OBJ := $(LIB_SRC:libtickets/src/%.c=$(FB)/obj/%.o)
FUZZ_BINS     = $(FUZZ_TARGETS:%=$(FB)/fuzz_%)
UNIT_SAN      := check_form check_valid check_crypto check_read check_mail
UNIT_SAN_BIN  := $(UNIT_SAN:%=$(FB)/t/%)

DEB_PKGS     += clang-14 libclang-rt-14-dev

.PHONY: fuzz fuzz-build fuzz-smoke unit-san

$(FB)/obj/%.o: libtickets/src/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FB)/obj/ngx_http_tickets_form.o: $(FORM_SRC) $(MOD_DIR)/ngx_http_tickets_form.h \
                                   $(LIB_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FB)/libtickets.a: $(FUZZ_LIB_OBJ) $(FB)/obj/ngx_http_tickets_form.o
	rm -f $@ && ar rcs $@ $^

$(FB)/fuzz_%: fuzz/%.c fuzz/fuzz.h $(FB)/libtickets.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FB)/libtickets.a $(PKG_LIBS)

# The unit tests, linked with the same sanitised objects: without the
# fuzzer runtime, the coverage hooks are the sanitiser runtime's no-ops.
$(FB)/t/check_%: t/unit/check_%.c t/unit/testlib.c t/unit/testlib.h \
                 $(FB)/libtickets.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< t/unit/testlib.c \
	    $(FB)/libtickets.a $(PKG_LIBS) $(shell pkg-config --libs check)

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	$(MAKE) --no-print-directory fuzz-build
	@rc=0; for t in $(FUZZ_TARGETS); do \
	    nice -n $(FUZZ_NICE) fuzz/run $(FB) $$t $(FUZZ_SECONDS) full || rc=1; \
	done; exit $$rc

fuzz-smoke: $(FUZZ_BINS)
	@rc=0; for t in $(FUZZ_TARGETS); do \
	    fuzz/run $(FB) $$t $(FUZZ_SMOKE_SECONDS) smoke || rc=1; \
	done; exit $$rc

unit-san: $(UNIT_SAN_BIN) $(B)/ticketsctl
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    perl -It/lib t/unit/run.pl $(UNIT_SAN_BIN)
