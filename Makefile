# retentionfs - see README.md.
#
#   make            build/retentionfs and build/retentionctl
#   make check      unit tests, fuzz corpus replay, integration tests
#   make check-san  the same suite, built with ASan+UBSan (into build-san/)
#   make bench      benchmarks against the raw directory and gocryptfs
#   make fuzz       libFuzzer on every parser for a bounded time

BUILD   ?= build
CC      ?= cc
PKGS     = fuse3 libsodium sqlite3 inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))

WARN     = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-align \
	   -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	   -Wundef -Wwrite-strings -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) \
	   -Iinclude $(PKG_CFLAGS) -fno-strict-aliasing
LDLIBS  += $(PKG_LIBS) -lpthread

ifeq ($(SAN),1)
BUILD    = build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(TESTCLOCK),1)
CFLAGS  += -DRFS_TEST_CLOCK
endif

LIB_SRC  = $(filter-out src/main.c, $(wildcard src/*.c))
LIB_OBJ  = $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
LIB      = $(BUILD)/librfs.a
HDRS     = $(wildcard include/rfs/*.h src/*.h)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/replay_%)
TEST_TOOLS = $(BUILD)/tests/datacheck $(BUILD)/tests/appender

all: $(BUILD)/retentionfs $(BUILD)/retentionctl

$(BUILD)/obj/%.o: src/%.c $(HDRS) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/retentionfs: src/main.c $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/retentionctl: tools/retentionctl.c $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/harness.h $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/replay_%: tests/fuzz/%.c tests/fuzz/replay.c $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/integration/%.c | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

tests: all $(UNIT_BIN) $(REPLAY_BIN) $(TEST_TOOLS)

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do echo "== $$t"; $$t || exit 1; done

replay: $(REPLAY_BIN)
	@for t in $(REPLAY_BIN); do n=$${t##*/replay_fuzz_}; \
		$$t tests/fuzz/corpus/$$n || exit 1; done

check: tests
	BUILD=$(BUILD) tests/run-all.sh

check-san:
	$(MAKE) SAN=1 check

bench: all
	BUILD=$(BUILD) tests/bench/bench.sh

fuzz:
	tests/fuzz/run.sh

clean:
	rm -rf build build-san

.PHONY: all tests unit replay check check-san bench fuzz clean

include mk/install.mk
include mk/check.mk
