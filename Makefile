# pgpitr - plain Makefile.
#
#   make                 build build/pgpitr
#   make check           install missing packages, unit tests (ASan+UBSan) and integration tests
#   make demo            install missing packages, build, archive + backup + PITR on a throwaway server
#   make install         PREFIX=/usr/local DESTDIR= SYSTEMDDIR=$(PREFIX)/lib/systemd/system
#   make check-systemd   systemd-analyze verify on systemd/* (part of make check)
#   make lint            clang-format check, cppcheck, clang-tidy
#   make SANITIZE=address,undefined BUILD=build/san   sanitized build in its own folder

PREFIX   ?= /usr/local
DESTDIR  ?=
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR   ?= $(PREFIX)/share/doc/pgpitr
BUILD    ?= build
SANITIZE ?=
CC       ?= gcc
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# Every library through pkg-config; bzip2 ships no .pc file on Debian 12.
PKGS     := libcurl openssl zlib libdeflate libisal expat libzstd liblz4 liblzma snappy libpq libarchive jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lbz2 -lpthread

WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla -Wwrite-strings -Wnull-dereference -Werror
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) \
              -Iinclude -Isrc \
              -DPITR_VERSION='"$(VERSION)"' $(PKG_CFLAGS) -MMD -MP
LDFLAGS  ?=
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(filter-out src/cmd/main.c,$(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
BIN      := $(BUILD)/pgpitr
LIB      := $(BUILD)/libpgpitr.a

UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(UNIT_SRC:%.c=$(BUILD)/%)
# Integration tests in C: cmocka binaries run by tests/integration/run.sh against
# the test rigs (it sources the rig's env file first).
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:%.c=$(BUILD)/%)
TEST_SUPPORT_SRC := $(wildcard tests/unit/support/*.c)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps check unit check-banned check-systemd integration integration-bins demo install clean lint fmt fmt-check check-headers bench

all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/cmd/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB) $(TEST_SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DPITR_TESTING $(shell pkg-config --cflags cmocka) -o $@ $< \
	    $(TEST_SUPPORT_OBJ) $(LIB) $(LDFLAGS) $(PKG_LIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tests/integration/%: tests/integration/%.c $(LIB) $(TEST_SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DPITR_TESTING $(shell pkg-config --cflags cmocka) -o $@ $< \
	    $(TEST_SUPPORT_OBJ) $(LIB) $(LDFLAGS) $(PKG_LIBS) $(shell pkg-config --libs cmocka)

deps:
	tools/install-deps.sh

# The unit tests: one cmocka binary per source file, run from the top folder.
unit: $(UNIT_BIN) $(BIN) check-banned
	tools/run-unit.sh $(UNIT_BIN)

integration-bins: $(INTEG_BIN)

integration: $(BIN) integration-bins
	PGPITR_BIN=$(abspath $(BIN)) tests/integration/run.sh

check: deps
	$(MAKE) --no-print-directory BUILD=build/san SANITIZE=address,undefined CFLAGS="-O1 -g" check-systemd unit integration

demo: deps
	$(MAKE) --no-print-directory all
	PGPITR_BIN=$(abspath $(BIN)) tools/demo.sh

bench: deps all
	tools/bench/wal-push.sh

UNITS := $(wildcard systemd/*.service systemd/*.timer)
# @BINDIR@ and @DOCDIR@ in the units become where pgpitr and its docs live.
UNIT_SED = sed -e 's|@BINDIR@|$(1)|g' -e 's|@DOCDIR@|$(2)|g'

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/pgpitr
	for u in $(UNITS); do \
	    $(call UNIT_SED,$(PREFIX)/bin,$(DOCDIR)) $$u > $(DESTDIR)$(SYSTEMDDIR)/$${u#systemd/} || exit 1; \
	    chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$${u#systemd/}; done
	install -m 0644 systemd/README.md $(DESTDIR)$(DOCDIR)/README.md

# systemd-analyze verify on the units with ExecStart pointing at the built
# binary (it checks that the binary exists); needs no running systemd.
check-systemd: $(BIN)
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	for u in $(UNITS); do \
	    $(call UNIT_SED,$(abspath $(BUILD)),$(abspath systemd)) $$u > "$$d/$${u#systemd/}" || exit 1; done && \
	SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$$d"/*.service "$$d"/*.timer && \
	echo "systemd units: $(notdir $(UNITS)) verified"

clean:
	rm -rf build

C_FILES := $(wildcard src/*/*.c include/pgpitr/*/*.h include/pgpitr/*.h src/*/*.h tests/unit/*/*.c tests/unit/*/*.h \
             tests/integration/*.c)

fmt:
	clang-format -i $(C_FILES)

fmt-check:
	clang-format --dry-run -Werror $(C_FILES)

check-headers:
	@for h in $(wildcard include/pgpitr/*/*.h); do \
	    $(CC) -std=c11 -D_DEFAULT_SOURCE -Iinclude -fsyntax-only -x c $$h || exit 1; done

# Functions with unbounded writes or hidden static state (git's banned.h list).
BANNED := strcpy|strcat|strncpy|sprintf|vsprintf|strtok|gmtime|localtime|ctime|asctime|atoi|atol
check-banned:
	@! grep -nE '(^|[^_a-z])($(BANNED)) *\(' src/*/*.c src/*/*.h include/pgpitr/*/*.h || \
	    { echo "banned function used (see docs/CODING.md)"; exit 1; }

lint: fmt-check check-headers check-banned
	cppcheck --std=c11 --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
	    --suppress=missingIncludeSystem -Iinclude -Isrc -q src
	clang-tidy --quiet $(LIB_SRC) src/cmd/main.c -- -std=c11 -D_DEFAULT_SOURCE \
	    -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(PKG_CFLAGS)

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/cmd/main.d
