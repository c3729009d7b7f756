/* Error codes and their names. */
#include "cairn/base.h"

static const char *const wire_names[CAIRN_E_MAX + 1] = {
    [CAIRN_E_PROTOCOL_VIOLATION] = "PROTOCOL_VIOLATION",
    [CAIRN_E_BAD_MAGIC] = "BAD_MAGIC",
    [CAIRN_E_FRAME_TOO_LARGE] = "FRAME_TOO_LARGE",
    [CAIRN_E_UNKNOWN_TYPE] = "UNKNOWN_TYPE",
    [CAIRN_E_MALFORMED] = "MALFORMED",
    [CAIRN_E_INVALID_FIELD] = "INVALID_FIELD",
    [CAIRN_E_NON_CANONICAL] = "NON_CANONICAL",
    [CAIRN_E_UNEXPECTED_MESSAGE] = "UNEXPECTED_MESSAGE",
    [CAIRN_E_VERSION_MISMATCH] = "VERSION_MISMATCH",
    [CAIRN_E_WRONG_NETWORK] = "WRONG_NETWORK",
    [CAIRN_E_SELF_CONNECTION] = "SELF_CONNECTION",
    [CAIRN_E_DUPLICATE_PEER] = "DUPLICATE_PEER",
    [CAIRN_E_BAD_SIGNATURE] = "BAD_SIGNATURE",
    [CAIRN_E_HANDSHAKE_TIMEOUT] = "HANDSHAKE_TIMEOUT",
    [CAIRN_E_IDLE_TIMEOUT] = "IDLE_TIMEOUT",
    [CAIRN_E_TOO_MANY_REQUESTS] = "TOO_MANY_REQUESTS",
    [CAIRN_E_UNKNOWN_REQUEST] = "UNKNOWN_REQUEST",
    [CAIRN_E_DUPLICATE_REQUEST_ID] = "DUPLICATE_REQUEST_ID",
    [CAIRN_E_INVALID_BLOCK] = "INVALID_BLOCK",
    [CAIRN_E_INVALID_CHUNK] = "INVALID_CHUNK",
    [CAIRN_E_BUSY] = "BUSY",
    [CAIRN_E_RATE_LIMITED] = "RATE_LIMITED",
    [CAIRN_E_SHUTDOWN] = "SHUTDOWN",
    [CAIRN_E_TOO_MANY_PEERS] = "TOO_MANY_PEERS",
    [CAIRN_E_DISCOURAGED] = "DISCOURAGED",
    [CAIRN_E_INVALID_ENTRY] = "INVALID_ENTRY",
    [CAIRN_E_INTERNAL_ERROR] = "INTERNAL_ERROR",
    [CAIRN_E_WRONG_NODE_ID] = "WRONG_NODE_ID",
};

const char *cairn_wire_error_name(uint32_t code)
{
    return code <= CAIRN_E_MAX ? wire_names[code] : NULL;
}

uint32_t cairn_wire_error_from_name(const char *name)
{
    for (uint32_t c = 1; c <= CAIRN_E_MAX; c++)
        if (strcmp(wire_names[c], name) == 0)
            return c;
    return 0;
}

int cairn_wire_error_is_fatal(uint32_t code)
{
    /* [ERR-*] only these three leave the session open; unknown codes are fatal. */
    return !(code == CAIRN_E_BUSY || code == CAIRN_E_RATE_LIMITED || code == CAIRN_E_INVALID_ENTRY);
}

int cairn_err_is_fatal(int rv)
{
    uint32_t code = cairn_err_wire_code(rv);
    if (code)
        return cairn_wire_error_is_fatal(code);
    return rv <= CAIRN_ERR_NOMEM && rv > CAIRN_ERR_PROTO_BASE;
}

const char *cairn_strerror(int rv)
{
    uint32_t code = cairn_err_wire_code(rv);
    if (code) {
        const char *n = cairn_wire_error_name(code);
        return n ? n : "unregistered protocol error";
    }
    switch (rv) {
    case CAIRN_OK:
        return "success";
    case CAIRN_ERR_AGAIN:
        return "incomplete, more input needed";
    case CAIRN_ERR_INVALID_ARG:
        return "invalid argument";
    case CAIRN_ERR_STATE:
        return "not allowed in the current state";
    case CAIRN_ERR_BUFFER_TOO_SMALL:
        return "buffer too small";
    case CAIRN_ERR_WINDOW_FULL:
        return "too many requests in flight";
    case CAIRN_ERR_NOMEM:
        return "out of memory";
    case CAIRN_ERR_CRYPTO:
        return "cryptographic library failure";
    case CAIRN_ERR_BUDGET:
        return "decoding budget exceeded";
    case CAIRN_ERR_INTERNAL:
        return "internal error";
    default:
        return "unknown error";
    }
}
