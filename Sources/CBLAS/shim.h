#include <cblas.h>
/* LAPACK routines OpenBLAS exports (Fortran calling convention). */
void sgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, float *a, const int *lda,
             float *s, float *u, const int *ldu, float *vt, const int *ldvt, float *work,
             const int *lwork, int *info);
void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a, const int *lda,
             double *s, double *u, const int *ldu, double *vt, const int *ldvt, double *work,
             const int *lwork, int *info);
void openblas_set_num_threads(int num_threads);

/* OpenBLAS picks its kernels for the CPU when it loads. Debian 12's OpenBLAS (0.3.21) does
   not know Intel's Sapphire and Emerald Rapids Xeons and falls back to its oldest x86-64
   kernels ("Prescott", SSE3): the unmixing's sgemm takes twice as long there. The user's
   OPENBLAS_CORETYPE is OpenBLAS's own remedy, read only when it loads; these exported
   functions of a DYNAMIC_ARCH build do the same later. Weak: a build of OpenBLAS for one
   CPU, or another BLAS, does not have them, and then nothing is changed. */
#include <stdlib.h>
#include <strings.h>
char *openblas_get_corename(void) __attribute__((weak));
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));

/* When OpenBLAS chose its fallback kernels on a CPU that runs the AVX-512 (SkylakeX) or
   AVX2 (Haswell) ones, and the user set no OPENBLAS_CORETYPE, selects those; returns the
   kernels selected, or NULL when nothing was changed. Call before any BLAS work. */
static inline const char *mifq_openblas_prefer_cpu_kernels(void) {
#if defined(__x86_64__)
    if (!openblas_get_corename || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return NULL;
    if (getenv("OPENBLAS_CORETYPE")) return NULL;
    const char *now = openblas_get_corename();
    if (!now || strcasecmp(now, "Prescott") != 0) return NULL;
    __builtin_cpu_init();
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want) return NULL;
    setenv("OPENBLAS_CORETYPE", want, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
    const char *after = openblas_get_corename();
    return after && strcasecmp(after, want) == 0 ? want : NULL;
#else
    return NULL;
#endif
}
