# pgpitr - plain Makefile.
#
#   make                 build build/pgpitr
#   make check           install missing packages, lint, unit tests (ASan+UBSan), integration
#                        tests and a short fuzz run (fuzz-smoke)
#   make fuzz            every libFuzzer harness (tests/fuzz) for FUZZ_SECONDS (default 60) each
#   make fuzz-smoke      every harness over its seeds plus 3000 mutations, fixed seed (make check)
#   make demo            install missing packages, build, archive + backup + PITR on a throwaway server
#   make install         PREFIX=/usr/local DESTDIR= SYSTEMDDIR=$(PREFIX)/lib/systemd/system
#   make install-barman-links   install, plus barman-cloud-* links to pgpitr in $(PREFIX)/bin
#   make check-systemd   systemd-analyze verify on systemd/* (part of make check)
#   make deb             build/pgpitr_<version>_<arch>.deb (tools/deb; hardened release build)
#   make check-deb       make deb, then lintian, contents, and an install test (part of make check)
#   make lint            clang-format check, headers, banned functions, cppcheck, clang-tidy
#   make fmt             format every C file (run it before committing)
#   make SANITIZE=address,undefined BUILD=build/san   sanitized build in its own folder

PREFIX   ?= /usr/local
DESTDIR  ?=
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR   ?= $(PREFIX)/share/doc/pgpitr
BUILD    ?= build
SANITIZE ?=
CC       ?= gcc
comma    := ,
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# Every library through pkg-config; bzip2 ships no .pc file on Debian 12.
PKGS     := libcurl openssl zlib libdeflate libisal expat libzstd liblz4 liblzma snappy libpq libarchive jansson yaml-0.1 libsystemd libmicrohttpd
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
TEST_SUPPORT_SRC := $(filter-out tests/unit/support/test_%.c,$(wildcard tests/unit/support/*.c))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps check unit check-banned check-cron-table check-systemd integration integration-bins demo install install-barman-links clean lint fmt fmt-check check-headers bench \
        cppcheck tidy fuzz fuzz-smoke fuzz-bins

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
unit: $(UNIT_BIN) $(BIN) check-banned check-cron-table
	tools/run-unit.sh $(UNIT_BIN)

# fixtures/cron/next-runs.tsv (read by tests/unit/sched/test_cron.c) must be
# what tools/cron-table.py makes from python3-croniter today.
check-cron-table:
	/usr/bin/python3 tools/cron-table.py --check

integration-bins: $(INTEG_BIN)

integration: $(BIN) integration-bins
	PGPITR_BIN=$(abspath $(BIN)) tests/integration/run.sh

# PITR_CHECK=1: nothing may be skipped (tests/unit/support/rigenv.c refuses
# PITR_TEST_SKIP; run.sh and run-unit.sh fail on a suite that was not built).
check: deps
	$(MAKE) --no-print-directory lint
	PITR_CHECK=1 $(MAKE) --no-print-directory check-deb
	PITR_CHECK=1 $(MAKE) --no-print-directory BUILD=build/san SANITIZE=address,undefined CFLAGS="-O1 -g" \
	    check-systemd unit integration
	$(MAKE) --no-print-directory fuzz-smoke

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

# The nine barman-cloud-* names as symbolic links to pgpitr (relative, so a
# DESTDIR staging tree stays correct). pgpitr behaves as the program it is
# called as (src/cmd/barman.c). A file of that name that is not a link (a
# real barman-cloud) is left alone and fails the target unless FORCE=1.
BARMAN_LINKS := wal-archive wal-restore backup restore backup-list backup-show \
                backup-delete backup-keep check-wal-archive

install-barman-links: install
	@for n in $(BARMAN_LINKS); do \
	    f=$(DESTDIR)$(PREFIX)/bin/barman-cloud-$$n; \
	    if [ -e "$$f" ] && [ ! -L "$$f" ] && [ "$(FORCE)" != 1 ]; then \
	        echo "$$f exists and is not a link (barman-cli-cloud?); FORCE=1 replaces it" >&2; \
	        exit 1; fi; \
	    ln -sfn pgpitr "$$f" || exit 1; echo "$$f -> pgpitr"; done

# systemd-analyze verify on the units with ExecStart pointing at the built
# binary (it checks that the binary exists); needs no running systemd.
check-systemd: $(BIN)
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	for u in $(UNITS); do \
	    $(call UNIT_SED,$(abspath $(BUILD)),$(abspath systemd)) $$u > "$$d/$${u#systemd/}" || exit 1; done && \
	SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$$d"/*.service "$$d"/*.timer && \
	echo "systemd units: $(notdir $(UNITS)) verified"

# ---- Debian package (tools/deb) --------------------------------------------
# The packaged binary is the release build with Debian's hardening flags
# (dpkg-buildflags, hardening=+all: fortify, stack protector, relro, bindnow),
# built in its own folder so those flags never mix with build/'s objects.
# The version is tools/deb/changelog's top entry (its upstream part must be
# VERSION's); the barman-cloud names are BARMAN_LINKS.
.PHONY: deb check-deb
DEB_BUILD   := build/deb-bin
DEB_FLAGS    = $(shell DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get $(1))
DEB_FILE     = build/pgpitr_$(shell dpkg-parsechangelog -l tools/deb/changelog -SVersion)_$(shell dpkg --print-architecture).deb

deb:
	@[ -z "$(SANITIZE)" ] || { echo "make deb packages the release build: run it without SANITIZE" >&2; exit 1; }
	$(MAKE) --no-print-directory BUILD=$(DEB_BUILD) SANITIZE= \
	    CFLAGS="$(call DEB_FLAGS,CFLAGS) $(call DEB_FLAGS,CPPFLAGS)" LDFLAGS="$(call DEB_FLAGS,LDFLAGS)" \
	    $(DEB_BUILD)/pgpitr
	tools/deb/build.sh $(DEB_BUILD)/pgpitr build/deb $(DEB_FILE) $(BARMAN_LINKS)

# lintian (no error or warning that is not overridden with its reason), the
# package's fields and files, the files run from an unpacked copy, then
# (as root) a real dpkg -i and --purge beside barman-cli-cloud.
check-deb: deb
	tools/deb/check.sh $(DEB_FILE) $(BARMAN_LINKS)

clean:
	rm -rf build

C_FILES := $(wildcard src/*/*.c include/pgpitr/*/*.h include/pgpitr/*.h src/*/*.h tests/unit/*/*.c tests/unit/*/*.h \
             tests/integration/*.c tests/fuzz/*.c tests/fuzz/*.h)

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

# ---- fuzzing (tests/fuzz, docs/TESTING.md) ---------------------------------
# The library is built again with clang and -fsanitize=fuzzer-no-link,address,
# undefined into build/fuzz; each tests/fuzz/fuzz_<name>.c links with it and
# libFuzzer. Seeds: fixtures/fuzz/<name>/ (read only); what a run finds goes
# to build/fuzz/corpus/<name>/, crashes to build/fuzz/crash-<name>-*.
FUZZ_BUILD   ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= -1
FUZZ_SMOKE_RUNS ?= 3000
FUZZ_SEED    ?= 1
FUZZ_FLAGS   ?= -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=25
# Scratch files of the harnesses that need files (config, manifest, restore).
FUZZ_TMPDIR  ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo /tmp)
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(sort $(filter-out common,$(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

fuzz-bins:
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang SANITIZE=fuzzer-no-link,address,undefined \
	    CFLAGS="-O1 -g" $(FUZZ_BINS)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.c $(wildcard tests/fuzz/*.h) $(LIB)
	$(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) -Itests/fuzz -fsanitize=fuzzer -o $@ $< \
	    tests/fuzz/fuzz_common.c $(LIB) -fsanitize=fuzzer,$(subst fuzzer-no-link$(comma),,$(SANITIZE)) \
	    $(PKG_LIBS)

# Each harness for FUZZ_SECONDS (or FUZZ_RUNS executions, whichever comes
# first; FUZZ_NAMES="s3_xml config" runs only those); stops at the first crash. The log of each
# run stays in build/fuzz/run/<name>.log (execution counts at its end).
fuzz: fuzz-bins
	@mkdir -p $(FUZZ_BUILD)/run; for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	    echo "== fuzz_$$n ($(FUZZ_SECONDS) s)"; \
	    if ! TMPDIR=$(FUZZ_TMPDIR) FUZZ_WRITABLE=$(abspath $(FUZZ_BUILD)) $(FUZZ_BUILD)/fuzz_$$n $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) -print_final_stats=1 \
	        -artifact_prefix=$(abspath $(FUZZ_BUILD))/crash-$$n- $(FUZZ_BUILD)/corpus/$$n fixtures/fuzz/$$n \
	        > $(FUZZ_BUILD)/run/$$n.log 2>&1; then \
	        grep -E 'ERROR|SUMMARY|artifact|confined' $(FUZZ_BUILD)/run/$$n.log | head -8; \
	        echo "fuzz_$$n FAILED (log: $(FUZZ_BUILD)/run/$$n.log)"; exit 1; fi; \
	    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_BUILD)/run/$$n.log; \
	done; echo "fuzz: $(words $(FUZZ_NAMES)) harnesses, no crash"

# Part of make check: every seed, then FUZZ_SMOKE_RUNS mutations with a fixed
# seed (deterministic), each harness in a fresh corpus folder.
fuzz-smoke: fuzz-bins
	@passed=0; failed=0; for n in $(FUZZ_NAMES); do \
	    rm -rf $(FUZZ_BUILD)/smoke/$$n && mkdir -p $(FUZZ_BUILD)/smoke/$$n && \
	    [ -d fixtures/fuzz/$$n ] && [ -n "$$(ls fixtures/fuzz/$$n)" ] || \
	        { echo "not ok - fuzz_$$n: no seed corpus in fixtures/fuzz/$$n"; failed=$$((failed + 1)); continue; }; \
	    if TMPDIR=$(FUZZ_TMPDIR) FUZZ_WRITABLE=$(abspath $(FUZZ_BUILD)) $(FUZZ_BUILD)/fuzz_$$n $(FUZZ_FLAGS) -seed=$(FUZZ_SEED) -runs=$(FUZZ_SMOKE_RUNS) \
	        -artifact_prefix=$(FUZZ_BUILD)/crash-$$n- $(FUZZ_BUILD)/smoke/$$n fixtures/fuzz/$$n \
	        > $(FUZZ_BUILD)/smoke/$$n.log 2>&1; then \
	        echo "ok - fuzz_$$n: $$(grep -Eo '^#[0-9]+' $(FUZZ_BUILD)/smoke/$$n.log | tail -1 | tr -d '#') runs"; \
	        passed=$$((passed + 1)); \
	    else echo "not ok - fuzz_$$n (log: $(FUZZ_BUILD)/smoke/$$n.log)"; \
	        grep -E 'ERROR|SUMMARY|artifact' $(FUZZ_BUILD)/smoke/$$n.log | head -5; failed=$$((failed + 1)); fi; \
	done; echo "fuzz-smoke: $$passed passed, $$failed failed"; [ $$failed -eq 0 ]

# clang-tidy reads .clang-tidy (its check list says why each check is off);
# two files at a time in parallel keeps the whole run near a minute.
TIDY_FLAGS := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(PKG_CFLAGS)
TIDY_JOBS ?= 2

cppcheck:
	cppcheck --std=c11 --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
	    --suppress=missingIncludeSystem -Iinclude -Isrc -q src

tidy:
	@echo "clang-tidy on $(words $(LIB_SRC) src/cmd/main.c) files ($(TIDY_JOBS) at a time)"
	@printf '%s\n' $(LIB_SRC) src/cmd/main.c | \
	    xargs -P$(TIDY_JOBS) -n4 sh -c 'clang-tidy --quiet "$$@" -- $(TIDY_FLAGS) 2>/dev/null' tidy || \
	    { echo "clang-tidy found problems (see above; checks in .clang-tidy)"; exit 1; }

lint: fmt-check check-headers check-banned cppcheck tidy
	@echo "lint: OK"

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/cmd/main.d
