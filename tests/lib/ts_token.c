/*
 * ts_token.c - test helper: a throwaway SoftHSM2 token (see ts_token.h).
 */
#include "tests/lib/ts_token.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int run(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int ts_token_init(const char *dir, const char *label, const char *so_pin, const char *pin)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tokens", dir);
	if (mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0)
		return -1;
	if (mkdir(path, 0700) != 0 && access(path, W_OK) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
	if (fclose(f) != 0 || setenv("SOFTHSM2_CONF", path, 1) != 0)
		return -1;
	char *argv[] = {"softhsm2-util", "--init-token", "--free", "--label",   (char *)label,
			"--so-pin",      (char *)so_pin, "--pin",  (char *)pin, NULL};
	return run(argv);
}

const char *ts_softhsm_module(void)
{
	static const char *const candidates[] = {
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
	};
	const char *env = getenv("SOFTHSM2_MODULE");

	if (env != NULL && env[0] != '\0')
		return env;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		if (access(candidates[i], R_OK) == 0)
			return candidates[i];
	}
	return candidates[0];
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int ts_rmtree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* pkcs11-tool (OpenSC) on the token labelled label, logged in with pin, plus args. */
static int p11tool(const char *label, const char *pin, const char *a1, const char *a2, const char *a3,
		   const char *a4, const char *a5, const char *a6, const char *a7, const char *a8)
{
	char *argv[] = {"pkcs11-tool",   "--module",    (char *)ts_softhsm_module(),
			"--token-label", (char *)label, "--login",
			"--pin",         (char *)pin,   (char *)a1,
			(char *)a2,      (char *)a3,    (char *)a4,
			(char *)a5,      (char *)a6,    (char *)a7,
			(char *)a8,      NULL};

	return run(argv);
}

/* id as pkcs11-tool's --id wants it (hex of its bytes); -1 when it does not fit cap. */
static int id_hex(const char *id, char *hex, size_t cap)
{
	size_t n = strlen(id);

	if (2 * n + 1 > cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)id[i]);
	hex[2 * n] = '\0';
	return 0;
}

/* pkcs11-tool op a1 a2 on the secret key labelled key_label with CKA_ID id. */
static int secret_op(const char *label, const char *pin, const char *op, const char *a1, const char *a2,
		     const char *key_label, const char *id)
{
	char hex[40];

	if (id_hex(id, hex, sizeof(hex)) != 0)
		return -1;
	return p11tool(label, pin, op, a1, a2, "--label", key_label, "--id", hex, NULL);
}

int ts_token_delete_secret(const char *label, const char *pin, const char *key_label, const char *id)
{
	return secret_op(label, pin, "--delete-object", "--type", "secrkey", key_label, id);
}

int ts_token_secret_make(const char *label, const char *pin, const char *key_label, const char *id)
{
	return secret_op(label, pin, "--keygen", "--key-type", "AES:32", key_label, id);
}

int ts_token_remnant(const char *label, const char *pin, const char *id, int publics)
{
	char hex[140];

	if (id_hex(id, hex, sizeof(hex)) != 0)
		return -1;
	for (int i = 0; i < publics; i++) {
		if (p11tool(label, pin, "--keypairgen", "--key-type", "EC:prime256v1", "--id", hex, NULL,
			    NULL, NULL) != 0)
			return -1;
		/* the private half is what the crash did not write */
		if (p11tool(label, pin, "--delete-object", "--type", "privkey", "--id", hex, NULL, NULL,
			    NULL) != 0)
			return -1;
	}
	return 0;
}
