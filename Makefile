# strata -- plain GNU make.  `make` builds the libraries, tests and benchmarks;
# `make test` runs every test; `make demo` runs the main job.  See README.
CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
BUILD   ?= build
WERROR  ?= -Werror
OPT     ?= -O2
CFLAGS_BASE = -std=gnu11 $(OPT) -g -Wall -Wextra $(WERROR) -fPIC -pthread \
              -fvisibility=hidden -fno-plt -Iinclude -Isrc $(EXTRA_CFLAGS)
LIB_CFLAGS  = $(CFLAGS_BASE) -ftls-model=initial-exec -fno-builtin-malloc \
              -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -fexceptions
LDLIBS_LIB  = -pthread
# The guarded sampler's unwinder (_Unwind_Backtrace) linked in, its symbols
# private: no dlopen of libgcc_s at the first sample (src/malloc/guarded.c)
LIB_UNWIND  = -static-libgcc -Wl,--exclude-libs,ALL

LIB_SRC  := $(wildcard src/os/*.c src/malloc/*.c src/arena/*.c src/rc/*.c src/gc/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SO       := $(BUILD)/libstrata.so
AR_LIB   := $(BUILD)/libstrata.a

# tests/t_*.c  : linked against libstrata.so (the real drop-in)
# tests/u_*.c  : unit tests, linked against libstrata.a, may include src/*/internal.h
# tests/x_*.cc : C++ tests, linked against libstrata.so
# tests/san_*.c: sanitizer tests of the explicit strata_ API (see `sanitize`)
# tests/real/*.sh: real programs under LD_PRELOAD
T_SRC    := $(wildcard tests/t_*.c)
U_SRC    := $(wildcard tests/u_*.c)
X_SRC    := $(wildcard tests/x_*.cc)
TESTS    := $(T_SRC:tests/%.c=$(BUILD)/tests/%) $(U_SRC:tests/%.c=$(BUILD)/tests/%) \
            $(X_SRC:tests/%.cc=$(BUILD)/tests/%)
HELPERS  := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(wildcard tests/helpers/*.c))
BENCH_SRC := $(wildcard bench/*.c)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
# bench/own/*.c, *.cc: benchmarks of the ownership layer (arenas, pools, rc),
# linked against libstrata.a.  talloc and APR pools are compared when their
# development packages are installed (`make peers`); otherwise left out.
# bench/gc/*.c: collector benchmarks, each built twice from one source:
# NAME-strata (strata's GC, libstrata.a) and NAME-boehm (the Boehm GC,
# -DBENCH_BOEHM, when libgc-dev is installed).
GCB_SRC     := $(wildcard bench/gc/*.c)
HAVE_BOEHM  := $(shell pkg-config --exists bdw-gc 2>/dev/null && echo y)
GC_BENCHES  := $(GCB_SRC:bench/gc/%.c=$(BUILD)/bench/gc/%-strata) \
               $(if $(HAVE_BOEHM),$(GCB_SRC:bench/gc/%.c=$(BUILD)/bench/gc/%-boehm))
OWN_C       := $(wildcard bench/own/*.c)
OWN_CC      := $(wildcard bench/own/*.cc)
OWN_BENCHES := $(OWN_C:bench/own/%.c=$(BUILD)/bench/own/%) $(OWN_CC:bench/own/%.cc=$(BUILD)/bench/own/%)
OWN_PEERS   := $(if $(shell pkg-config --exists talloc 2>/dev/null && echo y),-DHAVE_TALLOC) \
               $(if $(shell pkg-config --exists apr-1 2>/dev/null && echo y),-DHAVE_APR)
OWN_PEER_CFLAGS := $(if $(findstring HAVE_TALLOC,$(OWN_PEERS)),$(shell pkg-config --cflags talloc)) \
                   $(if $(findstring HAVE_APR,$(OWN_PEERS)),$(shell pkg-config --cflags apr-1))
OWN_PEER_LIBS   := $(if $(findstring HAVE_TALLOC,$(OWN_PEERS)),$(shell pkg-config --libs talloc)) \
                   $(if $(findstring HAVE_APR,$(OWN_PEERS)),$(shell pkg-config --libs apr-1))
TEST_CFLAGS = -std=gnu11 -O1 -g -Wall -Wextra $(WERROR) -pthread -Iinclude -Isrc -fno-builtin \
              $(EXTRA_CFLAGS)

.PHONY: all lib test demo bench debug valgrind-lib sanitize install clean peers deps fuzz analyze
TOOL_SRC := $(wildcard src/tools/*.c)
# bench/floor/floor.c: libfloor.so, the least an allocator can do (a
# yardstick for bench/floor.sh, never a product)
FLOOR    := $(BUILD)/bench/libfloor.so
TOOL     := $(if $(TOOL_SRC),$(BUILD)/strata)
all: lib $(TESTS) $(HELPERS) $(BENCHES) $(FLOOR) $(OWN_BENCHES) $(GC_BENCHES) $(TOOL)
lib: $(SO) $(AR_LIB)

$(BUILD)/obj/%.o: %.c $(wildcard src/*.h src/*/*.h include/strata/*.h) Makefile
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(LIB_CFLAGS) -c $< -o $@

$(SO): $(LIB_OBJ)
	@echo "  LINK    $@"
	@$(CC) -shared -o $@ $^ $(LDLIBS_LIB) -Wl,-soname,libstrata.so -Wl,-z,now $(LIB_UNWIND)
$(AR_LIB): $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/tests/t_%: tests/t_%.c $(SO) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) $(TEST_CFLAGS) $< -o $@ -L$(BUILD) -Wl,-rpath,'$$ORIGIN/..' -lstrata -ldl $(T_LDFLAGS)
# t_guarded checks that its own function names appear in strata's call stacks
$(BUILD)/tests/t_guarded: T_LDFLAGS = -rdynamic
$(BUILD)/tests/u_%: tests/u_%.c $(AR_LIB) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) $(TEST_CFLAGS) $< -o $@ $(AR_LIB) -ldl
$(BUILD)/tests/x_%: tests/x_%.cc $(SO)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CXX) -std=c++17 -O1 -g -Wall -Wextra $(WERROR) -pthread -Iinclude $< -o $@ \
	  -L$(BUILD) -Wl,-rpath,'$$ORIGIN/..' -Wl,--no-as-needed -lstrata
$(BUILD)/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) $(TEST_CFLAGS) $< -o $@ -ldl
$(BUILD)/bench/%: bench/%.c $(AR_LIB) $(wildcard bench/*.h)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) -std=gnu11 -O2 -g -Wall -Wextra $(WERROR) -pthread -Iinclude $< -o $@ -ldl -lm

$(FLOOR): bench/floor/floor.c
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) -std=gnu11 -O2 -g -Wall -Wextra $(WERROR) -fno-builtin -shared -fPIC $< -o $@

$(BUILD)/bench/own/%: bench/own/%.c $(AR_LIB) $(wildcard bench/*.h bench/own/*.h)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) -std=gnu11 -O2 -g -Wall -Wextra $(WERROR) -pthread -Iinclude $(OWN_PEERS) $(OWN_PEER_CFLAGS) \
	  $< -o $@ $(AR_LIB) $(OWN_PEER_LIBS) -ldl -lm
$(BUILD)/bench/own/%: bench/own/%.cc $(wildcard bench/*.h bench/own/*.h)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CXX) -std=c++17 -O2 -g -Wall -Wextra $(WERROR) -pthread -Iinclude $< -o $@

$(BUILD)/bench/gc/%-strata: bench/gc/%.c $(AR_LIB) $(wildcard bench/gc/*.h)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) -std=gnu11 -O2 -g -Wall -Wextra $(WERROR) -pthread -Iinclude $< -o $@ $(AR_LIB) -ldl -lm
$(BUILD)/bench/gc/%-boehm: bench/gc/%.c $(wildcard bench/gc/*.h)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) -std=gnu11 -O2 -g -Wall -Wextra $(WERROR) -pthread -Iinclude -DBENCH_BOEHM \
	  $(shell pkg-config --cflags bdw-gc 2>/dev/null) $< -o $@ $(shell pkg-config --libs bdw-gc 2>/dev/null) -ldl -lm

# The strata command (src/tools/): not linked against the library; it runs
# programs with LD_PRELOAD=$(BUILD)/libstrata.so.
$(BUILD)/strata: $(TOOL_SRC) $(wildcard src/tools/*.h)
	@mkdir -p $(dir $@)
	@echo "  BUILD   $@"
	@$(CC) -std=gnu11 -O2 -g -Wall -Wextra $(WERROR) -pthread -Iinclude -Isrc/tools \
	  -DSTRATA_SRC_DIR='"$(CURDIR)"' $(TOOL_SRC) -o $@ -lm

# The peer allocators strata is compared with (needs root).
peers:
	apt-get install -y libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev libtalloc-dev libapr1-dev libgc-dev

test:
	@sh tests/deps.sh
	@$(MAKE) --no-print-directory all
	@sh tests/run.sh $(BUILD)
	@echo "== the whole suite again in secure mode (STRATA_OPTIONS=secure=1, docs/hardening.md)"
	@STRATA_OPTIONS=secure=1 sh tests/run.sh $(BUILD)
	@$(MAKE) --no-print-directory sanitize

# UBSan and TSan on the explicit strata_ API: the library is compiled into the
# test binary with STRATA_OVERRIDE=0 (no standard names), so the sanitizer
# runtimes keep their own malloc.
SAN_SRC := $(wildcard tests/san_*.c)
sanitize:
	@mkdir -p $(BUILD)/san
	@set -e; for t in $(SAN_SRC); do n=$$(basename $$t .c); \
	  for s in undefined thread; do \
	    $(CC) -std=gnu11 -O1 -g -Wall -Wextra $(WERROR) -pthread -Iinclude -Isrc \
	      -DSTRATA_OVERRIDE=0 -fsanitize=$$s -fno-sanitize-recover=all \
	      $(LIB_SRC) $$t -o $(BUILD)/san/$$n-$$s; \
	    echo "== sanitize $$s: $$n"; \
	    TSAN_OPTIONS=halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	      timeout 300 $(BUILD)/san/$$n-$$s; \
	  done; done; echo "sanitize: all passed"

# Fuzzing (tests/fuzz/, docs/hardening.md): the libFuzzer harness built with
# clang, ASan and UBSan over the library sources (STRATA_OVERRIDE=0, as for
# `sanitize`: strata is a library under test there, not the process malloc),
# run FUZZ_SECONDS over the committed seeds.  New inputs go to
# $(BUILD)/fuzz/corpus, a failing one to $(BUILD)/fuzz/crash-*; FUZZ_FLAGS
# passes more libFuzzer flags.  `make test` replays tests/fuzz/corpus with
# gcc through tests/u_fuzz_replay.c (the same harness, included).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 120
FUZZ_FLAGS   ?=
FUZZ_BIN     := $(BUILD)/fuzz/heap_fuzz
$(BUILD)/tests/u_fuzz_replay: tests/fuzz/heap_fuzz.c
$(FUZZ_BIN): tests/fuzz/heap_fuzz.c $(LIB_SRC) $(wildcard src/*/*.h include/strata/*.h) Makefile
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu11 -O1 -g -Wall -Wextra -Wno-unknown-warning-option -pthread -Iinclude -Isrc \
	  -DSTRATA_OVERRIDE=0 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  $(LIB_SRC) tests/fuzz/heap_fuzz.c -o $@
# Half the time in the default mode, half in secure mode (its own realloc,
# quarantine and zeroing paths; the fuzzer never ran them before stop 32).
fuzz: $(FUZZ_BIN)
	@mkdir -p $(BUILD)/fuzz/corpus
	$(FUZZ_BIN) -max_total_time=$$(( ($(FUZZ_SECONDS) + 1) / 2 )) -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
	  -artifact_prefix=$(BUILD)/fuzz/ $(FUZZ_FLAGS) $(BUILD)/fuzz/corpus tests/fuzz/corpus
	STRATA_OPTIONS=secure=1 $(FUZZ_BIN) -max_total_time=$$(( ($(FUZZ_SECONDS) + 1) / 2 )) -timeout=60 \
	  -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/secure- $(FUZZ_FLAGS) \
	  $(BUILD)/fuzz/corpus tests/fuzz/corpus

# Static analysis (tests/analyze/run.sh): cppcheck and clang-tidy over src/,
# configuration and the documented false positives in tests/analyze/.
analyze:
	@sh tests/analyze/run.sh

demo:
	@sh tests/deps.sh demo
	@$(MAKE) --no-print-directory all
	@sh bench/demo.sh $(BUILD)

# What the tests need, installed with apt-get when missing (tests/deps.sh).
deps:
	@sh tests/deps.sh

bench: all
	@$(BUILD)/strata bench

# The library for valgrind's memcheck with strata as the allocator
# (src/malloc/valgrind.c, docs/hardening.md "valgrind"): build-vg/libstrata.so
valgrind-lib:
	$(MAKE) BUILD=build-vg EXTRA_CFLAGS="-DSTRATA_VALGRIND=1" lib

debug:
	$(MAKE) BUILD=build-debug EXTRA_CFLAGS="-DSTRATA_DEBUG=1" OPT=-O1 all
	sh tests/run.sh build-debug

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/strata $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(AR_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/strata/*.h $(DESTDIR)$(PREFIX)/include/strata/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1|' strata.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/strata.pc

clean:
	rm -rf build build-debug build-vg
