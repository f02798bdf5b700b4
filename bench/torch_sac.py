#!/usr/bin/python3
"""torch_sac.py - a plain PyTorch SAC on hpo's environments: the reference.

    /usr/bin/python3 bench/torch_sac.py [--out DIR | --resume DIR]
        [--checkpoint-every N] [--keep K] [--quiet] [--hpo-train PATH]
        [--lib PATH] SETTING-FLAGS...

SETTING-FLAGS are hpo-train's (--env, --mode, --seed, --steps, --threads, ...).
Every hyper-parameter comes from `hpo-train SETTING-FLAGS --config-only`, so
this learner and hpo-train's `--mode sac` train with the same settings on the
same environments (stepped through libhpoenv.so, common/envs/hpoenv.h): a curve
difference between the two can only come from the learner. Only --mode sac
is accepted (exit 2 otherwise).

The algorithm is SAC as the well-known PyTorch implementations (CleanRL,
Stable-Baselines3) have it: twin critics with Polyak targets, a tanh-Gaussian
policy whose log_std is clamped to [-20, 2] (algorithm.md), the temperature
auto-tuned toward -act_dim (or --target-entropy) from the preset's alpha or
held fixed (--auto-alpha 0), uniform random actions for the first
learning_starts steps, then one update per environment step; a time-limit
truncation bootstraps, a termination does not. Adam for every network and
log_alpha; nn.Linear's default initialization.

The run directory gets what hpo-train writes: config (hpo-train's resolved
text, then `impl = torch`), progress.csv (hpo-train's columns and rows,
docs/status.md; the HD columns are 0 as in hpo-train's mode sac), checkpoint-<updates>.pt (every
network, target, optimizer state, log_alpha, counters, the torch / numpy /
python / environment RNG states and the replay buffer; written to a temporary
file, fsync'd and renamed; the newest --keep kept) and, on stdout, the line
`final eval_return=... eval_std=... env_steps=... updates=... wall_s=...`.
There is no weights.bin: the networks are in the checkpoints.

Exit status: 0 done, 1 run-time failure, 2 bad command line or setting,
130 interrupted (SIGINT/SIGTERM; a checkpoint is written first).
"""
import hashlib
import io
import math
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hpoenv  # noqa: E402

PROG = "torch_sac"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# progress.csv's one schema, in file order: common/run/progress.h defines it,
# docs/status.md documents it; set from `hpo-train --describe-progress` by
# resolve_config. Older files are read by name (OLD_COLUMNS: old names).
CSV_COLUMNS = None
OLD_COLUMNS = {"recent_return": "episode_return"}
CSV_LINE_MAX = 4095         # longest progress.csv line read back (as C's)
RECENT = 10                 # training episodes in the recent mean
EVAL_MAX_STEPS = 100000     # guard for a class without a time limit
TTY_REFRESH_S, PLAIN_REFRESH_S = 0.25, 5.0
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0

# checkpoint file: magic, payload length (u64 LE), sha256 of the payload,
# payload (torch.save of a dict whose "format" and "version" are checked).
# The payload is read with torch.load(weights_only=True), which builds only
# tensors, dicts, lists, tuples, ints, strings, bools and None (torch 1.13:
# not even floats or bytes), never an arbitrary pickled object: a planted
# .pt cannot run code. plain() writes floats and bytes as tagged dicts
# (FLOAT_TAG, BYTES_TAG) and numpy arrays as tensors; unplain() reverses it.
# Version 2: the plain payload (version 1 pickled numpy objects).
CKPT_MAGIC = b"HPOTSAC\x01"
CKPT_HEAD = len(CKPT_MAGIC) + 8 + 32
CKPT_FORMAT, CKPT_VERSION = "hpo-torch-sac", 2
FLOAT_TAG, BYTES_TAG = "torch_sac.float", "torch_sac.bytes"
CKPT_RE = re.compile(r"^checkpoint-(\d+)\.pt$")

# config fields a resume must not change (the networks' shapes)
FIXED_ON_RESUME = ("env", "mode", "pi-layers", "pi-hidden", "q-layers",
                   "q-hidden", "obs_dim", "act_dim")

OWN_OPTIONS = ("out", "resume", "checkpoint-every", "keep", "hpo-train",
               "lib")
OWN_FLAGS = ("quiet", "config-only", "checkpoint-replay", "help")

