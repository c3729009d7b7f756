/*
 * The download scheduler (spec §11.5): which chunk to ask which peer next.
 * The policy is described in files.h; this file is its data structures:
 *
 * - two bitmaps over the chunks: `done` (verified) and `claimed` (verified,
 *   or requested by at least one request that is not stalled);
 * - segments: the peers' have ranges cut [0, n) into pieces with one set of
 *   peers each (a 64-bit mask); sorted by (number of peers, start) they give
 *   rarest-then-earliest order, and a cursor per segment makes the search for
 *   its first unclaimed chunk amortised O(1);
 * - per peer, its outstanding requests (at most 64, REQ-4);
 * - a small open-addressing map from requested chunk to its number of live
 *   copies (at most 64 x 64 entries), for end-game and for returning a
 *   chunk to the pool when its last live request stalls or goes away.
 */
#include <stdlib.h>

#include "cairn/files.h"

#define MAP_CAP            8192 /* power of two, at least 2 x MAX_PEERS x MAX_WINDOW */
#define RATE_INTERVAL_MS   500
#define RATE_MIN_DELIVERED 8

typedef struct req {
    uint64_t index;
    uint64_t sent_ms;
    int released; /* stalled: no longer claims its chunk */
} req;

typedef struct speer {
    int used;
    int all; /* serves every chunk */
    cairn_chunk_range *have;
    size_t n_have;
    req reqs[CAIRN_SCHED_MAX_WINDOW];
    unsigned n_reqs;
    unsigned cwnd;
    uint32_t stall_ms, stalls;
    uint64_t last_progress_ms;
    uint64_t backoff_until_ms;
    uint64_t delivered, dups;
    uint64_t rate_start_ms, rate_cpm;
    uint32_t rate_count;
} speer;

typedef struct seg {
    uint64_t start, end, cursor; /* [start, cursor) is all claimed */
    uint64_t mask;               /* peers serving it */
    unsigned avail;              /* popcount(mask) */
} seg;

typedef struct mslot {
    uint64_t index;
    uint64_t last_sent_ms;
    uint32_t copies; /* 0 = empty slot */
} mslot;

struct cairn_sched {
    const cairn_mem *mem;
    cairn_sched_config cfg;
    uint64_t n, remaining;
    uint64_t *done, *claimed;
    speer peers[CAIRN_SCHED_MAX_PEERS];
    uint64_t *bounds;
    seg *segs;
    size_t *order;
    size_t n_segs, n_order, cap_bounds;
    mslot map[MAP_CAP];
};

void cairn_sched_config_default(cairn_sched_config *cfg)
{
    cfg->window_init = 4;
    cfg->window_max = CAIRN_SCHED_MAX_WINDOW;
    cfg->stall_min_ms = 2000;
    cfg->stall_max_ms = 64000;
    cfg->endgame_copies = 2;
    cfg->queue_ms = 2000;
}

/* ---- bitmaps ---------------------------------------------------------------------- */

