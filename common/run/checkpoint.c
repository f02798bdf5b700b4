#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define CKPT_MAGIC "HPOCKP\r\n"
#define CKPT_VERSION 1u
#define FILE_HDR 16 /* magic, version, reserved */
#define SEC_HDR 16  /* tag, crc, length */
#define META_LEN 112
#define CNTR_V1_LEN 24 /* env steps, updates, episodes */
/* ... then f64 wall_s, u32 n_recent, u32 0, f64 recent[CKPT_RECENT] */
#define CNTR_LEN (CNTR_V1_LEN + 16 + 8 * CKPT_RECENT)
#define RNG_LEN 48
#define CONF_MAX CONFIG_TEXT_MAX
#define RPLY_HDR 40
#define CHUNK (1u << 20)

/* Sections in file order; RPLY is the one optional section. */
enum {
    S_META,
    S_CONF,
    S_NETS,
    S_ADAM,
    S_OPTS,
    S_CNTR,
    S_RNGS,
    S_RPLY,
    S_END,
    S_N
};
static const char tags[S_N][5] = {"META", "CONF", "NETS", "ADAM", "OPTS",
                                  "CNTR", "RNGS", "RPLY", "END "};

/* The shape fields of META. */
typedef struct meta {
    uint32_t obs_dim, act_dim, pi_layers, pi_hidden, q_layers, q_hidden;
    uint32_t h_hidden, h_use_state, mode, reserved;
    uint64_t n_params;
    char env[64];
} meta;
_Static_assert(sizeof(meta) == META_LEN, "META layout");

static void meta_of(const sac *s, meta *m)
{
    memset(m, 0, sizeof *m);
    m->obs_dim = (uint32_t)s->nets.obs_dim;
    m->act_dim = (uint32_t)s->nets.act_dim;
    m->pi_layers = (uint32_t)s->cfg.pi_layers;
    m->pi_hidden = (uint32_t)s->cfg.pi_hidden;
    m->q_layers = (uint32_t)s->cfg.q_layers;
    m->q_hidden = (uint32_t)s->cfg.q_hidden;
    m->h_hidden = (uint32_t)s->cfg.h_hidden;
    m->h_use_state = (uint32_t)s->cfg.h_use_state;
    m->mode = (uint32_t)s->cfg.mode;
    m->n_params = s->nets.n_params;
    snprintf(m->env, sizeof m->env, "%s", s->cfg.env);
}

// ---- writing ----

/* Bytes written as they are in memory; a file part is a list of pieces. */
typedef struct piece {
    const void *p;
    size_t n;
} piece;

static uint32_t crc_pieces(uint32_t crc, const piece *pc, int n_pieces)
{
    for (int i = 0; i < n_pieces; i++)
        crc = crc32_update(crc, pc[i].p, pc[i].n);
    return crc;
}

static int write_pieces(int fd, const piece *pc, int n_pieces)
{
    for (int i = 0; i < n_pieces; i++)
        if (write_full(fd, pc[i].p, pc[i].n))
            return -1;
    return 0;
}

/* One section from up to 6 pieces: header (tag, CRC over tag, length and
 * every piece), then the pieces. */
static int write_section(int fd, int sec, const piece *pc, int n_pieces)
{
    uint64_t len = 0;
    for (int i = 0; i < n_pieces; i++)
        len += pc[i].n;
    unsigned char hdr[SEC_HDR];
    memcpy(hdr, tags[sec], 4);
    memset(hdr + 4, 0, 4);
    memcpy(hdr + 8, &len, 8);
    uint32_t crc = crc32_update(0, hdr, 4);
    crc = crc32_update(crc, hdr + 8, 8);
    crc = crc_pieces(crc, pc, n_pieces);
    memcpy(hdr + 4, &crc, 4);
    if (write_full(fd, hdr, sizeof hdr))
        return -1;
    return write_pieces(fd, pc, n_pieces);
}

static void rng_pack(unsigned char *out, const rng *r)
{
    int64_t spare_flag = r->has_spare;
    memcpy(out, r->s, 32);
    memcpy(out + 32, &spare_flag, 8);
    memcpy(out + 40, &r->spare, 8);
}

static void rng_unpack(rng *r, const unsigned char *in)
{
    int64_t spare_flag;
    memcpy(r->s, in, 32);
    memcpy(&spare_flag, in + 32, 8);
    r->has_spare = spare_flag != 0;
    memcpy(&r->spare, in + 40, 8);
}

/* The CNTR payload (CNTR_LEN bytes) of c. */
static void cntr_pack(unsigned char *p, const ckpt_counters *c)
{
    int64_t cnt[3] = {c->env_steps, c->updates, c->episodes};
    uint32_t n = (uint32_t)HPO_MIN(HPO_MAX(c->n_recent, 0), CKPT_RECENT);
    memcpy(p, cnt, sizeof cnt);
    memcpy(p + 24, &c->wall_s, 8);
    memcpy(p + 32, &n, 4);
    for (uint32_t i = 0; i < n; i++)
        memcpy(p + 40 + 8 * i, &c->recent[i], 8);
}