USAGE = f"""usage: /usr/bin/python3 bench/torch_sac.py [--out DIR | --resume DIR]
       [--checkpoint-every N] [--keep K] [--quiet] [--hpo-train PATH]
       [--lib PATH] SETTING-FLAGS...

A plain PyTorch SAC (--mode sac only) on hpo's environments with the settings
hpo-train resolves from the same SETTING-FLAGS (hpo-train --help lists them).

  --out DIR              run directory (default runs/<env>-sac-s<seed>-torch)
  --resume DIR           continue the run in DIR from its newest valid
                         checkpoint (its settings, then these flags)
  --checkpoint-every N   checkpoint every N updates (0: only at the end and
                         on SIGINT/SIGTERM; default 0)
  --keep K               checkpoints kept (default 3)
  --quiet                no progress line
  --config-only          print the resolved config and exit
  --checkpoint-replay    accepted for hpo-train's command lines (the replay
                         buffer is always in the checkpoints)
  --hpo-train PATH       hpo-train for the settings (default $HPO_TRAIN, else
                         {os.path.join('build', 'tools', 'hpo-train')} of this tree)
  --lib PATH             libhpoenv.so (default $HPO_ENV_LIB, else
                         {os.path.join('build', 'common', 'libhpoenv.so')} of this tree)
"""


class UsageError(Exception):
    """A bad command line or setting: exit 2."""


class RunError(Exception):
    """A run-time failure (I/O, no checkpoint to resume): exit 1."""


def log(tag, msg):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stderr.write(f"{stamp} {tag} {msg}\n")
    sys.stderr.flush()


# ---- command line and settings ----

def parse_args(argv):
    """Split argv into this script's options and hpo-train's setting flags
    (kept in order). Raises UsageError."""
    opt = {"out": None, "resume": None, "checkpoint-every": 0, "keep": 3,
           "hpo-train": None, "lib": None, "quiet": False,
           "config-only": False, "help": False}
    settings = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok == "-h":
            tok = "--help"
        name, eq, value = tok[2:].partition("=") if tok.startswith("--") \
            else ("", "", "")
        if name in OWN_FLAGS:
            if eq:
                raise UsageError(f"--{name} takes no value")
            opt[name] = True
        elif name in OWN_OPTIONS:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"--{name} needs a value")
                value = argv[i]
                i += 1
            if not value:
                raise UsageError(f"empty value for --{name}")
            opt[name] = value
        else:
            settings.append(tok)
    for name in ("checkpoint-every", "keep"):
        v, lo = opt[name], 1 if name == "keep" else 0
        try:
            v = int(v)
        except ValueError:
            v = -1
        if not lo <= v <= 1000000000:
            raise UsageError(f"bad value '{opt[name]}' for --{name} "
                             f"(an integer >= {lo})")
        opt[name] = v
    if opt["out"] and opt["resume"]:
        raise UsageError("--out and --resume both name the run directory")
    opt["hpo-train"] = (opt["hpo-train"] or os.environ.get("HPO_TRAIN") or
                        os.path.join(ROOT, "build", "tools", "hpo-train"))
    opt["lib"] = opt["lib"] or hpoenv.default_lib_path()
    return opt, settings


