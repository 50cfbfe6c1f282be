/* The module's C entry points. Redis looks up RedisModule_OnLoad by name;
 * Valkey looks up ValkeyModule_OnLoad first and takes RedisModule_OnLoad for a
 * legacy Redis module. Each binds the API under its server's names and hands
 * over to Rust; everything else lives in Rust. */
#define REDISMODULE_IMPLEMENTATION
#include "redismodule.h"

int multimap_on_load(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int valkey);

static int load(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, const char *api_prefix,
                int valkey) {
    if (multimap_module_init(ctx, api_prefix, "multimap", 1, REDISMODULE_APIVER_1) ==
        REDISMODULE_ERR) {
        return REDISMODULE_ERR;
    }
    return multimap_on_load(ctx, argv, argc, valkey);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return load(ctx, argv, argc, "RedisModule_", 0);
}

int ValkeyModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return load(ctx, argv, argc, "ValkeyModule_", 1);
}
