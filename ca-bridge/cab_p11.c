/*
 * cab_p11.c - the PKCS#11 token: load the module (dlopen), find the token by its label, log in,
 * generate subscriber key pairs (R2) and sign digests with them.
 *
 * Thread-safety (issue #15): the module is initialised with CKF_OS_LOCKING_OK; a pool of
 * pkcs11_sessions sessions is opened at start, and one more holds the login (PKCS#11 login
 * state is per application and token, so every pooled session is logged in).  A call takes a
 * session from the pool (waiting when all are in use) and gives it back, so calls run on as
 * many threads at once as there are sessions.  One kind of call is serialised: those that
 * write token objects (key pairs under key_storage "token", the KEK, destroying a token key)
 * take p->lock exclusively, every other call takes it shared.  SoftHSM2 2.6 fails
 * (CKR_GENERAL_ERROR, even crashes) when token key pairs are generated while other threads
 * use the token (SoftHSMv2 issues #573, #688), and the exclusive lock also makes token
 * keygen's find-or-create one step per id.  Wrapped storage touches only session objects
 * and runs in parallel (tests/unit/test_cab_wrapped.c "parallel_*" shows it holds).
 * The PIN is never copied into a message.
 */
#include "ca-bridge/cab_int.h"

#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
/* The PKCS#11 header comes from p11-kit (Debian: libp11-kit-dev), a free drop-in of OASIS's. */
#if __has_include(<p11-kit-1/p11-kit/pkcs11.h>)
#include <p11-kit-1/p11-kit/pkcs11.h>
#else
#error "pkcs11.h not found: install libp11-kit-dev (deploy/install-deps.sh)"
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cab_p11 {
	void *dl;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE login;
	int finalize;
	pthread_rwlock_t lock; /* see above: exclusive for token-object writes, shared otherwise */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	CK_SESSION_HANDLE *pool; /* the free sessions: pool[0..nfree) */
	int npool, nfree;
	int in_use, max_in_use; /* sessions taken now, and the most at once (cab_stats) */
	_Alignas(8) unsigned long long searches; /* C_FindObjectsInit calls so far (cab_stats; atomic) */
	/* KEK handles by label and version (kek_find): a token object's handle serves every
	 * session of the process while the object exists; an operator may destroy an old version,
	 * so a failed wrap or unwrap with a cached handle drops it and finds again */
	pthread_mutex_t kek_lock;
	struct kek_slot {
		char label[64];
		int version;
		CK_OBJECT_HANDLE h;
	} kek_cache[16];
	int nkek;
};

enum { TOKEN_READ = 0, TOKEN_WRITE = 1 };

/* Every token search goes through here and is counted: in SoftHSM2 each one reads the token's
 * object files again, so the count is what the handle caches save (cab_stats). */
static CK_RV find_init(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n)
{
	__atomic_add_fetch(&p->searches, 1, __ATOMIC_RELAXED);
	return p->f->C_FindObjectsInit(s, t, n);
}

/* C_Initialize is per process and module; count our users so one cab_close does not pull
 * the module from under another open handle. */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST *init_f;
static int init_refs;

/* DER OID of prime256v1 (1.2.840.10045.3.1.7), the CKA_EC_PARAMS of P-256 keys. */
static const unsigned char p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

static int p11_fail(struct cab_err *err, const char *what, CK_RV rv)
{
	return cab_err_set(err, CAB_E_TOKEN, "pkcs11", "%s failed (CKR 0x%lx)", what, (unsigned long)rv);
}

static int p11_init(struct cab_p11 *p, struct cab_err *err)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	int rc = 0;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	pthread_mutex_lock(&init_lock);
	if (init_refs > 0 && init_f == p->f) {
		init_refs++;
		p->finalize = 1;
		goto out;
	}
	rv = p->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		rc = p11_fail(err, "C_Initialize", rv);
		goto out;
	}
	if (rv == CKR_OK && init_refs == 0) {
		init_f = p->f;
		init_refs = 1;
		p->finalize = 1;
	}
out:
	pthread_mutex_unlock(&init_lock);
	return rc;
}

static void p11_fini(struct cab_p11 *p)
{
	if (!p->finalize)
		return;
	pthread_mutex_lock(&init_lock);
	if (init_f == p->f && --init_refs == 0) {
		p->f->C_Finalize(NULL);
		init_f = NULL;
	}
	pthread_mutex_unlock(&init_lock);
}

static int label_eq(const unsigned char padded[32], const char *label)
{
	size_t n = 32;

	while (n > 0 && padded[n - 1] == ' ')
		n--;
	return strlen(label) == n && memcmp(padded, label, n) == 0;
}

static int find_slot(struct cab_p11 *p, const char *label, struct cab_err *err)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, hits = 0;
	CK_RV rv;
	int rc = 0;

	rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK)
		return p11_fail(err, "C_GetSlotList", rv);
	slots = calloc(n ? n : 1, sizeof(*slots));
	if (slots == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK) {
		rc = p11_fail(err, "C_GetSlotList", rv);
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if ((ti.flags & CKF_TOKEN_INITIALIZED) && label_eq(ti.label, label)) {
			p->slot = slots[i];
			hits++;
		}
	}
	if (hits == 0)
		rc = cab_err_set(err, CAB_E_TOKEN, "pkcs11.token", "no token labelled \"%s\"", label);
	else if (hits > 1)
		rc = cab_err_set(err, CAB_E_TOKEN, "pkcs11.token",
				 "%lu tokens labelled \"%s\"; labels must be unique", hits, label);