def resolve_config(hpo_train, settings):
    """(text, dict) of `hpo-train SETTINGS --config-only`. Raises UsageError
    with hpo-train's message when it refuses the settings, RunError when it
    cannot be run."""
    cmd = [hpo_train] + settings + ["--config-only"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise RunError(f"cannot run {hpo_train} for the settings: {e} "
                       "(build it with ninja -C build, or give --hpo-train "
                       "/ HPO_TRAIN)") from None
    if p.returncode == 2:
        raise UsageError(p.stderr.strip().splitlines()[-1] if p.stderr.strip()
                         else f"{hpo_train} refused the settings")
    if p.returncode != 0:
        raise RunError(f"{' '.join(cmd)} failed with status {p.returncode}: "
                       f"{p.stderr.strip()}")
    cfg = {}
    for line in p.stdout.splitlines():
        name, eq, value = line.partition(" = ")
        if not eq:
            raise RunError(f"{hpo_train} --config-only: unexpected line "
                           f"'{line}'")
        cfg[name] = value
    global CSV_COLUMNS
    try:
        h = subprocess.run([hpo_train, "--describe-progress"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise RunError(f"cannot run {hpo_train} --describe-progress: {e}") from None
    header = h.stdout.strip()
    if h.returncode != 0 or not header.startswith("env_steps,"):
        raise RunError(f"{hpo_train} --describe-progress gave no progress.csv "
                       f"header (status {h.returncode}): {h.stderr.strip()}")
    CSV_COLUMNS = header
    need = ("env", "mode", "alpha", "auto-alpha", "target-entropy",
            "pi-layers", "pi-hidden", "q-layers", "q-hidden", "batch",
            "buffer", "gamma", "tau", "lr", "learning-starts", "steps", "seed",
            "threads", "eval-every", "eval-episodes", "obs_dim", "act_dim")
    missing = [n for n in need if n not in cfg]
    if missing:
        raise RunError(f"{hpo_train} --config-only lacks {', '.join(missing)}")
    if cfg.get("precision", "fp32") != "fp32":
        raise UsageError(f"--precision {cfg['precision']}: the reference computes in "
                         "fp32 only (hpo-train's bf16 products have no peer here)")
    return p.stdout, cfg


class Settings:
    """The numbers the learner uses, from hpo-train's resolved config."""

    def __init__(self, c):
        self.env = c["env"]
        self.mode = c["mode"]
        self.alpha = float(c["alpha"])
        self.auto_alpha = int(c["auto-alpha"]) != 0
        self.target_entropy = float(c["target-entropy"])
        self.pi_layers, self.pi_hidden = int(c["pi-layers"]), int(c["pi-hidden"])
        self.q_layers, self.q_hidden = int(c["q-layers"]), int(c["q-hidden"])
        self.batch, self.buffer = int(c["batch"]), int(c["buffer"])
        self.gamma, self.tau, self.lr = (float(c["gamma"]), float(c["tau"]),
                                         float(c["lr"]))
        self.learning_starts = int(c["learning-starts"])
        self.steps, self.seed = int(c["steps"]), int(c["seed"])
        self.threads = int(c["threads"])
        self.eval_every = int(c["eval-every"])
        self.eval_episodes = int(c["eval-episodes"])
        self.obs_dim, self.act_dim = int(c["obs_dim"]), int(c["act_dim"])
        if self.target_entropy == 0.0:   # hpo's convention: 0 means -act_dim
            self.target_entropy = -float(self.act_dim)


# ---- networks ----

def mlp(inp, hidden, layers, out):
    mods, d = [], inp
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, out))
    return nn.Sequential(*mods)


class Critic(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden, layers):
        super().__init__()
        self.net = mlp(obs_dim + act_dim, hidden, layers, 1)

    def forward(self, obs, act):
        return self.net(torch.cat([obs, act], 1)).squeeze(1)


class Actor(nn.Module):
    """tanh-Gaussian policy: trunk, then mu and log_std heads."""

    def __init__(self, obs_dim, act_dim, hidden, layers):
        super().__init__()
        mods, d = [], obs_dim
        for _ in range(layers):
            mods += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        self.trunk = nn.Sequential(*mods)
        self.mu = nn.Linear(d, act_dim)
        self.log_std = nn.Linear(d, act_dim)

    def forward(self, obs):
        h = self.trunk(obs)
        return self.mu(h), self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs):
        """(tanh(u), log pi) with u = mu + std * xi; the tanh correction is
        the stable 2 (log 2 - u - softplus(-2u)) of algorithm.md."""
        mu, log_std = self(obs)
        std = log_std.exp()
        xi = torch.randn_like(mu)
        u = mu + std * xi
        logp = (-0.5 * xi.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
                - 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(1)
        return torch.tanh(u), logp


# ---- replay ----

class Replay:
    """Ring of (obs, act, reward, next_obs, terminated), capacity rows."""

    def __init__(self, capacity, obs_dim, act_dim):
        self.capacity, self.n, self.head = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.act = np.zeros((capacity, act_dim), np.float32)
        self.rew = np.zeros(capacity, np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.done = np.zeros(capacity, np.float32)

    def push(self, o, a, r, o2, terminated):
        i = self.head
        self.obs[i], self.act[i], self.rew[i] = o, a, r
        self.next_obs[i], self.done[i] = o2, float(terminated)
        self.head = (i + 1) % self.capacity
        self.n = min(self.n + 1, self.capacity)

    def sample(self, gen, m):
        idx = gen.integers(0, self.n, m)
        t = torch.from_numpy
        return (t(self.obs[idx]), t(self.act[idx]), t(self.rew[idx]),
                t(self.next_obs[idx]), t(self.done[idx]))

    def rows(self):
        """The rows oldest first, as a dict of arrays."""
        order = (np.arange(self.n) + (self.head if self.n == self.capacity
                                      else 0)) % self.capacity
        return {k: getattr(self, k)[order].copy()
                for k in ("obs", "act", "rew", "next_obs", "done")}

    def load_rows(self, rows):
        """Refill from rows(): the newest capacity rows are kept."""
        n = len(rows["rew"])
        k = min(n, self.capacity)
        for name in ("obs", "act", "rew", "next_obs", "done"):
            src = np.asarray(rows[name], np.float32)
            if src.shape[0] != n or src.shape[1:] != getattr(self,
                                                             name).shape[1:]:
                raise ValueError(f"replay field {name} of shape {src.shape}")
            getattr(self, name)[:k] = src[n - k:]
        self.n, self.head = k, k % self.capacity
        return k


# ---- checkpoint files ----

def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def csv_rows_upto(path, f, env_steps):
    """The rows of progress.csv (open as f) with env_steps <= env_steps, each
    a line in today's columns (CSV_COLUMNS), found by header name; a last
    line cut by a crash is dropped. Raises RunError with the line and what
    to do on an unknown or repeated column, a row that does not match its
    header, a line past CSV_LINE_MAX."""
    def bad(what):
        raise RunError(f"{path}: {what}; repair or move the file away")
    cols = CSV_COLUMNS.split(",")
    head = f.readline(CSV_LINE_MAX + 2)
    if not head.endswith("\n"):
        if len(head) > CSV_LINE_MAX:
            bad(f"header longer than {CSV_LINE_MAX} bytes")
        return []
    names = [OLD_COLUMNS.get(h, h) for h in head.rstrip("\n").split(",")]
    for i, h in enumerate(names):
        if h not in cols or names.index(h) != i:
            bad(f"header column {i + 1} '{h[:64]}' is "
                f"{'not one' if h not in cols else 'a repeat of one'} of "
                f"progress.csv's (docs/status.md)")
    if "env_steps" not in names:
        bad("no env_steps column in its header")
    kept = []
    for ln, line in enumerate(iter(lambda: f.readline(CSV_LINE_MAX + 2), ""),
                              start=2):
        if not line.endswith("\n"):
            if len(line) > CSV_LINE_MAX:
                bad(f"line {ln} longer than {CSV_LINE_MAX} bytes")
            break  # a row being written when the run stopped
        cells = line.rstrip("\n").split(",")
        if len(cells) != len(names):
            bad(f"line {ln} has {len(cells)} cells, its header {len(names)}")
        row = dict(zip(names, cells))
        try:
            if float(row["env_steps"]) > env_steps:
                continue
        except ValueError:
            bad(f"line {ln}: env_steps '{row['env_steps'][:32]}' is not a "
                f"number")
        kept.append(",".join(row.get(k, "") for k in cols) + "\n")
    return kept


def write_atomic(path, data):
    """Write data to path through a temporary file, fsync and rename."""
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}.tmp.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(d or ".")


def plain(x):
    """x with only what torch.load(weights_only=True) builds: floats as
    {FLOAT_TAG: hex}, bytes as {BYTES_TAG: hex}, numpy arrays as tensors,
    OrderedDicts as dicts. Raises TypeError on anything else, so a new kind
    of object in the state fails at the first save, not at a resume."""
    if x is None or isinstance(x, (bool, str, torch.Tensor)):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return {FLOAT_TAG: float(x).hex()}
    if isinstance(x, (bytes, bytearray)):
        return {BYTES_TAG: bytes(x).hex()}
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x).copy())
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    if isinstance(x, tuple):
        return tuple(plain(v) for v in x)
    raise TypeError(f"checkpoint state holds a {type(x).__name__}, which "
                    "torch.load(weights_only=True) cannot read; convert it "
                    "in plain()")