static inline int bit_get(const uint64_t *b, uint64_t i)
{
    return (int)((b[i >> 6] >> (i & 63)) & 1);
}
static inline void bit_set(uint64_t *b, uint64_t i)
{
    b[i >> 6] |= (uint64_t)1 << (i & 63);
}
static inline void bit_clear(uint64_t *b, uint64_t i)
{
    b[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

/* First clear bit of `b` in [from, to), or `to`. */
static uint64_t first_clear(const uint64_t *b, uint64_t from, uint64_t to)
{
    while (from < to) {
        uint64_t w = ~b[from >> 6] >> (from & 63);
        if (w) {
            uint64_t i = from + (uint64_t)__builtin_ctzll(w);
            return i < to ? i : to;
        }
        from = (from | 63) + 1;
    }
    return to;
}

/* ---- the map of live copies --------------------------------------------------------- */

static size_t map_hash(uint64_t index)
{
    return (size_t)((index * 0x9E3779B97F4A7C15ull) >> 40) & (MAP_CAP - 1);
}

static mslot *map_find(cairn_sched *s, uint64_t index)
{
    for (size_t i = map_hash(index);; i = (i + 1) & (MAP_CAP - 1)) {
        if (!s->map[i].copies)
            return NULL;
        if (s->map[i].index == index)
            return &s->map[i];
    }
}

static void map_inc(cairn_sched *s, uint64_t index, uint64_t now_ms)
{
    size_t i = map_hash(index);
    while (s->map[i].copies && s->map[i].index != index)
        i = (i + 1) & (MAP_CAP - 1);
    s->map[i].index = index;
    s->map[i].copies++;
    s->map[i].last_sent_ms = now_ms;
}

/* Linear probing with backward-shift deletion: no tombstones. */
static void map_remove(cairn_sched *s, mslot *m)
{
    size_t i = (size_t)(m - s->map), j = i;
    s->map[i].copies = 0;
    for (;;) {
        j = (j + 1) & (MAP_CAP - 1);
        if (!s->map[j].copies)
            return;
        size_t home = map_hash(s->map[j].index);
        /* move j back into the hole at i unless its home lies in (i, j] */
        if ((i <= j) ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        s->map[i] = s->map[j];
        s->map[j].copies = 0;
        i = j;
    }
}

/* ---- segments ------------------------------------------------------------------------ */

static seg *seg_of(cairn_sched *s, uint64_t index)
{
    size_t lo = 0, hi = s->n_segs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->segs[mid].end <= index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_segs ? &s->segs[lo] : NULL;
}

static int peer_serves(cairn_sched *s, int p, uint64_t index)
{
    seg *g = seg_of(s, index);
    return g && (g->mask >> p & 1);
}

/* A live request for `index` went away (answered, stalled or its peer gone). */
static void drop_copy(cairn_sched *s, uint64_t index)
{
    mslot *m = map_find(s, index);
    if (!m)
        return;
    if (--m->copies)
        return;
    map_remove(s, m);
    if (!bit_get(s->done, index)) {
        bit_clear(s->claimed, index);
        seg *g = seg_of(s, index);
        if (g && g->cursor > index)
            g->cursor = index;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Boundaries needed for the current peers. */
static size_t bounds_needed(const cairn_sched *s)
{
    size_t k = 2;
    for (int p = 0; p < CAIRN_SCHED_MAX_PEERS; p++)
        if (s->peers[p].used)
            k += 2 * s->peers[p].n_have;
    return k;
}

/* Grows the segment arrays for `need` boundaries. */
static int reserve_segs(cairn_sched *s, size_t need)
{
    if (need <= s->cap_bounds)
        return 0;
    uint64_t *b = cairn_mem_malloc(s->mem, need * sizeof(*b));
    seg *g = cairn_mem_malloc(s->mem, need * sizeof(*g));
    size_t *o = cairn_mem_malloc(s->mem, need * sizeof(*o));
    if (!b || !g || !o) {
        cairn_mem_free(s->mem, b);
        cairn_mem_free(s->mem, g);
        cairn_mem_free(s->mem, o);
        return CAIRN_ERR_NOMEM;
    }
    cairn_mem_free(s->mem, s->bounds);
    cairn_mem_free(s->mem, s->segs);
    cairn_mem_free(s->mem, s->order);
    s->bounds = b;
    s->segs = g;
    s->order = o;
    s->cap_bounds = need;
    return 0;
}

/* Recomputes segments from the peers' ranges; never allocates (the caller
 * reserved room). */
static void rebuild(cairn_sched *s)
{
    size_t k = 0;
    s->n_segs = s->n_order = 0;
    if (s->n == 0)
        return;
    s->bounds[k++] = 0;
    s->bounds[k++] = s->n;
    for (int p = 0; p < CAIRN_SCHED_MAX_PEERS; p++)
        for (size_t r = 0; s->peers[p].used && r < s->peers[p].n_have; r++) {
            s->bounds[k++] = s->peers[p].have[r].start;
            s->bounds[k++] = s->peers[p].have[r].end;
        }
    qsort(s->bounds, k, sizeof(*s->bounds), cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (i == 0 || s->bounds[i] != s->bounds[u - 1])
            s->bounds[u++] = s->bounds[i];
    for (size_t i = 0; i + 1 < u; i++)
        s->segs[i] = (seg){s->bounds[i], s->bounds[i + 1], s->bounds[i], 0, 0};
    s->n_segs = u - 1;
    for (int p = 0; p < CAIRN_SCHED_MAX_PEERS; p++) {
        speer *pp = &s->peers[p];
        if (!pp->used)
            continue;
        size_t r = 0;
        for (size_t i = 0; i < s->n_segs; i++) {
            seg *g = &s->segs[i];
            if (!pp->all) {
                while (r < pp->n_have && pp->have[r].end <= g->start)
                    r++;
                if (r == pp->n_have)
                    break;
                if (pp->have[r].start > g->start)
                    continue;
            }
            g->mask |= (uint64_t)1 << p;
            g->avail++;
        }
    }
    /* Priority order: (peers, start). Segments are sorted by start, so the
     * key (avail << 48 | i) sorts right; bounds[] is free to reuse. */
    uint64_t *keys = s->bounds;
    for (size_t i = 0; i < s->n_segs; i++)
        if (s->segs[i].avail)
            keys[s->n_order++] = (uint64_t)s->segs[i].avail << 48 | i;
    qsort(keys, s->n_order, sizeof(*keys), cmp_u64);
    for (size_t i = 0; i < s->n_order; i++)
        s->order[i] = (size_t)(keys[i] & (((uint64_t)1 << 48) - 1));
}

/* ---- lifetime ------------------------------------------------------------------------ */

int cairn_sched_new(cairn_sched **out, uint64_t n_chunks, const cairn_sched_config *cfg,
                    const cairn_mem *mem)
{
    *out = NULL;
    if (n_chunks > CAIRN_FILE_MAX_CHUNKS)
        return CAIRN_ERR_INVALID_ARG;
    cairn_sched *s = cairn_mem_calloc(mem, 1, sizeof(*s));
    if (!s)
        return CAIRN_ERR_NOMEM;
    s->mem = mem;
    if (cfg)
        s->cfg = *cfg;
    else
        cairn_sched_config_default(&s->cfg);
    if (s->cfg.window_max == 0 || s->cfg.window_max > CAIRN_SCHED_MAX_WINDOW)
        s->cfg.window_max = CAIRN_SCHED_MAX_WINDOW;
    if (s->cfg.window_init == 0 || s->cfg.window_init > s->cfg.window_max)
        s->cfg.window_init = s->cfg.window_max;
    if (s->cfg.endgame_copies == 0)
        s->cfg.endgame_copies = 1;
    if (s->cfg.stall_min_ms == 0)
        s->cfg.stall_min_ms = 1;
    if (s->cfg.stall_max_ms < s->cfg.stall_min_ms)
        s->cfg.stall_max_ms = s->cfg.stall_min_ms;
    s->n = s->remaining = n_chunks;
    size_t words = (size_t)((n_chunks + 63) / 64) + 1;
    s->done = cairn_mem_calloc(mem, words, sizeof(uint64_t));
    s->claimed = cairn_mem_calloc(mem, words, sizeof(uint64_t));
    if (!s->done || !s->claimed || reserve_segs(s, 2) != 0) {
        cairn_sched_del(s);
        return CAIRN_ERR_NOMEM;
    }
    *out = s;
    return 0;
}

void cairn_sched_del(cairn_sched *s)
{
    if (!s)
        return;
    for (int p = 0; p < CAIRN_SCHED_MAX_PEERS; p++)
        cairn_mem_free(s->mem, s->peers[p].have);
    cairn_mem_free(s->mem, s->done);
    cairn_mem_free(s->mem, s->claimed);
    cairn_mem_free(s->mem, s->bounds);
    cairn_mem_free(s->mem, s->segs);
    cairn_mem_free(s->mem, s->order);
    cairn_mem_free(s->mem, s);
}

int cairn_sched_mark_done(cairn_sched *s, uint64_t index)
{
    if (index >= s->n)
        return CAIRN_ERR_INVALID_ARG;
    if (!bit_get(s->done, index)) {
        bit_set(s->done, index);
        bit_set(s->claimed, index);
        s->remaining--;
    }
    return 0;
}

int cairn_sched_is_done(const cairn_sched *s, uint64_t index)
{
    return index < s->n && bit_get(s->done, index);
}

uint64_t cairn_sched_remaining(const cairn_sched *s)
{
    return s->remaining;
}

void cairn_sched_unmark(cairn_sched *s, uint64_t index)
{
    if (index >= s->n || !bit_get(s->done, index))
        return;
    bit_clear(s->done, index);
    s->remaining++;
    if (!map_find(s, index)) {
        bit_clear(s->claimed, index);
        seg *g = seg_of(s, index);
        if (g && g->cursor > index)
            g->cursor = index;
    }
}

/* ---- peers ------------------------------------------------------------------------------ */

static int set_have(cairn_sched *s, speer *pp, const cairn_chunk_range *have, size_t count)
{
    cairn_chunk_range *copy = NULL;
    if (cairn_file_check_ranges(have, count, s->n) != 0)
        return CAIRN_ERR_INVALID_ARG;
    if (count) {
        copy = cairn_mem_malloc(s->mem, count * sizeof(*copy));
        if (!copy)
            return CAIRN_ERR_NOMEM;
        memcpy(copy, have, count * sizeof(*copy));
    }
    size_t old_n = pp->n_have;
    cairn_chunk_range *old = pp->have;
    int old_all = pp->all, old_used = pp->used;
    pp->have = copy;
    pp->n_have = count;
    pp->all = count == 0;
    pp->used = 1;
    int rv = reserve_segs(s, bounds_needed(s));
    if (rv != 0) {
        pp->have = old;
        pp->n_have = old_n;
        pp->all = old_all;
        pp->used = old_used;
        cairn_mem_free(s->mem, copy);
        return rv;
    }
    cairn_mem_free(s->mem, old);
    rebuild(s);
    return 0;
}

int cairn_sched_peer_add(cairn_sched *s, int *peer, const cairn_chunk_range *have, size_t count,
                         uint64_t now_ms)
{
    int p = 0;
    while (p < CAIRN_SCHED_MAX_PEERS && s->peers[p].used)
        p++;
    if (p == CAIRN_SCHED_MAX_PEERS)
        return CAIRN_ERR_BUFFER_TOO_SMALL;
    speer *pp = &s->peers[p];
    memset(pp, 0, sizeof(*pp));
    int rv = set_have(s, pp, have, count);
    if (rv != 0) {
        memset(pp, 0, sizeof(*pp));
        return rv;
    }
    pp->cwnd = s->cfg.window_init;
    pp->stall_ms = s->cfg.stall_min_ms;
    pp->last_progress_ms = now_ms;
    *peer = p;
    return 0;
}

static speer *get_peer(cairn_sched *s, int p)
{
    if (p < 0 || p >= CAIRN_SCHED_MAX_PEERS || !s->peers[p].used)
        return NULL;
    return &s->peers[p];
}

int cairn_sched_peer_update(cairn_sched *s, int peer, const cairn_chunk_range *have, size_t count)
{
    speer *pp = get_peer(s, peer);
    return pp ? set_have(s, pp, have, count) : CAIRN_ERR_INVALID_ARG;
}

void cairn_sched_peer_remove(cairn_sched *s, int peer)
{
    speer *pp = get_peer(s, peer);
    if (!pp)
        return;
    /* [DL-8] its unanswered chunks go back to the pool */
    for (unsigned i = 0; i < pp->n_reqs; i++)
        if (!pp->reqs[i].released)
            drop_copy(s, pp->reqs[i].index);
    cairn_mem_free(s->mem, pp->have);
    memset(pp, 0, sizeof(*pp));
    rebuild(s); /* fewer boundaries than before: no allocation */
}

/* ---- choosing ---------------------------------------------------------------------------- */

static unsigned eff_window(const cairn_sched *s, const speer *pp)
{
    unsigned w = pp->cwnd;
    if (s->cfg.queue_ms && pp->delivered >= RATE_MIN_DELIVERED && pp->rate_cpm) {
        uint64_t cap = (pp->rate_cpm * s->cfg.queue_ms + 999999) / 1000000;
        if (cap < 2)
            cap = 2;
        if (cap < w)
            w = (unsigned)cap;
    }
    return w;
}

static int find_req(const speer *pp, uint64_t index)
{
    for (unsigned i = 0; i < pp->n_reqs; i++)
        if (pp->reqs[i].index == index)
            return (int)i;
    return -1;
}

/* [DL-6] fewest peers first, then the lowest index. */
static int pick_rarest(cairn_sched *s, int p, uint64_t *index)
{
    uint64_t bit = (uint64_t)1 << p;
    for (size_t k = 0; k < s->n_order; k++) {
        seg *g = &s->segs[s->order[k]];
        if (!(g->mask & bit) || g->cursor >= g->end)
            continue;
        g->cursor = first_clear(s->claimed, g->cursor, g->end);
        if (g->cursor < g->end) {
            *index = g->cursor;
            return 0;
        }
    }
    return CAIRN_ERR_AGAIN;
}

/* [DL-7] a chunk already requested from others. */
static int pick_endgame(cairn_sched *s, int p, uint64_t *index)
{
    const speer *pp = &s->peers[p];
    const mslot *best = NULL;
    for (size_t i = 0; i < MAP_CAP; i++) {
        const mslot *m = &s->map[i];
        if (!m->copies || m->copies >= s->cfg.endgame_copies || bit_get(s->done, m->index))
            continue;
        if (best && (m->copies > best->copies ||
                     (m->copies == best->copies && m->last_sent_ms <= best->last_sent_ms)))
            continue;
        if (!peer_serves(s, p, m->index) || find_req(pp, m->index) >= 0)
            continue;
        best = m;
    }
    if (!best)
        return CAIRN_ERR_AGAIN;
    *index = best->index;
    return 0;
}

int cairn_sched_next(cairn_sched *s, int peer, uint64_t now_ms, uint64_t *index)
{
    speer *pp = get_peer(s, peer);
    if (!pp)
        return CAIRN_ERR_INVALID_ARG;
    if (s->remaining == 0 || now_ms < pp->backoff_until_ms || pp->n_reqs >= eff_window(s, pp))
        return CAIRN_ERR_AGAIN;
    uint64_t i;
    if (pick_rarest(s, peer, &i) != 0 && pick_endgame(s, peer, &i) != 0)
        return CAIRN_ERR_AGAIN;
    if (pp->n_reqs == 0) { /* the rate is measured over busy time only */
        pp->rate_start_ms = now_ms;
        pp->rate_count = 0;
        if (now_ms > pp->last_progress_ms)
            pp->last_progress_ms = now_ms;
    }
    pp->reqs[pp->n_reqs++] = (req){i, now_ms, 0};
    map_inc(s, i, now_ms);
    bit_set(s->claimed, i);
    *index = i;
    return 0;
}

/* Removes request `r` of `pp`; returns whether it was live. */
static int take_req(speer *pp, int r)
{
    int live = !pp->reqs[r].released;
    pp->reqs[r] = pp->reqs[--pp->n_reqs];
    return live;
}

int cairn_sched_delivered(cairn_sched *s, int peer, uint64_t index, uint64_t now_ms)
{
    speer *pp = get_peer(s, peer);
    int r = pp ? find_req(pp, index) : -1;
    if (r < 0)
        return CAIRN_ERR_INVALID_ARG;
    int live = take_req(pp, r);
    int rv = CAIRN_SCHED_DUP;
    if (!bit_get(s->done, index)) {
        bit_set(s->done, index);
        bit_set(s->claimed, index);
        s->remaining--;
        rv = CAIRN_SCHED_NEW;
    }
    if (live) {
        drop_copy(s, index);
        pp->stall_ms = s->cfg.stall_min_ms; /* [SYNC-34] arrived in time */
    }
    pp->delivered++;
    if (rv == CAIRN_SCHED_DUP)
        pp->dups++;
    if (pp->cwnd < s->cfg.window_max) /* [DL-5] */
        pp->cwnd++;
    pp->last_progress_ms = now_ms;
    pp->rate_count++;
    if (now_ms >= pp->rate_start_ms + RATE_INTERVAL_MS) {
        uint64_t sample = (uint64_t)pp->rate_count * 1000000 / (now_ms - pp->rate_start_ms);
        pp->rate_cpm = pp->rate_cpm ? (pp->rate_cpm * 3 + sample) / 4 : sample;
        pp->rate_start_ms = now_ms;
        pp->rate_count = 0;
    }
    return rv;
}

int cairn_sched_failed(cairn_sched *s, int peer, uint64_t index, uint64_t now_ms)
{
    speer *pp = get_peer(s, peer);
    int r = pp ? find_req(pp, index) : -1;
    if (r < 0)
        return CAIRN_ERR_INVALID_ARG;
    if (take_req(pp, r))
        drop_copy(s, index);
    /* An answer without the chunk: the peer is alive but should not be asked
     * again at once (it would be offered the same chunk). */
    pp->last_progress_ms = now_ms;
    pp->backoff_until_ms = now_ms + s->cfg.stall_min_ms / 2 + 1;
    if (pp->cwnd > 1)
        pp->cwnd /= 2;
    return 0;
}

/* ---- time ---------------------------------------------------------------------------------- */

/* When peer `pp` stalls unless something arrives; UINT64_MAX = no live request. */
static uint64_t stall_at(const speer *pp)
{
    uint64_t oldest = UINT64_MAX;
    for (unsigned i = 0; i < pp->n_reqs; i++)
        if (!pp->reqs[i].released && pp->reqs[i].sent_ms < oldest)
            oldest = pp->reqs[i].sent_ms;
    if (oldest == UINT64_MAX)
        return UINT64_MAX;
    uint64_t from = pp->last_progress_ms > oldest ? pp->last_progress_ms : oldest;
    return from + pp->stall_ms;
}

int cairn_sched_tick(cairn_sched *s, uint64_t now_ms)
{
    int stalled = 0;
    for (int p = 0; p < CAIRN_SCHED_MAX_PEERS; p++) {
        speer *pp = &s->peers[p];
        if (pp->used && pp->backoff_until_ms && pp->backoff_until_ms <= now_ms)
            pp->backoff_until_ms = 0;
        if (!pp->used || stall_at(pp) > now_ms)
            continue;
        /* [DL-9] a stall: its chunks go to others, it gets less work */
        for (unsigned i = 0; i < pp->n_reqs; i++)
            if (!pp->reqs[i].released) {
                pp->reqs[i].released = 1;
                drop_copy(s, pp->reqs[i].index);
            }
        pp->cwnd = pp->cwnd > 1 ? pp->cwnd / 2 : 1;
        pp->stall_ms =
            pp->stall_ms * 2 < s->cfg.stall_max_ms ? pp->stall_ms * 2 : s->cfg.stall_max_ms;
        pp->stalls++;
        pp->last_progress_ms = now_ms;
        stalled++;
    }
    return stalled;
}

uint64_t cairn_sched_deadline(const cairn_sched *s)
{
    uint64_t dl = UINT64_MAX;
    for (int p = 0; p < CAIRN_SCHED_MAX_PEERS; p++) {
        const speer *pp = &s->peers[p];
        if (!pp->used)
            continue;
        uint64_t t = stall_at(pp);
        if (pp->backoff_until_ms && pp->backoff_until_ms < t && s->remaining)
            t = pp->backoff_until_ms;
        if (t < dl)
            dl = t;
    }
    return dl;
}

int cairn_sched_peer_stats_get(const cairn_sched *s, int peer, cairn_sched_peer_stats *st)
{
    if (peer < 0 || peer >= CAIRN_SCHED_MAX_PEERS || !s->peers[peer].used)
        return CAIRN_ERR_INVALID_ARG;
    const speer *pp = &s->peers[peer];
    st->window = eff_window(s, pp);
    st->in_flight = pp->n_reqs;
    st->delivered = pp->delivered;
    st->dups = pp->dups;
    st->rate_cpm = pp->rate_cpm;
    st->stall_ms = pp->stall_ms;
    st->stalls = pp->stalls;
    return 0;
}