out:
	free(slots);
	return rc;
}

static int session(struct cab_p11 *p, CK_SESSION_HANDLE *s, struct cab_err *err)
{
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);

	return rv == CKR_OK ? 0 : p11_fail(err, "C_OpenSession", rv);
}

/* A pooled session, and the token lock (shared, or exclusive for token-object writes). */
static int take(struct cab_p11 *p, int mode, CK_SESSION_HANDLE *s, struct cab_err *err)
{
	(void)err;
	if (mode == TOKEN_WRITE)
		pthread_rwlock_wrlock(&p->lock);
	else
		pthread_rwlock_rdlock(&p->lock);
	pthread_mutex_lock(&p->pool_lock);
	while (p->nfree == 0)
		pthread_cond_wait(&p->pool_cond, &p->pool_lock);
	*s = p->pool[--p->nfree];
	if (++p->in_use > p->max_in_use)
		p->max_in_use = p->in_use;
	pthread_mutex_unlock(&p->pool_lock);
	return 0;
}

static void give(struct cab_p11 *p, int mode, CK_SESSION_HANDLE s)
{
	(void)mode;
	pthread_mutex_lock(&p->pool_lock);
	p->pool[p->nfree++] = s;
	p->in_use--;
	pthread_cond_signal(&p->pool_cond);
	pthread_mutex_unlock(&p->pool_lock);
	pthread_rwlock_unlock(&p->lock);
}

void cab_p11_stats(struct cab_p11 *p, int *sessions, int *max_in_use, unsigned long long *searches)
{
	pthread_mutex_lock(&p->pool_lock);
	*sessions = p->npool;
	*max_in_use = p->max_in_use;
	pthread_mutex_unlock(&p->pool_lock);
	*searches = __atomic_load_n(&p->searches, __ATOMIC_RELAXED);
}

int cab_p11_open(struct cab_p11 **out, const char *module, const char *label, const char *pin, int sessions,
		 struct cab_err *err)
{
	CK_C_GetFunctionList getlist;
	struct cab_p11 *p = calloc(1, sizeof(*p));
	CK_RV rv;
	int rc;

	if (p == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	pthread_rwlock_init(&p->lock, NULL);
	pthread_mutex_init(&p->pool_lock, NULL);
	pthread_mutex_init(&p->kek_lock, NULL);
	pthread_cond_init(&p->pool_cond, NULL);
	p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (p->dl == NULL) {
		rc = cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "cannot load module: %s", dlerror());
		goto fail;
	}
	*(void **)&getlist = dlsym(p->dl, "C_GetFunctionList");
	if (getlist == NULL || getlist(&p->f) != CKR_OK || p->f == NULL) {
		rc = cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "module has no C_GetFunctionList");
		goto fail;
	}
	if ((rc = p11_init(p, err)) != 0)
		goto fail;
	if ((rc = find_slot(p, label, err)) != 0 || (rc = session(p, &p->login, err)) != 0)
		goto fail;
	rv = p->f->C_Login(p->login, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		rc = cab_err_set(err, CAB_E_TOKEN, "pkcs11.pin", "token login refused (CKR 0x%lx)",
				 (unsigned long)rv);
		goto fail;
	}
	p->pool = calloc((size_t)(sessions > 0 ? sessions : 1), sizeof(*p->pool));
	if (p->pool == NULL) {
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto fail;
	}
	for (p->npool = 0; p->npool < (sessions > 0 ? sessions : 1); p->npool++) {
		if ((rc = session(p, &p->pool[p->npool], err)) != 0)
			goto fail;
		p->nfree++;
	}
	*out = p;
	return 0;
fail:
	cab_p11_close(p);
	return rc;
}

void cab_p11_close(struct cab_p11 *p)
{
	if (p == NULL)
		return;
	for (int i = 0; p->f != NULL && i < p->nfree; i++)
		p->f->C_CloseSession(p->pool[i]);
	free(p->pool);
	if (p->f != NULL && p->login != 0)
		p->f->C_CloseSession(p->login);
	if (p->f != NULL)
		p11_fini(p);
	if (p->dl != NULL)
		dlclose(p->dl);
	pthread_rwlock_destroy(&p->lock);
	pthread_mutex_destroy(&p->pool_lock);
	pthread_mutex_destroy(&p->kek_lock);
	pthread_cond_destroy(&p->pool_cond);
	free(p);
}

static int find_obj(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *id,
		    CK_OBJECT_HANDLE *obj, struct cab_err *err)
{
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_ID, (void *)id, strlen(id)},
	};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	CK_RV rv;

	rv = find_init(p, s, t, 2);
	if (rv != CKR_OK)
		return p11_fail(err, "C_FindObjectsInit", rv);
	rv = p->f->C_FindObjects(s, found, 2, &n);
	p->f->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return p11_fail(err, "C_FindObjects", rv);
	if (n == 0)
		return cab_err_set(err, CAB_E_NOTFOUND, "key_id", "no key with this id on the token");
	if (n > 1)
		return cab_err_set(err, CAB_E_TOKEN, "key_id", "several keys with this id on the token");
	*obj = found[0];
	return 0;
}

