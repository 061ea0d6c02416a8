/*
 * version.h - the version of this build, for `ra --version` and `ractl --version`.  The
 * Makefile generates the definition (build/gen/version.c) from `git describe`, or from
 * VERSION=... on its command line (a release or package build without git).
 */
#ifndef RA_VERSION_H
#define RA_VERSION_H

/* "0.1.0", "d7ff6eb" or "d7ff6eb-dirty"; never NULL. */
const char *version_string(void);

#endif
