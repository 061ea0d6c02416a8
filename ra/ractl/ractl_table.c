/*
 * ractl_table.c - every ractl command, its options and its help, in one table (see
 * ractl_cmd.h).  Help, the man page and the completion scripts are generated from it.
 */
#include <string.h>

#include "ra/ractl/ractl_cmd.h"
#include "ra/ractl/ractl_http.h"
#include "ra/ractl/ractl_out.h"
#include "ra/ractl/ractl_run.h"

#define REQ RACTL_OPT_REQ
#define INT RACTL_OPT_INT
#define LOCAL RACTL_OPT_LOCAL

/* one option a line reads better than clang-format's layout of these macros */
/* clang-format off */
#define RFC5280_REASONS "unspecified|keyCompromise|affiliationChanged|superseded|cessationOfOperation|privilegeWithdrawn"

/* Options several commands share. */
#define O_REASON {"reason", 0, "TEXT", REQ, NULL, NULL, "why, in words: the audit log records it with your name (R16)"}
#define O_DRY_RUN {"dry-run", 0, NULL, 0, NULL, NULL, "the server checks every rule, shows what would change and rolls back"}
#define O_YES {"yes", 'y', NULL, LOCAL, NULL, NULL, "do not ask: needed when stdin is not a terminal (scripts)"}
#define O_LIMIT {"limit", 0, "N", INT, NULL, NULL, "at most N per page (default 50, at most 500)"}
#define O_AFTER {"after", 0, "CURSOR", 0, NULL, NULL, "the page after this cursor (the \"next\" of the previous page)"}
#define ORDER_STATES "awaiting_payment|received|ident_invited|ident_passed|in_review|ident_failed|issuing|issued|rejected|cancelled"
#define CERT_STATES "requested|key_generated|issued|active|superseding|revoked|expired|failed"
#define O_END {NULL, 0, NULL, 0, NULL, NULL, NULL}
/* clang-format on */

static const struct ractl_pos P_USER[] = {{"USER", NULL, NULL}};
static const struct ractl_pos P_CERT[] = {{"ID|SERIAL", NULL, NULL}};
static const struct ractl_pos P_ORDER[] = {{"ORDER", NULL, NULL}};
static const struct ractl_pos P_CONTRACT[] = {{"NUMBER", NULL, NULL}};
static const struct ractl_pos P_JOB[] = {{"JOB", NULL, NULL}};
static const struct ractl_pos P_SEQ[] = {{"SEQ", NULL, NULL}};
static const struct ractl_pos P_FACTOR[] = {{"USER", NULL, NULL}, {"FACTOR", "factor", "sms|app"}};
static const struct ractl_pos P_BULK[] = {{"BULK-ID", NULL, NULL}};
static const struct ractl_pos P_PC[] = {{"ID", NULL, NULL}};
static const struct ractl_pos P_TOKEN[] = {{"TOKEN-ID", NULL, NULL}};
static const struct ractl_pos P_TEXT[] = {{"TEXT", "q", NULL}};
static const struct ractl_pos P_SHELL[] = {{"SHELL", NULL, "bash|zsh"}};

const struct ractl_opt ractl_global_opts[] = {
	{"output", 'o', "FORMAT", LOCAL, RACTL_FORMATS, NULL,
	 "table (fits the terminal), wide (every column), json, yaml or name (resource/id per line)"},
	{"json", 0, NULL, LOCAL, NULL, NULL, "the same as -o json"},
	{"no-headers", 0, NULL, LOCAL, NULL, NULL, "tables without their header line"},
	{"server", 0, "URL", LOCAL, NULL, NULL,
	 "the ra server (else RACTL_URL, the config file, http://127.0.0.1:8080)"},
	{"help", 'h', NULL, LOCAL, NULL, NULL, "show help and do nothing else"},
	{"version", 0, NULL, LOCAL, NULL, NULL, "show ractl's version"},
	O_END,
};