/* Reads one attribute into a malloc'd buffer. */
static int get_attr(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
		    unsigned char **val, CK_ULONG *len, struct cab_err *err)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv = p->f->C_GetAttributeValue(s, o, &a, 1);

	if (rv != CKR_OK)
		return p11_fail(err, "C_GetAttributeValue", rv);
	a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (a.pValue == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	rv = p->f->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return p11_fail(err, "C_GetAttributeValue", rv);
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *ec_pub(const unsigned char *pt, CK_ULONG len)
{
	const unsigned char *q = pt;
	ASN1_OCTET_STRING *os = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;

	/* CKA_EC_POINT is a DER OCTET STRING by the standard; some modules give it raw. */
	if (len > 2 && pt[0] == 0x04 && (os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)len)) != NULL &&
	    q == pt + len) {
		pt = os->data;
		len = (CK_ULONG)os->length;
	}
	if (bld != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, len))
		pkey = pkey_fromdata("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(os);
	return pkey;
}

static EVP_PKEY *rsa_pub(const unsigned char *n, CK_ULONG nlen, const unsigned char *e, CK_ULONG elen)
{
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;

	if (bn != NULL && be != NULL && bld != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		pkey = pkey_fromdata("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pkey;
}

/* The public key object with CKA_ID id, as an EVP_PKEY, and its algorithm. */
static int read_pub(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *id, EVP_PKEY **pub, enum cab_alg *alg,
		    struct cab_err *err)
{
	CK_OBJECT_HANDLE o;
	unsigned char *kt = NULL, *a = NULL, *b = NULL;
	CK_ULONG ktlen, alen, blen;
	int rc;

	*pub = NULL;
	if ((rc = find_obj(p, s, CKO_PUBLIC_KEY, id, &o, err)) != 0)
		return rc;
	if ((rc = get_attr(p, s, o, CKA_KEY_TYPE, &kt, &ktlen, err)) != 0)
		return rc;
	if (ktlen == sizeof(CK_KEY_TYPE) && *(CK_KEY_TYPE *)(void *)kt == CKK_EC) {
		*alg = CAB_ALG_EC_P256;
		if ((rc = get_attr(p, s, o, CKA_EC_PARAMS, &a, &alen, err)) != 0)
			goto out;
		if (alen != sizeof(p256_oid) || memcmp(a, p256_oid, alen) != 0) {
			rc = cab_err_set(err, CAB_E_TOKEN, "key_id", "EC key is not on P-256");
			goto out;
		}
		free(a);
		a = NULL;
		if ((rc = get_attr(p, s, o, CKA_EC_POINT, &a, &alen, err)) != 0)
			goto out;
		*pub = ec_pub(a, alen);
	} else if (ktlen == sizeof(CK_KEY_TYPE) && *(CK_KEY_TYPE *)(void *)kt == CKK_RSA) {
		*alg = CAB_ALG_RSA_3072;
		if ((rc = get_attr(p, s, o, CKA_MODULUS, &a, &alen, err)) != 0 ||
		    (rc = get_attr(p, s, o, CKA_PUBLIC_EXPONENT, &b, &blen, err)) != 0)
			goto out;
		*pub = rsa_pub(a, alen, b, blen);
	} else {
		rc = cab_err_set(err, CAB_E_TOKEN, "key_id", "key type not supported");
		goto out;
	}
	if (*pub == NULL)
		rc = cab_err_ossl(err, CAB_E_TOKEN, "cannot decode the token's public key");
out:
	free(kt);
	free(a);
	free(b);
	return rc;
}

int cab_p11_find(struct cab_p11 *p, const char *key_id, EVP_PKEY **pub, enum cab_alg *alg,
		 struct cab_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv;
	int rc;

	if (p == NULL) /* opened without a token (pkcs11_module NULL): a CA that only signs CSRs */
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "no PKCS#11 token configured");

	if ((rc = take(p, TOKEN_READ, &s, err)) != 0)
		return rc;
	rc = find_obj(p, s, CKO_PRIVATE_KEY, key_id, &priv, err);
	if (rc == 0)
		rc = read_pub(p, s, key_id, pub, alg, err);
	give(p, TOKEN_READ, s);
	return rc;
}

static int generate(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *id, enum cab_alg alg,
		    struct cab_err *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 3072;
	CK_BYTE exp[] = {0x01, 0x00, 0x01};
	char label[80];
	CK_MECHANISM mech = {alg == CAB_ALG_RSA_3072 ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL,
			     0};
	CK_OBJECT_HANDLE pubh, privh;
	CK_RV rv;

	snprintf(label, sizeof(label), "cab-%s", id);
	CK_ATTRIBUTE pubt[] = {
		{CKA_TOKEN, &yes, sizeof(yes)},
		{CKA_VERIFY, &yes, sizeof(yes)},
		{CKA_ID, (void *)id, strlen(id)},
		{CKA_LABEL, label, strlen(label)},
		/* the last two differ by algorithm */
		{CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid)},
		{CKA_PUBLIC_EXPONENT, exp, sizeof(exp)},
	};
	CK_ULONG npub = 5;
	/* R2: the private key never leaves the token. */
	CK_ATTRIBUTE privt[] = {
		{CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
		{CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
		{CKA_SIGN, &yes, sizeof(yes)},      {CKA_ID, (void *)id, strlen(id)},
		{CKA_LABEL, label, strlen(label)},
	};

	if (alg == CAB_ALG_RSA_3072) {
		pubt[4] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		npub = 6;
	}
	rv = p->f->C_GenerateKeyPair(s, &mech, pubt, npub, privt, sizeof(privt) / sizeof(privt[0]), &pubh,
				     &privh);
	return rv == CKR_OK ? 0 : p11_fail(err, "C_GenerateKeyPair", rv);
}

/* Every object with CKA_ID id (any class), up to cap handles; *n gets how many were found
 * (at most cap). */
static int find_all(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *id, CK_OBJECT_HANDLE *found,
		    CK_ULONG cap, CK_ULONG *n, struct cab_err *err)
{
	CK_ATTRIBUTE t[] = {{CKA_ID, (void *)id, strlen(id)}};
	CK_RV rv;

	*n = 0;
	rv = find_init(p, s, t, 1);
	if (rv != CKR_OK)
		return p11_fail(err, "C_FindObjectsInit", rv);
	rv = p->f->C_FindObjects(s, found, cap, n);
	p->f->C_FindObjectsFinal(s);
	return rv == CKR_OK ? 0 : p11_fail(err, "C_FindObjects", rv);
}

static int obj_class(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_OBJECT_CLASS *cls)
{
	CK_ATTRIBUTE a = {CKA_CLASS, cls, sizeof(*cls)};

	return p->f->C_GetAttributeValue(s, o, &a, 1) == CKR_OK ? 0 : -1;
}

/*
 * The key pair with CKA_ID id as keygen needs it: 1 when exactly one private and one public
 * key are there (a complete pair), 0 when nothing is.  Anything else is the remnant of a
 * half-made pair (issue #19: a crash inside SoftHSM2's C_GenerateKeyPair writes the public
 * key object before the private one; an old bug left two pairs): every object with that id
 * is destroyed and *remnants counts them, so the caller makes one fresh pair.  Only keygen
 * calls this, before the certificate exists, so no issued certificate's key is touched.
 */
static int pair_state(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *id, int *remnants,
		      struct cab_err *err)
{
	CK_OBJECT_HANDLE found[16];
	CK_ULONG n = 0, npriv = 0, npub = 0;
	int rc;

	*remnants = 0;
	if ((rc = find_all(p, s, id, found, 16, &n, err)) != 0)
		return rc;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_OBJECT_CLASS c = (CK_OBJECT_CLASS)-1;

		if (obj_class(p, s, found[i], &c) == 0 && c == CKO_PRIVATE_KEY)
			npriv++;
		else if (c == CKO_PUBLIC_KEY)
			npub++;
	}
	if (n == 0)
		return 0;
	if (n == 2 && npriv == 1 && npub == 1)
		return 1;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_RV rv = p->f->C_DestroyObject(s, found[i]);

		if (rv != CKR_OK)
			return p11_fail(err, "C_DestroyObject (half-made key pair)", rv);
		(*remnants)++;
	}
	/* more than 16: destroy the rest on the next round */
	return n == 16 ? pair_state(p, s, id, remnants, err) : 0;
}

