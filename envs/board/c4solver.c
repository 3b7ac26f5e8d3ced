/* Connect Four (7 x 6) exact solver: the same algorithm as Connect4Solver in solvers.py (after
 * Pascal Pons, "Solving Connect 4", blog.gamesolver.org), in C for the Pons test sets whose
 * positions need 10^6..10^8 nodes. Loaded by solvers.py through ctypes; compiled on first use.
 *
 * Bitboard: column c occupies bits c*7 .. c*7+5 (bit c*7 = bottom), bit c*7+6 is a sentinel.
 * `cur` = stones of the player to move, `mask` = all stones, `n` = plies played.
 * Scores (Pons): positive = win, 22 minus the winner's stone count at the end; 0 draw; negative loss.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 7
#define HEIGHT 6
#define H1 (HEIGHT + 1)
#define SIZE (WIDTH * HEIGHT)

typedef uint64_t u64;

static const u64 BOTTOM = 0x040810204081ULL;              /* bit c*7 for every column */
static const u64 BOARD = 0x040810204081ULL * 0x3FULL;      /* the 42 playable cells */
static const int ORDER[WIDTH] = {3, 2, 4, 1, 5, 0, 6};      /* centre first */

/* transposition table of bounds (upper at a fail-low, lower at a fail-high, as Pons' final
 * solver): full key + value, replaced on collision */
#define TT_SIZE 8388593u /* prime below 2^23 (75 MB); 4x larger saved only 10% of the nodes on Begin-Easy */
static u64 *tt_key = NULL;
static uint8_t *tt_val = NULL;
static u64 nodes = 0;

static u64 col_mask(int c) { return ((1ULL << HEIGHT) - 1) << (c * H1); }

static int popcount(u64 x) { return __builtin_popcountll(x); }

static u64 winning_cells(u64 pos, u64 mask) {
    u64 r = (pos << 1) & (pos << 2) & (pos << 3); /* vertical */
    const int shifts[3] = {H1, HEIGHT, H1 + 1};      /* horizontal, both diagonals */
    for (int i = 0; i < 3; i++) {
        int s = shifts[i];
        u64 p = (pos << s) & (pos << 2 * s);
        r |= p & (pos << 3 * s);
        r |= p & (pos >> s);
        p = (pos >> s) & (pos >> 2 * s);
        r |= p & (pos << s);
        r |= p & (pos >> 3 * s);
    }
    return r & (BOARD ^ mask);
}

static u64 possible(u64 mask) { return (mask + BOTTOM) & BOARD; }

static u64 non_losing_moves(u64 cur, u64 mask) {
    u64 poss = possible(mask);
    u64 opp_win = winning_cells(cur ^ mask, mask);
    u64 forced = poss & opp_win;
    if (forced) {
        if (forced & (forced - 1)) return 0; /* two threats: every move loses */
        poss = forced;
    }
    return poss & ~(opp_win >> 1); /* never play directly below an opponent's winning cell */
}

static int tt_get(u64 key) {
    u64 i = key % TT_SIZE;
    return tt_key[i] == key ? tt_val[i] : 0;
}

static void tt_put(u64 key, int v) {
    u64 i = key % TT_SIZE;
    tt_key[i] = key;
    tt_val[i] = (uint8_t)v;
}

/* scores lie in -21..21; stored shifted so that 0 means "empty": upper bounds as v + 32
 * (11..53), lower bounds as v + 96 (75..117) */
#define TT_UPPER 32
#define TT_LOWER 96

static int negamax(u64 cur, u64 mask, int n, int alpha, int beta) {
    nodes++;
    u64 next = non_losing_moves(cur, mask);
    if (!next) return -((SIZE - n) / 2);
    if (n >= SIZE - 2) return 0;
    int lo = -((SIZE - 2 - n) / 2);
    if (alpha < lo) {
        alpha = lo;
        if (alpha >= beta) return alpha;
    }
    int hi = (SIZE - 1 - n) / 2;
    u64 key = cur + mask;
    int stored = tt_get(key);
    if (stored >= 64) {
        lo = stored - TT_LOWER;
        if (alpha < lo) {
            alpha = lo;
            if (alpha >= beta) return alpha;
        }
    } else if (stored) {
        hi = stored - TT_UPPER;
    }
    if (beta > hi) {
        beta = hi;
        if (alpha >= beta) return beta;
    }
    /* order: most new threats first, ties centre-first (stable insertion sort) */
    u64 moves[WIDTH];
    int scores[WIDTH], k = 0;
    for (int i = 0; i < WIDTH; i++) {
        u64 mv = next & col_mask(ORDER[i]);
        if (!mv) continue;
        int s = popcount(winning_cells(cur | mv, mask));
        int j = k++;
        while (j > 0 && scores[j - 1] < s) {
            moves[j] = moves[j - 1];
            scores[j] = scores[j - 1];
            j--;
        }
        moves[j] = mv;
        scores[j] = s;
    }
    for (int i = 0; i < k; i++) {
        int score = -negamax(cur ^ mask, mask | moves[i], n + 1, -beta, -alpha);
        if (score >= beta) {
            tt_put(key, score + TT_LOWER);
            return score;
        }
        if (score > alpha) alpha = score;
    }
    tt_put(key, alpha + TT_UPPER);
    return alpha;
}

static int tdiv2(int x) { return x / 2; } /* C truncates toward zero, as Pons' solver expects */

int c4_init(void) {
    if (tt_key) return 0;
    tt_key = calloc(TT_SIZE, sizeof(u64));
    tt_val = calloc(TT_SIZE, sizeof(uint8_t));
    return (tt_key && tt_val) ? 0 : -1;
}

void c4_reset(void) {
    if (tt_key) {
        memset(tt_key, 0, TT_SIZE * sizeof(u64));
        memset(tt_val, 0, TT_SIZE * sizeof(uint8_t));
    }
}

u64 c4_nodes(void) { return nodes; }

/* negamax with window [alpha, beta] (nobody may win on the next move: the caller checks) */
int c4_negamax(u64 cur, u64 mask, int n, int alpha, int beta) {
    if (c4_init() != 0) return -1000;
    return negamax(cur, mask, n, alpha, beta);
}

/* exact score of the position (weak != 0: only its sign) for the player to move */
int c4_solve(u64 cur, u64 mask, int n, int weak) {
    if (c4_init() != 0) return -1000;
    if (n >= SIZE) return 0;
    if (winning_cells(cur, mask) & possible(mask)) return weak ? 1 : (SIZE + 1 - n) / 2;
    int lo = -((SIZE - n) / 2), hi = (SIZE + 1 - n) / 2;
    if (weak) {
        lo = -1;
        hi = 1;
    }
    while (lo < hi) { /* null-window bisection on the score */
        int med = lo + (hi - lo) / 2;
        if (med <= 0 && tdiv2(lo) < med) med = tdiv2(lo);
        else if (med >= 0 && hi / 2 > med) med = hi / 2;
        int r = negamax(cur, mask, n, med, med + 1);
        if (r <= med) hi = r;
        else lo = r;
    }
    return lo;
}