const struct ractl_group ractl_groups[] = {
	{"whoami", "who the token belongs to"},
	{"search", "find users, orders and certificates by anything a caller quotes"},
	{"user", "users (customers): find, show, unlock, TransportPIN, second factor, new mobile number"},
	{"cert", "certificates: show, list, revoke, re-key, modify, single factor"},
	{"contract", "contract numbers of companies (R6)"},
	{"order", "shop orders and their manual review"},
	{"review", "the queue of orders in manual review (R7)"},
	{"ident", "identifications by the ident provider"},
	{"bulk", "bulk revocations (cert revoke --contract|--org|--user)"},
	{"token", "API tokens of support users (role admin)"},
	{"jobs", "the durable jobs behind every call to the outside world"},
	{"audit", "the audit log (R16)"},
	{"completion", "shell completion script"},
	{"man", "this manual as a man page"},
};
const size_t ractl_ngroups = sizeof(ractl_groups) / sizeof(ractl_groups[0]);

const struct ractl_exit_doc ractl_exit_docs[] = {
	{RACTL_OK, "done"},
	{RACTL_REFUSED,
	 "refused: by a domain rule (the rule is named), by the object's state, or by authentication "
	 "or role (401/403); nothing changed"},
	{RACTL_USAGE,
	 "usage: unknown command or option, a missing argument, a value that is not allowed (the allowed "
	 "ones are listed), no token configured, or input the server called malformed (400)"},
	{RACTL_NOTFOUND, "not found (404)"},
	{RACTL_UNREACHABLE, "server unreachable: connection failed, or 502/503/504 (database or CA away)"},
	{RACTL_SERVER, "server error (500)"},
	{RACTL_CANCELLED,
	 "cancelled: a change that cannot be undone was not confirmed (no --yes without a terminal, "
	 "or the wrong answer typed); nothing was sent"},
	{-1, NULL},
};