int cab_p11_keygen(struct cab_p11 *p, const char *key_id, enum cab_alg alg, EVP_PKEY **pub, enum cab_alg *got,
		   int *existed, int *remnants, struct cab_err *err)
{
	CK_SESSION_HANDLE s;
	int rc;

	if (p == NULL) /* opened without a token (pkcs11_module NULL): a CA that only signs CSRs */
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "no PKCS#11 token configured");

	if ((rc = take(p, TOKEN_WRITE, &s, err)) != 0)
		return rc;
	/* find-or-create under the lock: a retried or parallel job never makes a second key */
	rc = pair_state(p, s, key_id, remnants, err);
	*existed = rc == 1;
	if (rc == 0)
		rc = generate(p, s, key_id, alg, err);
	else if (rc == 1)
		rc = 0;
	if (rc == 0)
		rc = read_pub(p, s, key_id, pub, got, err);
	give(p, TOKEN_WRITE, s);
	return rc;
}

/* DigestInfo prefix for SHA-256 (RFC 8017 9.2 note 1): CKM_RSA_PKCS signs it as given. */
static const unsigned char sha256_info[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

/* Raw r||s from CKM_ECDSA to the DER ECDSA-Sig-Value that X.509 carries. */
static int ecdsa_der(const unsigned char *rs, CK_ULONG len, unsigned char **sig, size_t *siglen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)(len / 2), NULL), *s = BN_bin2bn(rs + len / 2, (int)(len / 2), NULL);
	int n = -1;

	if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL; /* owned by es now */
		*sig = NULL;
		n = i2d_ECDSA_SIG(es, sig);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return CAB_E_NOMEM;
	*siglen = (size_t)n;
	return 0;
}

/* Signs a SHA-256 digest with the private key object priv. */
static int sign_obj(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, enum cab_alg alg,
		    const unsigned char dgst[32], unsigned char **sig, size_t *siglen, struct cab_err *err)
{
	CK_MECHANISM mech = {alg == CAB_ALG_RSA_3072 ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0};
	unsigned char in[sizeof(sha256_info) + 32], out[512];
	CK_ULONG inlen = 32, outlen = sizeof(out);
	CK_RV rv;
	int rc;

	if (alg == CAB_ALG_RSA_3072) {
		memcpy(in, sha256_info, sizeof(sha256_info));
		memcpy(in + sizeof(sha256_info), dgst, 32);
		inlen = sizeof(in);
	} else {
		memcpy(in, dgst, 32);
	}
	rv = p->f->C_SignInit(s, &mech, priv);
	if (rv == CKR_OK)
		rv = p->f->C_Sign(s, in, inlen, out, &outlen);
	if (rv != CKR_OK)
		return p11_fail(err, "C_Sign", rv);
	if (alg == CAB_ALG_RSA_3072) {
		*sig = OPENSSL_memdup(out, outlen);
		*siglen = outlen;
		rc = *sig ? 0 : CAB_E_NOMEM;
	} else {
		rc = ecdsa_der(out, outlen, sig, siglen);
	}
	if (rc != 0)
		cab_err_set(err, rc, "", "cannot encode the signature");
	return rc;
}

