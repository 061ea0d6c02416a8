/*
 * safetext.h - text that is safe to put on a person's terminal (issue #20, item 4).
 *
 * Names and free text come from shops, ident providers and support users.  Printed raw, an
 * ESC sequence in a first name retitles or clears the support person's terminal, a CR or LF
 * fakes output lines, and a bidi override (U+202E) shows "gpj.exe" as "exe.jpg".  So
 * anything that is not plain printable text is shown escaped instead:
 *   C0 controls and DEL      \n \r \t, others \xNN   (ESC is \x1b)
 *   invalid UTF-8 bytes      \xNN
 *   C1 controls, format characters (bidi controls, zero-width), line/paragraph separators,
 *   private use, unassigned and non-characters    \uXXXX or \UXXXXXXXX
 *   the backslash itself     \\   (so an escape shown can never be faked by the text)
 * The result is valid UTF-8 of printable characters only.  Pure, thread-safe.
 */
#ifndef RA_SAFETEXT_H
#define RA_SAFETEXT_H

#include <stddef.h>

/* The escaped form of len bytes at in (NUL-terminated; caller frees).  NULL only without
 * memory. */
char *safetext_escape(const char *in, size_t len);

/* 1 when safetext_escape would change nothing in the NUL-terminated s (no backslash counted:
 * it is printable), else 0.  For input checks: a name with a control character is refused. */
int safetext_is_clean(const char *s);

/* For input checks of names and free text (issue #20): 0 when s is UTF-8 without C0/C1
 * controls (tab and newline included), DEL, surrogates, private use, unassigned code points
 * or noncharacters, line/paragraph separators and bidi embeddings/overrides/isolates; else -1
 * with what (cap bytes) naming the first one: "a control character (U+001B) at byte 0". */
int safetext_check_field(const char *s, char *what, size_t cap);

/* Display columns of the NUL-terminated UTF-8 text s (East Asian wide characters count 2,
 * combining marks 0).  Meant for text that safetext_escape produced. */
size_t safetext_width(const char *s);

/* The longest prefix of s (whole characters) that takes at most cols columns, followed by
 * "…" when s was cut (the ellipsis counts one column and is inside cols).  Caller frees. */
char *safetext_fit(const char *s, size_t cols);

#endif
