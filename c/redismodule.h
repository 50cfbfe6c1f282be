/*
 * The part of the Redis Modules API that redis-multimap uses, declared from the
 * API reference (the comments of Redis's and Valkey's src/module.c).
 *
 * Every API function is a pointer that starts out NULL and is resolved by name at
 * load time through the server's GetApi, under Redis's names (RedisModule_*) or
 * Valkey's (ValkeyModule_*): the same functions, with the same signatures. A
 * function the running server does not export stays NULL, so Rust sees `None`
 * and can fall back (that is how one build serves Redis 6.2 to 8 and Valkey).
 *
 * Exactly one C file (c/shim.c) defines REDISMODULE_IMPLEMENTATION before
 * including this header, which gives the pointers their storage and defines
 * multimap_module_init. Everyone else, bindgen included, sees declarations only.
 */
#ifndef MULTIMAP_REDISMODULE_H
#define MULTIMAP_REDISMODULE_H

#include <stddef.h>
#include <stdint.h>

/* ---- Constants ---------------------------------------------------------- */

#define REDISMODULE_OK 0
#define REDISMODULE_ERR 1

#define REDISMODULE_APIVER_1 1

/* Must stay at or above the highest field of RedisModuleTypeMethods we set;
 * older servers ignore the fields they do not know. */
#define REDISMODULE_TYPE_METHOD_VERSION 4

#define REDISMODULE_READ (1 << 0)
#define REDISMODULE_WRITE (1 << 1)
#define REDISMODULE_OPEN_KEY_NOTOUCH (1 << 16)

#define REDISMODULE_KEYTYPE_EMPTY 0
#define REDISMODULE_KEYTYPE_STRING 1
#define REDISMODULE_KEYTYPE_LIST 2
#define REDISMODULE_KEYTYPE_HASH 3
#define REDISMODULE_KEYTYPE_SET 4
#define REDISMODULE_KEYTYPE_ZSET 5
#define REDISMODULE_KEYTYPE_MODULE 6
#define REDISMODULE_KEYTYPE_STREAM 7

#define REDISMODULE_POSTPONED_LEN -1

#define REDISMODULE_NOTIFY_GENERIC (1 << 2)
#define REDISMODULE_NOTIFY_MODULE (1 << 13)
#define REDISMODULE_NOTIFY_LOADED (1 << 12)

/* RedisModule_GetContextFlags: the command runs from a script, or inside
 * MULTI/EXEC. */
#define REDISMODULE_CTX_FLAGS_LUA (1 << 0)
#define REDISMODULE_CTX_FLAGS_MULTI (1 << 1)
#define REDISMODULE_CTX_FLAGS_MASTER (1 << 2)
#define REDISMODULE_CTX_FLAGS_REPLICATED (1 << 12)
#define REDISMODULE_CTX_FLAGS_LOADING (1 << 13)
/* RedisModule_GetContextFlags: the server runs as a fork child (Redis 6.2+). */
#define REDISMODULE_CTX_FLAGS_IS_CHILD (1 << 20)
/* RedisModule_GetContextFlags: the calling client may not block (it runs
 * inside MULTI/EXEC, a script, or RedisModule_Call; Redis 6.2+). */
#define REDISMODULE_CTX_FLAGS_DENY_BLOCKING (1 << 21)

#define REDISMODULE_OPTIONS_HANDLE_IO_ERRORS (1 << 0)
#define REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED (1 << 1)

/* Valkey 9.0+: the module copes with keys of a slot arriving through atomic slot
 * migration (CLUSTER MIGRATESLOTS) before the slot changes owner. The bit means
 * this on Valkey only; a server lists the options it knows in
 * GetModuleOptionsAll. */
#define VALKEYMODULE_OPTIONS_HANDLE_ATOMIC_SLOT_MIGRATION (1 << 5)