int cab_p11_sign_digest(struct cab_p11 *p, const char *key_id, enum cab_alg alg, const unsigned char dgst[32],
			unsigned char **sig, size_t *siglen, struct cab_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv;
	int rc;

	if ((rc = take(p, TOKEN_READ, &s, err)) != 0)
		return rc;
	if ((rc = find_obj(p, s, CKO_PRIVATE_KEY, key_id, &priv, err)) == 0)
		rc = sign_obj(p, s, priv, alg, dgst, sig, siglen, err);
	give(p, TOKEN_READ, s);
	return rc;
}

/* ---- wrapped key storage (issue #15) ---------------------------------------------------- */

/*
 * The key-encryption key: a token AES-256 secret key with CKA_LABEL = the configured label and
 * CKA_ID = its version in decimal ("1", "2", ...).  Sensitive, never extractable, usable only
 * to wrap and unwrap (no CKA_ENCRYPT/CKA_DECRYPT: C_Decrypt of a blob under the KEK, which
 * would give the plaintext key, is refused by the token).
 */
#define KEK_MAX 256

/* 1 when h is the secret key labelled label with CKA_ID version (a kept handle, before it wraps). */
static int kek_is(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, const char *label, int version)
{
	char l[64] = "", id[16] = "", want[16];
	CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
	CK_ATTRIBUTE a[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_LABEL, l, sizeof(l) - 1},
		{CKA_ID, id, sizeof(id) - 1},
	};

	if (p->f->C_GetAttributeValue(s, h, a, 3) != CKR_OK || a[1].ulValueLen >= sizeof(l) ||
	    a[2].ulValueLen >= sizeof(id))
		return 0;
	l[a[1].ulValueLen] = '\0';
	id[a[2].ulValueLen] = '\0';
	snprintf(want, sizeof(want), "%d", version);
	return cls == CKO_SECRET_KEY && strcmp(l, label) == 0 && strcmp(id, want) == 0;
}

static int kek_cached(struct cab_p11 *p, const char *label, int version, CK_OBJECT_HANDLE *h)
{
	int hit = 0;

	pthread_mutex_lock(&p->kek_lock);
	for (int i = 0; i < p->nkek && !hit; i++)
		if (p->kek_cache[i].version == version && strcmp(p->kek_cache[i].label, label) == 0) {
			*h = p->kek_cache[i].h;
			hit = 1;
		}
	pthread_mutex_unlock(&p->kek_lock);
	return hit;
}

/* Remembers a version's handle (the oldest entry makes room), or with h 0 forgets it. */
static void kek_remember(struct cab_p11 *p, const char *label, int version, CK_OBJECT_HANDLE h)
{
	int n = (int)(sizeof(p->kek_cache) / sizeof(p->kek_cache[0])), i;

	if (strlen(label) >= sizeof(p->kek_cache[0].label))
		return;
	pthread_mutex_lock(&p->kek_lock);
	for (i = 0; i < p->nkek; i++)
		if (p->kek_cache[i].version == version && strcmp(p->kek_cache[i].label, label) == 0)
			break;
	if (i < p->nkek) {
		memmove(&p->kek_cache[i], &p->kek_cache[i + 1],
			(size_t)(p->nkek - i - 1) * sizeof(p->kek_cache[0]));
		p->nkek--;
	}
	if (h != 0) {
		if (p->nkek == n) {
			memmove(&p->kek_cache[0], &p->kek_cache[1],
				(size_t)(n - 1) * sizeof(p->kek_cache[0]));
			p->nkek--;
		}
		snprintf(p->kek_cache[p->nkek].label, sizeof(p->kek_cache[0].label), "%s", label);
		p->kek_cache[p->nkek].version = version;
		p->kek_cache[p->nkek].h = h;
		p->nkek++;
	}
	pthread_mutex_unlock(&p->kek_lock);
}

/* Version *want's handle (want > 0), or the highest version (want == 0); *version gets it.
 * CAB_E_NOTFOUND when there is no KEK (want 0) or not that version (CAB_E_KEK).  A version
 * asked for by number comes from the cache when this process found it before (*cached 1;
 * cached may be NULL): in SoftHSM2 every search reads the token's object files again.  The
 * highest version is always searched for, so another process's rotation is seen at once. */
static int kek_find_uncached(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *label, int want,
			     CK_OBJECT_HANDLE *h, int *version, struct cab_err *err);

static int kek_find(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *label, int want, CK_OBJECT_HANDLE *h,
		    int *version, int *cached, struct cab_err *err)
{
	int rc;

	if (cached != NULL)
		*cached = 0;
	if (want > 0 && kek_cached(p, label, want, h)) {
		*version = want;
		if (cached != NULL)
			*cached = 1;
		return 0;
	}
	rc = kek_find_uncached(p, s, label, want, h, version, err);
	if (rc == 0)
		kek_remember(p, label, *version, *h);
	return rc;
}

