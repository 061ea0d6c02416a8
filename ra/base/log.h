/*
 * log.h - structured one-line logs (logfmt by default, JSON with log_set_json(1)) on stderr.
 *
 *   log_info("http.request", "rid", rid, "path", path, NULL);
 *
 * Arguments after the event are key, value string pairs ended by NULL.  Values are quoted
 * and escaped as needed.  Never pass a secret: nothing here can tell one from a name.
 */
#ifndef RA_LOG_H
#define RA_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_json(int on);
void log_set_level(enum log_level min);
void log_kv(enum log_level lvl, const char *event, ...) __attribute__((sentinel));

#define log_debug(...) log_kv(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_kv(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_kv(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_kv(LOG_ERROR, __VA_ARGS__)

#endif