/* Every section into fd. Returns 0 or -1 (errno set). */
static int write_sections(int fd, const sac *s, const ckpt_counters *c,
                          rng *const *rngs, int n_rngs, replay *rb,
                          const char *conf, size_t conf_len)
{
    unsigned char fh[FILE_HDR] = {0};
    uint32_t version = CKPT_VERSION;
    memcpy(fh, CKPT_MAGIC, 8);
    memcpy(fh + 8, &version, 4);
    if (write_full(fd, fh, sizeof fh))
        return -1;

    meta m;
    meta_of(s, &m);
    /* the agent's state, as sac.c declares it: NETS, ADAM, OPTS */
    size_t sb[SAC_SEC_N];
    unsigned char *state[SAC_SEC_N];
    for (int i = 0; i < SAC_SEC_N; i++) {
        sb[i] = sac_section_bytes((sac_section)i, s->nets.n_params);
        state[i] = xmalloc(sb[i]);
        sac_section_save(s, (sac_section)i, state[i]);
    }
    unsigned char cnt[CNTR_LEN] = {0};
    cntr_pack(cnt, c);
    unsigned char rbuf[8 + CKPT_MAX_RNGS * RNG_LEN] = {0};
    uint32_t nr = (uint32_t)n_rngs;
    memcpy(rbuf, &nr, 4);
    for (int i = 0; i < n_rngs; i++)
        rng_pack(rbuf + 8 + i * RNG_LEN, rngs[i]);

    int bad =
        write_section(fd, S_META, &(piece){&m, sizeof m}, 1) ||
        write_section(fd, S_CONF, &(piece){conf, conf_len}, 1) ||
        write_section(fd, S_NETS,
                      &(piece){state[SAC_SEC_NETS], sb[SAC_SEC_NETS]}, 1) ||
        write_section(fd, S_ADAM,
                      &(piece){state[SAC_SEC_ADAM], sb[SAC_SEC_ADAM]}, 1) ||
        write_section(fd, S_OPTS,
                      &(piece){state[SAC_SEC_OPTS], sb[SAC_SEC_OPTS]}, 1) ||
        write_section(fd, S_CNTR, &(piece){cnt, sizeof cnt}, 1) ||
        write_section(fd, S_RNGS, &(piece){rbuf, 8 + (size_t)n_rngs * RNG_LEN},
                      1);
    for (int i = 0; i < SAC_SEC_N; i++)
        free(state[i]);
    if (bad)
        return -1;
    if (rb) {
        replay_rows v;
        replay_rows_get(rb, &v);
        uint64_t h[4] = {v.capacity, v.n, v.head, v.pushed};
        unsigned char rh[RPLY_HDR] = {0};
        uint32_t dims[2] = {(uint32_t)v.obs_dim, (uint32_t)v.act_dim};
        memcpy(rh, h, 32);
        memcpy(rh + 32, dims, 8);
        size_t ob = v.n * (size_t)v.obs_dim * sizeof(float);
        size_t ab = v.n * (size_t)v.act_dim * sizeof(float);
        piece pc[6] = {{rh, sizeof rh},  {v.obs, ob},
                       {v.act, ab},      {v.reward, v.n * sizeof(float)},
                       {v.next_obs, ob}, {v.terminated, v.n}};
        if (write_section(fd, S_RPLY, pc, 6))
            return -1;
    }
    return write_section(fd, S_END, NULL, 0);
}

/* write_sections' arguments, for write_file_atomic. */
typedef struct ckpt_out {
    const sac *s;
    const ckpt_counters *c;
    rng *const *rngs;
    int n_rngs;
    replay *rb;
    const char *conf;
    size_t conf_len;
} ckpt_out;

static int write_ckpt(int fd, void *ctx)
{
    const ckpt_out *o = ctx;
    return write_sections(fd, o->s, o->c, o->rngs, o->n_rngs, o->rb, o->conf,
                          o->conf_len);
}

int ckpt_save(const char *path, const sac *s, const ckpt_counters *c,
              rng *const *rngs, int n_rngs, replay *rb, char *err,
              size_t errlen)
{
    HPO_ASSERT(s->adam_m && s->adam_v);
    HPO_ASSERT(n_rngs >= 0 && n_rngs <= CKPT_MAX_RNGS);
    char *conf = NULL;
    size_t conf_len = 0;
    FILE *mf = open_memstream(&conf, &conf_len);
    if (!mf)
        hpo_panic(__FILE__, __LINE__, "open_memstream: out of memory");
    config_write(&s->cfg, mf);
    if (fclose(mf))
        hpo_panic(__FILE__, __LINE__, "open_memstream: out of memory");
    ckpt_out o = {s, c, rngs, n_rngs, rb, conf, conf_len};
    int rc = write_file_atomic(path, write_ckpt, &o, err, errlen);
    free(conf);
    return rc;
}

int ckpt_path(char *buf, const char *dir, int64_t updates, char *err,
              size_t errlen)
{
    if (snprintf(buf, CKPT_PATH_LEN, "%s/checkpoint-%" PRId64 ".ckpt", dir,
                 updates) >= CKPT_PATH_LEN) {
        errf(err, errlen, "path too long: %s/checkpoint-%" PRId64 ".ckpt", dir,
             updates);
        return -1;
    }
    return 0;
}

// ---- the run directory ----