def unplain(x):
    """The inverse of plain() (tensors stay tensors)."""
    if isinstance(x, dict):
        if len(x) == 1 and FLOAT_TAG in x:
            return float.fromhex(x[FLOAT_TAG])
        if len(x) == 1 and BYTES_TAG in x:
            return bytes.fromhex(x[BYTES_TAG])
        return {k: unplain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [unplain(v) for v in x]
    if isinstance(x, tuple):
        return tuple(unplain(v) for v in x)
    return x


def ckpt_encode(state):
    buf = io.BytesIO()
    torch.save(plain(state), buf)
    payload = buf.getvalue()
    return (CKPT_MAGIC + struct.pack("<Q", len(payload)) +
            hashlib.sha256(payload).digest() + payload)


def ckpt_load(path):
    """The checkpoint's dict. Raises ValueError or OSError with the reason."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < CKPT_HEAD or data[:len(CKPT_MAGIC)] != CKPT_MAGIC:
        raise ValueError("not a torch_sac checkpoint (bad magic or too short)")
    (n,) = struct.unpack("<Q", data[len(CKPT_MAGIC):len(CKPT_MAGIC) + 8])
    payload = data[CKPT_HEAD:]
    if len(payload) != n:
        raise ValueError(f"truncated: {len(payload)} of {n} payload bytes")
    if hashlib.sha256(payload).digest() != data[len(CKPT_MAGIC) + 8:CKPT_HEAD]:
        raise ValueError("checksum mismatch (corrupt)")
    try:
        state = torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError, ...: all refused
        why = str(e).strip().splitlines()[-1][:200] if str(e).strip() else ""
        raise ValueError("refused: the payload holds objects other than "
                         "tensors, dicts, lists, numbers and strings (a "
                         "checkpoint of torch_sac.py before version 2, or a "
                         f"planted file; nothing in it was run): {why}"
                         ) from None
    state = unplain(state)
    if (not isinstance(state, dict) or state.get("format") != CKPT_FORMAT or
            state.get("version") != CKPT_VERSION):
        raise ValueError("unknown checkpoint format or version (version "
                         f"{state.get('version') if isinstance(state, dict) else None}"
                         f", this torch_sac.py reads {CKPT_VERSION})")
    return state


def ckpt_list(d):
    """[(updates, path)] of d's checkpoint files, newest first."""
    try:
        names = os.listdir(d)
    except OSError as e:
        raise RunError(f"cannot read run directory {d}: {e.strerror}") from None
    found = [(int(m.group(1)), os.path.join(d, n))
             for n in names if (m := CKPT_RE.match(n))]
    return sorted(found, reverse=True)


def ckpt_latest(d):
    """(path, state) of the newest valid checkpoint in d, logging why each
    newer one was skipped. Raises RunError when there is none."""
    found = ckpt_list(d)
    for _, path in found:
        try:
            return path, ckpt_load(path)
        except Exception as e:  # any unreadable file is skipped with why
            log("W", f"skipping checkpoint {path}: {e}")
    raise RunError(f"cannot resume: no valid checkpoint-<updates>.pt in {d}"
                   + (" (all were unreadable)" if found else ""))


# ---- the learner ----

class Trainer:
    def __init__(self, opt, settings, cfg_text, c, lib, resume_state):
        self.opt, self.settings, self.c = opt, settings, c
        self.cfg_text = cfg_text
        self.dir = opt["out"]
        self.quiet = opt["quiet"]
        self.tty = sys.stderr.isatty()
        self.lib = lib
        torch.set_num_threads(c.threads)
        torch.manual_seed(c.seed)
        random.seed(c.seed)
        self.gen = np.random.default_rng(c.seed)

        self.env = hpoenv.Env(lib, c.env, c.seed)
        self.eval_env = hpoenv.Env(lib, c.env, c.seed)
        od, ad = self.env.obs_dim, self.env.act_dim
        if (od, ad) != (c.obs_dim, c.act_dim):
            raise RunError(f"{opt['lib']}: {c.env} has dims {od}/{ad}, "
                           f"hpo-train says {c.obs_dim}/{c.act_dim}: the "
                           "library and hpo-train come from different builds")
        self.actor = Actor(od, ad, c.pi_hidden, c.pi_layers)
        self.q1 = Critic(od, ad, c.q_hidden, c.q_layers)
        self.q2 = Critic(od, ad, c.q_hidden, c.q_layers)
        self.q1_t = Critic(od, ad, c.q_hidden, c.q_layers)
        self.q2_t = Critic(od, ad, c.q_hidden, c.q_layers)
        self.q1_t.load_state_dict(self.q1.state_dict())
        self.q2_t.load_state_dict(self.q2.state_dict())
        for p in list(self.q1_t.parameters()) + list(self.q2_t.parameters()):
            p.requires_grad_(False)
        self.q_params = list(self.q1.parameters()) + list(self.q2.parameters())
        self.t_params = (list(self.q1_t.parameters()) +
                         list(self.q2_t.parameters()))
        self.pi_opt = torch.optim.Adam(self.actor.parameters(), lr=c.lr)
        self.q_opt = torch.optim.Adam(self.q_params, lr=c.lr)
        self.log_alpha = torch.tensor(math.log(c.alpha), requires_grad=True)
        self.a_opt = torch.optim.Adam([self.log_alpha], lr=c.lr)
        self.rb = Replay(max(1, min(c.buffer, c.steps)), od, ad)

        self.t = self.updates = self.n_episodes = 0
        self.recent = []
        self.update_s = 0.0
        self.eval_mean = self.eval_std = float("nan")
        self.eval_at = -1
        self.acc = None
        self.env_reset_rng = None
        self.stop = False
        self.csv = None
        if resume_state is not None:
            self.restore(resume_state)

    # -- state --
    def state(self):
        env_rng = (self.env_reset_rng if self.env.episode_steps == 0
                   else self.env.rng_state())
        return {
            "format": CKPT_FORMAT, "version": CKPT_VERSION,
            "settings": self.settings, "config": self.cfg_text,
            "actor": self.actor.state_dict(),
            "q1": self.q1.state_dict(), "q2": self.q2.state_dict(),
            "q1_t": self.q1_t.state_dict(), "q2_t": self.q2_t.state_dict(),
            "pi_opt": self.pi_opt.state_dict(),
            "q_opt": self.q_opt.state_dict(),
            "a_opt": self.a_opt.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "counters": {"env_steps": self.t, "updates": self.updates,
                         "episodes": self.n_episodes},
            "recent": list(self.recent), "update_s": self.update_s,
            "eval": {"at": self.eval_at, "mean": self.eval_mean,
                     "std": self.eval_std},
            "rng": {"torch": torch.get_rng_state(),
                    "numpy": self.gen.bit_generator.state,
                    "python": random.getstate(), "env": env_rng},
            "replay": self.rb.rows(),
        }

    def restore(self, s):
        self.actor.load_state_dict(s["actor"])
        for name in ("q1", "q2", "q1_t", "q2_t"):
            getattr(self, name).load_state_dict(s[name])
        self.pi_opt.load_state_dict(s["pi_opt"])
        self.q_opt.load_state_dict(s["q_opt"])
        self.a_opt.load_state_dict(s["a_opt"])
        with torch.no_grad():
            self.log_alpha.copy_(s["log_alpha"])
        for g in (self.pi_opt, self.q_opt, self.a_opt):  # a changed --lr
            for group in g.param_groups:
                group["lr"] = self.c.lr
        k = s["counters"]
        self.t, self.updates = int(k["env_steps"]), int(k["updates"])
        self.n_episodes = int(k["episodes"])
        self.recent = list(s["recent"])[-RECENT:]
        self.update_s = float(s["update_s"])
        self.eval_at = int(s["eval"]["at"])
        self.eval_mean, self.eval_std = s["eval"]["mean"], s["eval"]["std"]
        r = s["rng"]
        torch.set_rng_state(r["torch"])
        self.gen.bit_generator.state = r["numpy"]
        random.setstate(r["python"])
        self.env.set_rng_state(r["env"])
        n = self.rb.load_rows(s["replay"])
        log("I", f"replay buffer restored: {n} rows")

    # -- files --
    def open_files(self, resume_env_steps):
        os.makedirs(self.dir, exist_ok=True)
        write_atomic(os.path.join(self.dir, "config"),
                     (self.cfg_text + "impl = torch\n").encode())
        self.csv_path = os.path.join(self.dir, "progress.csv")
        if resume_env_steps is None:
            self.csv = open(self.csv_path, "w")
            self.csv.write(CSV_COLUMNS + "\n")
            self.csv.flush()
            return
        # keep the rows written before the checkpoint, read by header name
        # and rewritten into today's columns, then append
        kept = []
        if os.path.exists(self.csv_path):
            with open(self.csv_path) as f:
                kept = csv_rows_upto(self.csv_path, f, resume_env_steps)
        write_atomic(self.csv_path,
                     (CSV_COLUMNS + "\n" + "".join(kept)).encode())
        self.csv = open(self.csv_path, "a")

    def row(self, ep_return=None, eval_mean=None, eval_std=None):
        """A training-episode row (ep_return) or an evaluation row."""
        def cell(v):
            return "" if v is None or math.isnan(v) else f"{v:.7g}"
        stats = ep_return is not None and self.acc is not None
        a = self.acc if stats else None
        n = a["n"] if stats else 1
        rate = (self.updates / self.update_s
                if self.updates > 0 and self.update_s > 0 else None)
        row = {"env_steps": str(self.t), "updates": str(self.updates),
               "episode_return": cell(ep_return), "eval_return": cell(eval_mean),
               "eval_std": cell(eval_std), "updates_per_s": cell(rate),
               "wall_s": f"{time.time() - self.t_start:.3f}",
               "replay_size": str(self.rb.n),
               "episodes": str(self.n_episodes)}
        for k in ("q_loss", "pi_loss", "alpha", "logp", "hd_dist", "gate",
                  "q_mean"):
            row[k] = cell(a[k] / n) if stats else ""
        self.csv.write(",".join(row.get(k, "") for k in CSV_COLUMNS.split(","))
                       + "\n")
        self.csv.flush()

    def checkpoint(self):
        path = os.path.join(self.dir, f"checkpoint-{self.updates}.pt")
        write_atomic(path, ckpt_encode(self.state()))
        for _, old in ckpt_list(self.dir)[self.opt["keep"]:]:
            os.unlink(old)
        if not self.quiet:
            self.progress_break()
            where = ("episode boundary" if self.env.episode_steps == 0
                     else "mid-episode")
            log("I", f"checkpoint {path} (env steps {self.t}, {where})")

    # -- learning --
    def update(self):
        c = self.c
        o, a, r, o2, d = self.rb.sample(self.gen, c.batch)
        alpha = self.log_alpha.exp().item() if c.auto_alpha else c.alpha
        with torch.no_grad():
            a2, logp2 = self.actor.sample(o2)
            qt = torch.min(self.q1_t(o2, a2), self.q2_t(o2, a2))
            y = r + c.gamma * (1.0 - d) * (qt - alpha * logp2)
        q1, q2 = self.q1(o, a), self.q2(o, a)
        q_loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        self.q_opt.zero_grad(set_to_none=True)
        q_loss.backward()
        self.q_opt.step()

        for p in self.q_params:       # the policy step gives critics no grad
            p.requires_grad_(False)
        a_pi, logp = self.actor.sample(o)
        q_pi = torch.min(self.q1(o, a_pi), self.q2(o, a_pi))
        pi_loss = (alpha * logp - q_pi).mean()
        self.pi_opt.zero_grad(set_to_none=True)
        pi_loss.backward()
        self.pi_opt.step()
        for p in self.q_params:
            p.requires_grad_(True)

        logp_mean = logp.detach().mean()
        if c.auto_alpha:
            a_loss = -self.log_alpha * (logp_mean + c.target_entropy)
            self.a_opt.zero_grad(set_to_none=True)
            a_loss.backward()
            self.a_opt.step()
        with torch.no_grad():
            for pt, p in zip(self.t_params, self.q_params):
                pt.lerp_(p, c.tau)
        self.updates += 1
        st = {"q_loss": q_loss.item(), "pi_loss": pi_loss.item(),
              "alpha": alpha, "logp": logp_mean.item(), "hd_dist": 0.0,
              "gate": 0.0, "q_mean": q1.detach().mean().item()}
        if self.acc is None:
            self.acc = {**dict.fromkeys(st, 0.0), "n": 0}
        for k, v in st.items():
            self.acc[k] += v
        self.acc["n"] += 1

    def act(self, obs):
        with torch.no_grad():
            a, _ = self.actor.sample(torch.from_numpy(obs).unsqueeze(0))
        return a.squeeze(0).numpy()

    def evaluate(self):
        """eval_episodes deterministic (tanh(mu)) episodes on the evaluation
        environment, reseeded as hpo-train reseeds it, so every evaluation
        starts from hpo-train's states. Population mean and std."""
        self.eval_env.seed(hpoenv.eval_seed(self.lib, self.c.seed))
        rets = []
        for _ in range(self.c.eval_episodes):
            obs, ret = self.eval_env.reset(), 0.0
            for _ in range(EVAL_MAX_STEPS):
                with torch.no_grad():
                    mu, _ = self.actor(torch.from_numpy(obs).unsqueeze(0))
                obs, r, term, trunc = self.eval_env.step(
                    torch.tanh(mu).squeeze(0).numpy())
                ret += r
                if term or trunc:
                    break
            rets.append(ret)
        return float(np.mean(rets)), float(np.std(rets))

    def run_eval(self):
        self.eval_mean, self.eval_std = self.evaluate()
        self.eval_at = self.t
        self.row(eval_mean=self.eval_mean, eval_std=self.eval_std)

    def new_episode(self):
        self.env_reset_rng = self.env.rng_state()
        self.ep_return = 0.0
        self.obs = self.env.reset()

    def train(self):
        """hpo-train's loop. Returns 0 done, 1 interrupted."""
        c = self.c
        self.new_episode()
        while self.t < c.steps:
            if self.stop:
                return 1
            if self.t < c.learning_starts:
                action = self.gen.uniform(-1.0, 1.0, c.act_dim).astype(
                    np.float32)
            else:
                action = self.act(self.obs)
            next_obs, r, term, trunc = self.env.step(action)
            self.rb.push(self.obs, action, r, next_obs, term)
            self.ep_return += r
            step = self.t
            self.t += 1
            updated = False
            ended, ended_return = term or trunc, self.ep_return
            if ended:
                self.recent = (self.recent + [self.ep_return])[-RECENT:]
                self.n_episodes += 1
                self.new_episode()
            else:
                self.obs = next_obs
            if step >= c.learning_starts:
                t0 = time.perf_counter()
                if self.learn_t0 == 0.0:
                    self.learn_t0 = time.time()
                self.update()
                self.update_s += time.perf_counter() - t0
                updated = True
            # the episode's row after this step's update, as hpo-train writes it
            if ended:
                self.row(ep_return=ended_return)
                self.acc = None
            if c.eval_every > 0 and self.t % c.eval_every == 0:
                self.run_eval()
            every = self.opt["checkpoint-every"]
            if every > 0 and updated and self.updates % every == 0:
                try:
                    self.checkpoint()
                except OSError as e:  # not fatal: the run goes on
                    log("E", f"cannot write a checkpoint in {self.dir}: {e}")
            self.progress(False)
        if self.eval_at != self.t:
            self.run_eval()
        return 0

    # -- progress line --
    def progress(self, final):
        if self.quiet:
            return
        now = time.time()
        every = TTY_REFRESH_S if self.tty else PLAIN_REFRESH_S
        if not final and now - self.last_show < every:
            return
        if now > self.show_t and self.updates > self.show_updates:
            self.show_rate = ((self.updates - self.show_updates) /
                              (now - self.show_t))
        self.show_t, self.show_updates, self.last_show = (now, self.updates,
                                                          now)
        c, ls = self.c, self.c.learning_starts
        eta = float("nan")
        if self.t >= c.steps:
            eta = 0.0
        elif self.learn_t0 > 0 and self.t > max(ls, self.t0_steps):
            eta = ((c.steps - self.t) * (now - self.learn_t0) /
                   (self.t - max(ls, self.t0_steps)))
        ret = f"{np.mean(self.recent):.1f}" if self.recent else "-"
        ev = "-" if math.isnan(self.eval_mean) else f"{self.eval_mean:.1f}"
        pct = 100.0 * self.t / c.steps if c.steps else 100.0
        sys.stderr.write(
            f"{chr(13) + chr(27) + '[K' if self.tty else ''}{PROG} "
            f"{self.t}/{c.steps} steps ({pct:.0f}%) | {self.show_rate:.0f} "
            f"upd/s | return {ret} | eval {ev} | ETA {fmt_duration(eta)}"
            f"{'' if self.tty and not final else chr(10)}")
        sys.stderr.flush()
        self.shown = self.tty and not final

    def progress_break(self):
        if self.shown:
            sys.stderr.write("\n")
            self.shown = False

    def start_clock(self):
        self.t_start = self.last_show = self.show_t = time.time()
        self.learn_t0 = 0.0
        self.t0_steps = self.t
        self.show_updates, self.show_rate, self.shown = self.updates, 0.0, False

    def close(self):
        if self.csv:
            self.csv.close()
        self.env.close()
        self.eval_env.close()


def fmt_duration(s):
    if not math.isfinite(s) or s < 0:
        return "?"
    x = round(s)
    if x >= 3600:
        return f"{x // 3600}h{x // 60 % 60:02d}m"
    if x >= 60:
        return f"{x // 60}m{x % 60:02d}s"
    return f"{x}s"


# ---- main ----

def prepare(opt, settings):
    """The settings, config and resume state of the run: (settings, cfg_text,
    cfg_dict, state or None). Raises UsageError or RunError."""
    state = None
    if opt["resume"]:
        path, state = ckpt_latest(opt["resume"])
        base = list(state["settings"])
        cfg_text, cfg = resolve_config(opt["hpo-train"], base + settings)
        old = dict(line.partition(" = ")[::2]
                   for line in state["config"].splitlines())
        for name in FIXED_ON_RESUME:
            if old.get(name) != cfg.get(name):
                raise RunError(f"cannot resume: {path}: other {name}: "
                               f"checkpoint {old.get(name)}, now "
                               f"{cfg.get(name)}")
        opt["out"] = opt["resume"]
        log("I", f"resumed from {path}: env steps "
            f"{state['counters']['env_steps']}, updates "
            f"{state['counters']['updates']}, episodes "
            f"{state['counters']['episodes']}")
        return base + settings, cfg_text, cfg, state
    cfg_text, cfg = resolve_config(opt["hpo-train"], settings)
    return settings, cfg_text, cfg, None


def main(argv):
    try:
        opt, settings = parse_args(argv)
        if opt["help"]:
            sys.stdout.write(USAGE)
            return 0
        settings, cfg_text, cfg, state = prepare(opt, settings)
        if cfg["mode"] != "sac":
            raise UsageError(f"mode '{cfg['mode']}' is not plain SAC: "
                             "torch_sac.py runs --mode sac only (hpo-train "
                             "runs the Hamiltonian modes)")
        if opt["config-only"]:
            sys.stdout.write(cfg_text + "impl = torch\n")
            return 0
        c = Settings(cfg)
        if not opt["out"]:
            opt["out"] = os.path.join("runs", f"{c.env}-sac-s{c.seed}-torch")
        if state is None and os.path.isdir(opt["out"]) and \
                ckpt_list(opt["out"]):
            raise UsageError(f"{opt['out']} holds checkpoints of an earlier "
                             f"run: continue it with --resume {opt['out']}, "
                             "or remove them")
        lib = hpoenv.load(opt["lib"])
    except UsageError as e:
        sys.stderr.write(f"{PROG}: {e} (see torch_sac.py --help)\n")
        return 2
    except (RunError, hpoenv.HpoEnvError) as e:
        log("E", str(e))
        return 1

    tr = None
    try:
        tr = Trainer(opt, settings, cfg_text, c, lib, state)
        tr.open_files(None if state is None else tr.t)
        if not opt["quiet"]:
            log("I", f"{c.env} sac (torch) seed {c.seed}: {c.steps} steps "
                f"(random until {c.learning_starts}), obs {c.obs_dim} act "
                f"{c.act_dim}, writing {opt['out']}")

        def on_signal(signum, frame):
            tr.stop = True
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

        tr.start_clock()
        rc = tr.train()
        tr.progress(True)
        tr.progress_break()
        if rc:
            log("W", f"interrupted at step {tr.t}: saving a checkpoint")
        tr.checkpoint()
        wall = time.time() - tr.t_start
        if rc == 0:
            print(f"final eval_return={tr.eval_mean:.3f} "
                  f"eval_std={tr.eval_std:.3f} env_steps={tr.t} "
                  f"updates={tr.updates} wall_s={wall:.1f}", flush=True)
        return 130 if rc else 0
    except (RunError, hpoenv.HpoEnvError) as e:
        log("E", str(e))
        return 1
    except OSError as e:
        log("E", f"{e.filename or opt['out']}: {e.strerror or e}")
        return 1
    finally:
        if tr:
            tr.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
