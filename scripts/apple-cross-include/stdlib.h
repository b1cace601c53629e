/* Stand-in for the SDK's stdlib.h: see TargetConditionals.h. */
#include <stddef.h>
void abort(void);
void *malloc(size_t);
void free(void *);