/* n of "checkpoint-<n>.ckpt", or -1 for any other name. */
static int64_t ckpt_number(const char *name)
{
    const char *p = name + strlen("checkpoint-");
    if (strncmp(name, "checkpoint-", strlen("checkpoint-")) || *p < '0' ||
        *p > '9')
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(p, &end, 10);
    if (errno || strcmp(end, ".ckpt"))
        return -1;
    return n;
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* The checkpoint numbers in dir, largest first; caller frees *out.
 * Returns the count, or -1 with a message. */
static int list_numbers(const char *dir, int64_t **out, char *err,
                        size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        errf(err, errlen, "cannot open run directory %s: %s", dir,
             strerror(errno));
        return -1;
    }
    int n = 0, cap = 16;
    int64_t *v = xmalloc((size_t)cap * sizeof *v);
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t k = ckpt_number(e->d_name);
        if (k < 0)
            continue;
        if (n == cap) {
            cap *= 2;
            v = xrealloc(v, (size_t)cap * sizeof *v);
        }
        v[n++] = k;
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_desc);
    *out = v;
    return n;
}

int ckpt_remove_partial(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        errf(err, errlen, "cannot open run directory %s: %s", dir,
             strerror(errno));
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char name[256];
        if (len < 4 || len >= sizeof name ||
            strcmp(e->d_name + len - 4, ".tmp"))
            continue;
        memcpy(name, e->d_name, len - 4);
        name[len - 4] = '\0';
        if (ckpt_number(name) < 0)
            continue;
        char path[CKPT_PATH_LEN];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
            (int)sizeof path)
            continue;
        if (unlink(path) == 0) {
            log_info("removed %s: a checkpoint write cut short", path);
            n++;
        } else {
            log_warn("cannot remove %s: %s", path, strerror(errno));
        }
    }
    closedir(d);
    return n;
}

int ckpt_prune(const char *dir, int keep, int64_t protect, char *err,
               size_t errlen)
{
    HPO_ASSERT(keep >= 1);
    int64_t *v;
    int n = list_numbers(dir, &v, err, errlen);
    if (n < 0)
        return -1;
    /* newest first: the first `keep` files that verify stay, and every
     * file newer than the last of them (one that fails verification holds
     * no slot: a corrupt or foreign file of a larger number must not push
     * a good one out); everything older goes but `protect` */
    int valid = 0, deleted = 0;
    for (int i = 0; i < n; i++) {
        char p[CKPT_PATH_LEN], e2[512];
        if (ckpt_path(p, dir, v[i], e2, sizeof e2))
            continue;
        if (v[i] == protect)
            continue;
        if (valid < keep) {
            ckpt_info info;
            if (ckpt_open(p, &info, e2, sizeof e2) == 0)
                valid++;
            continue;
        }
        if (unlink(p) == 0)
            deleted++;
        else if (errno != ENOENT)
            log_warn("cannot delete old checkpoint %s: %s", p, strerror(errno));
    }
    free(v);
    return deleted;
}

int ckpt_count(const char *dir)
{
    int64_t *v;
    char err[256];
    int n = list_numbers(dir, &v, err, sizeof err);
    if (n >= 0)
        free(v);
    return n;
}

// ---- reading ----

