# Build, test and run the RA.  See README.md and docs/architecture.md.
#
#   make            build/ra, build/ractl (and build/ca-bridge)
#   make test       install deps, build with ASan+UBSan, run every test (SAN=0: plain build)
#   make run        throwaway PostgreSQL + local CA + token + mail sink under var/, then ra serve
#   make stop       stop what make run left running
#   make bench      benchmarks (docs/benchmarks.md, build/bench.json)

SAN ?= 0
CC  ?= cc
CXX ?= c++

ifeq ($(SAN),1)
B        := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT      := -O1
else
B        := build
SANFLAGS :=
OPT      ?= -O2 -D_FORTIFY_SOURCE=2
endif

PKGS     := libh2o libuv libpq openssl libcurl jansson
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
CPPFLAGS += -I. -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
CFLAGS   += -std=c17 -g $(OPT) $(WARN) $(SANFLAGS) -pthread
CXXFLAGS += -std=c++17 -g $(OPT) -Wall -Wextra -Werror $(SANFLAGS) -pthread
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lphonenumber -lunistring -lstdc++ -lm -pthread
LDFLAGS  += $(SANFLAGS)

WF_SRC   := $(wildcard workflows/*.c)
# ca-bridge/ (docs/ca-bridge.md): the shared top level and the two back-ends make libcab.a;
# srv/ is the ca-bridge program only.
CAB_SRC  := $(wildcard ca-bridge/*.c ca-bridge/local/*.c ca-bridge/cmp/*.c)
CAB_SRV_SRC := $(wildcard ca-bridge/srv/*.c)
# ra/ in layers (docs/architecture.md): base, net, db, jobs, flows/<flow>, and the
# composition root (main.c, server.c, ops.c).  ractl links ra/base only.
BASE_SRC := $(wildcard ra/base/*.c) $(wildcard ra/base/*.cc)
RA_SRC   := $(wildcard ra/net/*.c ra/db/*.c ra/jobs/*.c ra/flows/*/*.c) $(filter-out ra/main.c,$(wildcard ra/*.c))
CTL_SRC  := $(wildcard ra/ractl/*.c)
TS_SRC   := $(wildcard tests/lib/*.c)
UNIT     := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
INTEG    := $(patsubst tests/integration/%.c,$(B)/tests/%,$(wildcard tests/integration/test_*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(filter %.c,$(1))) $(patsubst %.cc,$(B)/obj/%.o,$(filter %.cc,$(1)))

PROGS := $(B)/ra $(B)/ractl $(if $(CAB_SRV_SRC),$(B)/ca-bridge)

.PHONY: all test run stop bench deps clean tests format check
all: $(PROGS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(B)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(B)/libwf.a: $(call obj,$(WF_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(B)/libcab.a: $(call obj,$(CAB_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
MIGRATIONS := $(sort $(wildcard migrations/[0-9]*_*.sql))
$(B)/gen/migrations.c: $(MIGRATIONS) tools/embed-migrations.sh
	@mkdir -p $(dir $@)
	tools/embed-migrations.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@
$(B)/gen/migrations.o: $(B)/gen/migrations.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/libbase.a: $(call obj,$(BASE_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(B)/libra.a: $(call obj,$(RA_SRC)) $(B)/gen/migrations.o
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(B)/libts.a: $(call obj,$(TS_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^

LIBS := $(B)/libra.a $(B)/libcab.a $(B)/libwf.a $(B)/libbase.a

$(B)/ra: $(B)/obj/ra/main.o $(LIBS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# the CLI talks to the admin API only: libcurl, Jansson and ra/base, nothing of the service
$(B)/ractl: $(call obj,$(CTL_SRC)) $(B)/libbase.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/ca-bridge: $(call obj,$(CAB_SRV_SRC)) $(B)/libcab.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/libts.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion
$(B)/tests/%: $(B)/obj/tests/integration/%.o $(B)/libts.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

tests: $(PROGS) $(UNIT) $(INTEG)

deps:
	@deploy/install-deps.sh

# make test: dependencies, then the whole suite under ASan+UBSan (SAN=0 for a plain build).
ifeq ($(origin SAN),command line)
TEST_SAN := $(SAN)
else
TEST_SAN ?= 1
endif
test: deps check
	@$(MAKE) --no-print-directory SAN=$(TEST_SAN) tests
	@tests/run.sh $(if $(filter 1,$(TEST_SAN)),build/san,build)

run: deps all
	@deploy/dev-run.sh

stop:
	@deploy/dev-stop.sh

bench: deps
	@$(MAKE) --no-print-directory SAN=0 all
	@tests/bench/run.sh

# make check: the tree's rules (tools/check-layers.py: arrows point down, no include cycles
# between folders, no prototypes in .c files, no weak symbols) and cppcheck on the project's
# own code.  Zero findings or it fails.  varFuncNullUB: the log functions take a NULL-
# terminated list; NULL is ((void *)0) on every platform we build on (glibc, C17).
CPPCHECK := cppcheck --error-exitcode=1 -q --std=c11 -I. --inline-suppr --enable=warning,portability \
	    --suppress=varFuncNullUB --suppress=nullPointerRedundantCheck:ra/ractl/ractl.c
check:
	@tools/check-layers.py
	@$(CPPCHECK) ra ca-bridge workflows && echo "cppcheck: 0 findings"

format:
	clang-format -i $(WF_SRC) $(CAB_SRC) $(CAB_SRV_SRC) $(BASE_SRC) $(RA_SRC) $(CTL_SRC) ra/main.c

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