/* Command metadata for RedisModule_SetCommandInfo (Redis 7.0+). */
#define REDISMODULE_CMD_KEY_RO (1ULL << 0)
#define REDISMODULE_CMD_KEY_RW (1ULL << 1)
#define REDISMODULE_CMD_KEY_OW (1ULL << 2)
#define REDISMODULE_CMD_KEY_RM (1ULL << 3)
#define REDISMODULE_CMD_KEY_ACCESS (1ULL << 4)
#define REDISMODULE_CMD_KEY_UPDATE (1ULL << 5)
#define REDISMODULE_CMD_KEY_INSERT (1ULL << 6)
#define REDISMODULE_CMD_KEY_DELETE (1ULL << 7)

#define REDISMODULE_CMD_ARG_NONE 0
#define REDISMODULE_CMD_ARG_OPTIONAL (1 << 0)
#define REDISMODULE_CMD_ARG_MULTIPLE (1 << 1)

/* Server events a module may subscribe to, and the subevent it needs. */
#define REDISMODULE_EVENT_FLUSHDB 2
#define REDISMODULE_EVENT_SWAPDB 11
#define REDISMODULE_SUBEVENT_FLUSHDB_END 1

/* ---- Opaque handles ----------------------------------------------------- */

typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleKey RedisModuleKey;
typedef struct RedisModuleIO RedisModuleIO;
typedef struct RedisModuleBlockedClient RedisModuleBlockedClient;
typedef struct RedisModuleType RedisModuleType;
typedef struct RedisModuleDigest RedisModuleDigest;
typedef struct RedisModuleKeyOptCtx RedisModuleKeyOptCtx;
typedef struct RedisModuleDefragCtx RedisModuleDefragCtx;
typedef struct RedisModuleCommand RedisModuleCommand;
typedef struct RedisModuleInfoCtx RedisModuleInfoCtx;

/* ---- Callbacks ---------------------------------------------------------- */

typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

typedef void *(*RedisModuleTypeLoadFunc)(RedisModuleIO *rdb, int encver);
typedef void (*RedisModuleTypeSaveFunc)(RedisModuleIO *rdb, void *value);
typedef int (*RedisModuleTypeAuxLoadFunc)(RedisModuleIO *rdb, int encver, int when);
typedef void (*RedisModuleTypeAuxSaveFunc)(RedisModuleIO *rdb, int when);
typedef void (*RedisModuleTypeRewriteFunc)(RedisModuleIO *aof, RedisModuleString *key, void *value);
typedef size_t (*RedisModuleTypeMemUsageFunc)(const void *value);
typedef size_t (*RedisModuleTypeMemUsageFunc2)(RedisModuleKeyOptCtx *ctx, const void *value, size_t sample_size);
typedef void (*RedisModuleTypeDigestFunc)(RedisModuleDigest *digest, void *value);
typedef void (*RedisModuleTypeFreeFunc)(void *value);
typedef size_t (*RedisModuleTypeFreeEffortFunc)(RedisModuleString *key, const void *value);
typedef size_t (*RedisModuleTypeFreeEffortFunc2)(RedisModuleKeyOptCtx *ctx, const void *value);
typedef void (*RedisModuleTypeUnlinkFunc)(RedisModuleString *key, const void *value);
typedef void (*RedisModuleTypeUnlinkFunc2)(RedisModuleKeyOptCtx *ctx, const void *value);
typedef void *(*RedisModuleTypeCopyFunc)(RedisModuleString *fromkey, RedisModuleString *tokey, const void *value);
typedef void *(*RedisModuleTypeCopyFunc2)(RedisModuleKeyOptCtx *ctx, const void *value);
typedef int (*RedisModuleTypeDefragFunc)(RedisModuleDefragCtx *ctx, RedisModuleString *key, void **value);

typedef uint64_t RedisModuleTimerID;
typedef void (*RedisModuleTimerProc)(RedisModuleCtx *ctx, void *data);
typedef int (*RedisModuleNotificationFunc)(RedisModuleCtx *ctx, int type, const char *event,
                                           RedisModuleString *key);

