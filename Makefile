# ngx_tickets: libtickets, ticketsctl and the nginx module.
#
#   make          build everything into build/
#   make deps     install the Debian packages that are missing
#   make run      start PostgreSQL and nginx with demo data on 127.0.0.1:$(PORT)
#   make test     Check unit tests and prove HTTP tests
#   make bench    wrk and pgbench at a million tickets (bench/run; wrk needed)

SHELL       := /bin/bash
PORT        ?= 8080
CC          ?= cc
CFLAGS      ?= -O2 -g
NGX_SRC     ?= /usr/share/nginx/src
B           := $(CURDIR)/build
VERSION     := 0.1.0

PKGS        := libpq libcjson libjwt openssl libcurl
PKG_CFLAGS   = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN        := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
               -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
ALL_CFLAGS   = -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(SAN) \
               -Ilibtickets/include -Ilibtickets/src $(PKG_CFLAGS)

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
               libyaml-libyaml-perl libjson-validator-perl \
               libcpanel-json-xs-perl python3-jsonschema

.PHONY: all lib ticketsctl module deps run test unit prove clean bench

all: lib ticketsctl module

lib: $(B)/libtickets.a $(B)/libtickets.so $(B)/libtickets.pc
ticketsctl: $(B)/ticketsctl
module: $(MODULE)

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

$(B)/libtickets.so: $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,libtickets.so.0 $(SAN) -o $@ $^ $(PKG_LIBS)

$(B)/libtickets.pc: libtickets/libtickets.pc.in
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

PREFIX ?= /usr/local

$(B)/ticketsctl: libtickets/ticketsctl/ticketsctl.c $(B)/libtickets.a $(LIB_HDR)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libtickets.a $(PKG_LIBS)

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
	prove -It/lib t/ || rc=1; \
	exit $$rc

run: deps
	$(MAKE) all
	PORT=$(PORT) perl -It/lib t/run-demo.pl

bench: deps
	$(MAKE) all
	bench/run

clean:
	rm -rf $(B)
