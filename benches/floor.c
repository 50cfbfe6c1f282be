/* The module floor: a module whose commands do only what any command on a key
 * of a module type must do, so that `make bench` can tell the cost of the
 * Modules API around a command (dispatch, opening and closing the key, the
 * reply, and for a write the signals, the event and the replication) from
 * the cost of the work a MultiMap command does.
 *
 * Each command opens its key (a MultiMap key: the bench points it at one),
 * checks that it holds a module type and takes its value, as a MultiMap
 * command must before it can look anything up, then replies with the shape
 * of the command it stands for. It ignores its other arguments, but takes as
 * many, so the server parses the same request. The bench compiles this file
 * with `cc` against c/redismodule.h and loads it beside the module.
 *
 *   FLOOR.READ.INTEGER key [arg ...]   LEN, EXISTS, CARD, SIZE
 *   FLOOR.READ.BULK key [arg ...]      INDEX
 *   FLOOR.READ.ARRAY key [arg ...]     GET of a one-value field
 *   FLOOR.WRITE.INTEGER key [arg ...]  REPLACE: a write that adds values, so
 *                                      it also wakes clients blocked on the key
 *   FLOOR.WRITE.BULK key [arg ...]     POP: a write that only takes values away
 */
#define REDISMODULE_IMPLEMENTATION
#include "redismodule.h"

/* As long as the values the bench stores. */
static const char VALUE[] = "val:000000000000";
#define VALUE_LEN (sizeof VALUE - 1)

enum shape { INTEGER, BULK, ARRAY };

static void reply(RedisModuleCtx *ctx, enum shape shape) {
    switch (shape) {
    case INTEGER:
        /* Not 0 or 1, which Redis answers with a shared reply: the counts
         * the commands it stands for reply are written out digit by digit. */
        RedisModule_ReplyWithLongLong(ctx, 100);
        break;
    case BULK:
        RedisModule_ReplyWithStringBuffer(ctx, VALUE, VALUE_LEN);
        break;
    case ARRAY:
        RedisModule_ReplyWithArray(ctx, 1);
        RedisModule_ReplyWithStringBuffer(ctx, VALUE, VALUE_LEN);
        break;
    }
}

/* Opens the key and takes its value; NULL (with the error replied) unless it
 * holds a module type. */
static RedisModuleKey *open_value(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                                  int mode) {
    if (argc < 2) {
        RedisModule_WrongArity(ctx);
        return NULL;
    }
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], mode);
    if (RedisModule_ModuleTypeGetType(key) == NULL ||
        RedisModule_ModuleTypeGetValue(key) == NULL) {
        RedisModule_CloseKey(key);
        RedisModule_ReplyWithError(ctx, "ERR the floor needs a key of a module type");
        return NULL;
    }
    return key;
}

static int read_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                        enum shape shape) {
    RedisModuleKey *key = open_value(ctx, argv, argc, REDISMODULE_READ);
    if (key == NULL) return REDISMODULE_OK;
    RedisModule_CloseKey(key);
    reply(ctx, shape);
    return REDISMODULE_OK;
}

static int write_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                         enum shape shape, int adds_values) {
    RedisModuleKey *key = open_value(ctx, argv, argc, REDISMODULE_READ | REDISMODULE_WRITE);
    if (key == NULL) return REDISMODULE_OK;
    RedisModule_CloseKey(key);
    reply(ctx, shape);
    RedisModule_SignalModifiedKey(ctx, argv[1]);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, "floor", argv[1]);
    RedisModule_ReplicateVerbatim(ctx);
    if (adds_values) RedisModule_SignalKeyAsReady(ctx, argv[1]);
    return REDISMODULE_OK;
}

static int read_integer(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return read_command(ctx, argv, argc, INTEGER);
}

static int read_bulk(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return read_command(ctx, argv, argc, BULK);
}

static int read_array(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return read_command(ctx, argv, argc, ARRAY);
}

static int write_integer(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return write_command(ctx, argv, argc, INTEGER, 1);
}

static int write_bulk(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return write_command(ctx, argv, argc, BULK, 0);
}

static int load(RedisModuleCtx *ctx, const char *api_prefix) {
    if (multimap_module_init(ctx, api_prefix, "multimapfloor", 1, REDISMODULE_APIVER_1) ==
        REDISMODULE_ERR) {
        return REDISMODULE_ERR;
    }
    /* As the module: a write signals its key itself. */
    RedisModule_SetModuleOptions(ctx, REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED);
    struct {
        const char *name;
        RedisModuleCmdFunc handler;
        const char *flags;
    } commands[] = {
        {"floor.read.integer", read_integer, "readonly fast"},
        {"floor.read.bulk", read_bulk, "readonly fast"},
        {"floor.read.array", read_array, "readonly fast"},
        {"floor.write.integer", write_integer, "write fast"},
        {"floor.write.bulk", write_bulk, "write fast"},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (RedisModule_CreateCommand(ctx, commands[i].name, commands[i].handler,
                                      commands[i].flags, 1, 1, 1) == REDISMODULE_ERR) {
            return REDISMODULE_ERR;
        }
    }
    return REDISMODULE_OK;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    return load(ctx, "RedisModule_");
}

int ValkeyModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    return load(ctx, "ValkeyModule_");
}