static int kek_find_uncached(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *label, int want,
			     CK_OBJECT_HANDLE *h, int *version, struct cab_err *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	CK_OBJECT_HANDLE found[KEK_MAX];
	CK_ULONG n = 0;
	CK_RV rv;
	int best = 0, hits = 0;

	rv = find_init(p, s, t, 2);
	if (rv != CKR_OK)
		return p11_fail(err, "C_FindObjectsInit", rv);
	rv = p->f->C_FindObjects(s, found, KEK_MAX, &n);
	p->f->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return p11_fail(err, "C_FindObjects", rv);
	for (CK_ULONG i = 0; i < n; i++) {
		char id[16] = "";
		CK_ATTRIBUTE a = {CKA_ID, id, sizeof(id) - 1};
		int v;

		if (p->f->C_GetAttributeValue(s, found[i], &a, 1) != CKR_OK || a.ulValueLen >= sizeof(id))
			continue;
		id[a.ulValueLen] = '\0';
		v = atoi(id);
		if (v <= 0)
			continue;
		if (want > 0 ? v == want : v > best) {
			if (want > 0)
				hits++;
			best = v;
			*h = found[i];
		}
	}
	if (want > 0 && hits > 1)
		return cab_err_set(err, CAB_E_KEK, "pkcs11.kek_label",
				   "KEK \"%s\" version %d is on the token %d times", label, want, hits);
	if (best == 0) {
		if (want > 0)
			return cab_err_set(err, CAB_E_KEK, "kek_version",
					   "unknown KEK version: \"%s\" version %d is not on the token",
					   label, want);
		return cab_err_set(err, CAB_E_NOTFOUND, "pkcs11.kek_label",
				   "no KEK \"%s\" on the token (ra kek create)", label);
	}
	*version = best;
	return 0;
}

static int kek_make(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *label, int version,
		    struct cab_err *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32;
	char id[16];
	CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	snprintf(id, sizeof(id), "%d", version);
	CK_ATTRIBUTE t[] = {
		{CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
		{CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
		{CKA_WRAP, &yes, sizeof(yes)},      {CKA_UNWRAP, &yes, sizeof(yes)},
		{CKA_ENCRYPT, &no, sizeof(no)},     {CKA_DECRYPT, &no, sizeof(no)},
		{CKA_SIGN, &no, sizeof(no)},        {CKA_VERIFY, &no, sizeof(no)},
		{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_LABEL, (void *)label, strlen(label)},
		{CKA_ID, id, strlen(id)},
	};

	rv = p->f->C_GenerateKey(s, &mech, t, sizeof(t) / sizeof(t[0]), &h);
	return rv == CKR_OK ? 0 : p11_fail(err, "C_GenerateKey (KEK)", rv);
}

int cab_p11_kek(struct cab_p11 *p, const char *label, int op, int *version, struct cab_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	int rc;

	if (p == NULL)
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "no PKCS#11 token configured");
	if ((rc = take(p, TOKEN_WRITE, &s, err)) != 0)
		return rc;
	rc = kek_find(p, s, label, 0, &h, version, NULL, err);
	if (op == CAB_KEK_CURRENT || (op == CAB_KEK_CREATE && rc == 0)) {
		if (op == CAB_KEK_CREATE)
			rc = 1; /* there is one already */
	} else if (rc == 0 || rc == CAB_E_NOTFOUND) {
		int next = rc == 0 ? *version + 1 : 1;

		if ((rc = kek_make(p, s, label, next, err)) == 0)
			*version = next;
	}
	give(p, TOKEN_WRITE, s);
	return rc;
}

/* The public key of the object o as an EVP_PKEY (read_pub without the find). */
static int pub_of(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, enum cab_alg alg,
		  EVP_PKEY **pub, struct cab_err *err)
{
	unsigned char *a = NULL, *b = NULL;
	CK_ULONG alen, blen;
	int rc;

	if (alg == CAB_ALG_RSA_3072) {
		if ((rc = get_attr(p, s, o, CKA_MODULUS, &a, &alen, err)) == 0 &&
		    (rc = get_attr(p, s, o, CKA_PUBLIC_EXPONENT, &b, &blen, err)) == 0)
			*pub = rsa_pub(a, alen, b, blen);
	} else if ((rc = get_attr(p, s, o, CKA_EC_POINT, &a, &alen, err)) == 0) {
		*pub = ec_pub(a, alen);
	}
	if (rc == 0 && *pub == NULL)
		rc = cab_err_ossl(err, CAB_E_TOKEN, "cannot decode the token's public key");
	free(a);
	free(b);
	return rc;
}

/* C_WrapKey with CKM_AES_KEY_WRAP_PAD (RFC 5649) into a malloc'd buffer. */
static int wrap(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kek, CK_OBJECT_HANDLE key,
		unsigned char **out, size_t *outlen, struct cab_err *err)
{
	CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ULONG n = 0;
	CK_RV rv = p->f->C_WrapKey(s, &mech, kek, key, NULL, &n);

	/* keys this code made on the token are CKA_EXTRACTABLE false, for good (PKCS#11 lets it
	 * change only from true to false): they cannot leave the token, not even wrapped */
	if (rv == CKR_KEY_UNEXTRACTABLE)
		return cab_err_set(
			err, CAB_E_CONFLICT, "key_id",
			"the token key is not extractable (CKA_EXTRACTABLE false): it stays on the token");
	if (rv != CKR_OK)
		return p11_fail(err, "C_WrapKey", rv);
	*out = malloc(n ? n : 1);
	if (*out == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	rv = p->f->C_WrapKey(s, &mech, kek, key, *out, &n);
	if (rv != CKR_OK) {
		free(*out);
		*out = NULL;
		return p11_fail(err, "C_WrapKey", rv);
	}
	*outlen = n;
	return 0;
}

/* A private key as a session object from its wrapped form: sensitive, for signing; extractable
 * (by wrapping only) when it is to be wrapped again under a newer KEK. */
static int unwrap(struct cab_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kek, enum cab_alg alg,
		  const unsigned char *w, size_t wlen, int extractable, CK_OBJECT_HANDLE *key,
		  struct cab_err *err)
{
	CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = alg == CAB_ALG_RSA_3072 ? CKK_RSA : CKK_EC;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, ext = extractable ? CK_TRUE : CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_TOKEN, &no, sizeof(no)},       {CKA_PRIVATE, &yes, sizeof(yes)},
		{CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &ext, sizeof(ext)},
		{CKA_SIGN, &yes, sizeof(yes)},
	};
	CK_RV rv = p->f->C_UnwrapKey(s, &mech, kek, (CK_BYTE_PTR)w, wlen, t, sizeof(t) / sizeof(t[0]), key);

	/* SoftHSM2 2.6 answers CKR_GENERAL_ERROR when RFC 5649's integrity check fails */
	if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_ENCRYPTED_DATA_INVALID ||
	    rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_GENERAL_ERROR)
		return cab_err_set(
			err, CAB_E_KEK, "key_blob",
			"the wrapped key does not unwrap under its KEK (CKR 0x%lx): damaged or another KEK",
			(unsigned long)rv);
	return rv == CKR_OK ? 0 : p11_fail(err, "C_UnwrapKey", rv);
}

