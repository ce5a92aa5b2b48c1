#ifndef MIFQ_CPU_CHECK_H
#define MIFQ_CPU_CHECK_H
/// 1 when this CPU runs the build's instructions (always 1 for a portable or non-x86 build).
/// A constructor has already stopped the program with a one-line error when it is 0.
int mifq_cpu_supported(void);
#endif
