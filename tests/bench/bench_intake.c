/*
 * bench_intake.c - load generator for scenario 1 and 4 of `make bench`: signed WooCommerce
 * order webhooks (the fixture with a distinct order id and mobile number per delivery) over
 * C concurrent keep-alive connections (libcurl multi), closed loop or at a fixed rate.
 *
 *   bench_intake --url BASE --secret S --fixture FILE --conns C --n N --first-id ID [--rate R]
 *
 * Prints one JSON object: sent, ok, failed, elapsed_s, rate (ok/s), p50_ms, p99_ms, max_ms.
 * A delivery counts as ok only with status 200 and an order_id in the answer (the RA answers
 * after COMMIT).  With --rate, request i is due at start + i/R and its latency is counted
 * from that time, so a server that falls behind cannot hide it (no coordinated omission).
 * Exit status 1 if any delivery failed.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tests/bench/bu.h"

struct body {
	char *json;
	size_t len;
	char sig_hdr[128];
};

struct slot {
	CURL *e;
	struct curl_slist *hdr;
	long idx;
	double t0;
	char answer[512];
	size_t alen;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
	struct slot *s = ud;
	size_t n = sz * nm, room = sizeof(s->answer) - 1 - s->alen;

	memcpy(s->answer + s->alen, p, n < room ? n : room);
	s->alen += n < room ? n : room;
	s->answer[s->alen] = '\0';
	return n;
}

static struct body *make_bodies(const char *fixture, long first, long n, const char *secret)
{
	json_error_t je;
	json_t *o = json_load_file(fixture, 0, &je);
	struct body *b = calloc((size_t)n, sizeof(*b));

	if (o == NULL)
		bu_die("%s: %s", fixture, je.text);
	if (b == NULL)
		bu_die("out of memory");
	for (long i = 0; i < n; i++) {
		char num[32], phone[32];
		unsigned char mac[32], b64[64];
		unsigned int ml = sizeof(mac);

		snprintf(num, sizeof(num), "%ld", first + i);
		/* one customer per order: distinct Austrian mobile numbers (R3 makes one user each) */
		snprintf(phone, sizeof(phone), "+43 664 %07ld", (first + i) % 10000000);
		json_object_set_new(o, "id", json_integer(first + i));
		json_object_set_new(o, "number", json_string(num));
		json_object_set_new(json_object_get(o, "billing"), "phone", json_string(phone));
		b[i].json = json_dumps(o, JSON_COMPACT);
		b[i].len = strlen(b[i].json);
		HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)b[i].json, b[i].len, mac,
		     &ml);
		EVP_EncodeBlock(b64, mac, (int)ml);
		snprintf(b[i].sig_hdr, sizeof(b[i].sig_hdr), "X-WC-Webhook-Signature: %s", (char *)b64);
	}
	json_decref(o);
	return b;
}