int cab_p11_keygen_wrapped(struct cab_p11 *p, const char *key_id, enum cab_alg alg, const char *label,
			   int search, int want, struct cab_p11_first_sign *first, EVP_PKEY **pub,
			   int *existed, int *remnants, unsigned char **w, size_t *wlen, int *kek_version,
			   struct cab_err *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 3072;
	CK_BYTE exp[] = {0x01, 0x00, 0x01};
	CK_MECHANISM mech = {alg == CAB_ALG_RSA_3072 ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL,
			     0};
	CK_OBJECT_HANDLE pubh = 0, privh = 0, kek;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int rc, cached = 0;
	enum cab_alg got;

	if (p == NULL)
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "no PKCS#11 token configured");
	CK_ATTRIBUTE pubt[] = {
		{CKA_TOKEN, &no, sizeof(no)},
		{CKA_VERIFY, &yes, sizeof(yes)},
		{CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid)},
		{CKA_PUBLIC_EXPONENT, exp, sizeof(exp)},
	};
	CK_ULONG npub = 3;
	/* A session object: it ends with the session at the latest (a crash leaves nothing on the
	 * token).  Sensitive: its value is never readable; extractable only because C_WrapKey
	 * needs it (SoftHSM2 2.6 enforces CKA_EXTRACTABLE and CKA_WRAP_WITH_TRUSTED; see
	 * docs/ca-bridge.md "Wrapped key storage" for what that means here). */
	CK_ATTRIBUTE privt[] = {
		{CKA_TOKEN, &no, sizeof(no)},       {CKA_PRIVATE, &yes, sizeof(yes)},
		{CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &yes, sizeof(yes)},
		{CKA_SIGN, &yes, sizeof(yes)},
	};

	if (alg == CAB_ALG_RSA_3072) {
		pubt[2] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		npub = 4;
	}
	*w = NULL;
	*existed = 0;
	if ((rc = take(p, TOKEN_READ, &s, err)) != 0)
		return rc;
	/* a token pair with this id (made under key_storage = token) stays the key; a half-made
	 * one is destroyed (issue #19).  Both can only come from an earlier call with this id: on
	 * the caller's first one (search 0) the token-wide search is left out (in SoftHSM2 every
	 * C_FindObjectsInit reads the token's object files again: a sixth of a keygen here) */
	*remnants = 0;
	rc = search ? pair_state(p, s, key_id, remnants, err) : 0;
	if (rc == 1) {
		*existed = 1;
		rc = read_pub(p, s, key_id, pub, &got, err);
		goto out;
	}
	if (rc != 0 || (rc = kek_find(p, s, label, want, &kek, kek_version, &cached, err)) != 0)
		goto out;
	if (cached && !kek_is(p, s, kek, label, *kek_version)) {
		/* a kept handle that is no longer this version (destroyed, or its handle given to
		 * another object): wrapping, unlike unwrapping, has no integrity check that would
		 * catch the wrong key, so the handle is checked first */
		kek_remember(p, label, *kek_version, 0);
		if ((rc = kek_find(p, s, label, want, &kek, kek_version, NULL, err)) != 0)
			goto out;
	}
	rv = p->f->C_GenerateKeyPair(s, &mech, pubt, npub, privt, sizeof(privt) / sizeof(privt[0]), &pubh,
				     &privh);
	if (rv != CKR_OK) {
		rc = p11_fail(err, "C_GenerateKeyPair", rv);
		goto out;
	}
	if ((rc = pub_of(p, s, pubh, alg, pub, err)) == 0)
		rc = wrap(p, s, kek, privh, w, wlen, err);
	/* the key's first signature while it is here: no unwrap for it (its CSR; issue #15).  It
	 * only saves work: when it cannot be made, the key is made all the same and the CSR is
	 * signed from the blob later, where the same failure is reported */
	if (rc == 0 && first != NULL) {
		unsigned char md[32];
		struct cab_err scratch = {0};

		if (first->digest(first->ctx, *pub, md, &scratch) != 0 ||
		    sign_obj(p, s, privh, alg, md, &first->sig, &first->siglen, &scratch) != 0) {
			OPENSSL_free(first->sig);
			first->sig = NULL;
			first->siglen = 0;
			ERR_clear_error();
		}
	}
