# san-report.awk - exit 0 when a test's output holds a sanitizer report that is the
# project's: any AddressSanitizer error, any UBSan "runtime error:", or a leak with at least
# one frame outside Criterion, libc and the sanitizer runtime.  Criterion's runner itself
# now and then leaks a small block at exit (every frame inside libcriterion.so); that is
# not ours, and a suppression cannot say "only when all frames are Criterion's" (a
# `leak:libcriterion.so` pattern matches every leak made inside a test), so it is sorted
# out here.  Exit 1: nothing of ours.
/ERROR: AddressSanitizer/ && !/detected memory leaks/ { bad = 1 }
/runtime error:/ { bad = 1 }
/^(Direct|Indirect) leak of/ { inleak = 1; own = 0; next }
inleak && /^ *#[0-9]+ / {
	if ($0 !~ /libcriterion\.so|libsanitizer|asan_|lsan_|libc\.so|ld-linux/)
		own = 1
	next
}
inleak {
	if (own)
		bad = 1
	inleak = 0
}
END {
	if (inleak && own)
		bad = 1
	exit bad ? 0 : 1
}
