// glibc's allocator tuning (mallopt), which the Glibc module map does not export.
#include <malloc.h>
