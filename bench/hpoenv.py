"""hpoenv.py - hpo's environments from Python, through libhpoenv.so (ctypes).

The library (common/envs/hpoenv.h) is built by meson next to the programs
(build/common/envs/libhpoenv.so) and installed with them. Env steps exactly the
environment hpo-train steps: same classes, time limits, reset noise and seeds.

    lib = hpoenv.load("build/common/envs/libhpoenv.so")
    env = hpoenv.Env(lib, "HalfCheetah", seed=1)
    obs = env.reset()                                  # float32 (obs_dim,)
    obs, reward, terminated, truncated = env.step(action)
"""
import ctypes
import os

import numpy as np

ABI_VERSION = 2
RNG_BYTES = 48
ERR_LEN = 1024

_f32p = ctypes.POINTER(ctypes.c_float)
_intp = ctypes.POINTER(ctypes.c_int)


class HpoEnvError(Exception):
    """The library cannot be loaded, an environment cannot be created, or an
    environment is used after close()."""


def default_lib_path():
    """$HPO_ENV_LIB, else build/common/envs/libhpoenv.so of this source tree."""
    path = os.environ.get("HPO_ENV_LIB")
    if path:
        return path
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "build", "common", "envs", "libhpoenv.so")


def load(path=None):
    """Load libhpoenv.so from path (default: default_lib_path()) and declare
    its functions. Raises HpoEnvError naming the path and the reason."""
    path = path or default_lib_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise HpoEnvError(f"cannot load {path}: {e} (build it with ninja -C "
                          "build, or give --lib / HPO_ENV_LIB)") from None
    try:
        lib.hpoenv_abi_version.restype = ctypes.c_int
        lib.hpoenv_abi_version.argtypes = []
        got = lib.hpoenv_abi_version()
        if got != ABI_VERSION:
            raise HpoEnvError(f"{path}: ABI version {got}, this binding "
                              f"needs {ABI_VERSION}")
        decl = [
            ("hpoenv_eval_seed", ctypes.c_uint64, [ctypes.c_uint64]),
            ("hpoenv_new", ctypes.c_void_p,
             [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_char_p,
              ctypes.c_size_t]),
            ("hpoenv_destroy", None, [ctypes.POINTER(ctypes.c_void_p)]),
            ("hpoenv_name", ctypes.c_char_p, [ctypes.c_void_p]),
            ("hpoenv_obs_dim", ctypes.c_int, [ctypes.c_void_p]),
            ("hpoenv_act_dim", ctypes.c_int, [ctypes.c_void_p]),
            ("hpoenv_max_episode_steps", ctypes.c_int, [ctypes.c_void_p]),
            ("hpoenv_seed", ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint64]),
            ("hpoenv_reset", ctypes.c_int, [ctypes.c_void_p, _f32p]),
            ("hpoenv_step", ctypes.c_float,
             [ctypes.c_void_p, _f32p, _f32p, _intp, _intp]),
            ("hpoenv_episode_steps", ctypes.c_int, [ctypes.c_void_p]),
            ("hpoenv_rng_save", ctypes.c_int,
             [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]),
            ("hpoenv_rng_load", ctypes.c_int,
             [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]),
        ]
        for name, res, args in decl:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
    except AttributeError as e:
        raise HpoEnvError(f"{path}: not a libhpoenv.so: {e}") from None
    return lib


def eval_seed(lib, run_seed):
    """The seed hpo-train gives its evaluation environment before each
    evaluation of a run seeded run_seed."""
    return lib.hpoenv_eval_seed(run_seed)


class Env:
    """One environment instance. Observations are returned as new float32
    arrays; actions are converted to contiguous float32 of act_dim."""

    def __init__(self, lib, name, seed):
        self._lib = lib
        self._h = None
        err = ctypes.create_string_buffer(ERR_LEN)
        h = lib.hpoenv_new(name.encode(), seed, err, ERR_LEN)
        if not h:
            raise HpoEnvError(err.value.decode(errors="replace"))
        self._h = ctypes.c_void_p(h)
        self.name = lib.hpoenv_name(self._h).decode()
        self.obs_dim = lib.hpoenv_obs_dim(self._h)
        self.act_dim = lib.hpoenv_act_dim(self._h)
        self.max_episode_steps = lib.hpoenv_max_episode_steps(self._h)
        self._term = ctypes.c_int(0)
        self._trunc = ctypes.c_int(0)

    def close(self):
        if self._h:
            self._lib.hpoenv_destroy(ctypes.byref(self._h))
            self._h = None

    def __del__(self):
        self.close()

    def _handle(self):
        """The library handle; raises HpoEnvError after close() (the library
        would answer a NULL handle with an error value, never with data)."""
        if not self._h:
            raise HpoEnvError(f"{self.name}: environment used after close(); "
                              "create a new hpoenv.Env")
        return self._h

    def seed(self, seed):
        self._lib.hpoenv_seed(self._handle(), seed)

    def reset(self):
        h = self._handle()
        obs = np.empty(self.obs_dim, dtype=np.float32)
        if self._lib.hpoenv_reset(h, obs.ctypes.data_as(_f32p)) != 0:
            raise HpoEnvError(f"{self.name}: hpoenv_reset failed")
        return obs

    def step(self, action):
        """(obs, reward, terminated, truncated); reward is the float32 value
        the environment returned, as a Python float."""
        h = self._handle()
        a = np.ascontiguousarray(action, dtype=np.float32)
        if a.shape != (self.act_dim,):
            raise ValueError(f"{self.name}: action of shape {a.shape}, "
                             f"expected ({self.act_dim},)")
        obs = np.empty(self.obs_dim, dtype=np.float32)
        r = self._lib.hpoenv_step(h, a.ctypes.data_as(_f32p),
                                  obs.ctypes.data_as(_f32p),
                                  ctypes.byref(self._term),
                                  ctypes.byref(self._trunc))
        return obs, r, bool(self._term.value), bool(self._trunc.value)

    @property
    def episode_steps(self):
        return self._lib.hpoenv_episode_steps(self._handle())

    def rng_state(self):
        """The reset-noise stream as RNG_BYTES bytes (for checkpoints)."""
        buf = ctypes.create_string_buffer(RNG_BYTES)
        if self._lib.hpoenv_rng_save(self._handle(), buf, RNG_BYTES) != RNG_BYTES:
            raise HpoEnvError("hpoenv_rng_save failed")
        return buf.raw

    def set_rng_state(self, state):
        h = self._handle()
        if (not isinstance(state, (bytes, bytearray)) or
                self._lib.hpoenv_rng_load(h, bytes(state),
                                          len(state)) != 0):
            raise HpoEnvError(f"bad environment RNG state: {RNG_BYTES} bytes "
                              "expected")