static double tv_s(const struct timeval *t)
{
	return (double)t->tv_sec + (double)t->tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	const char *base = bu_arg(argc, argv, "--url", NULL), *secret = bu_arg(argc, argv, "--secret", NULL);
	const char *fixture = bu_arg(argc, argv, "--fixture", NULL);
	long conns = bu_arg_long(argc, argv, "--conns", 1), n = bu_arg_long(argc, argv, "--n", 100);
	long first = bu_arg_long(argc, argv, "--first-id", 1000000);
	double rate = (double)bu_arg_long(argc, argv, "--rate", 0);
	char url[256];
	struct body *bodies;
	struct slot *slots;
	struct bu_samples lat = {0};
	long next = 0, done = 0, ok = 0, failed = 0, shown = 0;
	double start, end;
	struct rusage ru0, ru1;
	CURLM *m;

	if (base == NULL || secret == NULL || fixture == NULL || conns < 1 || n < 1)
		bu_die("usage: bench_intake --url BASE --secret S --fixture FILE --conns C --n N --first-id ID [--rate R]");
	snprintf(url, sizeof(url), "%s/v1/shop/woocommerce", base);
	bodies = make_bodies(fixture, first, n, secret);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	slots = calloc((size_t)conns, sizeof(*slots));
	for (long i = 0; i < conns; i++) {
		slots[i].e = curl_easy_init();
		slots[i].idx = -1;
		curl_easy_setopt(slots[i].e, CURLOPT_URL, url);
		curl_easy_setopt(slots[i].e, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(slots[i].e, CURLOPT_WRITEDATA, &slots[i]);
		curl_easy_setopt(slots[i].e, CURLOPT_PRIVATE, &slots[i]);
		curl_easy_setopt(slots[i].e, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(slots[i].e, CURLOPT_TIMEOUT_MS, 30000L);
	}
	getrusage(RUSAGE_SELF, &ru0); /* the load phase's own CPU, reported beside the service's */
	start = bu_now_ms();
	while (done < n) {
		int running = 0, left, freed = 0;
		CURLMsg *msg;
		double now = bu_now_ms(), wait_ms = 100;

		/* hand out the next deliveries to idle connections (at their due time with --rate) */
		for (long i = 0; i < conns && next < n; i++) {
			struct slot *s = &slots[i];
			double due = rate > 0 ? start + (double)next * 1000.0 / rate : now;

			if (s->idx >= 0)
				continue;
			if (due > now) {
				if (due - now < wait_ms)
					wait_ms = due - now;
				break;
			}
			s->idx = next++;
			s->t0 = rate > 0 ? due : now;
			s->alen = 0;
			curl_slist_free_all(s->hdr);
			s->hdr = curl_slist_append(NULL, "Content-Type: application/json");
			s->hdr = curl_slist_append(s->hdr, "X-WC-Webhook-Topic: order.updated");
			s->hdr = curl_slist_append(s->hdr, "X-WC-Webhook-Resource: order");
			s->hdr = curl_slist_append(s->hdr, "Expect:");
			s->hdr = curl_slist_append(s->hdr, bodies[s->idx].sig_hdr);
			curl_easy_setopt(s->e, CURLOPT_HTTPHEADER, s->hdr);
			curl_easy_setopt(s->e, CURLOPT_POSTFIELDS, bodies[s->idx].json);
			curl_easy_setopt(s->e, CURLOPT_POSTFIELDSIZE, (long)bodies[s->idx].len);
			curl_multi_add_handle(m, s->e);
		}
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct slot *s;
			long status = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			bu_add(&lat, bu_now_ms() - s->t0);
			if (msg->data.result == CURLE_OK && status == 200 &&
			    strstr(s->answer, "\"order_id\"") != NULL) {
				ok++;
			} else {
				failed++;
				if (shown++ < 5)
					fprintf(stderr, "bench_intake: order %ld: %s, status %ld: %s\n",
						first + s->idx, curl_easy_strerror(msg->data.result), status,
						s->answer);
			}
			curl_multi_remove_handle(m, s->e);
			s->idx = -1;
			done++;
			freed = 1;
		}
		/* a connection just came free: hand it its next delivery before waiting */
		if (done < n && !freed)
			curl_multi_poll(m, NULL, 0, (int)(wait_ms < 1 ? 1 : wait_ms), NULL);
	}
	end = bu_now_ms();
	getrusage(RUSAGE_SELF, &ru1);
	printf("{\"conns\": %ld, \"sent\": %ld, \"ok\": %ld, \"failed\": %ld, \"elapsed_s\": %.3f, \"rate\": %.1f, "
	       "\"target_rate\": %.1f, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, \"cpu_s\": %.3f}\n",
	       conns, n, ok, failed, (end - start) / 1000.0, (double)ok * 1000.0 / (end - start), rate,
	       bu_pct(&lat, 50), bu_pct(&lat, 99), bu_pct(&lat, 100),
	       tv_s(&ru1.ru_utime) + tv_s(&ru1.ru_stime) - tv_s(&ru0.ru_utime) - tv_s(&ru0.ru_stime));
	for (long i = 0; i < conns; i++) {
		curl_easy_cleanup(slots[i].e);
		curl_slist_free_all(slots[i].hdr);
	}
	for (long i = 0; i < n; i++)
		free(bodies[i].json);
	free(bodies);
	free(slots);
	bu_free(&lat);
	curl_multi_cleanup(m);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
