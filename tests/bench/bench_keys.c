/*
 * bench_keys.c - scenario 5 of `make bench` (issue #15): subscriber keys at scale.  Key
 * generation (+ wrap) and CSR signing with a stored key, on an empty store and on one that
 * holds N keys, measured so that a shared machine's background load falls on both alike.
 *
 * Two worker processes, one per condition, each with its own SoftHSM2 token (DIR/softhsm2.conf),
 * CA directory (DIR/ca) and database (the product's schema, `ra migrate`): "0" and "n".  The
 * n worker first stores N keys through the product's path (cab_keygen, then the blob into the
 * `certificates` row with cert_issue's own key-store statement; token storage: the key stays a
 * token object) on T threads over a pool of T sessions, in the same process that is then
 * measured (so whatever the module keeps per key made is there too).  Then R rounds, each a
 * batch of K key generations and a batch of K CSRs in each worker, one after the other, the
 * order alternating between rounds; the ratio is the median of the rounds' ratios, so load
 * from other processes, which changes over seconds, hits both conditions of a round alike.
 * Each operation is split into its token part (cab_keygen; cab_csr_wrapped or cab_csr) and its
 * database part (the UPDATE committed; the SELECT of the row), to show where a cost grows.
 * Last, K x T key generations on T threads in each worker (sessions used: cab_stats).
 *
 *   bench_keys --storage wrapped|token --n N --k K --rounds R --threads T --token LABEL --pin PIN
 *              --dir0 DIR --db0 URL --dirn DIR --dbn URL [--reuse] [--module SO]
 *
 * --reuse: when the n database already holds exactly N preloaded keys (an earlier run with the
 * same DIR and database), they are used instead of storing them again (the report says so:
 * the module's per-process state of the preload is then not in the figures).  Keys made while
 * measuring are removed at the end, so the stored state stays N.
 *
 * Prints one JSON object (see the end of main).  Exit status 1 if any call failed.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ca-bridge/cab.h"
#include "ra/flows/cert/cert.h"
#include "tests/bench/bu.h"

enum { OP_SETUP, OP_KEYGEN, OP_CSR, OP_PARALLEL, OP_STATS, OP_QUIT };

struct cmd {
	int op;
	long n;
};

/* one answer for every command; each fills what it measures */
struct reply {
	int ok;
	long n, stored;
	int reused, sessions, max_used;
	double total_ms, tok_ms, db_ms, secs, wal_bytes;
	double kg_p50, kg_p99, cs_p50, cs_p99;
	long rss_kb, hwm_kb;
};

struct opts {
	const char *storage, *token, *pin, *module, *dir, *db;
	long n, k;
	int threads, reuse, is_n;
};

static const char *subject_json =
	"{\"country\": \"AT\", \"given_name\": \"Anna\", \"surname\": \"Gruber\","
	" \"serial_number\": \"PNOAT-4711\", \"common_name\": \"Anna Gruber\"}";
static const struct cab_subject subj = {.country = "AT",
					.given_name = "Anna",
					.surname = "Gruber",
					.serial_number = "PNOAT-4711",
					.common_name = "Anna Gruber"};

/* token storage: the key stays on the token, the row says so (cert_issue stores the
 * fingerprint with the certificate) */
static const char *sql_token_store =
	"UPDATE certificates SET key_storage = 'token', key_fingerprint = $2"
	" WHERE id = $1 AND key_fingerprint IS NULL";
/* what the identification flow hands to issuance: a `requested` row per key (seed: bench only) */
static const char *sql_rows =
	"INSERT INTO certificates (id, class, subject, validity_years, ident_id, user_id)"
	" SELECT $1 || g, 'qualified', $2::jsonb, 5, 'TST-BENCH', $1 || g FROM generate_series($3::bigint, $4::bigint) g";

static struct cab *cab;
static const char *const kek_label = "bench-kek";
static int wrapped;
static const char *db_url;

