# ngx_tickets: libtickets, ticketsctl and the nginx module.
#
#   make          build everything into build/
#   make deps     install the Debian packages that are missing
#   make run      start PostgreSQL and nginx with demo data on 127.0.0.1:$(PORT)
#   make test     Check unit tests and prove HTTP tests
#   make bench    wrk and pgbench at a million tickets (bench/run; wrk needed)
#   make install  PREFIX=/usr/local DESTDIR=... (see docs/deploy.md); uninstall
#   make deb      the Debian packages into build/deb (dpkg-buildpackage)
#   make chaos    writes under worker kills, reloads, restarts (t/chaos.pl;
#                 CHAOS_SECONDS, default 60; make test runs 15 s of it)
#   make bench-metrics  GET by id with metrics on and off, demo database
#   make fuzz     libFuzzer harnesses, FUZZ_SECONDS (600) each (fuzz/fuzz.mk)

SHELL       := /bin/bash
PORT        ?= 8080
CC          ?= cc
CFLAGS      ?= -O2 -g
NGX_SRC     ?= /usr/share/nginx/src
B           := $(CURDIR)/build
# the release: this file is its one place (debian/changelog is held to it)
VERSION     := $(shell cat $(CURDIR)/VERSION)
SOVERSION   := 0

PKGS        := libpq libcjson libjwt openssl libcurl gmime-3.0
PKG_CFLAGS   = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN        := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
               -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
ALL_CFLAGS   = -std=gnu11 -D_GNU_SOURCE $(CPPFLAGS) $(CFLAGS) $(WARN) $(SAN) \
               -DTK_VERSION='"$(VERSION)"' \
               -Ilibtickets/include -Ilibtickets/src $(PKG_CFLAGS)

# make install: where things go (DESTDIR is prepended to each)
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR      ?= $(PREFIX)/share/man
DATADIR     ?= $(PREFIX)/share/ngx-tickets
DOCDIR      ?= $(PREFIX)/share/doc/ngx-tickets
NGX_MODULES_DIR ?= /usr/lib/nginx/modules
SHLIB       := libtickets.so.$(VERSION)

