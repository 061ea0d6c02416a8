#!/usr/bin/env bash
# The short crash run of the fault suite (issue #19; docs/faults.md "The fault suite"): twenty
# orders through the whole flow while `ra serve` is SIGKILLed at random instants and started
# again (tests/chaos/crash.sh; `make chaos` runs it with 1,000 orders).  No timing asserts:
# every wait is generous and says what it waited for.
CHAOS_ORDERS=${CHAOS_ORDERS:-20} CHAOS_KILL_MIN=10 CHAOS_KILL_MAX=30 CHAOS_DEADLINE=${CHAOS_DEADLINE:-240} \
	exec bash "$(dirname "$0")/../chaos/crash.sh"