/* pread exactly n bytes at off. Returns 0, or -1 (short read or error). */
static int read_at(int fd, void *buf, size_t n, int64_t off)
{
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Expected payload length of each fixed-size section given META. */
static uint64_t fixed_len(int sec, const meta *m)
{
    switch (sec) {
    case S_META:
        return META_LEN;
    case S_NETS:
        return sac_section_bytes(SAC_SEC_NETS, m->n_params);
    case S_ADAM:
        return sac_section_bytes(SAC_SEC_ADAM, m->n_params);
    case S_OPTS:
        return sac_section_bytes(SAC_SEC_OPTS, m->n_params);
    case S_CNTR:
        return CNTR_LEN; /* or CNTR_V1_LEN: check_len */
    case S_END:
        return 0;
    default:
        return UINT64_MAX; /* variable */
    }
}

/* Check the configuration against META: the same run described twice. */
static int conf_matches(const hpo_config *c, const meta *m, char *why,
                        size_t len)
{
    if (strcmp(c->env, m->env) || c->mode != (int)m->mode ||
        c->pi_layers != (int)m->pi_layers ||
        c->pi_hidden != (int)m->pi_hidden || c->q_layers != (int)m->q_layers ||
        c->q_hidden != (int)m->q_hidden || c->h_hidden != (int)m->h_hidden ||
        c->h_use_state != (int)m->h_use_state) {
        errf(why, len, "configuration text disagrees with the shape header");
        return -1;
    }
    return 0;
}

/* The 16-byte file header: magic, version, the zero reserved field. */
static int read_file_header(int fd, int64_t size, char *why, size_t len)
{
    unsigned char fh[FILE_HDR];
    if (size < FILE_HDR || read_at(fd, fh, FILE_HDR, 0)) {
        errf(why, len,
             "too short for a checkpoint (%" PRId64
             " bytes): truncated or not a checkpoint",
             size);
        return -1;
    }
    if (memcmp(fh, CKPT_MAGIC, 8)) {
        errf(why, len, "not an hpo checkpoint (bad magic)");
        return -1;
    }
    uint32_t version, reserved;
    memcpy(&version, fh + 8, 4);
    memcpy(&reserved, fh + 12, 4);
    if (version != CKPT_VERSION) {
        errf(why, len, "checkpoint version %u, this build reads %u", version,
             CKPT_VERSION);
        return -1;
    }
    if (reserved) {
        errf(why, len, "reserved header field is %#x, not 0 (corrupt)",
             reserved);
        return -1;
    }
    return 0;
}

/* 0 when len is a valid payload length for section sec given META. */
static int check_len(int sec, uint64_t len, const meta *m, char *why,
                     size_t wlen)
{
    uint64_t want = fixed_len(sec, m);
    int bad = want != UINT64_MAX && want != len;
    if (sec == S_CONF)
        bad = len > CONF_MAX;
    if (sec == S_RNGS)
        bad = len < 8 || (len - 8) % RNG_LEN ||
              (len - 8) / RNG_LEN > CKPT_MAX_RNGS;
    if (sec == S_RPLY)
        bad = len < RPLY_HDR;
    if (sec == S_CNTR)
        bad = len != CNTR_LEN && len != CNTR_V1_LEN;
    if (!bad)
        return 0;
    errf(why, wlen, "section %s has %" PRIu64 " bytes, expected %s", tags[sec],
         len, want == UINT64_MAX ? "a valid length" : "its fixed size");
    return -1;
}

/* One section read whole and checked against its CRC, streaming through
 * buf (CHUNK bytes). Its first keep_n payload bytes go to *small (NULL
 * when keep_n is 0; the caller frees it). */
typedef struct section {
    int sec;
    int64_t pay;  /* payload offset */
    uint64_t len; /* payload bytes */
    unsigned char *small;
} section;

/* Read the section at off, which must be next (or END where the optional
 * RPLY may stand). Returns 0 with *out filled, or -1 with the reason. */
static int read_section(int fd, int64_t size, int64_t off, int next,
                        const meta *m, unsigned char *buf, section *out,
                        char *why, size_t wlen)
{
    unsigned char hdr[SEC_HDR];
    out->small = NULL;
    if (off + SEC_HDR > size || read_at(fd, hdr, SEC_HDR, off)) {
        errf(why, wlen,
             "truncated: section header expected at byte %" PRId64
             " of %" PRId64 " (no end section)",
             off, size);
        return -1;
    }
    int sec = -1;
    if (!memcmp(hdr, tags[next], 4))
        sec = next;
    else if (next == S_RPLY && !memcmp(hdr, tags[S_END], 4))
        sec = S_END;
    if (sec < 0) {
        errf(why, wlen,
             "section %s expected at byte %" PRId64
             ", found '%.4s' (corrupt or not this format)",
             tags[next], off, (const char *)hdr);
        return -1;
    }
    uint32_t stored;
    uint64_t len;
    memcpy(&stored, hdr + 4, 4);
    memcpy(&len, hdr + 8, 8);
    int64_t pay = off + SEC_HDR;
    if (len > (uint64_t)(size - pay)) {
        errf(why, wlen,
             "truncated: section %s says %" PRIu64 " bytes, %" PRId64 " remain",
             tags[sec], len, size - pay);
        return -1;
    }
    if (check_len(sec, len, m, why, wlen))
        return -1;
    /* every section but the network blocks is kept for parsing (RPLY: its
     * header) */
    uint64_t keep_n = sec == S_NETS || sec == S_ADAM ? 0
                      : sec == S_RPLY                ? RPLY_HDR
                                                     : len;
    unsigned char *small = keep_n ? xmalloc(keep_n + 1) : NULL;
    /* the state sections' f32 values must be finite: a NaN weight would load
     * and then stop the learner on rollbacks that blame the actors */
    int state = sec == S_NETS || sec == S_ADAM || sec == S_OPTS;
    const char *bad_part = NULL;
    size_t bad_index = 0;
    uint32_t crc = crc32_update(0, hdr, 4);
    crc = crc32_update(crc, hdr + 8, 8);
    for (uint64_t done = 0; done < len;) {
        size_t n = (size_t)HPO_MIN((uint64_t)CHUNK, len - done);
        if (read_at(fd, buf, n, pay + (int64_t)done)) {
            errf(why, wlen, "read error in section %s: %s", tags[sec],
                 strerror(errno));
            free(small);
            return -1;
        }
        crc = crc32_update(crc, buf, n);
        if (state && !bad_part)
            sac_section_finite((sac_section)(sec - S_NETS), m->n_params, buf,
                               done, n, &bad_part, &bad_index);
        if (done < keep_n)
            memcpy(small + done, buf,
                   (size_t)HPO_MIN((uint64_t)n, keep_n - done));
        done += n;
    }
    if (crc != stored) {
        errf(why, wlen, "checksum mismatch in section %s (file corrupt)",
             tags[sec]);
        free(small);
        return -1;
    }
    if (bad_part) {
        errf(
            why, wlen,
            "section %s: %s[%zu] is not finite (NaN or Inf: the agent had diverged, or the file was edited); resume from an earlier checkpoint",
            tags[sec], bad_part, bad_index);
        free(small);
        return -1;
    }
    *out = (section){sec, pay, len, small};
    return 0;
}

// ---- each section's reader: its payload into info, or the reason ----

static int parse_meta(const section *s, meta *m, ckpt_info *info, char *why,
                      size_t wlen)
{
    memcpy(m, s->small, sizeof *m);
    m->env[sizeof m->env - 1] = '\0';
    if (!m->obs_dim || !m->act_dim || !m->n_params ||
        m->n_params > (UINT64_MAX / 16)) {
        errf(why, wlen, "bad shape header");
        return -1;
    }
    info->obs_dim = (int)m->obs_dim;
    info->act_dim = (int)m->act_dim;
    info->n_params = m->n_params;
    return 0;
}

static int parse_conf(const section *s, const meta *m, ckpt_info *info,
                      char *why, size_t wlen)
{
    char e2[256];
    if (config_read_text(&info->cfg, (const char *)s->small, (size_t)s->len, 0,
                         e2, sizeof e2)) {
        errf(why, wlen, "%s", e2);
        return -1;
    }
    return conf_matches(&info->cfg, m, why, wlen);
}

/* The counters; a CNTR_V1_LEN section (written before the run state)
 * reads as wall_s NAN and no recent returns. The run state must be sane: a
 * finite, non-negative wall_s (or NaN), at most CKPT_RECENT finite returns. */
static int parse_cntr(const section *s, ckpt_info *info, char *why, size_t wlen)
{
    int64_t cnt[3];
    memcpy(cnt, s->small, sizeof cnt);
    info->counters = (ckpt_counters){.env_steps = cnt[0],
                                     .updates = cnt[1],
                                     .episodes = cnt[2],
                                     .wall_s = NAN};
    if (s->len == CNTR_V1_LEN)
        return 0;
    ckpt_counters *c = &info->counters;
    uint32_t n, zero;
    memcpy(&c->wall_s, s->small + 24, 8);
    memcpy(&n, s->small + 32, 4);
    memcpy(&zero, s->small + 36, 4);
    if (!isnan(c->wall_s) && !(c->wall_s >= 0.0 && isfinite(c->wall_s))) {
        errf(why, wlen, "section CNTR: wall_s %g is not a time (corrupt)",
             c->wall_s);
        return -1;
    }
    if (n > CKPT_RECENT || zero) {
        errf(
            why, wlen,
            "section CNTR: %u recent returns (at most %d) or a reserved field of %#x (corrupt)",
            n, CKPT_RECENT, zero);
        return -1;
    }
    c->n_recent = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(&c->recent[i], s->small + 40 + 8 * i, 8);
        if (!isfinite(c->recent[i])) {
            errf(why, wlen,
                 "section CNTR: recent return %u is not finite (corrupt)", i);
            return -1;
        }
    }
    return 0;
}

