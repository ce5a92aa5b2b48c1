// A release build of mifq on x86-64 is compiled for AVX2 (Package.swift). Run on a CPU
// without it, its first vector instruction would kill it with SIGILL; this check runs before
// main, in code compiled for any x86-64, and stops with one line instead.
#include "CPUCheck.h"
#include <stdio.h>
#include <stdlib.h>

int mifq_cpu_supported(void) {
#if defined(__x86_64__) && defined(MIFQ_NEEDS_X86_64_V3)
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v3");
#else
    return 1;
#endif
}

__attribute__((constructor)) static void mifq_check_cpu(void) {
    if (!mifq_cpu_supported()) {
        fputs("mifq: error: this build needs an x86-64 CPU with AVX2 (Intel Haswell, AMD Zen or later); "
              "rebuild it for any x86-64 with MIFQ_PORTABLE=1 swift build -c release\n", stderr);
        exit(1);
    }
}