const struct ractl_cmd ractl_cmds[] = {
	{"whoami", "", NULL, 0, NULL, "GET", "/v1/admin/whoami", "whoami", 0, NULL, NULL,
	 "show the support user the token belongs to",
	 "Name, role and the support user's own customer account (R19).", "ractl whoami"},

	/* ---- finding ---- */
	{"search", "", P_TEXT, 1, (const struct ractl_opt[]){O_LIMIT, O_AFTER, O_END}, "GET",
	 "/v1/admin/search", "search", RACTL_CMD_LIST, NULL, NULL,
	 "find by mobile, user ID, name, e-mail, order number, serial or id",
	 "TEXT is a mobile number in any notation (R3), a user ID, a name (case and accents do not matter: "
	 "muller finds Müller), an e-mail address, a shop order number, an RA order id, a certificate id or "
	 "serial.  Exact identifiers rank first, then e-mail, then names by closeness.",
	 "ractl search \"0664 1000001\"\nractl search mueller --limit 10\nractl search anna@example.test"},

	/* ---- users ---- */
	{"user", "find", P_TEXT, 1, (const struct ractl_opt[]){O_LIMIT, O_AFTER, O_END}, "GET",
	 "/v1/admin/search", "search", RACTL_CMD_LIST, NULL, NULL, "the same as ractl search", NULL,
	 "ractl user find \"Anna Berger\""},
	{"user", "show", P_USER, 1, NULL, "GET", "/v1/admin/users/{1}", "user", 0, NULL, NULL,
	 "a user with factor, lock state, certificates and open orders",
	 "USER is a user ID or a mobile number in any common notation (0664 1234567, +43 664 1234567; R3).",
	 "ractl user show \"0664 1000001\"\nractl user show AAAA-AAAA-AAAA-0001 -o yaml"},
	{"user", "unlock", P_USER, 1,
	 (const struct ractl_opt[]){
		 O_REASON,
		 {"reset-pin", 0, NULL, 0, NULL, NULL, "refused: an ActivationPIN is never reset (R13)"},
		 O_DRY_RUN,
		 O_END},
	 "POST", "/v1/admin/users/{1}/unlock", NULL, 0, NULL, NULL,
	 "unlock a locked user, keeping the ActivationPIN (R13)",
	 "Restores the user with the factor they had and their previous ActivationPIN.",
	 "ractl user unlock AAAA-AAAA-AAAA-0003 --reason \"locked after wrong PINs, identity confirmed by call-back\""},
	{"user", "transport-pin", P_USER, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_END}, "POST",
	 "/v1/admin/users/{1}/transport-pin", NULL, 0, NULL, NULL, "send a new TransportPIN by SMS (R11)",
	 "For each certificate awaiting activation the old TransportPIN stops working and a job sends a new one.",
	 "ractl user transport-pin AAAA-AAAA-AAAA-0001 --reason \"PIN SMS deleted by mistake\""},
	{"user", "factor", P_FACTOR, 2,
	 (const struct ractl_opt[]){
		 O_REASON,
		 {"deregister-app", 0, NULL, 0, NULL, NULL,
		  "support de-registered the authenticator app (R9: needed to switch to SMS)"},
		 O_DRY_RUN,
		 O_END},
	 "POST", "/v1/admin/users/{1}/factor", NULL, 0, NULL, NULL,
	 "switch the second factor to sms or app (R9)",
	 "One factor at a time: SMS only once the app is de-registered; registering the app stops SMS.",
	 "ractl user factor AAAA-AAAA-AAAA-0004 sms --deregister-app --reason \"new phone, app removed\""},
	{"user", "phone-change", P_USER, 1,
	 (const struct ractl_opt[]){
		 {"to", 0, "NUMBER", REQ, NULL, NULL, "the new mobile number, in any notation (R3)"},
		 {"proof", 0, "PROOF", REQ, "video_ident|four_eyes", NULL,
		  "a fresh video identification, or documented proof a second support user approves (R19)"},
		 {"document", 0, "TEXT", 0, NULL, NULL,
		  "four_eyes: the proof support holds and where it is filed (required with four_eyes)"},
		 O_REASON,
		 O_DRY_RUN,
		 O_END},
	 "POST", "/v1/admin/users/{1}/phone-change", "phone_change", 0, NULL, NULL,
	 "start moving a user to a new mobile number (R3): proof, then a code to the new number",
	 "The number is the user's identity and where SMS go, so a change is the SIM-swap attack.  It completes "
	 "only after its proof (video_ident: a new identification of the same person, mailed to the user; "
	 "four_eyes: ractl user phone-change approve by another support user) and after the user confirmed the "
	 "code the RA sends to the NEW number.  Until then every SMS goes to the old number; afterwards the old "
	 "number is told.  A number of another user is refused; one open change per user.",
	 "ractl user phone-change AAAA-AAAA-AAAA-0001 --to \"0664 7654321\" --proof video_ident --reason \"new SIM, "
	 "caller verified\"\nractl user phone-change +436641000001 --to +436647654321 --proof four_eyes --document "
	 "\"carrier letter and ID copy, ticket 8812\" --reason \"number ported\""},
	{"user", "phone-change show", P_PC, 1, NULL, "GET", "/v1/admin/phone-changes/{1}", "phone_change", 0,
	 NULL, NULL, "a phone change: numbers, proof, state, code sent, wrong codes", NULL,
	 "ractl user phone-change show 4"},
	{"user", "phone-change approve", P_PC, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_END},
	 "POST", "/v1/admin/phone-changes/{1}/approve", "phone_change", 0, NULL, NULL,
	 "four eyes: approve the documented proof of a phone change (R19)",
	 "Refused for the support user who started it and for the user themselves (R19), and for a change that "
	 "rests on a video identification.  The code goes to the new number by SMS.",
	 "ractl user phone-change approve 4 --reason \"carrier letter and ID copy checked\""},
	{"user", "phone-change cancel", P_PC, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_END},
	 "POST", "/v1/admin/phone-changes/{1}/cancel", "phone_change", 0, NULL, NULL,
	 "cancel an open phone change: the user keeps the old number", NULL,
	 "ractl user phone-change cancel 4 --reason \"customer withdrew the request\""},

	/* ---- certificates ---- */
	{"cert", "show", P_CERT, 1,
	 (const struct ractl_opt[]){
		 {"pem", 0, NULL, 0, NULL, NULL, "print only the certificate in PEM (for openssl)"}, O_END},
	 "GET", "/v1/admin/certs/{1}", "cert", 0, ractl_run_cert_show, NULL, "a certificate by id or serial",
	 NULL,
	 "ractl cert show 3A0F19C2B1\nractl cert show crt-0a1b... --pem | openssl x509 -noout -subject"},
	{"cert", "list", NULL, 0,
	 (const struct ractl_opt[]){
		 {"user", 0, "USER", 0, NULL, NULL, "only the user's certificates (user ID or mobile)"},
		 {"state", 0, "STATE", 0, CERT_STATES, NULL, "only certificates in this state"},
		 {"class", 0, "CLASS", 0, "qualified|advanced|seal", NULL, "only certificates of this class"},
		 {"expiring", 0, "DURATION", 0, NULL, NULL,
		  "instead: every usable certificate whose notAfter is within DURATION (30d, 12h, 90min)"},
		 O_LIMIT,
		 O_AFTER,
		 O_END},
	 "GET", "/v1/admin/certs", "cert", RACTL_CMD_LIST, NULL, NULL,
	 "certificates: a user's, or by state and class, or those expiring soon",
	 "Ordered by certificate id; paged.  --expiring lists at most 1000, soonest notAfter first, unpaged "
	 "(docs/lifecycle.md).",
	 "ractl cert list --user +436641000001\nractl cert list --state issued --class qualified --limit 20\n"
	 "ractl cert list --expiring 30d"},
	{"cert", "renew", P_CERT, 1,
	 (const struct ractl_opt[]){
		 {"until", 0, "DATE", REQ, NULL, NULL, "the last day of the new term, YYYY-MM-DD (UTC)"},
		 O_REASON,
		 O_DRY_RUN,
		 O_END},
	 "POST", "/v1/admin/certs/{1}/renew", NULL, 0, NULL, NULL,
	 "extend the contractual term (a renewal agreed outside the shop)",
	 "Moves the term end to the end of DATE; no new identification, no new certificate.  The user is mailed; "
	 "the end-of-term policy (term.on_end) applies at the new end.",
	 "ractl cert renew crt-0a1b... --until 2027-12-31 --reason \"renewal paid by invoice 2026-118\""},
	{"cert", "revoke", P_CERT, 1,
	 (const struct ractl_opt[]){
		 {"reason", 0, "REASON", REQ, RFC5280_REASONS, NULL, "the RFC 5280 reason (R14)"},
		 {"comment", 0, "TEXT", REQ, NULL, NULL, "why, in words, for the audit log (R16)"},
		 {"contract", 0, "NUMBER", LOCAL, NULL, NULL,
		  "instead of ID: every revocable certificate of the contract"},
		 {"org", 0, "NAME", LOCAL, NULL, NULL,
		  "instead of ID: every revocable certificate of the organisation"},
		 {"user", 0, "USER", LOCAL, NULL, NULL,
		  "instead of ID: every revocable certificate of the user"},
		 {"no-wait", 0, NULL, LOCAL, NULL, NULL,
		  "bulk: do not follow the jobs (ractl bulk watch ID does)"},
		 O_DRY_RUN,
		 O_YES,
		 O_END},
	 "POST", "/v1/admin/certs/{1}/revoke", NULL, RACTL_CMD_CONFIRM | RACTL_CMD_BULK,
	 ractl_run_cert_revoke, "serial|certificate_id",
	 "revoke a certificate, or all of a contract, organisation or user: final (R14)",
	 "The revocation is recorded and the CA told by a job; the CRL lists it within seconds.  It cannot be undone: "
	 "on a terminal ractl asks you to type the serial or id back; scripts pass --yes.  With --contract, --org or "
	 "--user instead of an ID, the server first counts (and checks every certificate: refused for all when any one "
	 "is refused, e.g. R19), you type the count back (or pass --yes), then one durable job per certificate revokes "
	 "it, each audited on its own, and ractl shows the progress until all are done.",
	 "ractl cert revoke crt-0a1b... --reason keyCompromise --comment \"phone with the app stolen\"\n"
	 "ractl cert revoke 3A0F19C2B1 --reason superseded --comment \"replaced\" --dry-run\n"
	 "ractl cert revoke --contract RA-C-000007 --reason affiliationChanged --comment \"contract ended\" --dry-run"},
	{"cert", "rekey", P_CERT, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_END}, "POST",
	 "/v1/admin/certs/{1}/rekey", NULL, 0, NULL, NULL, "a new certificate with a new key (R12, R15, R17)",
	 "The old one is revoked superseded once the new one is issued.  Refused (R17) when the user's identification "
	 "is older than ident.reuse_days.",
	 "ractl cert rekey crt-0a1b... --reason \"ActivationPIN lost\""},
	{"cert", "modify", P_CERT, 1,
	 (const struct ractl_opt[]){
		 O_REASON,
		 {"organisation", 0, "NAME", 0, NULL, NULL, "the new organisation (with --function)"},
		 {"org-id", 0, "ID", 0, NULL, "organisation_id", "the organisation's identifier"},
		 {"function", 0, "TEXT", 0, NULL, NULL, "the new function (title)"},
		 {"no-organisation", 0, NULL, 0, NULL, NULL, "variant 1: no organisation, no function"},
		 {"given-name", 0, "NAME", 0, NULL, NULL,
		  "refused: a new name needs a new identification (R17)"},
		 {"surname", 0, "NAME", 0, NULL, NULL, "refused, as --given-name"},
		 O_DRY_RUN,
		 O_END},
	 "POST", "/v1/admin/certs/{1}/modify", NULL, 0, NULL, NULL,
	 "a new certificate with changed organisation/function (R4, R15, R17)",
	 "A certificate carries both organisation and function or neither (R4); the old one is revoked "
	 "affiliationChanged once the new one is issued.",
	 "ractl cert modify crt-0a1b... --organisation \"Neu GmbH\" --org-id FN-4711 --function Prokuristin "
	 "--reason \"changed employer\"\nractl cert modify crt-0a1b... --no-organisation --reason \"left the company\""},
	{"cert", "single-factor", P_CERT, 1,
	 (const struct ractl_opt[]){
		 O_REASON,
		 {"consent-ref", 0, "REF", REQ, NULL, NULL, "the signed consent declaration (R10)"},
		 {"deregister-app", 0, NULL, 0, NULL, NULL, "support de-registered the app as well"},
		 O_DRY_RUN,
		 O_END},
	 "POST", "/v1/admin/certs/{1}/single-factor", NULL, 0, NULL, NULL,
	 "move the certificate's user to one factor (R10: advanced and seals only)", NULL,
	 "ractl cert single-factor crt-9f... --consent-ref DECL-2026-0042 --reason \"signed declaration received\""},

	/* ---- contracts ---- */
	{"contract", "create", NULL, 0,
	 (const struct ractl_opt[]){
		 {"organisation", 0, "NAME", REQ, NULL, NULL, "the company"},
		 {"org-id", 0, "ID", 0, NULL, "organisation_id", "its identifier (register number)"},
		 {"quota", 0, "N", REQ | INT, NULL, NULL, "how many certificates it may order"},
		 O_REASON,
		 O_DRY_RUN,
		 O_END},
	 "POST", "/v1/admin/contracts", "contract", 0, NULL, NULL, "make a contract number (R6; role admin)",
	 NULL,
	 "ractl contract create --organisation \"Gruber Bau GmbH\" --org-id NTRAT-123456a --quota 25 "
	 "--reason \"framework contract 2026\""},
	{"contract", "show", P_CONTRACT, 1, NULL, "GET", "/v1/admin/contracts/{1}", "contract", 0, NULL, NULL,
	 "a contract with quota, used, remaining and the orders that took places", NULL,
	 "ractl contract show RA-C-000007"},
	{"contract", "list", NULL, 0,
	 (const struct ractl_opt[]){
		 {"status", 0, "STATUS", 0, "open|closed", NULL, "only open or closed contracts"}, O_END},
	 "GET", "/v1/admin/contracts", "contract", 0, NULL, NULL, "contracts with their quota usage", NULL,
	 "ractl contract list --status open"},
	{"contract", "close", P_CONTRACT, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_YES, O_END},
	 "POST", "/v1/admin/contracts/{1}/close", NULL, RACTL_CMD_CONFIRM, NULL, "number",
	 "close a contract (role admin)",
	 "Orders quoting a closed contract are rejected by intake (R6).  It cannot be undone: on a terminal ractl asks "
	 "you to type the number back; scripts pass --yes.",
	 "ractl contract close RA-C-000007 --reason \"contract ended\""},

	/* ---- orders ---- */
	{"order", "show", P_ORDER, 1, NULL, "GET", "/v1/admin/orders/{1}", "order", 0, NULL, NULL,
	 "an order with items, certificates and intake rejections",
	 "ORDER is the RA order id or the shop's order number; an RA order id wins over a shop number with the same "
	 "digits.",
	 "ractl order show 4713"},
	{"order", "approve", P_ORDER, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_END}, "POST",
	 "/v1/admin/orders/{1}/approve", NULL, 0, NULL, NULL, "approve an order's manual review (R7, R19)",
	 "Refused to the order's subject and to whoever opened the review or made its contract (four eyes, R19).",
	 "ractl order approve 18 --reason \"passport checked, name transliteration matches\""},
	{"order", "reject", P_ORDER, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_END}, "POST",
	 "/v1/admin/orders/{1}/reject", NULL, 0, NULL, NULL, "reject an order in review", NULL,
	 "ractl order reject 18 --reason \"document not readable\""},

	{"order", "list", NULL, 0,
	 (const struct ractl_opt[]){{"state", 0, "STATE", 0, ORDER_STATES, NULL, "only orders in this state"},
				    {"since", 0, "DATE", 0, NULL, NULL,
				     "only orders received since (2026-11-30 or 2026-11-30T08:00Z)"},
				    O_LIMIT,
				    O_AFTER,
				    O_END},
	 "GET", "/v1/admin/orders", "order", RACTL_CMD_LIST, NULL, NULL,
	 "orders, oldest first, by state and age", NULL,
	 "ractl order list --state in_review\nractl order list --since 2026-11-30 --limit 20"},

	/* ---- reviews and identifications ---- */
	{"review", "list", NULL, 0, (const struct ractl_opt[]){O_LIMIT, O_AFTER, O_END}, "GET",
	 "/v1/admin/reviews", "review", RACTL_CMD_LIST, NULL, NULL,
	 "orders waiting for a manual review, oldest first (R7)",
	 "Why each is in review and since when; decide with ractl order approve|reject ORDER.",
	 "ractl review list"},
	{"ident", "list", NULL, 0,
	 (const struct ractl_opt[]){
		 {"outcome", 0, "OUTCOME", 0, "passed|review|rejected|failed", NULL,
		  "only identifications with this outcome"},
		 {"order", 0, "ORDER", 0, NULL, NULL, "only the identifications of this RA order"},
		 O_LIMIT,
		 O_AFTER,
		 O_END},
	 "GET", "/v1/admin/identifications", "ident", RACTL_CMD_LIST, NULL, NULL,
	 "identifications (results of the ident provider), without evidence", "Ordered by id; paged.",
	 "ractl ident list --outcome review"},
	{"ident", "show", P_ORDER, 1, NULL, "GET", "/v1/admin/identifications/{1}", "ident", 0, NULL, NULL,
	 "the identifications of an RA order with their evidence (R18; the reading is audited, R16)", NULL,
	 "ractl ident show 18"},

	/* ---- bulk revocations ---- */
	{"bulk", "show", P_BULK, 1, NULL, "GET", "/v1/admin/bulk-revocations/{1}", NULL, 0, NULL, NULL,
	 "a bulk revocation: total, revoked, on the CRL, waiting, dead", NULL, "ractl bulk show 3"},
	{"bulk", "watch", P_BULK, 1, NULL, "GET", "/v1/admin/bulk-revocations/{1}", NULL, 0,
	 ractl_run_bulk_watch, NULL, "follow a bulk revocation to its end, a progress line at each change",
	 "Exit 0 when every certificate is revoked, 1 when some job died (ractl jobs list --dead).",
	 "ractl bulk watch 3"},

	/* ---- API tokens (role admin) ---- */
	{"token", "list", NULL, 0,
	 (const struct ractl_opt[]){
		 {"name", 0, "NAME", 0, NULL, NULL, "only the tokens of this support user"},
		 O_LIMIT,
		 O_AFTER,
		 O_END},
	 "GET", "/v1/admin/tokens", "token", RACTL_CMD_LIST, NULL, NULL,
	 "API tokens: who, role, created, expiry, revoked (role admin; never the token)", NULL,
	 "ractl token list\nractl token list --name alice"},
	{"token", "revoke", P_TOKEN, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_YES, O_END}, "POST",
	 "/v1/admin/tokens/{1}/revoke", "token", RACTL_CMD_CONFIRM, NULL, "id",
	 "revoke an API token: refused from the next request on (role admin)",
	 "It cannot be undone: on a terminal ractl asks you to type the id back; scripts pass --yes.",
	 "ractl token revoke 7 --reason \"laptop lost\""},
	{"token", "rotate", P_TOKEN, 1,
	 (const struct ractl_opt[]){O_REASON,
				    {"expires-in-days", 0, "N", INT, NULL, NULL,
				     "the new token expires N days from now (1 to 3650)"},
				    O_DRY_RUN,
				    O_END},
	 "POST", "/v1/admin/tokens/{1}/rotate", NULL, 0, NULL, NULL,
	 "a new token for the same name and role; the old one revoked (role admin)",
	 "The new token is printed once (only its hash is stored); give it to its owner by a safe way.",
	 "ractl token rotate 7 --expires-in-days 90 --reason \"quarterly rotation\""},

	/* ---- jobs ---- */
	{"jobs", "list", NULL, 0,
	 (const struct ractl_opt[]){
		 {"dead", 0, NULL, 0, NULL, "state=dead", "only dead jobs (they wait for a person)"},
		 {"state", 0, "STATE", 0, "queued|running|done|dead", NULL, "only jobs in this state"},
		 O_LIMIT,
		 O_AFTER,
		 O_END},
	 "GET", "/v1/admin/jobs", "job", RACTL_CMD_LIST, NULL, NULL,
	 "jobs that are not done (or in one state)",
	 "Ordered by job id; paged: the answer says when more exist.",
	 "ractl jobs list --dead\nractl jobs list --limit 100 --after 4411"},
	{"jobs", "retry", P_JOB, 1, (const struct ractl_opt[]){O_REASON, O_DRY_RUN, O_END}, "POST",
	 "/v1/admin/jobs/{1}/retry", NULL, 0, NULL, NULL, "queue a dead job again with three more attempts",
	 NULL, "ractl jobs retry 4411 --reason \"SMS gateway back\""},
	{"jobs", "peers", NULL, 0, (const struct ractl_opt[]){O_END}, "GET", "/v1/admin/peers", "peer", 0,
	 NULL, NULL, "the peers' call bounds and circuit breakers, and the job lanes (this node)",
	 "STATE is closed, half_open (one trial call) or open (calls refused; their jobs wait, no attempt is "
	 "counted). -o json also shows the job lanes.",
	 "ractl jobs peers"},
	{"jobs", "schedules", NULL, 0, (const struct ractl_opt[]){O_END}, "GET", "/v1/admin/schedules",
	 "schedule", 0, NULL, NULL,
	 "the scheduler's periodic tasks: interval, next run, the last tick and its error",
	 "One row per task (expiry, reminders, term, notify), as the database holds it for every node; RUNNING-ON "
	 "names the node whose tick holds the lease now (docs/lifecycle.md).",
	 "ractl jobs schedules"},

	/* ---- audit ---- */
	{"audit", "show", NULL, 0,
	 (const struct ractl_opt[]){
		 {"object", 0, "ID", REQ, NULL, NULL, "the object's id (certificate, user, order ...)"},
		 {"type", 0, "TYPE", 0, NULL, NULL, "only records of this object type"},
		 O_LIMIT,
		 O_AFTER,
		 O_END},
	 "GET", "/v1/admin/audit", "audit", RACTL_CMD_LIST, NULL, NULL,
	 "the audit records of an object (R16)", "Oldest first (by sequence number); paged.",
	 "ractl audit show --object crt-0a1b..."},
	{"audit", "verify", NULL, 0, NULL, "GET", "/v1/admin/audit/verify", "verify", 0,
	 ractl_run_audit_verify, NULL,
	 "re-hash the whole audit chain on the server (R16: exit 1 when broken)",
	 "Anchor head_hash outside the database to detect a rewritten chain.", "ractl audit verify"},
	{"audit", "proof", P_SEQ, 1, NULL, "GET", "/v1/admin/audit/proof/{1}", NULL, 0, NULL, NULL,
	 "the inclusion proof of record SEQ in the newest signed checkpoint (JSON)",
	 "The record, its RFC 9162 audit path and the signed checkpoint: tools/audit-proof-verify.py checks it"
	 " with nothing but the published audit key (GET /v1/audit/key).",
	 "ractl audit proof 1532 --json > proof.json"},

	/* ---- local ---- */
	{"completion", "", P_SHELL, 1, NULL, NULL, NULL, NULL, RACTL_CMD_LOCAL, ractl_run_completion, NULL,
	 "print a completion script for bash or zsh", "Generated from the same table as the help.",
	 "ractl completion bash > ~/.local/share/bash-completion/completions/ractl\n"
	 "ractl completion zsh > \"${fpath[1]}/_ractl\"   # or: source <(ractl completion bash)"},
	{"man", "", NULL, 0, NULL, NULL, NULL, NULL, RACTL_CMD_LOCAL, ractl_run_man, NULL,
	 "print this manual as a man page (roff)", NULL, "ractl man | man -l -"},
};
const size_t ractl_ncmds = sizeof(ractl_cmds) / sizeof(ractl_cmds[0]);