static int parse_rngs(const section *s, ckpt_info *info, char *why, size_t wlen)
{
    uint32_t nr;
    memcpy(&nr, s->small, 4);
    if (nr != (s->len - 8) / RNG_LEN) {
        errf(why, wlen, "RNGS count %u disagrees with its length", nr);
        return -1;
    }
    info->n_rngs = (int)nr;
    return 0;
}

static int parse_rply(const section *s, const meta *m, ckpt_info *info,
                      char *why, size_t wlen)
{
    uint64_t h[4];
    uint32_t dims[2];
    memcpy(h, s->small, 32);
    memcpy(dims, s->small + 32, 8);
    uint64_t row = 4 * (2 * (uint64_t)m->obs_dim + m->act_dim + 1) + 1;
    uint64_t body = s->len - RPLY_HDR;
    if (dims[0] != m->obs_dim || dims[1] != m->act_dim || h[1] > h[0] ||
        (h[1] && h[2] >= h[0]) || h[1] != body / row || body % row) {
        errf(
            why, wlen,
            "replay section header inconsistent with its length or the shapes");
        return -1;
    }
    info->has_replay = 1;
    info->replay_capacity = h[0];
    info->replay_n = h[1];
    return 0;
}

/* The reader of section s (NETS and ADAM: nothing to parse). */
static int parse_section(const section *s, meta *m, ckpt_info *info, char *why,
                         size_t wlen)
{
    switch (s->sec) {
    case S_META:
        return parse_meta(s, m, info, why, wlen);
    case S_CONF:
        return parse_conf(s, m, info, why, wlen);
    case S_CNTR:
        return parse_cntr(s, info, why, wlen);
    case S_RNGS:
        return parse_rngs(s, info, why, wlen);
    case S_RPLY:
        return parse_rply(s, m, info, why, wlen);
    default:
        return 0;
    }
}