/* Names a server event: which one, and the version of the data it passes. */
typedef struct RedisModuleEvent {
    uint64_t id;
    uint64_t dataver;
} RedisModuleEvent;

typedef void (*RedisModuleEventCallback)(RedisModuleCtx *ctx, RedisModuleEvent eid,
                                         uint64_t subevent, void *data);

/* What REDISMODULE_EVENT_FLUSHDB passes (version 1): dbnum -1 means all. */
typedef struct RedisModuleFlushInfo {
    uint64_t version;
    int32_t sync;
    int32_t dbnum;
} RedisModuleFlushInfo;

/* What REDISMODULE_EVENT_SWAPDB passes (version 1). */
typedef struct RedisModuleSwapDbInfo {
    uint64_t version;
    int32_t dbnum_first;
    int32_t dbnum_second;
} RedisModuleSwapDbInfo;

/* Writes the module's INFO sections; `for_crash_report` is set when the server
 * is dying and logs INFO as it goes. */
typedef void (*RedisModuleInfoFunc)(RedisModuleInfoCtx *ctx, int for_crash_report);

/* Field order is ABI: the server reads it by position, up to `version`. */
typedef struct RedisModuleTypeMethods {
    uint64_t version;
    RedisModuleTypeLoadFunc rdb_load;
    RedisModuleTypeSaveFunc rdb_save;
    RedisModuleTypeRewriteFunc aof_rewrite;
    RedisModuleTypeMemUsageFunc mem_usage;
    RedisModuleTypeDigestFunc digest;
    RedisModuleTypeFreeFunc free;
    RedisModuleTypeAuxLoadFunc aux_load;
    RedisModuleTypeAuxSaveFunc aux_save;
    int aux_save_triggers;
    RedisModuleTypeFreeEffortFunc free_effort;
    RedisModuleTypeUnlinkFunc unlink;
    RedisModuleTypeCopyFunc copy;
    RedisModuleTypeDefragFunc defrag;
    RedisModuleTypeMemUsageFunc2 mem_usage2;
    RedisModuleTypeFreeEffortFunc2 free_effort2;
    RedisModuleTypeUnlinkFunc2 unlink2;
    RedisModuleTypeCopyFunc2 copy2;
} RedisModuleTypeMethods;

/* ---- Command metadata --------------------------------------------------
 * Redis walks the arrays below with the element sizes given in
 * RedisModuleCommandInfoVersion and reads only the fields it knows, so a
 * struct may carry fields newer than the running server. */

typedef enum {
    REDISMODULE_ARG_TYPE_STRING,
    REDISMODULE_ARG_TYPE_INTEGER,
    REDISMODULE_ARG_TYPE_DOUBLE,
    REDISMODULE_ARG_TYPE_KEY,
    REDISMODULE_ARG_TYPE_PATTERN,
    REDISMODULE_ARG_TYPE_UNIX_TIME,
    REDISMODULE_ARG_TYPE_PURE_TOKEN,
    REDISMODULE_ARG_TYPE_ONEOF,
    REDISMODULE_ARG_TYPE_BLOCK
} RedisModuleCommandArgType;

typedef enum {
    REDISMODULE_KSPEC_BS_INVALID = 0,
    REDISMODULE_KSPEC_BS_UNKNOWN,
    REDISMODULE_KSPEC_BS_INDEX,
    REDISMODULE_KSPEC_BS_KEYWORD
} RedisModuleKeySpecBeginSearchType;

typedef enum {
    REDISMODULE_KSPEC_FK_OMITTED = 0,
    REDISMODULE_KSPEC_FK_UNKNOWN,
    REDISMODULE_KSPEC_FK_RANGE,
    REDISMODULE_KSPEC_FK_KEYNUM
} RedisModuleKeySpecFindKeysType;

typedef struct RedisModuleCommandArg {
    const char *name;
    RedisModuleCommandArgType type;
    int key_spec_index; /* for KEY arguments: index into key_specs; else -1 */
    const char *token;
    const char *summary;
    const char *since;
    int flags; /* REDISMODULE_CMD_ARG_* */
    const char *deprecated_since;
    struct RedisModuleCommandArg *subargs;
    const char *display_text; /* read by Redis 7.2+ */
} RedisModuleCommandArg;