out:
	if (privh != 0)
		p->f->C_DestroyObject(s, privh);
	if (pubh != 0)
		p->f->C_DestroyObject(s, pubh);
	give(p, TOKEN_READ, s);
	return rc;
}

/* unwrap under KEK version `version` of label.  A kept handle may be stale (kek_find: an
 * operator destroyed that version, or the module gave its handle to another object): a
 * failure with it is decided again with the handle a search finds now. */
static int unwrap_under(struct cab_p11 *p, CK_SESSION_HANDLE s, const char *label, int version,
			enum cab_alg alg, const unsigned char *w, size_t wlen, int extractable,
			CK_OBJECT_HANDLE *key, struct cab_err *err)
{
	CK_OBJECT_HANDLE kek;
	int rc, v, cached = 0;

	if ((rc = kek_find(p, s, label, version, &kek, &v, &cached, err)) != 0)
		return rc;
	if ((rc = unwrap(p, s, kek, alg, w, wlen, extractable, key, err)) == 0 || !cached)
		return rc;
	kek_remember(p, label, version, 0);
	if ((rc = kek_find(p, s, label, version, &kek, &v, NULL, err)) != 0)
		return rc;
	return unwrap(p, s, kek, alg, w, wlen, extractable, key, err);
}

int cab_p11_sign_wrapped(struct cab_p11 *p, const char *label, int kek_version, enum cab_alg alg,
			 const unsigned char *w, size_t wlen, const unsigned char dgst[32],
			 unsigned char **sig, size_t *siglen, struct cab_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key = 0;
	int rc;

	if (p == NULL)
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "no PKCS#11 token configured");
	if ((rc = take(p, TOKEN_READ, &s, err)) != 0)
		return rc;
	if ((rc = unwrap_under(p, s, label, kek_version, alg, w, wlen, 0, &key, err)) == 0)
		rc = sign_obj(p, s, key, alg, dgst, sig, siglen, err);
	if (key != 0)
		p->f->C_DestroyObject(s, key);
	give(p, TOKEN_READ, s);
	return rc;
}

int cab_p11_rewrap(struct cab_p11 *p, const char *label, int from, enum cab_alg alg, const unsigned char *w,
		   size_t wlen, unsigned char **out, size_t *outlen, int *to, struct cab_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE cur, key = 0;
	int rc;

	if (p == NULL)
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "no PKCS#11 token configured");
	if ((rc = take(p, TOKEN_READ, &s, err)) != 0)
		return rc;
	if ((rc = kek_find(p, s, label, 0, &cur, to, NULL, err)) == 0 &&
	    (rc = unwrap_under(p, s, label, from, alg, w, wlen, 1, &key, err)) == 0)
		rc = wrap(p, s, cur, key, out, outlen, err);
	if (key != 0)
		p->f->C_DestroyObject(s, key);
	give(p, TOKEN_READ, s);
	return rc;
}

int cab_p11_destroy(struct cab_p11 *p, const char *key_id, int *destroyed, struct cab_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE found[16];
	CK_ULONG n = 0;
	int rc;

	*destroyed = 0;
	if (p == NULL)
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "no PKCS#11 token configured");
	if ((rc = take(p, TOKEN_WRITE, &s, err)) != 0)
		return rc;
	do {
		if ((rc = find_all(p, s, key_id, found, 16, &n, err)) != 0)
			break;
		for (CK_ULONG i = 0; i < n && rc == 0; i++) {
			CK_RV rv = p->f->C_DestroyObject(s, found[i]);

			if (rv != CKR_OK)
				rc = p11_fail(err, "C_DestroyObject", rv);
			else
				(*destroyed)++;
		}
	} while (rc == 0 && n == 16);
	give(p, TOKEN_WRITE, s);
	return rc;
}

int cab_p11_wrap_token(struct cab_p11 *p, const char *key_id, const char *label, EVP_PKEY **pub,
		       enum cab_alg *alg, unsigned char **w, size_t *wlen, int *kek_version,
		       struct cab_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv, kek;
	int rc;

	if (p == NULL)
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11.module", "no PKCS#11 token configured");
	if ((rc = take(p, TOKEN_READ, &s, err)) != 0)
		return rc;
	if ((rc = find_obj(p, s, CKO_PRIVATE_KEY, key_id, &priv, err)) == 0 &&
	    (rc = read_pub(p, s, key_id, pub, alg, err)) == 0 &&
	    (rc = kek_find(p, s, label, 0, &kek, kek_version, NULL, err)) == 0) {
		rc = wrap(p, s, kek, priv, w, wlen, err);
	}
	give(p, TOKEN_READ, s);
	return rc;
}
