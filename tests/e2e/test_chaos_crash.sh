#!/usr/bin/env bash
# The short crash run of the fault suite (issue #19; docs/faults.md "The fault suite"): sixteen
# orders through the whole flow while `ra serve` is SIGKILLed at random instants (at most
# ten times) and started again (tests/chaos/crash.sh; `make chaos` runs it with 1,000
# orders).  No timing asserts: every wait is generous and says what it waited for.
CHAOS_ORDERS=${CHAOS_ORDERS:-16} CHAOS_KILLS=${CHAOS_KILLS:-10} CHAOS_KILL_MIN=10 CHAOS_KILL_MAX=30 \
	CHAOS_DEADLINE=${CHAOS_DEADLINE:-240} exec bash "$(dirname "$0")/../chaos/crash.sh"