typedef struct {
    const char *since;
    const char *changes;
} RedisModuleCommandHistoryEntry;

typedef struct {
    const char *notes;
    uint64_t flags; /* REDISMODULE_CMD_KEY_* */
    RedisModuleKeySpecBeginSearchType begin_search_type;
    union {
        struct {
            int pos;
        } index;
        struct {
            const char *keyword;
            int startfrom;
        } keyword;
    } bs;
    RedisModuleKeySpecFindKeysType find_keys_type;
    union {
        struct {
            int lastkey;
            int keystep;
            int limit;
        } range;
        struct {
            int keynumidx;
            int firstkey;
            int keystep;
        } keynum;
    } fk;
} RedisModuleCommandKeySpec;

typedef struct {
    int version;
    size_t sizeof_historyentry;
    size_t sizeof_keyspec;
    size_t sizeof_arg;
} RedisModuleCommandInfoVersion;

typedef struct {
    const RedisModuleCommandInfoVersion *version;
    const char *summary;
    const char *complexity;
    const char *since;
    RedisModuleCommandHistoryEntry *history; /* zero-terminated array, or NULL */
    const char *tips;
    int arity;
    RedisModuleCommandKeySpec *key_specs; /* zero-terminated array */
    RedisModuleCommandArg *args;          /* zero-terminated array */
} RedisModuleCommandInfo;

/* ---- API functions -------------------------------------------------------
 * One row per function: X(return type, name without the RedisModule_ prefix,
 * parameter list). The list drives the declarations, the definitions and the
 * lookup, so a function is named exactly once. */

