/* The module's C entry point: Redis looks up RedisModule_OnLoad by name. It binds
 * the API and hands over to Rust; everything else lives in Rust. */
#define REDISMODULE_IMPLEMENTATION
#include "redismodule.h"

int multimap_on_load(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_Init(ctx, "multimap", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR) {
        return REDISMODULE_ERR;
    }
    return multimap_on_load(ctx, argv, argc);
}