static PGconn *db(void)
{
	PGconn *c = PQconnectdb(db_url);

	if (PQstatus(c) != CONNECTION_OK)
		bu_die("database: %s", PQerrorMessage(c));
	return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		bu_die("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

static long count(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		bu_die("%s: %s", sql, PQerrorMessage(c));
	v = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* `requested` rows prefix<from..to-1> */
static void rows(PGconn *c, const char *prefix, long from, long to)
{
	char a[32], b[32];
	const char *p[4] = {prefix, subject_json, a, b};
	PGresult *r;

	if (to <= from)
		return;
	snprintf(a, sizeof(a), "%ld", from);
	snprintf(b, sizeof(b), "%ld", to - 1);
	r = PQexecParams(c, sql_rows, 4, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		bu_die("rows: %s", PQerrorMessage(c));
	PQclear(r);
}

static char *hex(const unsigned char *b, size_t n)
{
	char *h = malloc(2 * n + 1);

	if (h == NULL)
		bu_die("out of memory");
	for (size_t i = 0; i < n; i++)
		snprintf(h + 2 * i, 3, "%02x", b[i]);
	return h;
}

/* One key as the product makes it: cab_keygen, then the row updated (wrapped: cert_issue's
 * key store).  tok/db: where the time went, in ms (NULL: not wanted). */
static void make_key(PGconn *c, const char *id, double *tok, double *dbt)
{
	struct cab_key k = {0};
	struct cab_err err = {0};
	double t0 = bu_now_ms(), t1;
	PGresult *r;

	if (cab_keygen(cab, id, CAB_ALG_EC_P256, &k, &err) != 0)
		bu_die("keygen %s: %s", id, err.msg);
	t1 = bu_now_ms();
	if (wrapped) {
		char ver[16], *h = hex(k.blob, k.blob_len);
		const char *p[8] = {id, "key_generated", "requested", h, k.kek_label, ver, k.sha256_hex, ver};

		snprintf(ver, sizeof(ver), "%d", k.kek_version);
		r = PQexecParams(c, cert_sql_key_store, 8, NULL, p, NULL, NULL, 0);
		free(h);
	} else {
		const char *p[2] = {id, k.sha256_hex};

		r = PQexecParams(c, sql_token_store, 2, NULL, p, NULL, NULL, 0);
	}
	if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(r), "1") != 0)
		bu_die("store %s: %s%s", id, PQerrorMessage(c), PQcmdTuples(r));
	PQclear(r);
	cab_key_free(&k);
	if (tok != NULL) {
		*tok += t1 - t0;
		*dbt += bu_now_ms() - t1;
	}
}

static int unhex(const char *h, unsigned char **out, size_t *len)
{
	size_t n = strlen(h) / 2;

	*out = malloc(n ? n : 1);
	if (*out == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		(*out)[i] = (unsigned char)v;
	}
	*len = n;
	return 0;
}

/* A CSR signed with the stored key of row id: the row loaded (cert_issue's statement), then
 * signed from the blob (token storage: on the token by CKA_ID). */
static void sign_with(PGconn *c, const char *id, double *tok, double *dbt)
{
	struct cab_err err = {0};
	unsigned char *der = NULL, *blob = NULL;
	size_t len = 0;
	const char *p[2] = {id, kek_label};
	double t0 = bu_now_ms(), t1;
	PGresult *r = PQexecParams(c, cert_sql_load, 2, NULL, p, NULL, NULL, 0);
	int rc;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		bu_die("no stored key %s", id);
	t1 = bu_now_ms();
	if (wrapped) {
		struct cab_wrapped w = {0};

		if (unhex(PQgetvalue(r, 0, 11), &blob, &w.len) != 0)
			bu_die("blob of %s", id);
		w.blob = blob;
		w.kek_label = PQgetvalue(r, 0, 12);
		w.kek_version = atoi(PQgetvalue(r, 0, 13));
		rc = cab_csr_wrapped(cab, &w, &subj, &der, &len, &err);
	} else {
		rc = cab_csr(cab, id, &subj, &der, &len, &err);
	}
	PQclear(r);
	if (rc != 0)
		bu_die("csr %s: %s", id, err.msg);
	free(der);
	free(blob);
	*dbt += t1 - t0;
	*tok += bu_now_ms() - t1;
}

struct worker {
	long from, to;
	const char *prefix;
};

/* keys prefix<from..to-1>, rows made and keys stored 200 to a transaction */
static void *store_worker(void *arg)
{
	struct worker *w = arg;
	PGconn *c = db();

	for (long i = w->from; i < w->to; i += 200) {
		long end = i + 200 < w->to ? i + 200 : w->to;

		exec_ok(c, "BEGIN");
		rows(c, w->prefix, i, end);
		for (long j = i; j < end; j++) {
			char id[64];

			snprintf(id, sizeof(id), "%s%ld", w->prefix, j);
			make_key(c, id, NULL, NULL);
		}
		exec_ok(c, "COMMIT");
	}
	PQfinish(c);
	return NULL;
}

/* keys prefix<0..n-1> on t threads; returns the seconds it took */
static double store_parallel(const char *prefix, long n, int t)
{
	pthread_t th[64];
	struct worker w[64];
	double t0 = bu_now_ms();

	for (int i = 0; i < t; i++) {
		w[i] = (struct worker){n * i / t, n * (i + 1) / t, prefix};
		if (pthread_create(&th[i], NULL, store_worker, &w[i]) != 0)
			bu_die("pthread_create");
	}
	for (int i = 0; i < t; i++)
		pthread_join(th[i], NULL);
	return (bu_now_ms() - t0) / 1000.0;
}

/* token storage: the token keys of rows matching pattern destroyed; then the rows removed */
static void drop_keys(PGconn *c, const char *pattern)
{
	const char *p[1] = {pattern};
	PGresult *r =
		PQexecParams(c, "SELECT id FROM certificates WHERE id LIKE $1", 1, NULL, p, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		bu_die("drop: %s", PQerrorMessage(c));
	for (int i = 0; !wrapped && i < PQntuples(r); i++) {
		struct cab_err err = {0};
		int n = 0;

		if (cab_key_destroy(cab, PQgetvalue(r, i, 0), &n, &err) != 0)
			bu_die("destroy %s: %s", PQgetvalue(r, i, 0), err.msg);
	}
	PQclear(r);
	r = PQexecParams(c, "DELETE FROM certificates WHERE id LIKE $1", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		bu_die("drop: %s", PQerrorMessage(c));
	PQclear(r);
}

static void mem(struct reply *out)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			out->rss_kb = atol(line + 6);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			out->hwm_kb = atol(line + 6);
	}
	if (f != NULL)
		fclose(f);
}

static void open_cab(const struct opts *o)
{
	char conf[4096], ca[4096];
	struct cab_config cfg;
	struct cab_err err = {0};
	int v;

	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", o->dir);
	snprintf(ca, sizeof(ca), "%s/ca", o->dir);
	setenv("SOFTHSM2_CONF", conf, 1);
	cab_config_defaults(&cfg);
	cfg.ca_dir = ca;
	cfg.pkcs11_module = o->module;
	cfg.pkcs11_token = o->token;
	cfg.pkcs11_pin = o->pin;
	cfg.pkcs11_sessions = o->threads;
	cfg.key_storage = o->storage;
	cfg.kek_label = kek_label;
	cfg.policy_oid = "1.3.6.1.4.1.99999.1.1";
	cfg.qcpds_url = "https://ra.example/pds";
	cfg.qcpds_lang = "en";
	cfg.ca_subject = "C=AT,O=RA Benchmark,CN=RA Benchmark Issuing CA";
	cfg.crl_url = "http://127.0.0.1/v1/ca/crl";
	cab = cab_open(&cfg, &err);
	if (cab == NULL)
		bu_die("cab_open (%s): %s", o->dir, err.msg);
	wrapped = cab_wraps(cab);
	if (wrapped && cab_kek(cab, CAB_KEK_CREATE, &v, &err) < 0)
		bu_die("kek: %s", err.msg);
}

/* The n worker: the N preloaded keys "p<i>" (made now, or reused); the 0 worker: K keys
 * "c<i>" to sign CSRs with. */
static void setup(const struct opts *o, PGconn *c, struct reply *out)
{
	const char *prefix = o->is_n ? "p" : "c";
	long want = o->is_n ? o->n : o->k;
	long have = count(
		c,
		"SELECT count(*) FROM certificates WHERE id ~ '^[pc][0-9]+$' AND key_fingerprint IS NOT NULL");

	drop_keys(c, "m%"); /* an earlier run's measured keys, if it stopped before its end */
	drop_keys(c, "q%");
	if (o->reuse && o->is_n && have == want) {
		out->reused = 1;
	} else {
		if (have != 0)
			bu_die("%s: the database holds %ld stored keys, not 0 or %ld; start from a fresh directory "
			       "and database",
			       o->dir, have, want);
		out->secs = store_parallel(prefix, want, o->is_n ? o->threads : 1);
	}
	out->stored = count(c, "SELECT count(*) FROM certificates WHERE key_fingerprint IS NOT NULL");
	mem(out);
}

struct worker_state {
	long made, signed_;
	struct bu_samples kg, cs;
};

/* the cluster's WAL position in bytes: the batches run one at a time, so the difference over a
 * batch is (nearly all) what its commits wrote, full-page images included */
static double wal_pos(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')");
	double v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		bu_die("wal: %s", PQerrorMessage(c));
	v = atof(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void batch_keygen(const struct opts *o, PGconn *c, struct worker_state *ws, long k, struct reply *out)
{
	double t0, w0;

	rows(c, "m", ws->made, ws->made + k);
	w0 = wal_pos(c);
	t0 = bu_now_ms();
	for (long i = 0; i < k; i++, ws->made++) {
		char id[64];
		double t = bu_now_ms();

		snprintf(id, sizeof(id), "m%ld", ws->made);
		make_key(c, id, &out->tok_ms, &out->db_ms);
		bu_add(&ws->kg, bu_now_ms() - t);
	}
	out->total_ms = bu_now_ms() - t0;
	out->wal_bytes = wal_pos(c) - w0;
	out->n = k;
	/* token storage: the batch's keys leave the token again, so the stored count stays put */
	if (!wrapped)
		drop_keys(c, "m%");
	(void)o;
}

static void batch_csr(const struct opts *o, PGconn *c, struct worker_state *ws, long k, struct reply *out)
{
	long stored = o->is_n ? o->n : o->k;
	double t0 = bu_now_ms();

	for (long i = 0; i < k; i++, ws->signed_++) {
		char id[64];
		double t = bu_now_ms();

		/* spread over every stored key: 7919 is prime, so the stride visits them all */
		snprintf(id, sizeof(id), "%s%ld", o->is_n ? "p" : "c", (ws->signed_ * 7919) % stored);
		sign_with(c, id, &out->tok_ms, &out->db_ms);
		bu_add(&ws->cs, bu_now_ms() - t);
	}
	out->total_ms = bu_now_ms() - t0;
	out->n = k;
}

static void xread(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			bu_die("a worker went away");
		got += (size_t)r;
	}
}

static void xwrite(int fd, const void *buf, size_t n)
{
	if (write(fd, buf, n) != (ssize_t)n)
		bu_die("pipe write");
}

static void worker_main(const struct opts *o, int in, int out)
{
	struct worker_state ws = {0};
	struct cab_stats st;
	PGconn *c;
	struct cmd cmd;

	db_url = o->db;
	open_cab(o);
	c = db();
	for (;;) {
		struct reply r = {.ok = 1};

		xread(in, &cmd, sizeof(cmd));
		switch (cmd.op) {
		case OP_SETUP:
			setup(o, c, &r);
			break;
		case OP_KEYGEN:
			batch_keygen(o, c, &ws, cmd.n, &r);
			break;
		case OP_CSR:
			batch_csr(o, c, &ws, cmd.n, &r);
			break;
		case OP_PARALLEL:
			r.secs = store_parallel("q", cmd.n, o->threads);
			r.n = cmd.n;
			cab_stats(cab, &st);
			r.sessions = st.sessions;
			r.max_used = st.sessions_max_used;
			break;
		case OP_STATS:
			r.kg_p50 = bu_pct(&ws.kg, 50);
			r.kg_p99 = bu_pct(&ws.kg, 99);
			r.cs_p50 = bu_pct(&ws.cs, 50);
			r.cs_p99 = bu_pct(&ws.cs, 99);
			mem(&r);
			drop_keys(c, "m%");
			drop_keys(c, "q%");
			r.stored = count(
				c, "SELECT count(*) FROM certificates WHERE key_fingerprint IS NOT NULL");
			break;
		default:
			PQfinish(c);
			cab_close(cab);
			bu_free(&ws.kg);
			bu_free(&ws.cs);
			exit(0);
		}
		xwrite(out, &r, sizeof(r));
	}
}

struct child {
	pid_t pid;
	int to, from;
};

static struct child spawn(const struct opts *o)
{
	int a[2], b[2];
	struct child ch;

	if (pipe(a) != 0 || pipe(b) != 0)
		bu_die("pipe");
	fflush(NULL);
	ch.pid = fork();
	if (ch.pid < 0)
		bu_die("fork");
	if (ch.pid == 0) {
		close(a[1]);
		close(b[0]);
		worker_main(o, a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	ch.to = a[1];
	ch.from = b[0];
	return ch;
}

static struct reply ask(struct child *ch, int op, long n)
{
	struct cmd c = {op, n};
	struct reply r;

	xwrite(ch->to, &c, sizeof(c));
	xread(ch->from, &r, sizeof(r));
	return r;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* per phase and condition: sums over the rounds */
struct sums {
	double total, tok, db, wal;
	long n;
};

static void add(struct sums *s, const struct reply *r)
{
	s->total += r->total_ms;
	s->tok += r->tok_ms;
	s->db += r->db_ms;
	s->wal += r->wal_bytes;
	s->n += r->n;
}

static double loadavg(void)
{
	double l = 0;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f != NULL) {
		if (fscanf(f, "%lf", &l) != 1)
			l = 0;
		fclose(f);
	}
	return l;
}

/* now as "YYYY-MM-DD HH:MM" UTC (or "HH:MM" when date is 0) */
static void utc(char *out, size_t cap, int date)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, date ? "%Y-%m-%d %H:%M" : "%H:%M", &tm);
}

static void cond_json(const char *name, const struct sums *s, double p50, double p99, const char *sep)
{
	printf("\"%s\": {\"ops\": %ld, \"per_s\": %.1f, \"mean_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f,"
	       " \"token_ms\": %.3f, \"db_ms\": %.3f, \"wal_bytes\": %.0f}%s",
	       name, s->n, s->total > 0 ? 1000.0 * s->n / s->total : 0, s->n ? s->total / s->n : 0, p50, p99,
	       s->n ? s->tok / s->n : 0, s->n ? s->db / s->n : 0, s->n ? s->wal / s->n : 0, sep);
}

/* ratio = rate at n / rate at 0 (the same K per batch): per round, then the median */
static void phase_json(const char *name, const struct sums s[2], double p50[2], double p99[2], double *rt,
		       double *rtok, double *rdb, int rounds, const char *sep)
{
	double lo = 0, hi = 0;

	printf("\"%s\": {", name);
	cond_json("at_0", &s[0], p50[0], p99[0], ", ");
	cond_json("at_n", &s[1], p50[1], p99[1], ", ");
	printf("\"ratio_rounds\": [");
	for (int i = 0; i < rounds; i++)
		printf("%s%.3f", i ? ", " : "", rt[i]);
	printf("], ");
	if (rounds > 0) {
		median(rt, rounds);
		lo = rt[0];
		hi = rt[rounds - 1];
	}
	printf("\"ratio\": %.3f, \"ratio_min\": %.3f, \"ratio_max\": %.3f, \"ratio_token\": %.3f, \"ratio_db\": %.3f,"
	       " \"ratio_pooled\": %.3f}%s",
	       median(rt, rounds), lo, hi, median(rtok, rounds), median(rdb, rounds),
	       s[1].total > 0 ? s[0].total / s[1].total : 0, sep);
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	long rounds = bu_arg_long(argc, argv, "--rounds", 20);
	struct child ch[2];
	struct reply setup_r[2], par[2], stats[2];
	struct sums kg[2] = {{0}}, cs[2] = {{0}};
	double *rk, *rkt, *rkd, *rc, *rct, *rcd, la0 = loadavg(), kp50[2], kp99[2], cp50[2], cp99[2];
	char t0[32], t1[32];
	int status, bad = 0;

	o.storage = bu_arg(argc, argv, "--storage", "wrapped");
	o.token = bu_arg(argc, argv, "--token", NULL);
	o.pin = bu_arg(argc, argv, "--pin", NULL);
	o.module = bu_arg(argc, argv, "--module", "/usr/lib/softhsm/libsofthsm2.so");
	o.n = bu_arg_long(argc, argv, "--n", 1000);
	o.k = bu_arg_long(argc, argv, "--k", 50);
	o.threads = (int)bu_arg_long(argc, argv, "--threads", 2);
	for (int i = 1; i < argc; i++)
		o.reuse |= strcmp(argv[i], "--reuse") == 0;
	if (o.token == NULL || o.pin == NULL || bu_arg(argc, argv, "--dir0", NULL) == NULL ||
	    bu_arg(argc, argv, "--dirn", NULL) == NULL || bu_arg(argc, argv, "--db0", NULL) == NULL ||
	    bu_arg(argc, argv, "--dbn", NULL) == NULL || o.threads < 1 || o.threads > 64 || o.n < 1 ||
	    o.k < 1 || rounds < 1 || rounds > 10000)
		bu_die("usage: bench_keys --storage wrapped|token --n N --k K --rounds R --threads T --token LABEL"
		       " --pin PIN --dir0 DIR --db0 URL --dirn DIR --dbn URL [--reuse] [--module SO]");
	utc(t0, sizeof(t0), 1);
	rk = calloc((size_t)rounds * 6, sizeof(double));
	if (rk == NULL)
		bu_die("out of memory");
	rkt = rk + rounds, rkd = rk + 2 * rounds, rc = rk + 3 * rounds, rct = rk + 4 * rounds,
	rcd = rk + 5 * rounds;
	/* the workers fork before anything here touches PKCS#11, OpenSSL or libpq */
	for (int i = 0; i < 2; i++) {
		struct opts w = o;

		w.is_n = i;
		w.dir = bu_arg(argc, argv, i ? "--dirn" : "--dir0", NULL);
		w.db = bu_arg(argc, argv, i ? "--dbn" : "--db0", NULL);
		ch[i] = spawn(&w);
	}
	setup_r[0] = ask(&ch[0], OP_SETUP, 0);
	setup_r[1] = ask(&ch[1], OP_SETUP, 0);
	/* one batch each, not counted: first-use costs (connections, caches, the module's) */
	for (int i = 0; i < 2; i++) {
		ask(&ch[i], OP_KEYGEN, o.k);
		ask(&ch[i], OP_CSR, o.k);
	}
	for (long r = 0; r < rounds; r++) {
		struct reply a[2], b[2];
		int first = (int)(r % 2);

		a[first] = ask(&ch[first], OP_KEYGEN, o.k);
		a[!first] = ask(&ch[!first], OP_KEYGEN, o.k);
		b[!first] = ask(&ch[!first], OP_CSR, o.k);
		b[first] = ask(&ch[first], OP_CSR, o.k);
		for (int i = 0; i < 2; i++) {
			add(&kg[i], &a[i]);
			add(&cs[i], &b[i]);
		}
		rk[r] = a[0].total_ms / a[1].total_ms;
		rkt[r] = a[0].tok_ms / a[1].tok_ms;
		rkd[r] = a[0].db_ms / a[1].db_ms;
		rc[r] = b[0].total_ms / b[1].total_ms;
		rct[r] = b[0].tok_ms / b[1].tok_ms;
		rcd[r] = b[0].db_ms / b[1].db_ms;
	}
	par[0] = ask(&ch[0], OP_PARALLEL, o.k * o.threads);
	par[1] = ask(&ch[1], OP_PARALLEL, o.k * o.threads);
	for (int i = 0; i < 2; i++) {
		stats[i] = ask(&ch[i], OP_STATS, 0);
		kp50[i] = stats[i].kg_p50, kp99[i] = stats[i].kg_p99;
		cp50[i] = stats[i].cs_p50, cp99[i] = stats[i].cs_p99;
		xwrite(ch[i].to, &(struct cmd){OP_QUIT, 0}, sizeof(struct cmd)); /* no answer: it exits */
	}
	for (int i = 0; i < 2; i++) {
		if (waitpid(ch[i].pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad = 1;
	}
	utc(t1, sizeof(t1), 0);
	printf("{\"storage\": \"%s\", \"measured_at\": \"%s-%s UTC\", \"n\": %ld, \"k\": %ld, \"rounds\": %ld,"
	       " \"threads\": %d, \"stored_0\": %ld, \"stored_n\": %ld, ",
	       o.storage, t0, t1, o.n, o.k, rounds, o.threads, setup_r[0].stored, setup_r[1].stored);
	printf("\"preload\": {\"n\": %ld, \"threads\": %d, \"reused\": %s, \"seconds\": %.2f, \"per_s\": %.1f}, ",
	       o.n, o.threads, setup_r[1].reused ? "true" : "false", setup_r[1].secs,
	       setup_r[1].secs > 0 ? o.n / setup_r[1].secs : 0);
	phase_json("keygen", kg, kp50, kp99, rk, rkt, rkd, (int)rounds, ", ");
	phase_json("csr", cs, cp50, cp99, rc, rct, rcd, (int)rounds, ", ");
	printf("\"parallel\": {\"keys\": %ld, \"threads\": %d, \"per_s_0\": %.1f, \"per_s_n\": %.1f, \"sessions\": %d,"
	       " \"sessions_max_used\": %d}, ",
	       o.k * o.threads, o.threads, par[0].secs > 0 ? par[0].n / par[0].secs : 0,
	       par[1].secs > 0 ? par[1].n / par[1].secs : 0, par[1].sessions, par[1].max_used);
	printf("\"memory\": {\"rss_kb_0\": %ld, \"rss_kb_n\": %ld, \"rss_kb_n_after_preload\": %ld, \"hwm_kb_0\": %ld,"
	       " \"hwm_kb_n\": %ld}, ",
	       stats[0].rss_kb, stats[1].rss_kb, setup_r[1].rss_kb, stats[0].hwm_kb, stats[1].hwm_kb);
	printf("\"loadavg_start\": %.2f, \"loadavg_end\": %.2f}\n", la0, loadavg());
	free(rk);
	return bad;
}