#define MULTIMAP_REDISMODULE_API(X)                                                                \
    X(void *, Alloc, (size_t bytes))                                                               \
    X(void *, Calloc, (size_t nmemb, size_t size))                                                 \
    X(void *, Realloc, (void *ptr, size_t bytes))                                                  \
    X(void, Free, (void *ptr))                                                                     \
    X(size_t, MallocSize, (void *ptr))                                                             \
    X(void, SetModuleAttribs, (RedisModuleCtx * ctx, const char *name, int ver, int apiver))       \
    X(int, IsModuleNameBusy, (const char *name))                                                   \
    X(void, SetModuleOptions, (RedisModuleCtx * ctx, int options))                                 \
    X(int, GetModuleOptionsAll, (void))                                                            \
    X(int, CreateCommand,                                                                          \
      (RedisModuleCtx * ctx, const char *name, RedisModuleCmdFunc cmdfunc, const char *strflags,   \
       int firstkey, int lastkey, int keystep))                                                    \
    X(RedisModuleCommand *, GetCommand, (RedisModuleCtx * ctx, const char *name))                 \
    X(int, SetCommandInfo, (RedisModuleCommand * command, const RedisModuleCommandInfo *info))     \
    X(int, AddACLCategory, (RedisModuleCtx * ctx, const char *name))                               \
    X(int, SetCommandACLCategories, (RedisModuleCommand * command, const char *aclflags))          \
    X(void, Log, (RedisModuleCtx * ctx, const char *level, const char *fmt, ...))                  \
    X(void, LogIOError, (RedisModuleIO * io, const char *level, const char *fmt, ...))             \
    X(int, WrongArity, (RedisModuleCtx * ctx))                                                     \
    X(int, ReplyWithLongLong, (RedisModuleCtx * ctx, long long ll))                                \
    X(int, ReplyWithError, (RedisModuleCtx * ctx, const char *err))                                \
    X(int, ReplyWithSimpleString, (RedisModuleCtx * ctx, const char *msg))                         \
    X(int, ReplyWithArray, (RedisModuleCtx * ctx, long len))                                       \
    X(int, ReplyWithEmptyArray, (RedisModuleCtx * ctx))                                            \
    X(int, ReplyWithNull, (RedisModuleCtx * ctx))                                                  \
    X(int, ReplyWithNullArray, (RedisModuleCtx * ctx))                                             \
    X(int, ReplyWithMap, (RedisModuleCtx * ctx, long len))                                         \
    X(int, ReplyWithStringBuffer, (RedisModuleCtx * ctx, const char *buf, size_t len))             \
    X(const char *, StringPtrLen, (const RedisModuleString *str, size_t *len))                     \
    X(RedisModuleString *, CreateString, (RedisModuleCtx * ctx, const char *ptr, size_t len))      \
    X(void, FreeString, (RedisModuleCtx * ctx, RedisModuleString *str))                            \
    X(int, StringToDouble, (const RedisModuleString *str, double *d))                              \
    X(RedisModuleKey *, OpenKey, (RedisModuleCtx * ctx, RedisModuleString *keyname, int mode))     \
    X(void, CloseKey, (RedisModuleKey * key))                                                      \
    X(int, KeyType, (RedisModuleKey * key))                                                        \
    X(int, DeleteKey, (RedisModuleKey * key))                                                      \
    X(int, ReplicateVerbatim, (RedisModuleCtx * ctx))                                              \
    X(int, Replicate, (RedisModuleCtx * ctx, const char *cmdname, const char *fmt, ...))           \
    X(RedisModuleBlockedClient *, BlockClientOnKeys,                                               \
      (RedisModuleCtx * ctx, RedisModuleCmdFunc reply_callback,                                    \
       RedisModuleCmdFunc timeout_callback, void (*free_privdata)(RedisModuleCtx *, void *),       \
       long long timeout_ms, RedisModuleString **keys, int numkeys, void *privdata))               \
    X(void, SignalKeyAsReady, (RedisModuleCtx * ctx, RedisModuleString *key))                      \
    X(int, SignalModifiedKey, (RedisModuleCtx * ctx, RedisModuleString *keyname))                  \
    X(int, NotifyKeyspaceEvent,                                                                    \
      (RedisModuleCtx * ctx, int type, const char *event, RedisModuleString *key))                 \
    X(RedisModuleType *, CreateDataType,                                                           \
      (RedisModuleCtx * ctx, const char *name, int encver, RedisModuleTypeMethods *typemethods))   \
    X(int, ModuleTypeSetValue, (RedisModuleKey * key, RedisModuleType *mt, void *value))           \
    X(RedisModuleType *, ModuleTypeGetType, (RedisModuleKey * key))                                \
    X(void *, ModuleTypeGetValue, (RedisModuleKey * key))                                          \
    X(int, IsIOError, (RedisModuleIO * io))                                                        \
    X(void, SaveUnsigned, (RedisModuleIO * io, uint64_t value))                                    \
    X(uint64_t, LoadUnsigned, (RedisModuleIO * io))                                                \
    X(void, SaveStringBuffer, (RedisModuleIO * io, const char *str, size_t len))                   \
    X(void, SaveDouble, (RedisModuleIO * io, double value))                                        \
    X(RedisModuleCtx *, GetContextFromIO, (RedisModuleIO * io))                                    \
    X(int, GetContextFlags, (RedisModuleCtx * ctx))                                                \
    X(int, ExitFromChild, (int retcode))                                                           \
    X(char *, LoadStringBuffer, (RedisModuleIO * io, size_t *lenptr))                              \
    X(void, EmitAOF, (RedisModuleIO * io, const char *cmdname, const char *fmt, ...))              \
    X(void, DigestAddStringBuffer, (RedisModuleDigest * md, const char *ele, size_t len))          \
    X(void, DigestEndSequence, (RedisModuleDigest * md))                                           \
    X(void *, DefragAlloc, (RedisModuleDefragCtx * ctx, void *ptr))                                \
    X(int, DefragShouldStop, (RedisModuleDefragCtx * ctx))                                         \
    X(int, DefragCursorSet, (RedisModuleDefragCtx * ctx, unsigned long cursor))                    \
    X(int, DefragCursorGet, (RedisModuleDefragCtx * ctx, unsigned long *cursor))                   \
    X(int, RegisterInfoFunc, (RedisModuleCtx * ctx, RedisModuleInfoFunc cb))                       \
    X(int, InfoAddSection, (RedisModuleInfoCtx * ctx, const char *name))                           \
    X(int, InfoAddFieldLongLong, (RedisModuleInfoCtx * ctx, const char *field, long long value))  \
    X(long long, Milliseconds, (void))                                                             \
    X(RedisModuleTimerID, CreateTimer,                                                             \
      (RedisModuleCtx * ctx, long long period, RedisModuleTimerProc callback, void *data))        \
    X(int, GetSelectedDb, (RedisModuleCtx * ctx))                                                  \
    X(int, SelectDb, (RedisModuleCtx * ctx, int newid))                                            \
    X(int, SubscribeToKeyspaceEvents,                                                              \
      (RedisModuleCtx * ctx, int types, RedisModuleNotificationFunc callback))                     \
    X(int, SubscribeToServerEvent,                                                                 \
      (RedisModuleCtx * ctx, RedisModuleEvent event, RedisModuleEventCallback callback))       \
    X(const RedisModuleString *, GetKeyNameFromIO, (RedisModuleIO * io))                           \
    X(int, GetDbIdFromIO, (RedisModuleIO * io))                                                    \
    X(const RedisModuleString *, GetToKeyNameFromOptCtx, (RedisModuleKeyOptCtx * ctx))             \
    X(int, GetToDbIdFromOptCtx, (RedisModuleKeyOptCtx * ctx))

