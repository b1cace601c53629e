/* Stand-in for the SDK's assert.h: see TargetConditionals.h. */
#define assert(e) ((void)0)
#define static_assert _Static_assert