LIB_SRC     := $(sort $(wildcard libtickets/src/*.c))
LIB_OBJ     := $(LIB_SRC:libtickets/src/%.c=$(B)/obj/%.o)
PIC_OBJ     := $(LIB_SRC:libtickets/src/%.c=$(B)/pic/%.o)
LIB_HDR     := $(wildcard libtickets/include/*.h libtickets/src/*.h)

MOD_DIR     := ngx_http_tickets_module
MOD_SRC     := $(wildcard $(MOD_DIR)/*.c $(MOD_DIR)/*.h)
FORM_SRC    := $(MOD_DIR)/ngx_http_tickets_form.c
MODULE      := $(B)/nginx/ngx_http_tickets_module.so
# docs/openapi.yaml, made into the JSON the tests read and the C source
# the module serves it from
OPENAPI     := $(B)/openapi.json $(B)/ngx_http_tickets_openapi_doc.c

UNIT_SRC    := $(sort $(wildcard t/unit/check_*.c))
UNIT_BIN    := $(UNIT_SRC:t/unit/%.c=$(B)/t/%)

DEB_PKGS    := nginx nginx-dev libpq-dev libcjson-dev libjwt-dev libssl-dev \
               libcurl4-openssl-dev check postgresql postgresql-contrib \
               pkg-config gcc make perl python3-aiosmtpd \
               build-essential debhelper dpkg-dev fakeroot lintian \
               openssl curl \
               pgbouncer \
               libyaml-libyaml-perl libjson-validator-perl \
               libcpanel-json-xs-perl python3-jsonschema \
               libgmime-3.0-dev

.PHONY: all lib ticketsctl module deps run test unit prove clean bench \
        install install-lib install-ctl install-module uninstall deb chaos \
        module-prereqs \
        bench-metrics

.DEFAULT_GOAL := all
include fuzz/fuzz.mk

all: lib ticketsctl module

lib: $(B)/libtickets.a $(B)/libtickets.so $(B)/libtickets.pc \
     $(B)/libtickets_pic.a
ticketsctl: $(B)/ticketsctl
module: $(MODULE)
# what the module's config needs built before nginx's make (debian/rules)
module-prereqs: $(B)/libtickets_pic.a $(OPENAPI)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	    echo "missing packages; run as root:"; \
	    echo "  apt-get update && apt-get install -y$$missing"; exit 1; \
	fi; \
	echo "installing:$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null

$(B)/obj/%.o: libtickets/src/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/pic/%.o: libtickets/src/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -c -o $@ $<

$(B)/libtickets.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/libtickets_pic.a: $(PIC_OBJ)
	rm -f $@ && ar rcs $@ $^

# The shared library exports the public tk_* of tickets.h only (the
# tk__* helpers stay inside); its soname changes with the ABI, not with
# every release.
$(B)/$(SHLIB): $(PIC_OBJ) libtickets/libtickets.map
	$(CC) -shared -Wl,-soname,libtickets.so.$(SOVERSION) \
	    -Wl,--version-script=libtickets/libtickets.map -Wl,--no-undefined \
	    $(LDFLAGS) $(SAN) -o $@ $(PIC_OBJ) $(PKG_LIBS)

$(B)/libtickets.so: $(B)/$(SHLIB)
	ln -sf $(SHLIB) $(B)/libtickets.so.$(SOVERSION)
	ln -sf libtickets.so.$(SOVERSION) $@

PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
             -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|'

$(B)/libtickets.pc: libtickets/libtickets.pc.in VERSION
	@mkdir -p $(@D)
	$(PC_SED) $< > $@

$(B)/ticketsctl: libtickets/ticketsctl/ticketsctl.c $(B)/libtickets.a $(LIB_HDR)
	$(CC) $(ALL_CFLAGS) -DCTL_SQLDIR='"$(DATADIR)/sql"' $(LDFLAGS) \
	    -o $@ $< $(B)/libtickets.a $(PKG_LIBS)

# The module is built as Debian builds its own: configure once with
# Debian's flags (again only when config changes), then "make modules".
$(B)/nginx/Makefile: config
	@mkdir -p $(B)/nginx
	cd $(NGX_SRC) && . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(CURDIR) --builddir=$(B)/nginx >$(B)/nginx/configure.log

$(B)/openapi.json: docs/openapi.yaml $(MOD_DIR)/openapi_gen.pl
	@mkdir -p $(@D)
	perl $(MOD_DIR)/openapi_gen.pl docs/openapi.yaml $(B)/openapi.json \
	    $(B)/ngx_http_tickets_openapi_doc.c

$(B)/ngx_http_tickets_openapi_doc.c: $(B)/openapi.json

$(MODULE): $(B)/nginx/Makefile $(B)/libtickets_pic.a $(MOD_SRC) $(OPENAPI)
	rm -f $@
	$(MAKE) -s -f $(B)/nginx/Makefile -C $(NGX_SRC) modules

$(B)/t/check_%: t/unit/check_%.c t/unit/testlib.c t/unit/testlib.h \
                $(B)/libtickets.a $(FORM_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(MOD_DIR) -o $@ $< t/unit/testlib.c $(FORM_SRC) \
	    $(B)/libtickets.a $(PKG_LIBS) $(shell pkg-config --libs check)

unit: $(UNIT_BIN) $(B)/ticketsctl
	perl -It/lib t/unit/run.pl $(UNIT_BIN)

prove: all
	prove -It/lib t/

test: deps
	$(MAKE) all
	@rc=0; \
	$(MAKE) --no-print-directory unit || rc=1; \
	$(MAKE) --no-print-directory unit-san fuzz-smoke || rc=1; \
	prove -It/lib t/ || rc=1; \
	exit $$rc

run: deps
	$(MAKE) all
	PORT=$(PORT) perl -It/lib t/run-demo.pl

bench: deps
	$(MAKE) all
	bench/run

# make install: the library (with its soname links), header, .pc,
# ticketsctl and its man page, the migrations, and the module into nginx's
# modules directory.  The Debian packages use install-lib and install-ctl;
# their module is built by nginx-dev's nginx_mod build system.
install: install-lib install-ctl install-module

install-lib: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(B)/$(SHLIB) $(DESTDIR)$(LIBDIR)/$(SHLIB)
	ln -sf $(SHLIB) $(DESTDIR)$(LIBDIR)/libtickets.so.$(SOVERSION)
	ln -sf libtickets.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libtickets.so
	install -m 644 $(B)/libtickets.a $(DESTDIR)$(LIBDIR)/libtickets.a
	install -m 644 libtickets/include/tickets.h $(DESTDIR)$(INCLUDEDIR)/
	$(PC_SED) libtickets/libtickets.pc.in \
	    > $(DESTDIR)$(PKGCONFIGDIR)/libtickets.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/libtickets.pc

install-ctl: $(B)/ticketsctl
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(DATADIR)/sql
	install -m 755 $(B)/ticketsctl $(DESTDIR)$(BINDIR)/ticketsctl
	install -m 644 docs/ticketsctl.1 $(DESTDIR)$(MANDIR)/man1/ticketsctl.1
	install -m 644 sql/[0-9]*.sql $(DESTDIR)$(DATADIR)/sql/

install-module: module
	install -d $(DESTDIR)$(NGX_MODULES_DIR)
	install -m 644 $(MODULE) $(DESTDIR)$(NGX_MODULES_DIR)/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(SHLIB) \
	    $(DESTDIR)$(LIBDIR)/libtickets.so.$(SOVERSION) \
	    $(DESTDIR)$(LIBDIR)/libtickets.so $(DESTDIR)$(LIBDIR)/libtickets.a \
	    $(DESTDIR)$(INCLUDEDIR)/tickets.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/libtickets.pc \
	    $(DESTDIR)$(BINDIR)/ticketsctl \
	    $(DESTDIR)$(MANDIR)/man1/ticketsctl.1 \
	    $(DESTDIR)$(NGX_MODULES_DIR)/ngx_http_tickets_module.so
	rm -f $(patsubst sql/%,$(DESTDIR)$(DATADIR)/sql/%,$(wildcard sql/[0-9]*.sql))
	-rmdir $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DATADIR) 2>/dev/null

# The Debian packages, from a clean copy of the committed tree, into
# build/deb (dpkg-buildpackage writes into the parent of the tree it builds).
deb:
	rm -rf $(B)/deb && mkdir -p $(B)/deb/src
	git ls-files -z --cached --others --exclude-standard \
	    | while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done \
	    | xargs -0 cp -a --parents -t $(B)/deb/src
	cd $(B)/deb/src && dpkg-buildpackage -us -uc -b
	@ls -l $(B)/deb/*.deb

chaos: deps
	$(MAKE) all
	perl -It/lib t/chaos.pl

# the cost of the metrics, in a minute, on the demo database
bench-metrics: deps
	$(MAKE) all
	bench/metrics-overhead

clean:
	rm -rf $(B)
