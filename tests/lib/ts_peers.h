/*
 * ts_peers.h - the external test peers (tests/peers/: ident provider, SMS gateway, mail sink)
 * from C tests, through tests/lib/peers.sh, so C and shell tests start them the same way.
 */
#ifndef TS_PEERS_H
#define TS_PEERS_H

/* Runs a peers.sh function (peer_start, peer_stop, peer_stop_all) with args; exit status. */
int ts_peers_sh(const char *fn, const char *const *args);
/* Starts peer `name` (ident, sms, mail) with its PID, port and log files in dir and extra
 * arguments (NULL-terminated or NULL); asserts it started and returns its port. */
int ts_peer_start(const char *dir, const char *name, const char *const *extra);
void ts_peer_stop(const char *dir, const char *name);
void ts_peer_stop_all(const char *dir);

#endif