int ckpt_open(const char *path, ckpt_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    snprintf(info->path, sizeof info->path, "%s", path);
    for (int i = 0; i < S_N; i++)
        info->off[i] = -1;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    char why[512] = "";
    unsigned char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st)) {
        errf(why, sizeof why, "cannot stat: %s", strerror(errno));
        goto out;
    }
    int64_t size = st.st_size;
    if (read_file_header(fd, size, why, sizeof why))
        goto out;
    buf = xmalloc(CHUNK);
    meta m;
    memset(&m, 0, sizeof m);
    int64_t off = FILE_HDR;
    for (int next = S_META;;) { /* next: the earliest section allowed */
        section s;
        if (read_section(fd, size, off, next, &m, buf, &s, why, sizeof why))
            goto out;
        int bad = parse_section(&s, &m, info, why, sizeof why);
        free(s.small);
        if (bad)
            goto out;
        info->off[s.sec] = s.pay;
        info->len[s.sec] = s.len;
        off = s.pay + (int64_t)s.len;
        if (s.sec == S_END)
            break;
        next = s.sec + 1;
    }
    if (off != size) {
        errf(why, sizeof why, "%" PRId64 " bytes after the end section",
             size - off);
        goto out;
    }
    rc = 0;
out:
    if (rc)
        errf(err, errlen, "%s: %s", path, why);
    free(buf);
    close(fd);
    return rc;
}

int ckpt_check(const ckpt_info *info, const sac *s, char *err, size_t errlen)
{
    meta m;
    meta_of(s, &m);
    const hpo_config *f = &info->cfg;
    const char *p = info->path;
    if (strcasecmp(f->env, m.env)) {
        errf(err, errlen, "%s: other environment: checkpoint %s, this run %s",
             p, f->env, m.env);
        return -1;
    }
    if (f->mode != (int)m.mode) {
        errf(err, errlen, "%s: other mode: checkpoint %s, this run %s", p,
             mode_name(f->mode), mode_name((int)m.mode));
        return -1;
    }
    if (info->obs_dim != (int)m.obs_dim || info->act_dim != (int)m.act_dim) {
        errf(
            err, errlen,
            "%s: other dimensions: checkpoint obs %d act %d, this run obs %u act %u",
            p, info->obs_dim, info->act_dim, m.obs_dim, m.act_dim);
        return -1;
    }
    if (f->pi_layers != (int)m.pi_layers || f->pi_hidden != (int)m.pi_hidden ||
        f->q_layers != (int)m.q_layers || f->q_hidden != (int)m.q_hidden ||
        f->h_hidden != (int)m.h_hidden ||
        f->h_use_state != (int)m.h_use_state || info->n_params != m.n_params) {
        errf(
            err, errlen,
            "%s: other network sizes: checkpoint pi %dx%d q %dx%d h %d (state %d), this run pi %ux%u q %ux%u h %u (state %u)",
            p, f->pi_layers, f->pi_hidden, f->q_layers, f->q_hidden,
            f->h_hidden, f->h_use_state, m.pi_layers, m.pi_hidden, m.q_layers,
            m.q_hidden, m.h_hidden, m.h_use_state);
        return -1;
    }
    return 0;
}

/* Read the payload of section sec at byte at into dst. */
static int read_sec(int fd, const ckpt_info *info, int sec, uint64_t at,
                    void *dst, size_t n)
{
    HPO_ASSERT(info->off[sec] >= 0 && at + n <= info->len[sec]);
    return read_at(fd, dst, n, info->off[sec] + (int64_t)at);
}

static int restore(const ckpt_info *info, sac *s, int weights_only,
                   ckpt_counters *c, rng *const *rngs, int n_rngs, replay *rb,
                   int *replay_exact, char *err, size_t errlen)
{
    if (ckpt_check(info, s, err, errlen))
        return -1;
    if (!weights_only && n_rngs != info->n_rngs) {
        errf(err, errlen, "%s: holds %d RNG streams, this run has %d",
             info->path, info->n_rngs, n_rngs);
        return -1;
    }
    int fd = open(info->path, O_RDONLY);
    if (fd < 0) {
        errf(err, errlen, "%s: cannot open: %s", info->path, strerror(errno));
        return -1;
    }
    unsigned char rbuf[CKPT_MAX_RNGS * RNG_LEN];
    int rc = -1;
    float *rows = NULL;
    /* the agent's state, as sac.c declares it, read whole before any of it
     * is set: a short read leaves the agent unchanged */
    static const int secs[SAC_SEC_N] = {S_NETS, S_ADAM, S_OPTS};
    unsigned char *state[SAC_SEC_N] = {0};
    for (int i = 0; i < SAC_SEC_N; i++) {
        size_t n = sac_section_bytes((sac_section)i, s->nets.n_params);
        state[i] = xmalloc(n);
        if ((!weights_only || i != SAC_SEC_ADAM) &&
            read_sec(fd, info, secs[i], 0, state[i], n))
            goto short_read;
    }
    if (read_sec(fd, info, S_RNGS, 8, rbuf, (size_t)info->n_rngs * RNG_LEN))
        goto short_read;
    for (int i = 0; i < SAC_SEC_N; i++)
        if (!weights_only || i != SAC_SEC_ADAM)
            sac_section_restore(s, (sac_section)i, state[i], weights_only);
    if (!weights_only) {
        if (c)
            *c = info->counters;
        for (int i = 0; i < n_rngs; i++)
            rng_unpack(rngs[i], rbuf + i * RNG_LEN);
    }
    if (replay_exact)
        *replay_exact = -1;
    if (!weights_only && rb && info->has_replay) {
        uint64_t h[4];
        if (read_sec(fd, info, S_RPLY, 0, h, 32))
            goto short_read;
        size_t n = (size_t)h[1];
        size_t od = (size_t)info->obs_dim, ad = (size_t)info->act_dim;
        size_t rowf = 2 * od + ad + 1;
        rows = xmalloc(n * rowf * sizeof(float) + n + 1);
        float *obs = rows, *act = obs + n * od, *rew = act + n * ad,
              *nxt = rew + n;
        uint8_t *term = (uint8_t *)(nxt + n * od);
        if (n && read_sec(fd, info, S_RPLY, RPLY_HDR, rows,
                          n * rowf * sizeof(float) + n))
            goto short_read;
        replay_rows v = {.capacity = (size_t)h[0],
                         .n = n,
                         .head = (size_t)h[2],
                         .pushed = h[3],
                         .obs_dim = (int)od,
                         .act_dim = (int)ad,
                         .obs = obs,
                         .act = act,
                         .reward = rew,
                         .next_obs = nxt,
                         .terminated = term};
        int exact = replay_restore(rb, &v);
        if (replay_exact)
            *replay_exact = exact;
    }
    rc = 0;
    goto out;
short_read:
    errf(err, errlen, "%s: short read (file changed since it was verified)",
         info->path);
out:
    for (int i = 0; i < SAC_SEC_N; i++)
        free(state[i]);
    free(rows);
    close(fd);
    return rc;
}