#define MULTIMAP_DECLARE_API_POINTER(ret, name, params) extern ret(*RedisModule_##name) params;
MULTIMAP_REDISMODULE_API(MULTIMAP_DECLARE_API_POINTER)

/* Resolves every API pointer under the server's names for it, `api_prefix`
 * ("RedisModule_" or "ValkeyModule_") followed by the function's name, then
 * registers the module under `name`. */
int multimap_module_init(RedisModuleCtx *ctx, const char *api_prefix, const char *name, int ver,
                         int apiver);

#ifdef REDISMODULE_IMPLEMENTATION

#include <stdio.h>

#define MULTIMAP_DEFINE_API_POINTER(ret, name, params) ret(*RedisModule_##name) params = NULL;
MULTIMAP_REDISMODULE_API(MULTIMAP_DEFINE_API_POINTER)

typedef int (*multimap_get_api_fn)(const char *, void *);

/* A function the server does not export leaves its pointer NULL. */
static void multimap_resolve(multimap_get_api_fn get_api, const char *prefix, const char *name,
                             void *pointer) {
    char full_name[128];
    int len = snprintf(full_name, sizeof full_name, "%s%s", prefix, name);
    if (len > 0 && (size_t)len < sizeof full_name) get_api(full_name, pointer);
}

#define MULTIMAP_RESOLVE_API_POINTER(ret, name, params)                                            \
    multimap_resolve(get_api, api_prefix, #name, (void *)&RedisModule_##name);

int multimap_module_init(RedisModuleCtx *ctx, const char *api_prefix, const char *name, int ver,
                         int apiver) {
    /* The server hands every module its lookup function as the first word of the
     * load context: that is the whole ABI handshake. */
    multimap_get_api_fn get_api = (multimap_get_api_fn)((void **)ctx)[0];
    MULTIMAP_REDISMODULE_API(MULTIMAP_RESOLVE_API_POINTER)
    if (RedisModule_IsModuleNameBusy && RedisModule_IsModuleNameBusy(name)) return REDISMODULE_ERR;
    RedisModule_SetModuleAttribs(ctx, name, ver, apiver);
    return REDISMODULE_OK;
}

#endif /* REDISMODULE_IMPLEMENTATION */

#endif /* MULTIMAP_REDISMODULE_H */