const struct ractl_group *ractl_group_find(const char *name)
{
	for (size_t i = 0; i < ractl_ngroups; i++)
		if (strcmp(ractl_groups[i].name, name) == 0)
			return &ractl_groups[i];
	return NULL;
}

const struct ractl_cmd *ractl_cmd_find(const char *group, const char *name)
{
	for (size_t i = 0; i < ractl_ncmds; i++)
		if (strcmp(ractl_cmds[i].group, group) == 0 && strcmp(ractl_cmds[i].name, name) == 0)
			return &ractl_cmds[i];
	return NULL;
}

int ractl_group_has_subs(const char *group)
{
	for (size_t i = 0; i < ractl_ncmds; i++)
		if (strcmp(ractl_cmds[i].group, group) == 0 && ractl_cmds[i].name[0])
			return 1;
	return 0;
}

size_t ractl_opt_count(const struct ractl_opt *o)
{
	size_t n = 0;

	while (o && o[n].name)
		n++;
	return n;
}

int ractl_choice_ok(const char *choices, const char *value)
{
	size_t n = strlen(value);

	for (const char *p = choices; *p;) {
		size_t len = strcspn(p, "|");
		if (len == n && strncmp(p, value, n) == 0)
			return 1;
		p += len;
		if (*p == '|')
			p++;
	}
	return 0;
}