int ckpt_restore(const ckpt_info *info, sac *s, ckpt_counters *c,
                 rng *const *rngs, int n_rngs, replay *rb, int *replay_exact,
                 char *err, size_t errlen)
{
    HPO_ASSERT(s->adam_m && s->adam_v);
    return restore(info, s, 0, c, rngs, n_rngs, rb, replay_exact, err, errlen);
}

int ckpt_restore_weights(const ckpt_info *info, sac *s, char *err,
                         size_t errlen)
{
    return restore(info, s, 1, NULL, NULL, 0, NULL, NULL, err, errlen);
}

int ckpt_read_replay_obs(const ckpt_info *info, uint64_t row, float *obs,
                         char *err, size_t errlen)
{
    if (!info->has_replay) {
        errf(
            err, errlen,
            "%s: holds no replay buffer (it was written without --checkpoint-replay)",
            info->path);
        return -1;
    }
    if (row >= info->replay_n) {
        errf(err, errlen,
             "%s: replay row %" PRIu64 " out of range: it holds %" PRIu64
             " rows (0 to %" PRIu64 ")",
             info->path, row, info->replay_n,
             info->replay_n ? info->replay_n - 1 : 0);
        return -1;
    }
    int fd = open(info->path, O_RDONLY);
    if (fd < 0) {
        errf(err, errlen, "%s: cannot open: %s", info->path, strerror(errno));
        return -1;
    }
    /* the oldest row is at head once the ring is full, else at 0 */
    uint64_t h[4];
    size_t ob = (size_t)info->obs_dim * sizeof(float);
    int rc = read_sec(fd, info, S_RPLY, 0, h, 32);
    if (!rc && (h[0] != info->replay_capacity || h[1] != info->replay_n ||
                h[2] >= h[0]))
        rc = -1; /* not the header ckpt_open verified */
    if (!rc) {
        uint64_t phys = h[1] == h[0] ? (h[2] + row) % h[0] : row;
        rc = read_sec(fd, info, S_RPLY, RPLY_HDR + phys * ob, obs, ob);
    }
    close(fd);
    if (rc)
        errf(err, errlen, "%s: short read (file changed since it was verified)",
             info->path);
    return rc;
}

int ckpt_find_latest(const char *dir, const sac *want, ckpt_info *info,
                     char *err, size_t errlen)
{
    int64_t *v;
    int n = list_numbers(dir, &v, err, errlen);
    if (n < 0)
        return -1;
    int rc = -1;
    char e2[1024], names[768] = "";
    size_t nl = 0;
    for (int i = 0; i < n; i++) {
        char p[CKPT_PATH_LEN];
        if (ckpt_path(p, dir, v[i], e2, sizeof e2))
            continue;
        if (ckpt_open(p, info, e2, sizeof e2) == 0 &&
            (!want || ckpt_check(info, want, e2, sizeof e2) == 0)) {
            rc = 0;
            break;
        }
        log_warn("skipping checkpoint %s", e2);
        if (nl + 40 < sizeof names)
            nl += (size_t)snprintf(names + nl, sizeof names - nl, "%s%s",
                                   nl ? ", " : "", p);
    }
    if (rc)
        errf(err, errlen, "no valid checkpoint in %s (%d invalid%s%s)", dir, n,
             n ? ": " : "", names);
    free(v);
    return rc;
}

// ---- weights files (docs/weights.md) ----

#define WEIGHTS_MAGIC "HPOWGT\r\n"
#define WEIGHTS_VERSION 2u /* 1: its own copy of the shape fields */

/* A weights file's header: its shapes are a checkpoint's META, one layout
 * for both files (docs/weights.md). */
typedef struct weights_header {
    char magic[8];
    uint32_t version;
    uint32_t reserved;
    meta shape; /* META_LEN bytes, as a checkpoint's META section */
    uint64_t updates;
    float log_alpha;
    uint32_t crc; /* CRC-32 of the header with crc = 0, then the data */
} weights_header;
_Static_assert(sizeof(weights_header) == 16 + META_LEN + 16,
               "weights header layout");

static void fill_header(const sac *s, weights_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, WEIGHTS_MAGIC, 8);
    h->version = WEIGHTS_VERSION;
    meta_of(s, &h->shape);
    h->updates = (uint64_t)s->updates;
    h->log_alpha = s->log_alpha;
}

/* A weights file: its header, then the network block as a checkpoint's
 * NETS section holds it (sac_section_save). */
typedef struct weights_out {
    piece pc[2];
} weights_out;

static int write_weights(int fd, void *ctx)
{
    const weights_out *w = ctx;
    return write_pieces(fd, w->pc, 2);
}

int ckpt_weights_save(const char *path, const sac *s, char *err, size_t errlen)
{
    weights_header h;
    fill_header(s, &h);
    size_t nb = sac_section_bytes(SAC_SEC_NETS, s->nets.n_params);
    void *nets = xmalloc(nb);
    sac_section_save(s, SAC_SEC_NETS, nets);
    weights_out w = {{{&h, sizeof h}, {nets, nb}}};
    h.crc = crc_pieces(0, w.pc, 2); /* pc[0] points at h, crc still 0 */
    int rc = write_file_atomic(path, write_weights, &w, err, errlen);
    free(nets);
    return rc;
}

int ckpt_weights_load(const char *path, sac *s, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        errf(err, errlen, "cannot open weights %s: %s", path, strerror(errno));
        return -1;
    }
    weights_header h, want;
    fill_header(s, &want);
    size_t nb = sac_section_bytes(SAC_SEC_NETS, s->nets.n_params);
    unsigned char *nets = NULL;
    int rc = -1;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, WEIGHTS_MAGIC, 8)) {
        errf(err, errlen, "%s: not an hpo weights file (bad magic)", path);
        goto out;
    }
    if (h.version != WEIGHTS_VERSION) {
        errf(
            err, errlen,
            "%s: weights version %u, this build reads %u (a weights.bin from before 2026-12-04: evaluate the run's checkpoint instead)",
            path, h.version, WEIGHTS_VERSION);
        goto out;
    }
    if (h.reserved) {
        errf(err, errlen, "%s: reserved header field is %#x, not 0 (corrupt)",
             path, h.reserved);
        goto out;
    }
    const meta *hf = &h.shape, *w = &want.shape;
    if (hf->obs_dim != w->obs_dim || hf->act_dim != w->act_dim ||
        hf->pi_layers != w->pi_layers || hf->pi_hidden != w->pi_hidden ||
        hf->q_layers != w->q_layers || hf->q_hidden != w->q_hidden ||
        hf->h_hidden != w->h_hidden || hf->h_use_state != w->h_use_state ||
        hf->n_params != w->n_params) {
        errf(
            err, errlen,
            "%s: shapes differ: file obs %u act %u pi %ux%u q %ux%u h %u (state %u), this agent obs %u act %u pi %ux%u q %ux%u h %u (state %u)",
            path, hf->obs_dim, hf->act_dim, hf->pi_layers, hf->pi_hidden,
            hf->q_layers, hf->q_hidden, hf->h_hidden, hf->h_use_state,
            w->obs_dim, w->act_dim, w->pi_layers, w->pi_hidden, w->q_layers,
            w->q_hidden, w->h_hidden, w->h_use_state);
        goto out;
    }
    nets = xmalloc(nb);
    if (fread(nets, 1, nb, f) != nb) {
        errf(err, errlen, "%s: truncated (expected %zu parameter bytes)", path,
             nb);
        goto out;
    }
    uint32_t stored = h.crc;
    h.crc = 0;
    piece pc[2] = {{&h, sizeof h}, {nets, nb}}; /* ckpt_weights_save's layout */
    if (crc_pieces(0, pc, 2) != stored) {
        errf(err, errlen, "%s: checksum mismatch (file corrupt)", path);
        goto out;
    }
    const char *bad_part = "log_alpha";
    size_t bad_index = 0;
    if (!isfinite(h.log_alpha) ||
        !sac_section_finite(SAC_SEC_NETS, s->nets.n_params, nets, 0, nb,
                            &bad_part, &bad_index)) {
        errf(
            err, errlen,
            "%s: %s[%zu] is not finite (NaN or Inf: the agent had diverged, or the file was edited)",
            path, bad_part, bad_index);
        goto out;
    }
    sac_section_restore(s, SAC_SEC_NETS, nets, 1);
    s->log_alpha = h.log_alpha;
    rc = 0;
out:
    free(nets);
    fclose(f);
    return rc;
}

int ckpt_file_kind(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char magic[8];
    size_t n = fread(magic, 1, 8, f);
    fclose(f);
    if (n != 8) {
        errf(err, errlen, "%s: too short for a checkpoint or weights file",
             path);
        return -1;
    }
    if (!memcmp(magic, CKPT_MAGIC, 8))
        return CKPT_FILE_CHECKPOINT;
    if (!memcmp(magic, WEIGHTS_MAGIC, 8))
        return CKPT_FILE_WEIGHTS;
    errf(err, errlen, "%s: neither a checkpoint nor a weights file (bad magic)",
         path);
    return -1;
}
